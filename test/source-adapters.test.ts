import test from 'ava';
import Database, { SQLITE_DRIVER_PATH } from '../common/sqlite-database.js';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { isTamtamError } from '../protocol/errors.js';
import { openSource, type SourceAdapter, type Value } from '../agent/source/source-adapter.js';
import { findPgBin, startPostgres, type PostgresCluster } from '../scripts/services/postgres-cluster.js';

type Row = Record<string, Value>;
/** The centre application's own connection: it changes rows behind the agent's back. */
interface Centre {
  exec(sql: string): Promise<void>;
  set(table: string, numero: number, column: 'status' | 'photo' | 'big_value', value: number | bigint | Uint8Array): Promise<void>;
  /** Sets a status inside a transaction that commits `holdMs` later, as a clerk saving a slow form; resolves once the row is locked. */
  slowSetStatus(table: string, numero: number, status: number, holdMs: number): Promise<{ committed: Promise<void> }>;
}
interface Fixture {
  kind: 'sqlite' | 'postgres';
  /** Why this implementation's tests are skipped, if they are. */
  unavailable?: string;
  setup(rows: Row[]): Promise<void>;
  teardown(): Promise<void>;
  /** A private copy of the sample table, so tests may change statuses concurrently. */
  fresh(): Promise<{ source: SourceAdapter; table: string; centre: Centre }>;
  /** The sample row as this database's column types hand it back. */
  expected(row: Row): Row;
  /** SQL creating table `typed` with one validated row of many column types, and that row as Values. */
  typedSql: string;
  typedRow: Row;
}

const dataDir = process.env.TAMTAM_SHARED_DATA ?? join(fileURLToPath(new URL('../../..', import.meta.url)), 'shared', 'data');
const genActs = (format: 'sql' | 'jsonl'): string =>
  execFileSync(process.execPath, [join(dataDir, 'gen-acts.mjs'), '--table', 'births', '--count', '60', '--seed', '11', '--format', format], { encoding: 'utf8' });
const PHOTO = new Uint8Array([0, 1, 2, 0x7f, 0x80, 0xff]);
const BIG = 2n ** 53n + 1n;
const STATUS_CHANGES: [number, number][] = [[3, 1], [5, 0], [7, 3], [9, 4]];
const jsonl = genActs('jsonl').trim().split('\n').map((l) => JSON.parse(l) as Row);
/** Every column of the sample: a JSONL act leaves out the fields its form does not have (no father), the table has them all. */
const sampleColumns = [...new Set(jsonl.flatMap((r) => Object.keys(r)))];
const sample = jsonl.map((r) => Object.fromEntries(sampleColumns.map((c) => [c, r[c] ?? null])));

const sqliteFixture = (): Fixture => {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-src-'));
  const template = join(dir, 'template.db');
  let copies = 0;
  const centreOf = (path: string): Centre => ({
    exec: async (sql) => void withDb(path, (db) => db.exec(sql)),
    set: async (table, numero, column, value) =>
      void withDb(path, (db) => db.prepare(`UPDATE "${table}" SET "${column}" = ? WHERE numero = ?`).run(value, numero)),
    // Another process, because better-sqlite3 blocks this thread while the agent waits for the lock.
    slowSetStatus: async (table, numero, status, holdMs) => {
      const script = `const db = new (require(${JSON.stringify(SQLITE_DRIVER_PATH)}))(${JSON.stringify(path)});
        db.exec('BEGIN IMMEDIATE'); db.prepare('UPDATE "${table}" SET status = ? WHERE numero = ?').run(${status}, ${numero});
        process.stdout.write('locked\\n'); setTimeout(() => { db.exec('COMMIT'); db.close(); }, ${holdMs});`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = once(child, 'exit');
      await once(child.stdout, 'data');
      return { committed: exited.then(([code]) => (code === 0 ? undefined : Promise.reject(new Error(`centre process exited ${String(code)}`)))) };
    },
  });
  const withDb = <T>(path: string, f: (db: Database.Database) => T): T => {
    const db = new Database(path);
    try {
      return f(db);
    } finally {
      db.close();
    }
  };
  return {
    kind: 'sqlite',
    async setup() {
      withDb(template, (db) => db.exec(`${genActs('sql')}; ALTER TABLE births ADD COLUMN photo BLOB; ALTER TABLE births ADD COLUMN big_value INTEGER;`));
    },
    async teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
    async fresh() {
      const path = join(dir, `centre-${++copies}.db`);
      copyFileSync(template, path);
      return { source: await openSource({ kind: 'sqlite', path }), table: 'births', centre: centreOf(path) };
    },
    expected: (row) => row,
    typedSql: `CREATE TABLE typed (numero INTEGER PRIMARY KEY, status INTEGER, i INTEGER, big INTEGER, r REAL, t TEXT, b BLOB, flag BOOLEAN, odd_flag BOOLEAN, empty TEXT);
      INSERT INTO typed VALUES (1, 2, 42, 9223372036854775807, 1.5, 'é', X'00FF', 1, 7, NULL);`,
    typedRow: { numero: 1, status: 2, i: 42, big: '9223372036854775807', r: 1.5, t: 'é', b: new Uint8Array([0, 0xff]), flag: true, odd_flag: 7, empty: null },
  };
};

