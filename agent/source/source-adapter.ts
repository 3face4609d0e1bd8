import { TamtamError } from '../../protocol/errors.js';

/** A column value as the agent carries it, whatever the centre's database. */
export type Value = null | boolean | number | string | Uint8Array;

/** One record: `values` holds every column by name, numero and status included. */
export interface SourceRow {
  numero: number;
  values: Record<string, Value>;
}

export interface ColumnInfo {
  name: string;
  /** The type as the database declares it (e.g. INTEGER, timestamp with time zone). */
  type: string;
}

/**
 * The centre's own database, as the agent sees it. Every synced table has
 * `numero` and `status` (see DESIGN.md); other columns are matched by name.
 */
export interface SourceAdapter {
  readonly kind: 'sqlite' | 'postgres';
  /** Columns of a table, for checking numero/status exist. */
  describe(table: string): Promise<ColumnInfo[]>;
  /** The database's own tables (not views, not system tables), by name; `agent setup` keeps those with numero and status. */
  listTables(): Promise<string[]>;
  /** Validated rows (status 2) not yet taken, oldest numero first, at most `limit`, numero > afterNumero. */
  readValidated(table: string, opts: { limit: number; afterNumero?: number }): Promise<SourceRow[]>;
  /** Compare-and-set status for the given numeros: only rows whose status is `from` change to `to`; returns the numeros changed. In one transaction. */
  setStatus(table: string, numeros: number[], from: number, to: number): Promise<number[]>;
  /** Current values of the given numeros, whatever their status, numero ascending; numeros no longer in the table are left out. */
  readRows(table: string, numeros: number[]): Promise<SourceRow[]>;
  /** Numeros of the rows at `status`, ascending, at most `limit`, numero > afterNumero. */
  listNumeros(table: string, status: number, opts?: { limit?: number; afterNumero?: number }): Promise<number[]>;
  countByStatus(table: string): Promise<Record<number, number>>;
  close(): Promise<void>;
}

export type SourceConfig =
  | { kind: 'sqlite'; path: string; /** How long to wait for the centre application's write lock; default 10 s. */ busyTimeoutMs?: number }
  | { kind: 'postgres'; url: string; /** Connections kept to the centre's server; default 3. */ poolMax?: number };

/**
 * `cacheKb`: an SQLite page cache other than the 2 MB default.
 * Dialect → driver, as in kysely: each driver is loaded only when a centre uses
 * it, so an agent reading SQLite never loads pg and the other way round.
 */
export async function openSource(config: SourceConfig, opts: { cacheKb?: number } = {}): Promise<SourceAdapter> {
  switch (config?.kind) {
    case 'sqlite': {
      const { SqliteSource } = await import('./sqlite-source.js');
      return SqliteSource.open(config.path, { busyTimeoutMs: config.busyTimeoutMs, cacheKb: opts.cacheKb });
    }
    case 'postgres': {
      const { PostgresSource } = await import('./postgres-source.js');
      return PostgresSource.open(config.url, { poolMax: config.poolMax });
    }
    default:
      throw new TamtamError('E_CONFIG', `unknown source kind ${JSON.stringify((config as { kind?: unknown })?.kind)}: use "sqlite" (with path) or "postgres" (with url)`);
  }
}

/** Double-quotes an identifier. Only ever applied to names read back from the catalogue. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function checkTableName(table: unknown): asserts table is string {
  if (typeof table !== 'string' || table.length === 0 || table.length > 200 || table.includes('\0')) {
    throw new TamtamError('E_CONFIG', `bad table name ${JSON.stringify(table)}: give the name of a table of the centre's database`);
  }
}

/** Rejects a table that cannot be synced, naming what is missing and how to add it. */
export function requireSyncColumns(table: string, columns: ColumnInfo[], addColumnSql: Record<'numero' | 'status', string>): void {
  const names = new Set(columns.map((c) => c.name));
  const missing = (['numero', 'status'] as const).filter((c) => !names.has(c));
  if (missing.length === 0) return;
  throw new TamtamError('E_CONFIG',
    `table ${table} has no ${missing.map((c) => `"${c}"`).join(' and no ')} column, so the agent cannot tell which records are validated: `
    + `add ${missing.map((c) => addColumnSql[c]).join(' and ')} (status: 0 cancelled, 1 new, 2 validated, 3 in an SDC, 4 exported), or pick another table`,
    { details: { table, missing } });
}

export function checkReadOptions(opts: { limit: number; afterNumero?: number }): void {
  if (!Number.isSafeInteger(opts?.limit) || opts.limit < 1) {
    throw new TamtamError('E_USAGE', `readValidated: limit must be a positive integer, got ${String(opts?.limit)}`);
  }
  if (opts.afterNumero !== undefined && !Number.isSafeInteger(opts.afterNumero)) {
    throw new TamtamError('E_USAGE', `readValidated: afterNumero must be an integer, got ${String(opts.afterNumero)}`);
  }
}

export function checkListOptions(status: number, opts: { limit?: number; afterNumero?: number }): void {
  if (!Number.isSafeInteger(status)) throw new TamtamError('E_USAGE', `listNumeros: status must be an integer, got ${String(status)}`);
  if (opts.limit !== undefined && (!Number.isSafeInteger(opts.limit) || opts.limit < 1)) {
    throw new TamtamError('E_USAGE', `listNumeros: limit must be a positive integer, got ${String(opts.limit)}`);
  }
  if (opts.afterNumero !== undefined && !Number.isSafeInteger(opts.afterNumero)) {
    throw new TamtamError('E_USAGE', `listNumeros: afterNumero must be an integer, got ${String(opts.afterNumero)}`);
  }
}

/** Distinct numeros, ascending; a numero that is not an integer is refused before any SQL runs. */
export function checkNumeros(what: string, numeros: number[]): number[] {
  const bad = numeros.find((n) => !Number.isSafeInteger(n));
  if (bad !== undefined) throw new TamtamError('E_USAGE', `${what}: numeros must be integers, got ${String(bad)}`);
  return [...new Set(numeros)].sort((a, b) => a - b);
}

export function checkStatusChange(numeros: number[], from: number, to: number): number[] {
  for (const s of [from, to]) {
    if (!Number.isSafeInteger(s)) throw new TamtamError('E_USAGE', `setStatus: status must be an integer, got ${String(s)}`);
  }
  const bad = numeros.find((n) => !Number.isSafeInteger(n));
  if (bad !== undefined) throw new TamtamError('E_USAGE', `setStatus: numeros must be integers, got ${String(bad)}`);
  return [...new Set(numeros)];
}

/** An integer as a number when exact, as its decimal string beyond 2^53, so no digit is ever lost. */
export function integerValue(v: bigint | string): number | string {
  const n = typeof v === 'bigint' ? v : BigInt(v);
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

/** The row's numero, which must be a plain integer for paging and status changes to work. */
export function rowNumero(table: string, v: Value | undefined): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  throw new TamtamError('E_BAD_INPUT', `table ${table} has a row whose numero is ${JSON.stringify(typeof v === 'object' ? String(v) : v)}: numero must be an integer (auto number)`, { details: { table } });
}
