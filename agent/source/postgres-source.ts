import pg from 'pg';
import { TamtamError, wrapError } from '../../protocol/errors.js';
import {
  checkListOptions, checkNumeros, checkReadOptions, checkStatusChange, checkTableName, integerValue, quoteIdent, requireSyncColumns, rowNumero,
  type ColumnInfo, type SourceAdapter, type SourceRow, type Value,
} from './source-adapter.js';

interface PgTable {
  quoted: string;
  columns: ColumnInfo[];
}

const OID = { bool: 16, bytea: 17, int8: 20, int2: 21, int4: 23, oid: 26, float4: 700, float8: 701, date: 1082, timestamp: 1114, timestamptz: 1184, numeric: 1700 };
const parseBytea = pg.types.getTypeParser(OID.bytea, 'text') as (v: string) => Buffer;

/** numeric stays a string unless it is a whole number: a decimal fraction in a double would change amounts. */
function numericValue(v: string): number | string {
  return /^-?\d+$/.test(v) ? integerValue(v) : v;
}

/** With the session in UTC: '2024-03-05 03:17:32+00' → '2024-03-05T03:17:32Z' (fraction kept when present). */
function timestamptzValue(v: string): string {
  const m = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d(?::?\d\d)?(?::?\d\d)?)$/.exec(v);
  if (!m) return v;
  const [, date, time, offset] = m as unknown as [string, string, string, string];
  return offset === '+00' ? `${date}T${time}Z` : `${date}T${time}${offset.length === 3 ? `${offset}:00` : offset}`;
}

/**
 * Text-format parsers for this pool only (the global pg.types stay as other code
 * expects them). Every value comes out as a Value; any type not listed stays as
 * PostgreSQL's own text (json, uuid, time, interval, arrays) rather than an object.
 */
const valueTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number) => {
    switch (oid) {
      case OID.bool: return (v: string) => v === 't';
      case OID.int2: case OID.int4: case OID.oid: case OID.float4: case OID.float8: return Number;
      case OID.int8: return integerValue;
      case OID.numeric: return numericValue;
      case OID.date: return (v: string) => v;
      case OID.timestamp: return (v: string) => v.replace(' ', 'T');
      case OID.timestamptz: return timestamptzValue;
      case OID.bytea: return (v: string) => new Uint8Array(parseBytea(v));
      default: return (v: string) => v;
    }
  }) as pg.CustomTypesConfig['getTypeParser'],
};

// Dates and times must not depend on the server's or the database's TimeZone and DateStyle settings.
const SESSION_SETUP = "SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO, YMD'; SET IntervalStyle TO 'iso_8601'";

function pgError(e: unknown, what: string): TamtamError {
  const code = String((e as { code?: unknown })?.code ?? '');
  const unreachable = /^(08|57P|53)/.test(code) || /^E(CONNREFUSED|CONNRESET|HOSTUNREACH|TIMEDOUT|PIPE)|ENOTFOUND|EAI_AGAIN/.test(code)
    || /terminat|timeout|Connection/i.test(e instanceof Error ? e.message : '');
  const message = `${what}: ${e instanceof Error ? e.message : String(e)}`;
  return unreachable
    ? wrapError(e, 'E_IO', `${message}; the centre's PostgreSQL is unreachable, will retry`, { retryable: true })
    : wrapError(e, 'E_IO', message);
}

/** The centre's PostgreSQL, through a small pg Pool. */
export class PostgresSource implements SourceAdapter {
  readonly kind = 'postgres' as const;
  private readonly tables = new Map<string, PgTable>();

  private readonly sessionReady = new WeakSet<pg.PoolClient>();

  private constructor(private readonly pool: pg.Pool) {}