const postgresFixture = (): Fixture => {
  let cluster: PostgresCluster | undefined;
  let url = '';
  let copies = 0;
  const INTS = new Set(['register_year', 'version', 'birth_order', 'weight_at_birth_g', 'mother_previous_births']);
  const pgType = (c: string): string =>
    c === 'numero' ? 'integer PRIMARY KEY' : c === 'status' ? 'smallint NOT NULL DEFAULT 1' : INTS.has(c) ? 'integer'
      : c.endsWith('_date') ? 'date' : c.endsWith('_at') ? 'timestamptz' : c.endsWith('_time') ? 'time' : 'text';
  const query = async (sql: string, params: unknown[] = []): Promise<void> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql, params);
    } finally {
      await client.end();
    }
  };
  let unavailable: string | undefined;
  try {
    findPgBin();
  } catch (e) {
    // CI must run the PostgreSQL half: there a missing binary fails the suite instead.
    if (!process.env.CI) unavailable = (e as Error).message;
  }
  return {
    kind: 'postgres',
    unavailable,
    async setup(rows) {
      cluster = await startPostgres();
      url = await cluster.createDatabase('centre');
      // A centre whose server is not in UTC nor ISO dates: the adapter must not depend on either.
      await query("ALTER DATABASE centre SET timezone TO 'Africa/Douala'; ALTER DATABASE centre SET datestyle TO 'SQL, DMY'");
      // Reversed column order, status and numero last: matching must be by name.
      const columns = [...sampleColumns].reverse().concat('photo', 'big_value');
      const types: Record<string, string> = { photo: 'bytea', big_value: 'bigint' };
      await query(`CREATE TABLE births (${columns.map((c) => `${c} ${types[c] ?? pgType(c)}`).join(', ')})`);
      await query('INSERT INTO births SELECT * FROM json_populate_recordset(NULL::births, $1::json)', [JSON.stringify(rows)]);
    },
    async teardown() {
      await cluster?.stop();
    },
    async fresh() {
      const table = `births_${++copies}`;
      await query(`CREATE TABLE ${table} (LIKE births INCLUDING ALL); INSERT INTO ${table} SELECT * FROM births`);
      return {
        source: await openSource({ kind: 'postgres', url }),
        table,
        centre: {
          exec: (sql) => query(sql),
          set: (t, numero, column, value) =>
            query(`UPDATE "${t}" SET "${column}" = $1 WHERE numero = $2`, [typeof value === 'bigint' ? value.toString() : value instanceof Uint8Array ? Buffer.from(value) : value, numero]),
          slowSetStatus: async (t, numero, status, holdMs) => {
            const client = new pg.Client({ connectionString: url });
            await client.connect();
            await client.query('BEGIN');
            await client.query(`UPDATE "${t}" SET status = $1 WHERE numero = $2`, [status, numero]);
            const committed = new Promise<void>((resolve) => setTimeout(resolve, holdMs)).then(() => client.query('COMMIT')).then(() => client.end());
            return { committed };
          },
        },
      };
    },
    expected: (row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, k.endsWith('_time') && typeof v === 'string' ? `${v}:00` : v])),
    typedSql: `CREATE TABLE typed (empty text, flag boolean, b bytea, amount numeric(12,2), whole numeric, big bigint, small smallint, r double precision,
        d date, ts timestamp, tstz timestamptz, tstz_frac timestamptz, doc jsonb, t text, status smallint, numero bigint PRIMARY KEY);
      INSERT INTO typed VALUES (NULL, true, '\\x00ff', 1234.50, 12345678901234567890, 9223372036854775807, 7, 1.5,
        '2024-03-05', '2024-03-05 03:17:32.25', '2024-03-05T03:17:32Z', '2024-03-05T03:17:32.123456Z', '{"a": 1}', 'é', 2, 1)`,
    typedRow: {
      empty: null, flag: true, b: new Uint8Array([0, 0xff]), amount: '1234.50', whole: '12345678901234567890', big: '9223372036854775807', small: 7, r: 1.5,
      d: '2024-03-05', ts: '2024-03-05T03:17:32.25', tstz: '2024-03-05T03:17:32Z', tstz_frac: '2024-03-05T03:17:32.123456Z', doc: '{"a": 1}', t: 'é', status: 2, numero: 1,
    },
  };
};

