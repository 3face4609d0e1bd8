import test from 'ava';
import { createHash } from 'node:crypto';
import { certIdOf, isTamtamError } from '../protocol/index.js';
import { HubDatabase } from '../hub/db/hub-database.js';
import { MIGRATIONS, migrate } from '../hub/db/migrations.js';
import { CentreRegistry, CentreStatus } from '../hub/registry/centre-registry.js';
import { startPostgres, type PostgresCluster } from '../scripts/services/postgres-cluster.js';
import { makeTestPki } from './helpers/test-pki.js';

let cluster: PostgresCluster;
let databases = 0;
const pki = makeTestPki();

test.before(async () => {
  cluster = await startPostgres({ settings: { max_connections: 100 } });
});
test.after.always(async () => {
  await cluster?.stop();
});

const code = (e: unknown) => (isTamtamError(e) ? e.code : `not a TamtamError: ${String(e)}`);

/** A fresh, empty database for one test; `migrated` runs the migrations on it. */
async function freshDb(t: { teardown(f: () => Promise<void>): void }, migrated = true): Promise<HubDatabase> {
  const db = await HubDatabase.connect(await cluster.createDatabase(`registry_${++databases}`));
  t.teardown(() => db.close());
  if (migrated) await migrate(db);
  return db;
}

/** A clock the test moves, and random bytes that count up, so tokens are known in advance. */
function fakes(start = new Date('2026-01-10T08:00:00Z')) {
  let now = start;
  let n = 0;
  return {
    now: () => now,
    advanceDays: (d: number) => { now = new Date(now.getTime() + d * 86_400_000); },
    random: (size: number) => new Uint8Array(size).fill(++n),
  };
}

