import { setTimeout as delay } from 'node:timers/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { TamtamError } from '../../protocol/errors.js';

/** What both the pool and a transaction's client can run. */
export interface Queryable {
  query<R extends pg.QueryResultRow = Record<string, any>>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** A transaction in progress on one pooled connection. */
export interface Transaction extends Queryable {
  /** Streams COPY ... FROM STDIN text lines (each ending in '\n'); only when `HubDatabase.copySupported()`. */
  copyIn(sql: string, lines: Iterable<string>): Promise<void>;
}

export interface HubDatabaseOptions {
  /** Pool size; default 10. */
  max?: number;
  /** 'auto' probes once whether COPY FROM STDIN works (PGlite's socket server lacks it); 'never' forces the INSERT fallback. */
  copy?: 'auto' | 'never';
  /** Attempts of a transaction that hits a serialization failure or a deadlock; default 5. */
  attempts?: number;
  /** Closes a connection idle this long; the embedded database serves one connection at a time, so it should be short there. Default 10 s. */
  idleTimeoutMs?: number;
}

/** Serialization failure and deadlock: the transaction did nothing and may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']);
const PROBE_TIMEOUT_MS = 5000;

export const sqlState = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' && (e as { code: string }).code.length === 5
    ? (e as { code: string }).code
    : undefined;

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

/** The hub's PostgreSQL: a pg pool plus transactions that retry on conflicts between hub processes. */
export class HubDatabase implements Queryable {
  private copyProbe: Promise<boolean> | undefined;
  private closed = false;

  private constructor(readonly pool: pg.Pool, readonly url: string, private readonly options: HubDatabaseOptions) {
    // An idle client losing its server (restart, kill) must not crash the hub; the next query reports it.
    pool.on('error', () => undefined);
  }

  static async connect(url: string, options: HubDatabaseOptions = {}): Promise<HubDatabase> {
    const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, idleTimeoutMillis: options.idleTimeoutMs ?? 10_000, application_name: 'tamtam-hub' });
    const db = new HubDatabase(pool, url, options);
    try {
      await pool.query('SELECT 1');
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw new TamtamError('E_IO', `cannot reach PostgreSQL at ${redactUrl(url)}: ${(e as Error).message}; check the database URL and that the server is running`, { retryable: true, cause: e });
    }
    return db;
  }

  query<R extends pg.QueryResultRow = Record<string, any>>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(sql, params);
  }

  /**
   * A pooled connection whose 'error' events are swallowed while checked out: a
   * server that goes away (or a PGlite that drops the line) fails the pending
   * query, which is where the caller hears about it, instead of crashing the hub.
   */
  private async checkout(): Promise<{ client: pg.PoolClient; release: (broken?: Error) => void }> {
    const client = await this.pool.connect();
    const ignore = () => undefined;
    client.on('error', ignore);
    return {
      client,
      release: (broken) => {
        client.off('error', ignore);
        client.release(broken);
      },
    };
  }

  /**
   * Runs `fn` on one connection, outside any transaction, for session-level
   * advisory locks. When fn throws, the connection is closed rather than
   * pooled: it may hold a lock or an open transaction.
   */
  async withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const { client, release } = await this.checkout();
    try {
      const result = await fn(client);
      release();
      return result;
    } catch (e) {
      release(e instanceof Error ? e : new Error(String(e)));
      throw e;
    }
  }

  /**
   * BEGIN, fn, COMMIT; ROLLBACK when fn throws. Runs fn again (from the start,
   * so it must only change the database) on a serialization failure or deadlock.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const attempts = this.options.attempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(fn);
      } catch (e) {
        const state = sqlState(e);
        if (!state || !RETRYABLE.has(state) || attempt >= attempts) throw e;
        // Jitter, so two hub processes that collided do not collide again in step.
        await delay(Math.floor(Math.random() * 20 * attempt));
      }
    }
  }

  private async once<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const { client, release } = await this.checkout();
    // Only a connection seen to finish its transaction goes back to the pool.
    let healthy = false;
    try {
      await client.query('BEGIN');
      try {
        const result = await fn(transactionOn(client));
        await client.query('COMMIT');
        healthy = true;
        return result;
      } catch (e) {
        await client.query('ROLLBACK').then(() => { healthy = true; }, () => undefined);
        throw e;
      }
    } finally {
      release(healthy ? undefined : new Error('connection left in an unknown state'));
    }
  }

  /** Whether COPY FROM STDIN works on this server; probed once. */
  copySupported(): Promise<boolean> {
    if (this.options.copy === 'never') return Promise.resolve(false);
    this.copyProbe ??= this.probeCopy();
    return this.copyProbe;
  }

  private async probeCopy(): Promise<boolean> {
    const { client, release } = await this.checkout();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), PROBE_TIMEOUT_MS); });
    const attempt = (async () => {
      await client.query('BEGIN');
      await client.query('CREATE TEMP TABLE tamtam_copy_probe (x int) ON COMMIT DROP');
      await transactionOn(client).copyIn('COPY tamtam_copy_probe (x) FROM STDIN', ['1\n']);
      const n = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM tamtam_copy_probe');
      await client.query('ROLLBACK');
      return n.rows[0].n === 1;
    })();
    const outcome = await Promise.race([attempt.catch(() => 'failed' as const), timeout]);
    clearTimeout(timer);
    if (outcome === true) {
      release();
      return true;
    }
    // A server that half-understood COPY may leave the connection mid-protocol: never reuse it.
    release(new Error('COPY probe failed'));
    attempt.catch(() => undefined);
    return false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

function transactionOn(client: pg.PoolClient): Transaction {
  return {
    query: <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => client.query<R>(sql, params),
    copyIn: async (sql, lines) => {
      const stream = client.query(copyFrom(sql));
      await pipeline(Readable.from(batchLines(lines)), stream);
    },
  };
}

/** Lines joined into ~64 KiB chunks: one stream write per line would dominate the cost of a COPY. */
function* batchLines(lines: Iterable<string>): Generator<string> {
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    if (chunk.length >= 65536) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}