/** The sample rows as the fixture's table holds them after setup, in numero order. */
function sampleAfterSetup(): Row[] {
  const status = new Map(STATUS_CHANGES);
  return sample.map((r) => {
    const n = r.numero as number;
    return { ...r, status: status.get(n) ?? r.status, photo: n === 2 ? PHOTO : null, big_value: n === 2 ? BIG.toString() : n === 4 ? 42 : null };
  });
}

async function prepared(fx: Fixture): Promise<{ source: SourceAdapter; table: string; centre: Centre }> {
  const f = await fx.fresh();
  for (const [numero, status] of STATUS_CHANGES) await f.centre.set(f.table, numero, 'status', status);
  await f.centre.set(f.table, 2, 'photo', PHOTO);
  await f.centre.set(f.table, 2, 'big_value', BIG);
  await f.centre.set(f.table, 4, 'big_value', 42);
  return f;
}

for (const fx of [sqliteFixture(), postgresFixture()]) {
  const title = (t: string): string => `${fx.kind}: ${t}${fx.unavailable ? ` (skipped: ${fx.unavailable})` : ''}`;
  const it = fx.unavailable ? test.skip : test;
  if (!fx.unavailable) {
    test.before(() => fx.setup(sample));
    test.after.always(() => fx.teardown());
  }
  const withSource = (name: string, body: (t: import('ava').ExecutionContext, f: Awaited<ReturnType<typeof prepared>>) => Promise<void>): void =>
    it(title(name), async (t) => {
      const f = await prepared(fx);
      t.teardown(() => f.source.close());
      await body(t, f);
    });

  withSource('describe lists every column by name', async (t, { source, table }) => {
    const names = (await source.describe(table)).map((c) => c.name);
    t.deepEqual([...names].sort(), [...sampleColumns, 'photo', 'big_value'].sort());
    t.true(names.includes('numero') && names.includes('status'));
  });

  withSource('readValidated returns the status-2 rows, oldest first, every column by name', async (t, { source, table }) => {
    const rows = await source.readValidated(table, { limit: 1000 });
    const want = sampleAfterSetup().filter((r) => r.status === 2).map((r) => fx.expected(r));
    t.deepEqual(rows.map((r) => r.numero), want.map((r) => r.numero as number));
    t.deepEqual(rows.map((r) => r.values), want);
  });

  withSource('readValidated pages with limit and afterNumero', async (t, { source, table }) => {
    const all = (await source.readValidated(table, { limit: 1000 })).map((r) => r.numero);
    const paged: number[] = [];
    for (let after: number | undefined, page; (page = await source.readValidated(table, { limit: 7, afterNumero: after })).length > 0;) {
      t.true(page.length <= 7);
      paged.push(...page.map((r) => r.numero));
      after = page.at(-1)!.numero;
    }
    t.deepEqual(paged, all);
    t.deepEqual(await source.readValidated(table, { limit: 3, afterNumero: all.at(-1) }), []);
    await t.throwsAsync(source.readValidated(table, { limit: 0 }), { code: 'E_USAGE' });
  });

  withSource('null values stay null and keep their column', async (t, { source, table }) => {
    const rows = await source.readValidated(table, { limit: 1000 });
    const withNull = rows.find((r) => r.values.mentions === null);
    t.truthy(withNull);
    t.true('mentions' in withNull!.values);
    t.is(rows.find((r) => r.numero === 1)!.values.photo, null);
  });

  withSource('a blob column comes back as bytes, a 64-bit integer without loss', async (t, { source, table }) => {
    const rows = await source.readValidated(table, { limit: 5 });
    const two = rows.find((r) => r.numero === 2)!.values;
    t.true(two.photo instanceof Uint8Array);
    t.deepEqual(two.photo, PHOTO);
    t.is(two.big_value, '9007199254740993');
    t.is(rows.find((r) => r.numero === 4)!.values.big_value, 42);
  });

  withSource('column types are normalised to Values', async (t, { source, centre }) => {
    await centre.exec(fx.typedSql);
    t.deepEqual((await source.readValidated('typed', { limit: 10 })).map((r) => r.values), [fx.typedRow]);
  });

  withSource('setStatus is compare-and-set: a row the centre changed meanwhile is not moved', async (t, { source, table, centre }) => {
    const taken = (await source.readValidated(table, { limit: 5 })).map((r) => r.numero);
    const reopened = taken[2]!;
    await centre.set(table, reopened, 'status', 1);
    const moved = await source.setStatus(table, [...taken, 999_999], 2, 3);
    t.deepEqual(moved, taken.filter((n) => n !== reopened));
    t.deepEqual(await source.setStatus(table, taken, 2, 3), []);
    t.false((await source.readValidated(table, { limit: 1000 })).some((r) => taken.includes(r.numero)));
    t.deepEqual(await source.setStatus(table, [reopened], 1, 2), [reopened]);
    t.deepEqual(await source.setStatus(table, [], 2, 3), []);
  });

  withSource('setStatus waits for a centre transaction in progress and respects its outcome', async (t, { source, table, centre }) => {
    const [reopened, kept] = (await source.readValidated(table, { limit: 2 })).map((r) => r.numero) as [number, number];
    const { committed } = await centre.slowSetStatus(table, reopened, 1, 300);
    t.true((await source.readValidated(table, { limit: 2 })).some((r) => r.numero === reopened), 'reading is not blocked by the writer');
    t.deepEqual(await source.setStatus(table, [reopened, kept], 2, 3), [kept]);
    await committed;
    t.is((await source.countByStatus(table))[1], 2);
  });

  withSource('readRows gives the current values of the given numeros whatever their status, numero ascending', async (t, { source, table, centre }) => {
    const all = sampleAfterSetup().map((r) => fx.expected(r));
    const rows = await source.readRows(table, [9, 3, 2, 999_999, 3, 5]);
    t.deepEqual(rows.map((r) => r.numero), [2, 3, 5, 9]);
    t.deepEqual(rows.map((r) => r.values), [2, 3, 5, 9].map((n) => all.find((r) => r.numero === n)));
    t.deepEqual(rows.map((r) => r.values.status), [2, 1, 0, 4]);
    await centre.set(table, 2, 'status', 3);
    t.is((await source.readRows(table, [2]))[0]!.values.status, 3, 'a status changed behind the agent is read as it is now');
    t.deepEqual(await source.readRows(table, []), []);
    const many = all.map((r) => r.numero as number);
    const absent = Array.from({ length: 1200 }, (_, i) => 10_000 + i);
    t.deepEqual((await source.readRows(table, [...absent, ...many])).map((r) => r.numero), many, 'more numeros than one statement binds');
    await t.throwsAsync(source.readRows(table, [1.5]), { code: 'E_USAGE' });
  });

  withSource('listNumeros lists the numeros at a status, ascending, with limit and afterNumero', async (t, { source, table }) => {
    const at = (s: number) => sampleAfterSetup().filter((r) => r.status === s).map((r) => r.numero as number);
    for (const s of [0, 1, 2, 3, 4]) t.deepEqual(await source.listNumeros(table, s), at(s), `status ${s}`);
    t.deepEqual(await source.listNumeros(table, 7), []);
    const validated = at(2);
    t.deepEqual(await source.listNumeros(table, 2, { limit: 4 }), validated.slice(0, 4));
    t.deepEqual(await source.listNumeros(table, 2, { limit: 4, afterNumero: validated[3] }), validated.slice(4, 8));
    t.deepEqual(await source.listNumeros(table, 2, { afterNumero: validated.at(-1) }), []);
    await source.setStatus(table, validated.slice(0, 3), 2, 3);
    t.deepEqual(await source.listNumeros(table, 3), [...at(3), ...validated.slice(0, 3)].sort((a, b) => a - b));
    await t.throwsAsync(source.listNumeros(table, 2, { limit: 0 }), { code: 'E_USAGE' });
    await t.throwsAsync(source.listNumeros(table, 2.5), { code: 'E_USAGE' });
  });

  withSource('countByStatus counts every status', async (t, { source, table }) => {
    const total = sample.length;
    t.deepEqual(await source.countByStatus(table), { 0: 1, 1: 1, 2: total - 4, 3: 1, 4: 1 });
    await source.setStatus(table, [1, 6], 2, 3);
    t.deepEqual(await source.countByStatus(table), { 0: 1, 1: 1, 2: total - 6, 3: 3, 4: 1 });
  });

  withSource('a bad table name is rejected, never run', async (t, { source, table }) => {
    for (const bad of ['nope', `${table}; DROP TABLE ${table}`, `"${table}`, `${table}" --`, '', `x.y.z.${table}`]) {
      const e = await t.throwsAsync(source.readValidated(bad, { limit: 1 }));
      t.true(isTamtamError(e, 'E_CONFIG'), `${JSON.stringify(bad)}: ${String(e)}`);
    }
    t.is((await source.countByStatus(table))[2], sample.length - 4);
  });

  withSource('a table without status or numero is refused with what to add', async (t, { source, centre }) => {
    await centre.exec('CREATE TABLE no_status (numero integer PRIMARY KEY, name text); CREATE TABLE no_numero (id integer PRIMARY KEY, status integer)');
    t.deepEqual((await source.describe('no_status')).map((c) => c.name), ['numero', 'name']);
    for (const op of [() => source.readValidated('no_status', { limit: 1 }), () => source.setStatus('no_status', [1], 2, 3), () => source.countByStatus('no_status')]) {
      const e = await t.throwsAsync(op());
      t.true(isTamtamError(e, 'E_CONFIG'));
      t.regex(e!.message, /no_status.*"status".*add .*status/);
    }
    const e = await t.throwsAsync(source.readValidated('no_numero', { limit: 1 }));
    t.true(isTamtamError(e, 'E_CONFIG'));
    t.regex(e!.message, /no_numero.*"numero"/);
  });
}