test('migrations apply once: the second run finds nothing to do', async (t) => {
  const db = await freshDb(t, false);
  t.deepEqual(await migrate(db), { applied: MIGRATIONS.map((m) => m.id) });
  t.deepEqual(await migrate(db), { applied: [] });
  const tables = (await db.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")).rows.map((r) => r.t);
  t.deepEqual(tables, ['centre_backlog', 'centre_daily', 'centre_monthly', 'centre_reports', 'centre_stats', 'centres', 'diagnostic_requests', 'enrol_tokens',
    'hub_daily', 'link_usage', 'outbound', 'quarantine', 'sdc_seen', 'staff_sessions', 'staff_users', 'tamtam_migrations']);
  t.is((await db.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'central'")).rowCount, 1);
});

test('two hub processes migrating at once: one applies, the other waits and finds it done', async (t) => {
  const url = await cluster.createDatabase(`registry_${++databases}`);
  const [a, b] = await Promise.all([HubDatabase.connect(url), HubDatabase.connect(url)]);
  t.teardown(async () => { await a.close(); await b.close(); });
  const results = await Promise.all([migrate(a), migrate(b)]);
  t.deepEqual(results.map((r) => r.applied.length).sort(), [0, MIGRATIONS.length]);
  t.is((await a.query('SELECT count(*)::int AS n FROM tamtam_migrations')).rows[0].n, MIGRATIONS.length);
});

test('a migration edited after release, or one from a newer hub, stops the hub with E_CONFIG', async (t) => {
  const db = await freshDb(t);
  const edited = MIGRATIONS.map((m) => ({ ...m, sql: `${m.sql}\n-- edited` }));
  t.regex((await t.throwsAsync(migrate(db, edited)))!.message, /differs from the one applied/);
  t.is(code(await t.throwsAsync(migrate(db, []))), 'E_CONFIG');
});

test('migration 3 on a hub with history: centre_daily and centre_stats are filled from sdc_seen, link_usage and centre_backlog', async (t) => {
  const db = await freshDb(t, false);
  await migrate(db, MIGRATIONS.filter((m) => m.id <= 2));
  await db.query("INSERT INTO centres (id, matricule, name) VALUES (1, 'CM-A', 'A'), (2, 'CM-B', 'B'), (3, 'CM-C', 'C')");
  await db.query(`INSERT INTO sdc_seen (centre_id, sequence, kind, received_at, via, outcome, merged, duplicates, rejected) VALUES
    (1, 1, 1, now() - interval '400 days', 'mqtt', 'merged', 70, 0, 0),
    (1, 2, 1, now(), 'mqtt', 'merged', 100, 3, 0),
    (1, 3, 1, now(), 'stream', 'refused', 0, 0, 25),
    (1, 4, 5, now() - interval '1 second', 'mqtt', 'report', 0, 0, 0),
    (2, 1, 5, now(), 't2d', 'report', 0, 0, 0)`);
  await db.query(`INSERT INTO link_usage (centre_id, link, day, bytes_up, bytes_down, messages_up, messages_down, sessions, airtime_ms, cost_usd, profile, reported_at) VALUES
    (1, 'mqtt', (now() AT TIME ZONE 'UTC')::date, 10, 10, 1, 1, 1, 0, 2.5, 'internet', now()),
    (1, 'mqtt', (now() AT TIME ZONE 'UTC')::date - 400, 10, 10, 1, 1, 1, 0, 7, 'old-profile', now() - interval '400 days')`);
  await db.query("INSERT INTO centre_backlog (centre_id, table_name, status, records, reported_at) VALUES (1, 'births', 2, 4, now()), (1, 'births', 3, 6, now()), (1, 'births', 4, 50, now())");
  t.deepEqual(await migrate(db), { applied: [3] });
  const stats = (await db.query(`SELECT centre_id, last_via, profile, backlog::int, backlog_reported_at IS NOT NULL AS reported,
      month = date_trunc('month', now() AT TIME ZONE 'UTC')::date AS this_month, acts_month::int, cost_month_usd::float8 AS cost FROM centre_stats ORDER BY centre_id`)).rows;
  t.deepEqual(stats, [
    { centre_id: 1, last_via: 'stream', profile: 'internet', backlog: 10, reported: true, this_month: true, acts_month: 100, cost: 2.5 },
    { centre_id: 2, last_via: 't2d', profile: null, backlog: 0, reported: false, this_month: true, acts_month: 0, cost: 0 },
  ]);
  const daily = (await db.query(`SELECT centre_id, day = (now() AT TIME ZONE 'UTC')::date AS today, sdcs, merged::int, duplicates::int, rejected::int, bytes::int
      FROM centre_daily ORDER BY centre_id, day`)).rows;
  t.deepEqual(daily, [
    { centre_id: 1, today: false, sdcs: 1, merged: 70, duplicates: 0, rejected: 0, bytes: 0 },
    { centre_id: 1, today: true, sdcs: 3, merged: 100, duplicates: 3, rejected: 25, bytes: 0 },
    { centre_id: 2, today: true, sdcs: 1, merged: 0, duplicates: 0, rejected: 0, bytes: 0 },
  ]);
  const monthly = (await db.query('SELECT centre_id, link, bytes::int, cost_usd::float8 AS cost FROM centre_monthly ORDER BY month')).rows;
  t.deepEqual(monthly, [{ centre_id: 1, link: 'mqtt', bytes: 20, cost: 7 }, { centre_id: 1, link: 'mqtt', bytes: 20, cost: 2.5 }]);
});

test('a monthly budget is set in cents, read back and cleared; an unknown centre or a bad amount is E_BAD_INPUT', async (t) => {
  const db = await freshDb(t);
  const registry = new CentreRegistry(db);
  await registry.add({ matricule: 'CM-B', name: 'B' });
  t.is(await registry.getBudget('CM-B'), null);
  t.is(await registry.setBudget('CM-B', 120.456), 120.46);
  t.is(await registry.getBudget('CM-B'), 120.46);
  t.is((await registry.require('CM-B')).monthlyBudgetUsd, '120.46', "'hub centre show' prints it from the centre's record");
  t.is(await registry.setBudget('CM-B', null), null);
  t.is(await registry.getBudget('CM-B'), null);
  for (const bad of [-1, Number.NaN, Infinity, 1e9]) t.is(code(await t.throwsAsync(registry.setBudget('CM-B', bad))), 'E_BAD_INPUT', String(bad));
  t.is(code(await t.throwsAsync(registry.setBudget('CM-NOPE', 5))), 'E_BAD_INPUT');
  t.is(code(await t.throwsAsync(registry.getBudget('CM-NOPE'))), 'E_BAD_INPUT');
});

test('add: a generated matricule, a tt_ + base64url token shown once and kept only as its SHA-256, valid 30 days', async (t) => {
  const db = await freshDb(t);
  const f = fakes();
  const registry = new CentreRegistry(db, { now: f.now, random: f.random });
  const { centre, token, expiresAt } = await registry.add({ name: 'Mairie de Bafang', city: 'Bafang', phone: '+237 600 00 00 01' });
  t.regex(centre.matricule, /^CTR-\d{6}$/);
  t.is(centre.matricule, `CTR-${String(centre.id).padStart(6, '0')}`);
  t.is(centre.status, CentreStatus.all);
  t.is(token, `tt_${Buffer.alloc(32, 1).toString('base64url')}`);
  t.deepEqual(expiresAt, new Date('2026-02-09T08:00:00Z'));
  const stored = (await db.query('SELECT token_hash FROM enrol_tokens')).rows;
  t.deepEqual(stored, [{ token_hash: createHash('sha256').update(token).digest('hex') }]);

  const named = await registry.add({ matricule: 'CM-LT-DLA-0007', name: 'Centre de Douala', status: CentreStatus.someServices });
  t.is(named.centre.matricule, 'CM-LT-DLA-0007');
  t.is(named.centre.status, CentreStatus.someServices);
  t.is(code(await t.throwsAsync(registry.add({ matricule: 'CM-LT-DLA-0007', name: 'again' }))), 'E_BAD_INPUT');
  t.is(code(await t.throwsAsync(registry.add({ matricule: 'has space', name: 'x' }))), 'E_BAD_INPUT');
  t.is(code(await t.throwsAsync(registry.add({ name: 'x', status: 7 as never }))), 'E_BAD_INPUT');
});

test('list filters by status and by text in matricule, name or city, pages with a total; get finds by matricule', async (t) => {
  const db = await freshDb(t);
  const registry = new CentreRegistry(db);
  for (const [matricule, name, city] of [['CM-A', 'Mairie de Bafang', 'Bafang'], ['CM-B', 'Centre 100% rural', 'Tignère'], ['CM-C', 'Mairie de Garoua', 'Garoua'], ['CM-D', 'Hôpital', 'Bafang']]) {
    await registry.add({ matricule, name, city });
  }
  await registry.suspend('CM-C');
  const page = await registry.list({ limit: 2, offset: 1 });
  t.deepEqual(page.centres.map((c) => c.matricule), ['CM-B', 'CM-C']);
  t.is(page.total, 4);
  t.deepEqual((await registry.list({ search: 'bafang' })).centres.map((c) => c.matricule), ['CM-A', 'CM-D']);
  t.deepEqual((await registry.list({ search: '100%' })).centres.map((c) => c.matricule), ['CM-B']);
  t.deepEqual((await registry.list({ search: '%' })).centres.map((c) => c.matricule), ['CM-B']);
  t.deepEqual((await registry.list({ status: CentreStatus.suspended })).centres.map((c) => c.matricule), ['CM-C']);
  t.deepEqual(await registry.list({ offset: 10 }), { centres: [], total: 4 });
  t.is((await registry.get('CM-D'))?.city, 'Bafang');
  t.is(await registry.get('CM-Z'), undefined);
});

test('suspend and resume set status 0 and 3; an unknown centre is a clear error', async (t) => {
  const db = await freshDb(t);
  const registry = new CentreRegistry(db);
  await registry.add({ matricule: 'CM-S', name: 'S', status: CentreStatus.allButData });
  t.is((await registry.suspend('CM-S')).status, 0);
  t.is((await registry.get('CM-S'))!.status, 0);
  t.is((await registry.resume('CM-S')).status, 3);
  t.is((await registry.setStatus('CM-S', CentreStatus.someServices)).status, 1);
  const e = await t.throwsAsync(registry.suspend('CM-NOPE'));
  t.is(code(e), 'E_BAD_INPUT');
  t.regex(e!.message, /CM-NOPE/);
});

test('a token works once; a wrong one, a used one and an expired one are E_BAD_TOKEN saying why', async (t) => {
  const db = await freshDb(t);
  const f = fakes();
  const registry = new CentreRegistry(db, { now: f.now, random: f.random });
  const { token } = await registry.add({ matricule: 'CM-T', name: 'T' });
  const wrong = await t.throwsAsync(registry.consumeToken('CM-T', Buffer.alloc(32, 9).toString('base64url')));
  t.is(code(wrong), 'E_BAD_TOKEN');
  t.regex(wrong!.message, /wrong/);
  t.is(code(await t.throwsAsync(registry.consumeToken('CM-OTHER', token))), 'E_BAD_TOKEN');
  t.is((await registry.consumeToken('CM-T', token)).matricule, 'CM-T');
  const again = await t.throwsAsync(registry.consumeToken('CM-T', token));
  t.is(code(again), 'E_BAD_TOKEN');
  t.regex(again!.message, /already used/);

  const renewed = await registry.issueToken('CM-T', 2);
  f.advanceDays(2);
  const expired = await t.throwsAsync(registry.consumeToken('CM-T', renewed.token));
  t.is(code(expired), 'E_BAD_TOKEN');
  t.regex(expired!.message, /expired on 2026-01-12T08:00:00\.000Z/);
});

test('a new token replaces the unused one; two enrolments racing with one token: one wins', async (t) => {
  const db = await freshDb(t);
  const registry = new CentreRegistry(db);
  const first = await registry.add({ matricule: 'CM-R', name: 'R' });
  const second = await registry.issueToken('CM-R');
  t.not(second.token, first.token);
  t.is(code(await t.throwsAsync(registry.consumeToken('CM-R', first.token))), 'E_BAD_TOKEN');
  const results = await Promise.allSettled([registry.consumeToken('CM-R', second.token), registry.consumeToken('CM-R', second.token)]);
  t.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  t.is(code((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason), 'E_BAD_TOKEN');
});

test('setCertificate keeps the key id and expiry; findSigner answers only with the cert enrolled for that sender', async (t) => {
  const db = await freshDb(t);
  const registry = new CentreRegistry(db);
  const other = pki.issue('CM-OTHER', 'centre');
  await registry.add({ matricule: pki.centre.name, name: 'Yaoundé' });
  await registry.add({ matricule: 'CM-OTHER', name: 'Other' });
  t.is(await registry.findSigner(pki.centre.name, certIdOf(pki.centre.cert)), undefined);
  const centre = await registry.setCertificate(pki.centre.name, pki.centre.certPem);
  t.deepEqual(centre.certKeyId, pki.centre.cert.subjectKeyId);
  t.deepEqual(centre.certNotAfter, pki.centre.cert.notAfter);
  await registry.setCertificate('CM-OTHER', other.certPem);

  t.deepEqual((await registry.findSigner(pki.centre.name, certIdOf(pki.centre.cert)))?.der, pki.centre.cert.der);
  t.is(await registry.findSigner(pki.centre.name, certIdOf(other.cert)), undefined);
  t.is(await registry.findSigner('CM-NOBODY', certIdOf(pki.centre.cert)), undefined);
  t.is(code(await t.throwsAsync(registry.setCertificate('CM-OTHER', pki.centre.certPem))), 'E_BAD_CERT');
  t.is(code(await t.throwsAsync(registry.setCertificate('CM-OTHER', 'not a certificate'))), 'E_BAD_CERT');
});

test('touch records the last contact and keeps the highest sequence', async (t) => {
  const db = await freshDb(t);
  const registry = new CentreRegistry(db);
  await registry.add({ matricule: 'CM-C', name: 'C' });
  t.is((await registry.get('CM-C'))!.lastContactAt, null);
  await registry.touch('CM-C', 12n);
  await registry.touch('CM-C', 7n);
  await registry.touch('CM-C');
  const c = (await registry.get('CM-C'))!;
  t.true(c.lastContactAt instanceof Date);
  t.is(c.lastSequence, 12n);
});
