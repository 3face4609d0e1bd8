import type { Value } from '../protocol/batch/batch.js';
import { dateToDays, stampToSeconds } from '../protocol/batch/civil-time.js';
import { TamtamError } from '../protocol/errors.js';
import type { Queryable } from './db/hub-database.js';

/**
 * A central table holds the centres' columns by name plus the hub's own:
 * `hub_numero bigserial primary key, centre_id, source_numero, record_version,
 * sdc_sequence, received_at`, unique (centre_id, source_numero, record_version)
 * so every version of every record is kept once. They live in schema `central`.
 */
export const CENTRAL_SCHEMA = 'central';
export const HUB_COLUMNS = ['hub_numero', 'centre_id', 'source_numero', 'record_version', 'sdc_sequence', 'received_at'] as const;
/** Columns of a centre's table that never become central columns: the hub has its own number and status. */
export const CENTRE_ONLY_COLUMNS = ['numero', 'status'] as const;

export interface ColumnSpec {
  name: string;
  type: string;
}

export interface CentralColumn {
  /** As format_type prints it, typmod included: 'character varying(20)'. */
  type: string;
  /** Without typmod, for casts of parameters: 'character varying'. */
  baseType: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Types a central column may be given; anything else is refused rather than pasted into DDL. */
const SAFE_TYPE = /^(bigint|integer|int|smallint|double precision|real|numeric(\(\d{1,4}(,\s*\d{1,4})?\))?|date|timestamptz|timestamp with time zone|timestamp|timestamp without time zone|time|boolean|bytea|text|(varchar|character varying)\(\d{1,5}\)|uuid|jsonb?)$/i;

/** A table or column name as sent by a centre: ASCII word characters, at most 63 (PostgreSQL would cut it silently). */
export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

export function quoteIdent(name: string, what = 'name'): string {
  if (!IDENTIFIER.test(name)) throw new TamtamError('E_BAD_INPUT', `${what} '${name}' must be a letter or '_' then up to 62 letters, digits or '_'`);
  return `"${name}"`;
}

export function centralTableSql(name: string): string {
  return `${CENTRAL_SCHEMA}.${quoteIdent(name, 'table name')}`;
}

function inferType(values: Value[]): string {
  const present = values.filter((v) => v !== null);
  if (present.length === 0) return 'text';
  if (present.every((v) => typeof v === 'boolean')) return 'boolean';
  if (present.every((v) => v instanceof Uint8Array)) return 'bytea';
  if (present.every((v) => typeof v === 'number')) return present.every((v) => Number.isSafeInteger(v)) ? 'bigint' : 'double precision';
  if (present.every((v) => typeof v === 'string')) {
    const s = present as string[];
    if (s.every((x) => x.length === 10 && dateToDays(x) !== undefined)) return 'date';
    if (s.every((x) => x.length === 20 && stampToSeconds(x) !== undefined)) return 'timestamptz';
  }
  return 'text';
}

/** Column types for a central table, from sample records; `numero`, `status` and `__` columns left out. */
export function inferColumns(rows: Record<string, Value>[]): ColumnSpec[] {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    for (const k of Object.keys(row)) {
      if (seen.has(k) || k.startsWith('__') || (CENTRE_ONLY_COLUMNS as readonly string[]).includes(k)) continue;
      seen.add(k);
      names.push(k);
    }
  }
  return names.map((name) => ({ name, type: inferType(rows.map((r) => (r[name] === undefined ? null : r[name]))) }));
}

function columnSql(c: ColumnSpec): string {
  if ((HUB_COLUMNS as readonly string[]).includes(c.name) || c.name.startsWith('__')) {
    throw new TamtamError('E_BAD_INPUT', `column '${c.name}' is reserved by the hub; rename it in the centre's table`);
  }
  if (!SAFE_TYPE.test(c.type.trim())) throw new TamtamError('E_BAD_INPUT', `column '${c.name}' has type '${c.type}', which is not one a central table may use; use e.g. text, bigint, double precision, numeric, date, timestamptz, boolean or bytea`);
  return `${quoteIdent(c.name, 'column name')} ${c.type.trim()}`;
}

/** Creates the central table `name` if it does not exist yet (a table that exists is left as it is). */
export async function createCentralTable(db: Queryable, name: string, columns: ColumnSpec[]): Promise<void> {
  const table = centralTableSql(name);
  const names = new Set<string>();
  for (const c of columns) {
    if (names.has(c.name)) throw new TamtamError('E_BAD_INPUT', `column '${c.name}' is given twice for table '${name}'`);
    names.add(c.name);
  }
  const defs = [
    'hub_numero bigserial PRIMARY KEY',
    'centre_id int NOT NULL REFERENCES public.centres (id)',
    'source_numero bigint NOT NULL',
    'record_version int NOT NULL',
    'sdc_sequence bigint NOT NULL',
    'received_at timestamptz NOT NULL DEFAULT now()',
    ...columns.filter((c) => !(CENTRE_ONLY_COLUMNS as readonly string[]).includes(c.name)).map(columnSql),
    'UNIQUE (centre_id, source_numero, record_version)',
  ];
  await db.query(`CREATE TABLE IF NOT EXISTS ${table} (\n  ${defs.join(',\n  ')}\n)`);
}

/** Adds columns a centre started sending; those that exist already are skipped. */
export async function addCentralColumns(db: Queryable, name: string, columns: ColumnSpec[]): Promise<void> {
  if (columns.length === 0) return;
  await db.query(`ALTER TABLE ${centralTableSql(name)} ${columns.map((c) => `ADD COLUMN IF NOT EXISTS ${columnSql(c)}`).join(', ')}`);
}

/** The table's columns by name, or undefined when there is no such central table. Not cached. */
export async function readCentralTable(db: Queryable, name: string): Promise<Map<string, CentralColumn> | undefined> {
  if (!isIdentifier(name)) return undefined;
  const { rows } = await db.query<{ name: string; type: string; base_type: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, format_type(a.atttypid, NULL) AS base_type
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [CENTRAL_SCHEMA, name],
  );
  if (rows.length === 0) return undefined;
  return new Map(rows.map((r) => [r.name, { type: r.type, baseType: r.base_type }]));
}

/** Per connection pool (a process may talk to several databases, tests do). */
const catalogs = new WeakMap<object, Map<string, Map<string, CentralColumn>>>();

/**
 * The table's columns, cached per pool. With `needs`, a cached answer that
 * lacks one of those columns (or the table) is read again, since an operator
 * may have added them since; a table that was never found is not cached.
 */
export async function describeCentralTable(db: Queryable, name: string, needs: string[] = []): Promise<Map<string, CentralColumn> | undefined> {
  let catalog = catalogs.get(db);
  if (!catalog) catalogs.set(db, (catalog = new Map()));
  const cached = catalog.get(name);
  if (cached && needs.every((c) => cached.has(c))) return cached;
  const fresh = await readCentralTable(db, name);
  if (fresh) catalog.set(name, fresh);
  else catalog.delete(name);
  return fresh;
}

/** Forgets what was read about a table, after it was changed or when a statement found it changed. */
export function forgetCentralTable(db: Queryable, name: string): void {
  catalogs.get(db)?.delete(name);
}
