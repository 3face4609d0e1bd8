import Database from '../../common/sqlite-database.js';
import { existsSync } from 'node:fs';
import { TamtamError, wrapError } from '../../protocol/errors.js';
import {
  checkListOptions, checkNumeros, checkReadOptions, checkStatusChange, checkTableName, integerValue, quoteIdent, requireSyncColumns, rowNumero,
  type ColumnInfo, type SourceAdapter, type SourceRow, type Value,
} from './source-adapter.js';

interface SqliteTable {
  quoted: string;
  columns: ColumnInfo[];
  /** Columns declared BOOLEAN: SQLite stores them as 0/1, the hub's PostgreSQL wants true/false. */
  booleans: Set<string>;
}

const IN_LIST_MAX = 500;

function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

function sqliteError(e: unknown, what: string): TamtamError {
  if (isBusy(e)) {
    return wrapError(e, 'E_IO', `${what}: the centre database stayed locked by another program past the busy timeout; try again later`, { retryable: true });
  }
  return wrapError(e, 'E_IO', `${what}: ${e instanceof Error ? e.message : String(e)}`);
}

/** The centre's SQLite file, through better-sqlite3. Synchronous underneath, so each call is short and atomic. */
export class SqliteSource implements SourceAdapter {
  readonly kind = 'sqlite' as const;
  private readonly tables = new Map<string, SqliteTable>();

  private constructor(private readonly db: Database.Database, private readonly path: string) {}