test('SQLite: a centre database its application is writing opens all the same, read in its own journal mode; a later open switches it to WAL', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-src-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'centre.db');
  const app = new Database(path);
  t.teardown(() => app.close());
  app.exec("CREATE TABLE acts (numero INTEGER PRIMARY KEY, status INTEGER NOT NULL, name TEXT); INSERT INTO acts VALUES (1, 2, 'a'), (2, 2, 'b')");
  app.exec('BEGIN IMMEDIATE');
  app.prepare('UPDATE acts SET name = ? WHERE numero = 2').run('b2');
  const first = await openSource({ kind: 'sqlite', path, busyTimeoutMs: 100 });
  t.teardown(() => first.close());
  t.deepEqual((await first.readValidated('acts', { limit: 10 })).map((r) => r.values.name), ['a', 'b'], 'the committed rows, not the ones being written');
  const fileMode = () => {
    const look = new Database(path, { readonly: true });
    try {
      return look.pragma('journal_mode', { simple: true });
    } finally {
      look.close();
    }
  };
  t.is(fileMode(), 'delete');
  await t.throwsAsync(first.setStatus('acts', [1], 2, 3), { code: 'E_IO', message: /stayed locked.*try again later/ });
  app.exec('COMMIT');
  await first.close();
  const second = await openSource({ kind: 'sqlite', path, busyTimeoutMs: 100 });
  t.teardown(() => second.close());
  t.is(fileMode(), 'wal');
  t.deepEqual(await second.setStatus('acts', [1], 2, 3), [1]);
});

test('openSource rejects an unknown kind and a missing SQLite file with E_CONFIG', async (t) => {
  await t.throwsAsync(openSource({ kind: 'oracle' } as never), { code: 'E_CONFIG' });
  await t.throwsAsync(openSource({ kind: 'sqlite', path: join(tmpdir(), 'no-such-centre.db') }), { code: 'E_CONFIG' });
  t.true(existsSync(join(dataDir, 'gen-acts.mjs')));
});
