import test from 'ava';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import pg from 'pg';
import { startEmbeddedBroker } from '../hub/embedded/embedded-broker.js';
import { EMBEDDED_POOL_MAX, startEmbeddedPostgres, type EmbeddedPostgres } from '../hub/embedded/embedded-postgres.js';
import { isTamtamError } from '../protocol/errors.js';

const tempDir = (t: { teardown(fn: () => void): void }): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-embedded-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** COPY ... FROM STDIN through pg's submittable interface (what pg-copy-streams does), without the extra package. */
function copyFromStdin(c: pg.Client, sql: string, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    c.query({
      submit(connection: { query(text: string): void }) {
        connection.query(sql);
      },
      handleCopyInResponse(connection: { sendCopyFromChunk(b: Buffer): void; endCopyFrom(): void }) {
        connection.sendCopyFromChunk(Buffer.from(data));
        connection.endCopyFrom();
      },
      handleCommandComplete() {},
      handleReadyForQuery: () => resolve(),
      handleError: (e: Error) => reject(e),
    } as unknown as pg.QueryConfig);
    c.once('error', reject);
    c.once('end', () => reject(new Error('connection ended')));
  });
}

test('aedes: a QoS 1 round trip through mqtt.js, and the authenticate hook refuses a wrong password', async (t) => {
  const broker = await startEmbeddedBroker({ authenticate: async (u, p) => u === 'hub' && p === 'secret' });
  t.teardown(() => broker.close());
  t.regex(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);

  const refused = await t.throwsAsync(connectAsync(broker.url, { reconnectPeriod: 0, username: 'hub', password: 'wrong' }));
  t.regex(String(refused?.message), /bad username or password/i);

  const sub = await connectAsync(broker.url, { reconnectPeriod: 0, username: 'hub', password: 'secret' });
  await sub.subscribeAsync('tamtam/+/up', { qos: 1 });
  const got = new Promise<[string, Buffer]>((resolve) => sub.once('message', (topic, payload) => resolve([topic, payload])));
  const pub = await connectAsync(broker.url, { reconnectPeriod: 0, username: 'hub', password: 'secret' });
  // At QoS 1 publishAsync resolves on the PUBACK.
  await pub.publishAsync('tamtam/C1/up', Buffer.from([1, 2, 3]), { qos: 1 });
  const [topic, payload] = await got;
  t.is(topic, 'tamtam/C1/up');
  t.deepEqual([...payload], [1, 2, 3]);
  await Promise.all([sub.endAsync(), pub.endAsync()]);
  await broker.close();
  await broker.close();
});

test('aedes: a busy port is a clear E_CONFIG', async (t) => {
  const first = await startEmbeddedBroker();
  t.teardown(() => first.close());
  const e = await t.throwsAsync(startEmbeddedBroker({ port: first.port }));
  t.true(isTamtamError(e, 'E_CONFIG'));
  t.regex(String(e?.message), /in use/);
});

test.serial('PGlite over its socket: pg creates, inserts, selects, commits and rolls back; data survives a restart', async (t) => {
  const dataDir = join(tempDir(t), 'pgdata');
  let db: EmbeddedPostgres = await startEmbeddedPostgres({ dataDir });
  t.teardown(() => db.close());
  t.regex(db.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
  const pool = new pg.Pool({ connectionString: db.url, max: EMBEDDED_POOL_MAX });
  await pool.query('CREATE TABLE acts (id int PRIMARY KEY, name text, born date)');
  await pool.query('INSERT INTO acts VALUES ($1, $2, $3), ($4, $5, $6)', [1, 'Ngo Biyong', '2024-01-02', 2, 'Éloundou', '2024-03-04']);
  const c = await pool.connect();
  await c.query('BEGIN');
  await c.query("INSERT INTO acts VALUES (3, 'kept', NULL)");
  await c.query('COMMIT');
  await c.query('BEGIN');
  await c.query("INSERT INTO acts VALUES (4, 'rolled back', NULL)");
  await c.query('ROLLBACK');
  c.release();
  const rows = (await pool.query("SELECT id, name, to_char(born, 'YYYY-MM-DD') AS born FROM acts ORDER BY id")).rows;
  t.deepEqual(rows, [
    { id: 1, name: 'Ngo Biyong', born: '2024-01-02' },
    { id: 2, name: 'Éloundou', born: '2024-03-04' },
    { id: 3, name: 'kept', born: null },
  ]);
  const out = await pool.query('COPY (SELECT id FROM acts) TO STDOUT');
  t.is(out.rowCount, 3, 'COPY TO STDOUT works');
  await pool.end();
  await db.close();

  db = await startEmbeddedPostgres({ dataDir });
  const again = await client(db.url);
  t.is((await again.query('SELECT count(*)::int AS n FROM acts')).rows[0].n, 3);
  await again.end();
});

test.serial('PGlite limits: one connection at a time (others wait), one session shared by all, no COPY FROM STDIN, an open transaction dies with its connection, one process per data folder', async (t) => {
  const dataDir = join(tempDir(t), 'pgdata');
  const db = await startEmbeddedPostgres({ dataDir });
  t.teardown(() => db.close());
  const first = await client(db.url);
  await first.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
  await first.query('BEGIN');
  await first.query("INSERT INTO t VALUES (1, 'uncommitted')");

  // A second client is held at the door, not refused and not let into the first one's transaction.
  const second = new pg.Client({ connectionString: db.url });
  second.on('error', () => undefined);
  const connecting = second.connect();
  const waitingSeen = await until(() => db.connections().waiting === 1);
  t.true(waitingSeen);
  await first.query('COMMIT');
  await first.end();
  await connecting;
  t.is((await second.query('SELECT count(*)::int AS n FROM t')).rows[0].n, 1);

  // PGlite's one session outlives its clients: a temporary table stays for the next one.
  await second.query('CREATE TEMP TABLE scratch (x int)');
  await second.end();
  const next = await client(db.url);
  t.is((await next.query('SELECT count(*)::int AS n FROM scratch')).rows[0].n, 0);

  // COPY FROM STDIN would freeze PGlite (and this process): the gate refuses it and the server goes on.
  const copy = await t.throwsAsync(copyFromStdin(next, 'COPY t FROM STDIN', '2\tcopied\n'));
  t.regex(String(copy?.message), /COPY \.\.\. FROM STDIN is not supported by the embedded PostgreSQL/);
  await next.end().catch(() => undefined);

  // A transaction left open by a client that vanished is rolled back.
  const crasher = await client(db.url);
  await crasher.query('BEGIN');
  await crasher.query("INSERT INTO t VALUES (3, 'never committed')");
  (crasher as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  const third = await client(db.url);
  t.deepEqual((await third.query('SELECT id FROM t ORDER BY id')).rows, [{ id: 1 }]);
  await third.end();

  // A broken pooled connection is replaced at once (no "too many connections" race).
  const pool = new pg.Pool({ connectionString: db.url, max: EMBEDDED_POOL_MAX });
  pool.on('error', () => undefined);
  const held = await pool.connect();
  held.release(new Error('simulated broken connection'));
  t.is((await pool.query('SELECT 2 AS n')).rows[0].n, 2);
  await pool.end();

  const locked = await t.throwsAsync(startEmbeddedPostgres({ dataDir }));
  t.true(isTamtamError(locked, 'E_CONFIG'));
  t.regex(String(locked?.message), /in use by process \d+ \(this one\)/);
  await db.close();
  t.false(existsSync(`${dataDir}.lock`));
});

/** Polls a cheap condition on the event loop, bounded; for state that emits no event. */
async function until(cond: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setImmediate(r));
  }
  return true;
}