  /** Runs one statement on a pooled connection whose session settings have been applied. */
  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      if (!this.sessionReady.has(client)) {
        await client.query(SESSION_SETUP);
        this.sessionReady.add(client);
      }
      return await client.query<R>(sql, params);
    } catch (e) {
      // A connection-level failure must not go back to the pool; an SQL error leaves the connection usable.
      if (!(e as { code?: unknown })?.code || /^(08|57P)/.test(String((e as { code?: unknown }).code))) broken = e as Error;
      throw e;
    } finally {
      client.release(broken);
    }
  }

  static async open(url: string, opts: { poolMax?: number } = {}): Promise<PostgresSource> {
    if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
      throw new TamtamError('E_CONFIG', `bad PostgreSQL URL ${JSON.stringify(url)}: use postgres://user@host:port/database`);
    }
    const pool = new pg.Pool({ connectionString: url, max: opts.poolMax ?? 3, idleTimeoutMillis: 10_000, connectionTimeoutMillis: 10_000, types: valueTypes });
    // An idle connection dropped by a server restart must not crash the agent; the next query reconnects.
    pool.on('error', () => undefined);
    const source = new PostgresSource(pool);
    try {
      await source.query('SELECT 1');
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw pgError(e, `cannot connect to the centre database ${url.replace(/:[^:@/]*@/, ':***@')}`);
    }
    return source;
  }

  private async table(name: string, forSync: boolean): Promise<PgTable> {
    checkTableName(name);
    let t = this.tables.get(name);
    if (!t) {
      type Found = { oid: number; schema: string; relname: string; relkind: string };
      let found: Found | undefined;
      try {
        // to_regclass parses the name as SQL would (case folding, schema.table, search_path) and gives NULL when absent.
        found = (await this.query<Found>(
          'SELECT c.oid, n.nspname AS schema, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)', [name])).rows[0];
      } catch (e) {
        if (!/^(42|3F|0A|22)/.test(String((e as { code?: unknown }).code))) throw pgError(e, `looking up table ${name}`);
      }
      if (!found) throw new TamtamError('E_CONFIG', `table ${JSON.stringify(name)} not found in the centre's PostgreSQL database: give an existing table name (schema.table if it is not on the search_path)`, { details: { table: name } });
      if (found.relkind !== 'r' && found.relkind !== 'p') {
        throw new TamtamError('E_CONFIG', `${name} is not a table (relkind ${found.relkind}): the agent writes status back, so point it at the table itself`, { details: { table: name } });
      }
      const columns = (await this.query<ColumnInfo>(
        'SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum', [found.oid])).rows;
      t = { quoted: `${quoteIdent(found.schema)}.${quoteIdent(found.relname)}`, columns };
      this.tables.set(name, t);
    }
    if (forSync) {
      requireSyncColumns(name, t.columns, {
        numero: `ALTER TABLE ${t.quoted} ADD COLUMN numero bigint GENERATED BY DEFAULT AS IDENTITY UNIQUE`,
        status: `ALTER TABLE ${t.quoted} ADD COLUMN status smallint NOT NULL DEFAULT 1`,
      });
    }
    return t;
  }

  async describe(table: string): Promise<ColumnInfo[]> {
    return (await this.table(table, false)).columns.map((c) => ({ ...c }));
  }

  /** Tables on the search_path by bare name, others as schema.table: the form describe() and the config take. */
  async listTables(): Promise<string[]> {
    try {
      const { rows } = await this.query<{ name: string }>(
        `SELECT CASE WHEN c.oid = to_regclass(quote_ident(c.relname)) THEN quote_ident(c.relname) ELSE quote_ident(n.nspname) || '.' || quote_ident(c.relname) END AS name
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
          ORDER BY 1`);
      return rows.map((r) => r.name);
    } catch (e) {
      throw pgError(e, 'listing the tables of the centre database');
    }
  }

  async readValidated(table: string, opts: { limit: number; afterNumero?: number }): Promise<SourceRow[]> {
    checkReadOptions(opts);
    const t = await this.table(table, true);
    const sql = opts.afterNumero === undefined
      ? `SELECT * FROM ${t.quoted} WHERE status = 2 ORDER BY numero LIMIT $1`
      : `SELECT * FROM ${t.quoted} WHERE status = 2 AND numero > $2 ORDER BY numero LIMIT $1`;
    const params = opts.afterNumero === undefined ? [opts.limit] : [opts.limit, opts.afterNumero];
    try {
      const { rows } = await this.query<Record<string, Value>>(sql, params);
      return rows.map((values) => ({ numero: rowNumero(table, values.numero), values }));
    } catch (e) {
      throw e instanceof TamtamError ? e : pgError(e, `reading validated rows of ${table}`);
    }
  }

  async setStatus(table: string, numeros: number[], from: number, to: number): Promise<number[]> {
    const wanted = checkStatusChange(numeros, from, to);
    const t = await this.table(table, true);
    if (wanted.length === 0) return [];
    try {
      // One statement is one transaction; a row the centre changed meanwhile is re-checked against `from` and left alone.
      const { rows } = await this.query<{ numero: number }>(
        `UPDATE ${t.quoted} SET status = $1 WHERE status = $2 AND numero = ANY($3::bigint[]) RETURNING numero`, [to, from, wanted]);
      return rows.map((r) => r.numero).sort((a, b) => a - b);
    } catch (e) {
      throw pgError(e, `changing status ${from} → ${to} in ${table}`);
    }
  }

  async readRows(table: string, numeros: number[]): Promise<SourceRow[]> {
    const wanted = checkNumeros('readRows', numeros);
    const t = await this.table(table, true);
    if (wanted.length === 0) return [];
    try {
      const { rows } = await this.query<Record<string, Value>>(`SELECT * FROM ${t.quoted} WHERE numero = ANY($1::bigint[]) ORDER BY numero`, [wanted]);
      return rows.map((values) => ({ numero: rowNumero(table, values.numero), values }));
    } catch (e) {
      throw e instanceof TamtamError ? e : pgError(e, `reading rows of ${table}`);
    }
  }

  async listNumeros(table: string, status: number, opts: { limit?: number; afterNumero?: number } = {}): Promise<number[]> {
    checkListOptions(status, opts);
    const t = await this.table(table, true);
    const params: number[] = [status];
    let sql = `SELECT numero FROM ${t.quoted} WHERE status = $1`;
    if (opts.afterNumero !== undefined) sql += ` AND numero > $${params.push(opts.afterNumero)}`;
    sql += ' ORDER BY numero';
    if (opts.limit !== undefined) sql += ` LIMIT $${params.push(opts.limit)}`;
    try {
      const { rows } = await this.query<{ numero: Value }>(sql, params);
      return rows.map((r) => rowNumero(table, r.numero));
    } catch (e) {
      throw e instanceof TamtamError ? e : pgError(e, `listing rows of ${table} at status ${status}`);
    }
  }

  async countByStatus(table: string): Promise<Record<number, number>> {
    const t = await this.table(table, true);
    try {
      const { rows } = await this.query<{ status: number; n: number }>(
        `SELECT status, count(*) AS n FROM ${t.quoted} WHERE status IS NOT NULL GROUP BY status`);
      return Object.fromEntries(rows.map((r) => [r.status, r.n]));
    } catch (e) {
      throw pgError(e, `counting rows of ${table}`);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