  static async open(path: string, opts: { busyTimeoutMs?: number; cacheKb?: number } = {}): Promise<SqliteSource> {
    if (typeof path !== 'string' || path === '' || !existsSync(path)) {
      throw new TamtamError('E_CONFIG', `centre database ${JSON.stringify(path)} not found: set the source path to the centre application's SQLite file`);
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { fileMustExist: true, timeout: opts.busyTimeoutMs ?? 10_000 });
      // WAL lets the centre application keep writing while the agent reads. Switching needs the file to itself:
      // while the application writes, this open reads in the file's own mode, and a later open switches.
      try {
        db.pragma('journal_mode = WAL');
      } catch (e) {
        if (!isBusy(e)) throw e;
      }
      // better-sqlite3 is built with a 16 MB page cache per connection, which the daemon's polls fill and keep for months; SQLite's own default (2 MB) is enough.
      db.pragma(`cache_size = -${opts.cacheKb ?? 2000}`);
      return new SqliteSource(db, path);
    } catch (e) {
      db?.close();
      if (isBusy(e)) throw sqliteError(e, `cannot open centre database ${path}`);
      throw wrapError(e, 'E_CONFIG', `cannot open centre database ${path} (${e instanceof Error ? e.message : String(e)}): check it is an SQLite file the agent may read and write`);
    }
  }

  private table(name: string, forSync: boolean): SqliteTable {
    checkTableName(name);
    let t = this.tables.get(name);
    if (!t) {
      const found = this.db
        .prepare<[string], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
        .get(name);
      if (!found) {
        const all = this.db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").all();
        throw new TamtamError('E_CONFIG', `table ${JSON.stringify(name)} not found in centre database ${this.path}: use one of ${all.map((r) => r.name).join(', ') || '(no tables)'}`, { details: { table: name } });
      }
      const columns = this.db.prepare<[string], ColumnInfo>('SELECT name, type FROM pragma_table_info(?) ORDER BY cid').all(found.name);
      const booleans = new Set(columns.filter((c) => /BOOL/i.test(c.type)).map((c) => c.name));
      t = { quoted: quoteIdent(found.name), columns, booleans };
      this.tables.set(name, t);
    }
    if (forSync) {
      requireSyncColumns(name, t.columns, {
        numero: 'numero INTEGER PRIMARY KEY AUTOINCREMENT (rebuild the table: SQLite cannot add a primary key)',
        status: `ALTER TABLE ${t.quoted} ADD COLUMN status INTEGER NOT NULL DEFAULT 1`,
      });
    }
    return t;
  }

  private value(t: SqliteTable, column: string, v: unknown): Value {
    if (v === null || typeof v === 'string' || typeof v === 'number') return v;
    if (typeof v === 'bigint') {
      if (t.booleans.has(column) && (v === 0n || v === 1n)) return v === 1n;
      return integerValue(v);
    }
    if (v instanceof Uint8Array) return new Uint8Array(v);
    throw new TamtamError('E_INTERNAL', `unexpected SQLite value of type ${typeof v} in column ${column}`);
  }

  async describe(table: string): Promise<ColumnInfo[]> {
    return this.table(table, false).columns.map((c) => ({ ...c }));
  }

  async listTables(): Promise<string[]> {
    return this.db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").pluck().all();
  }

  async readValidated(table: string, opts: { limit: number; afterNumero?: number }): Promise<SourceRow[]> {
    checkReadOptions(opts);
    const t = this.table(table, true);
    const after = opts.afterNumero === undefined ? '' : ' AND numero > ?';
    const params = opts.afterNumero === undefined ? [opts.limit] : [opts.afterNumero, opts.limit];
    try {
      // safeIntegers: a 64-bit INTEGER must not be rounded through a double before we decide number vs string.
      const rows = this.db.prepare(`SELECT * FROM ${t.quoted} WHERE status = 2${after} ORDER BY numero LIMIT ?`).safeIntegers(true).all(...params) as Record<string, unknown>[];
      return rows.map((raw) => this.row(t, table, raw));
    } catch (e) {
      throw sqliteError(e, `reading validated rows of ${table}`);
    }
  }

  private row(t: SqliteTable, table: string, raw: Record<string, unknown>): SourceRow {
    const values: Record<string, Value> = {};
    for (const [k, v] of Object.entries(raw)) values[k] = this.value(t, k, v);
    return { numero: rowNumero(table, values.numero), values };
  }

  async readRows(table: string, numeros: number[]): Promise<SourceRow[]> {
    const wanted = checkNumeros('readRows', numeros);
    const t = this.table(table, true);
    // Bounded IN lists, as SQLite caps the bound parameters of one statement; one read transaction, so all parts see one snapshot.
    const read = this.db.transaction(() => {
      const out: SourceRow[] = [];
      for (let i = 0; i < wanted.length; i += IN_LIST_MAX) {
        const part = wanted.slice(i, i + IN_LIST_MAX);
        const rows = this.db.prepare(`SELECT * FROM ${t.quoted} WHERE numero IN (${part.map(() => '?').join(',')}) ORDER BY numero`)
          .safeIntegers(true).all(...part) as Record<string, unknown>[];
        for (const raw of rows) out.push(this.row(t, table, raw));
      }
      return out;
    });
    try {
      return read();
    } catch (e) {
      throw sqliteError(e, `reading rows of ${table}`);
    }
  }

  async listNumeros(table: string, status: number, opts: { limit?: number; afterNumero?: number } = {}): Promise<number[]> {
    checkListOptions(status, opts);
    const t = this.table(table, true);
    const params: number[] = [status];
    let sql = `SELECT numero FROM ${t.quoted} WHERE status = ?`;
    if (opts.afterNumero !== undefined) { sql += ' AND numero > ?'; params.push(opts.afterNumero); }
    sql += ' ORDER BY numero';
    if (opts.limit !== undefined) { sql += ' LIMIT ?'; params.push(opts.limit); }
    try {
      return this.db.prepare(sql).pluck().safeIntegers(true).all(...params).map((n) => rowNumero(table, this.value(t, 'numero', n)));
    } catch (e) {
      throw sqliteError(e, `listing rows of ${table} at status ${status}`);
    }
  }

  async setStatus(table: string, numeros: number[], from: number, to: number): Promise<number[]> {
    const wanted = checkStatusChange(numeros, from, to);
    const t = this.table(table, true);
    const update = this.db.prepare(`UPDATE ${t.quoted} SET status = ? WHERE numero = ? AND status = ?`);
    // IMMEDIATE takes the write lock up front, so a centre write in between cannot deadlock us mid-way.
    const apply = this.db.transaction(() => wanted.filter((n) => update.run(to, n, from).changes > 0));
    try {
      return apply.immediate().sort((a, b) => a - b);
    } catch (e) {
      throw sqliteError(e, `changing status ${from} → ${to} in ${table}`);
    }
  }

  async countByStatus(table: string): Promise<Record<number, number>> {
    const t = this.table(table, true);
    try {
      const rows = this.db.prepare<[], { status: number; n: number }>(`SELECT status, COUNT(*) AS n FROM ${t.quoted} WHERE status IS NOT NULL GROUP BY status`).all();
      return Object.fromEntries(rows.map((r) => [r.status, r.n]));
    } catch (e) {
      throw sqliteError(e, `counting rows of ${table}`);
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
