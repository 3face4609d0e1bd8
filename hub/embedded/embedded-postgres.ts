import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { takePidLock } from '../../common/pid-lock.js';
import { TamtamError } from '../../protocol/errors.js';
import { connectionGate } from './connection-gate.js';

/**
 * PostgreSQL for a hub started without a database URL: PGlite (PostgreSQL
 * compiled to WebAssembly, one backend, in this process) with its data on
 * disk, served on 127.0.0.1 so the hub talks to it through `pg` as to any
 * PostgreSQL.
 *
 * Limits, as test/embedded.test.ts proves them:
 * - One connection at a time. PGlite has a single backend session; clients
 *   beyond the first wait in line (FIFO) until the one before disconnects.
 *   Configure the hub's pool with `max: EMBEDDED_POOL_MAX` (1): a second
 *   pooled connection would wait for the first, which a pool never releases.
 * - No COPY ... FROM STDIN. PGlite loses protocol synchronisation, then spins
 *   in WebAssembly and freezes this whole process (measured with 0.5.14), so
 *   the gate refuses it with a FATAL error (SQLSTATE 0A000) and closes that
 *   connection. Insert with INSERT ... SELECT FROM unnest($1::..[]) or
 *   json_to_recordset($1) instead. COPY ... TO STDOUT works.
 * - Session state is PGlite's one session: SET, temporary tables and prepared
 *   statements of a client are still there for the next one. Drop temporary
 *   tables (or use ON COMMIT DROP) and do not rely on a fresh session.
 * - PGlite does not lock its data directory; this module does
 *   (`<dataDir>.lock`), so a second hub on the same directory fails instead of
 *   corrupting it.
 */
export const EMBEDDED_POOL_MAX = 1;
/** How a HubDatabase must talk to the embedded server: one connection, freed soon when idle, no COPY. */
export const EMBEDDED_DB_OPTIONS = { max: EMBEDDED_POOL_MAX, copy: 'never', idleTimeoutMs: 200 } as const;

export interface EmbeddedPostgresOptions {
  /** Folder of the database files; created when missing. */
  dataDir: string;
  /** Default 0: a free port. */
  port?: number;
}

export interface EmbeddedPostgres {
  /** postgres://postgres@127.0.0.1:port/postgres */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Clients connected and waiting: a test hook. */
  connections(): { active: number; waiting: number };
  /** Drops the connections, stops listening, closes the database and releases the lock. Safe to call twice. */
  close(): Promise<void>;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const unlock = takePidLock(`${dataDir}.lock`, `the embedded database in ${dataDir}`);
  let db: PGlite | undefined;
  let inner: PGLiteSocketServer | undefined;
  let front: Server | undefined;
  try {
    db = await PGlite.create({ dataDir });
    // Two upstream slots: the server frees a slot a few ticks after a socket closes, and the gate below must not race it.
    inner = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 2 });
    await inner.start();
    const innerPort = Number(inner.getServerConn().split(':').pop());
    const gate = connectionGate(innerPort);
    front = createServer(gate.accept);
    front.listen(options.port ?? 0, '127.0.0.1');
    await Promise.race([once(front, 'listening'), once(front, 'error').then(([e]) => Promise.reject(e))]);
    const port = (front.address() as AddressInfo).port;
    const [d, i, f] = [db, inner, front];
    let closing: Promise<void> | undefined;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      dataDir,
      connections: gate.counts,
      close: () =>
        (closing ??= (async () => {
          const stopped = new Promise<void>((r) => f.close(() => r()));
          gate.closeAll();
          await stopped;
          await i.stop();
          await d.close();
          unlock();
        })()),
    };
  } catch (e) {
    front?.close();
    await inner?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
    unlock();
    if (e instanceof TamtamError) throw e;
    const busy = (e as NodeJS.ErrnoException).code === 'EADDRINUSE';
    throw new TamtamError('E_CONFIG', `the embedded PostgreSQL in ${dataDir} did not start: ${busy ? `port ${options.port} is in use; choose another` : (e as Error).message}`, { cause: e });
  }
}
