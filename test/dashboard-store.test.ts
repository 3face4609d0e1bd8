import test, { type ExecutionContext } from 'ava';
import { isTamtamError } from '../protocol/index.js';
import { DashboardStore, parseCentreListQuery } from '../hub/dashboard/dashboard-store.js';
import type { CentreListQuery, CentreRow, CentreSort, Scope } from '../hub/dashboard/dashboard-types.js';
import { CentreStatus } from '../hub/registry/centre-registry.js';
import { startPostgres, type PostgresCluster } from '../scripts/services/postgres-cluster.js';
import { DashboardHub } from './helpers/dashboard-fixture.js';

let cluster: PostgresCluster;
let databases = 0;

test.before(async () => {
  cluster = await startPostgres({ settings: { max_connections: 100 } });
});
test.after.always(async () => {
  await cluster?.stop();
});

const BASE = new Date('2026-03-10T10:00:00Z');
const ALL: Scope = { cities: null };
const YAOUNDE: Scope = { cities: ['Yaounde'] };
const DAY = 86_400_000;
const list = (q: Partial<CentreListQuery> = {}): CentreListQuery => ({ sort: 'matricule', order: 'asc', page: 1, pageSize: 50, ...q });
const names = (rows: CentreRow[]) => rows.map((r) => r.matricule);
const code = (e: unknown) => (isTamtamError(e) ? e.code : `not a TamtamError: ${String(e)}`);

/**
 * Five centres fed through the ingest pipeline on 2026-03-10:
 * A (Yaounde, budget 10): 100 births, the same 100 again, two usage reports; B (Douala, budget 30): 50 births
 * by modem call, a report costing 40, a forged SDC in quarantine; C (Yaounde): suspended, its 20 births refused;
 * D (no city): 10 births five days earlier, by SBD; E (Douala): never heard from. Plus an SDC from nobody.
 */
async function fedHub(t: ExecutionContext) {
  const hub = await DashboardHub.create(cluster, `dash_${++databases}`, [
    { matricule: 'CTR-A', name: 'Alpha', city: 'Yaounde', budgetUsd: 10 },
    { matricule: 'CTR-B', name: 'Bravo', city: 'Douala', budgetUsd: 30 },
    { matricule: 'CTR-C', name: 'Charlie', city: 'Yaounde', status: CentreStatus.suspended },
    { matricule: 'CTR-D', name: 'Delta' },
    { matricule: 'CTR-E', name: 'Echo', city: 'Douala' },
  ], BASE);
  t.teardown(() => hub.close());
  const bytes: Record<string, number> = { 'CTR-A': 0 };
  const add = <R extends { bytes: number }>(m: string, r: R): R => { bytes[m] = (bytes[m] ?? 0) + r.bytes; return r; };
  t.like((add('CTR-A', await hub.sendActs('CTR-A', { count: 100, via: 'mqtt' }))).outcome, { kind: 'merged', merged: 100 });
  t.like((add('CTR-A', await hub.sendActs('CTR-A', { count: 100, via: 'mqtt' }))).outcome, { kind: 'merged', duplicates: 100 });
  const usageA = [{ link: 'mqtt', day: '2026-02-27', costUsd: 9, bytesUp: 900 }, { link: 'mqtt', day: '2026-03-09', costUsd: 1.25, bytesUp: 1000, bytesDown: 200 }];
  add('CTR-A', await hub.sendReport('CTR-A', { profile: 'internet', via: 'mqtt', usage: [...usageA, { link: 'mqtt', day: '2026-03-10', costUsd: 0.5 }], backlog: { births: { 2: 5, 3: 7 } } }));
  // The same day again, grown: the month's cost is recomputed (1.25 + 0.75), not added to.
  add('CTR-A', await hub.sendReport('CTR-A', { profile: 'internet', via: 'mqtt', usage: [...usageA, { link: 'mqtt', day: '2026-03-10', costUsd: 0.75 }], backlog: { births: { 2: 5, 3: 7, 4: 100 } } }));
  await hub.sendActs('CTR-B', { from: 200, count: 50, via: 'stream' });
  await hub.sendReport('CTR-B', { profile: 'iridium-csd', via: 'stream', usage: [{ link: 'stream', day: '2026-03-05', costUsd: 40, airtimeMs: 60_000 }], backlog: { births: { 2: 0 } } });
  t.is((await hub.sendForged('CTR-B', hub.parties.get('CTR-A')!)).kind, 'quarantined');
  t.is((await hub.sendForged('CTR-ZZ', hub.parties.get('CTR-A')!)).kind, 'quarantined');
  t.like((await hub.sendActs('CTR-C', { from: 300, count: 20, via: 't2d' })).outcome, { kind: 'refused', rejected: 20 });
  hub.setNow(new Date(BASE.getTime() - 5 * DAY));
  await hub.sendActs('CTR-D', { from: 400, count: 10, via: 'sbd' });
  hub.setNow(BASE);
  // Quarantine rows take the database's clock; put them on the test's.
  await hub.db.query("UPDATE quarantine SET received_at = $1::timestamptz - interval '1 hour'", [BASE]);
  return { hub, store: new DashboardStore(hub.db, { now: hub.now }), bytes };
}

test('list rows: backlog, link, profile, month figures and alerts as ingest left them', async (t) => {
  const { store, hub } = await fedHub(t);
  const page = await store.listCentres(ALL, list());
  t.is(page.total, 5);
  t.deepEqual(names(page.rows), ['CTR-A', 'CTR-B', 'CTR-C', 'CTR-D', 'CTR-E']);
  const [a, b, c, d, e] = page.rows;
  t.deepEqual(a, {
    matricule: 'CTR-A', name: 'Alpha', city: 'Yaounde', status: 3, lastContact: BASE.toISOString(), link: 'mqtt', profile: 'internet',
    backlog: 12, backlogReportedAt: BASE.toISOString(), actsMonth: 100, costMonthUsd: 2, budgetUsd: 10, alerts: [],
  });
  t.like(b, { link: 'stream', profile: 'iridium-csd', backlog: 0, backlogReportedAt: BASE.toISOString(), actsMonth: 50, costMonthUsd: 40, budgetUsd: 30 });
  t.deepEqual(b.alerts, ['overBudget', 'quarantine']);
  t.like(c, { status: 0, link: 't2d', profile: null, backlog: 0, backlogReportedAt: null, actsMonth: 0, costMonthUsd: 0, budgetUsd: null });
  t.deepEqual(c.alerts, []);
  t.like(d, { city: null, link: 'sbd', lastContact: new Date(BASE.getTime() - 5 * DAY).toISOString(), actsMonth: 10 });
  t.deepEqual(d.alerts, ['silent']);
  t.like(e, { link: null, lastContact: null, actsMonth: 0, costMonthUsd: 0 });
  t.deepEqual(e.alerts, ['silent']);
  // A centre heard from a day ago is not silent; one created yesterday and never heard from is not either.
  await hub.db.query("UPDATE centres SET last_contact_at = $1::timestamptz - interval '1 day' WHERE matricule = 'CTR-D'", [BASE]);
  await hub.db.query("UPDATE centres SET created_at = $1::timestamptz - interval '1 day' WHERE matricule = 'CTR-E'", [BASE]);
  t.deepEqual(names((await store.listCentres(ALL, list({ alert: 'silent' }))).rows), []);
});

test('every sort in both directions: NULLs last, ties by matricule', async (t) => {
  const { store } = await fedHub(t);
  const expected: Record<CentreSort, [string, string]> = {
    matricule: ['ABCDE', 'EDCBA'],
    name: ['ABCDE', 'EDCBA'],
    status: ['CABDE', 'ABDEC'],
    city: ['BEACD', 'ACBED'],
    lastContact: ['DABCE', 'ABCDE'],
    backlog: ['BACDE', 'ABCDE'],
    actsMonth: ['CDBAE', 'ABDCE'],
    costMonth: ['CDABE', 'BACDE'],
    link: ['ADBCE', 'CBDAE'],
  };
  for (const [sort, [asc, desc]] of Object.entries(expected) as [CentreSort, [string, string]][]) {
    for (const [order, want] of [['asc', asc], ['desc', desc]] as const) {
      const rows = (await store.listCentres(ALL, list({ sort, order }))).rows;
      t.is(rows.map((r) => r.matricule.slice(-1)).join(''), want, `${sort} ${order}`);
    }
  }
});

test('filters and pages: q, status, alert, link; totals count the filtered list', async (t) => {
  const { store } = await fedHub(t);
  const find = async (q: Partial<CentreListQuery>) => {
    const page = await store.listCentres(ALL, list(q));
    t.is(page.total, page.rows.length);
    return names(page.rows);
  };
  t.deepEqual(await find({ q: 'douala' }), ['CTR-B', 'CTR-E']);
  t.deepEqual(await find({ q: 'ALPHA' }), ['CTR-A']);
  t.deepEqual(await find({ q: 'tr-c' }), ['CTR-C']);
  t.deepEqual(await find({ q: '%' }), []);
  t.deepEqual(await find({ status: 0 }), ['CTR-C']);
  t.deepEqual(await find({ alert: 'silent' }), ['CTR-D', 'CTR-E']);
  t.deepEqual(await find({ alert: 'overBudget' }), ['CTR-B']);
  t.deepEqual(await find({ alert: 'quarantine' }), ['CTR-B']);
  t.deepEqual(await find({ link: 'sbd' }), ['CTR-D']);
  t.deepEqual(await find({ q: 'e', alert: 'silent', sort: 'name', order: 'desc' }), ['CTR-E', 'CTR-D']);
  const pages = await Promise.all([1, 2, 3, 4].map((page) => store.listCentres(ALL, list({ page, pageSize: 2 }))));
  t.deepEqual(pages.map((p) => names(p.rows)), [['CTR-A', 'CTR-B'], ['CTR-C', 'CTR-D'], ['CTR-E'], []]);
  t.deepEqual(pages.map((p) => [p.total, p.page, p.pageSize]), [[5, 1, 2], [5, 2, 2], [5, 3, 2], [5, 4, 2]]);
  const e = await t.throwsAsync(store.listCentres(ALL, { ...list(), sort: 'password_hash' as CentreSort }));
  t.is(code(e), 'E_BAD_INPUT');
});

test("a centre's detail: backlog, daily acts with bytes, usage by day and month, quarantine, diagnostics", async (t) => {
  const { store, hub, bytes } = await fedHub(t);
  const { rows: [report] } = await hub.db.query("INSERT INTO centre_reports (centre_id, sequence, kind, body) SELECT id, 99, 7, '{\"doctor\":\"ok\"}' FROM centres WHERE matricule = 'CTR-A' RETURNING id");
  await hub.db.query(
    `INSERT INTO diagnostic_requests (centre_id, requested_at, requested_by, delivered_via, answered_at, report_id)
     SELECT id, $1::timestamptz - interval '2 hours', 'alice', 'mqtt', $1, $2 FROM centres WHERE matricule = 'CTR-A'`, [BASE, report.id]);
  await hub.db.query("INSERT INTO diagnostic_requests (centre_id, requested_at, requested_by, delivered_via) SELECT id, $1, 'bob', 'outbound' FROM centres WHERE matricule = 'CTR-A'", [BASE]);
  const a = (await store.centreDetail(ALL, 'CTR-A'))!;
  t.like(a.centre, { matricule: 'CTR-A', enrolled: true, credit: '0', lastSequence: '4', phone: null, backlog: 12, alerts: [] });
  t.deepEqual(a.backlog.map((b) => [b.table, b.status, b.records]), [['births', 2, 5], ['births', 3, 7], ['births', 4, 100]]);
  t.deepEqual(a.actsByDay, [{ day: '2026-03-10', sdcs: 4, merged: 100, duplicates: 100, rejected: 0, bytes: bytes['CTR-A'] }]);
  t.deepEqual(a.usageByDay.map((u) => [u.day, u.costUsd, u.bytesUp, u.bytesDown]), [['2026-02-27', 9, 900, 0], ['2026-03-09', 1.25, 1000, 200], ['2026-03-10', 0.75, 0, 0]]);
  t.deepEqual(a.usageByMonth, [{ month: '2026-02', link: 'mqtt', bytes: 900, costUsd: 9 }, { month: '2026-03', link: 'mqtt', bytes: 1200, costUsd: 2 }]);
  t.deepEqual(a.quarantine, []);
  t.deepEqual(a.diagnostics.map((d) => [d.requestedBy, d.deliveredVia, d.answeredAt, d.report]), [['bob', 'outbound', null, null], ['alice', 'mqtt', BASE.toISOString(), { doctor: 'ok' }]]);
  const b = (await store.centreDetail(ALL, 'CTR-B'))!;
  t.is(b.quarantine.length, 1);
  t.like(b.quarantine[0], { via: 'mqtt', receivedAt: new Date(BASE.getTime() - 3_600_000).toISOString() });
  t.deepEqual((await store.centreDetail(ALL, 'CTR-C'))!.actsByDay.map((d) => [d.sdcs, d.merged, d.rejected]), [[1, 0, 20]]);
  t.is(await store.centreDetail(ALL, 'CTR-NOPE'), undefined);
});

test('a city-scoped user sees only its cities: list, detail and overview', async (t) => {
  const { store } = await fedHub(t);
  for (const q of [list(), list({ q: 'o' }), list({ alert: 'overBudget' }), list({ sort: 'costMonth', order: 'desc' })]) {
    const page = await store.listCentres(YAOUNDE, q);
    t.true(page.rows.every((r) => r.city === 'Yaounde'), JSON.stringify(q));
  }
  t.deepEqual(names((await store.listCentres(YAOUNDE, list())).rows), ['CTR-A', 'CTR-C']);
  t.is((await store.listCentres(YAOUNDE, list({ alert: 'quarantine' }))).total, 0);
  t.truthy(await store.centreDetail(YAOUNDE, 'CTR-A'));
  t.is(await store.centreDetail(YAOUNDE, 'CTR-B'), undefined);
  t.is(await store.centreDetail(YAOUNDE, 'CTR-D'), undefined, 'a centre without a city is for unscoped users only');
  const o = await store.overview(YAOUNDE);
  t.deepEqual(o.centres, { total: 2, byStatus: { 0: 1, 1: 0, 2: 0, 3: 1 } });
  t.deepEqual(o.alerts, { silent: 0, overBudget: 0, quarantine: 0, unattributedQuarantine: 0 });
  t.deepEqual(o.actsByDay.at(-1), { day: '2026-03-10', merged: 100, sdcs: 5 });
  t.deepEqual(o.costByMonth.map((c) => [c.month, c.link, c.costUsd]), [['2026-02', 'mqtt', 9], ['2026-03', 'mqtt', 2]]);
  t.is(o.backlog, 12);
  const douala = await store.overview({ cities: ['Douala'] });
  t.deepEqual(douala.alerts, { silent: 1, overBudget: 1, quarantine: 1, unattributedQuarantine: 0 });
});

test('the overview and the metrics snapshot of the whole hub', async (t) => {
  const { store, hub } = await fedHub(t);
  const o = await store.overview(ALL);
  t.deepEqual(o.centres, { total: 5, byStatus: { 0: 1, 1: 0, 2: 0, 3: 4 } });
  t.deepEqual(o.alerts, { silent: 2, overBudget: 1, quarantine: 1, unattributedQuarantine: 1 });
  t.is(o.actsByDay.length, 30);
  t.deepEqual([o.actsByDay[0].day, o.actsByDay[29].day], ['2026-02-09', '2026-03-10']);
  t.deepEqual(o.actsByDay.filter((d) => d.sdcs > 0), [{ day: '2026-03-05', merged: 10, sdcs: 1 }, { day: '2026-03-10', merged: 150, sdcs: 7 }]);
  t.deepEqual(o.costByMonth.map((c) => [c.month, c.link, c.costUsd]), [['2026-02', 'mqtt', 9], ['2026-03', 'mqtt', 2], ['2026-03', 'stream', 40]]);
  t.is(o.backlog, 12);
  // Closed days (up to two days ago) were summed once into hub_daily; the next overview reads them from there.
  t.deepEqual((await hub.db.query("SELECT count(*)::int AS n, min(day)::text AS first, max(day)::text AS last, sum(merged)::int AS merged FROM hub_daily")).rows,
    [{ n: 28, first: '2026-02-09', last: '2026-03-08', merged: 10 }]);
  await hub.db.query("UPDATE hub_daily SET merged = 11 WHERE day = '2026-03-05'");
  t.deepEqual((await store.overview(ALL)).actsByDay.filter((d) => d.sdcs > 0), [{ day: '2026-03-05', merged: 11, sdcs: 1 }, { day: '2026-03-10', merged: 150, sdcs: 7 }]);
  const m = await store.metricsSnapshot();
  t.deepEqual(m, {
    centresByStatus: { 0: 1, 1: 0, 2: 0, 3: 4 },
    alerts: { silent: 2, overBudget: 1, quarantine: 1 },
    backlogByStatus: { 2: 5, 3: 7, 4: 100 },
    quarantineTotal: 2,
    monthByLink: [{ link: 'mqtt', bytes: 1200, costUsd: 2 }, { link: 'stream', bytes: 0, costUsd: 40 }],
  });
});

test("a new month: last month's figures read 0 until the centre sends, then count from 0; a late clock never moves the month back", async (t) => {
  const { store, hub } = await fedHub(t);
  hub.setNow('2026-04-02T08:00:00Z');
  const row = async (m: string) => (await store.listCentres(ALL, list({ q: m }))).rows[0];
  t.like(await row('CTR-A'), { actsMonth: 0, costMonthUsd: 0, backlog: 12 });
  t.deepEqual((await row('CTR-B')).alerts, ['silent'], 'over budget last month, and its quarantine is 23 days old');
  await hub.sendActs('CTR-A', { from: 1000, count: 30, via: 'mqtt' });
  t.like(await row('CTR-A'), { actsMonth: 30, costMonthUsd: 0 });
  await hub.sendReport('CTR-A', { profile: 'internet', via: 'mqtt', usage: [{ link: 'mqtt', day: '2026-03-31', costUsd: 100 }, { link: 'mqtt', day: '2026-04-01', costUsd: 3 }] });
  t.like(await row('CTR-A'), { actsMonth: 30, costMonthUsd: 3 });
  hub.setNow('2026-03-31T23:59:00Z');
  await hub.sendActs('CTR-A', { from: 1100, count: 5, via: 'stream' });
  hub.setNow('2026-04-02T08:00:00Z');
  t.like(await row('CTR-A'), { actsMonth: 30, costMonthUsd: 3, link: 'stream' });
  const stats = (await hub.db.query("SELECT to_char(month, 'YYYY-MM-DD') AS month, acts_month::int AS acts FROM centre_stats s JOIN centres c ON c.id = s.centre_id WHERE matricule = 'CTR-A'")).rows;
  t.deepEqual(stats, [{ month: '2026-04-01', acts: 30 }]);
  const days = (await store.centreDetail(ALL, 'CTR-A'))!.actsByDay.map((d) => [d.day, d.merged]);
  t.deepEqual(days, [['2026-03-10', 100], ['2026-03-31', 5], ['2026-04-02', 30]]);
});

test('100,000 centres: a page filtered by alert and sorted by cost is the one plain SQL finds', async (t) => {
  const hub = await DashboardHub.create(cluster, `dash_${++databases}`, [], BASE);
  t.teardown(() => hub.close());
  const db = hub.db;
  await db.query(
    `INSERT INTO centres (matricule, name, city, status, monthly_budget_usd, last_contact_at, created_at)
     SELECT 'C' || lpad(i::text, 6, '0'), 'Centre ' || i, CASE WHEN i % 97 = 0 THEN NULL ELSE 'City ' || (i % 200) END, CASE WHEN i % 50 = 0 THEN 0 ELSE 3 END,
            CASE WHEN i % 3 = 0 THEN i % 60 END, CASE WHEN i % 7 <> 0 THEN $1::timestamptz - (i % 9) * interval '1 day' END, $1::timestamptz - interval '60 days'
       FROM generate_series(1, 100000) AS i`, [BASE]);
  await db.query(
    `INSERT INTO centre_stats (centre_id, last_via, backlog, backlog_reported_at, month, acts_month, cost_month_usd)
     SELECT id, (ARRAY['mqtt', 'stream', 'sbd', 't2d'])[1 + id % 4], id % 37, CASE WHEN id % 2 = 0 THEN $1::timestamptz END,
            CASE WHEN id % 5 = 0 THEN '2026-02-01' ELSE '2026-03-01' END::date, id % 1000, ((id * 7919) % 10000) / 100.0
       FROM centres WHERE id % 11 <> 0`, [BASE]);
  await db.query(
    `INSERT INTO quarantine (received_at, via, sender, code, reason, size, sdc)
     SELECT $1::timestamptz - (i % 12) * interval '1 day', 'mqtt', 'C' || lpad((i * 13)::text, 6, '0'), 'E_BAD_SIGNATURE', 'forged', 10, '\\x00'
       FROM generate_series(1, 3000) AS i`, [BASE]);
  await db.query('ANALYZE');
  const store = new DashboardStore(db, { now: hub.now });
  const since = new Date(BASE.getTime() - 7 * DAY);
  const silentBefore = new Date(BASE.getTime() - 3 * DAY);
  // lastPage: the page holding the end of the list, where centres without figures sort.
  const oracles: { q: Partial<CentreListQuery>; lastPage?: true; scope?: Scope; where: string; order: string }[] = [
    { q: { alert: 'overBudget', sort: 'costMonth', order: 'desc', page: 3 },
      where: "c.monthly_budget_usd IS NOT NULL AND s.month = '2026-03-01' AND s.cost_month_usd > c.monthly_budget_usd",
      order: "CASE WHEN s.month = '2026-03-01' THEN s.cost_month_usd ELSE 0 END DESC, c.matricule" },
    { q: { alert: 'silent', sort: 'costMonth', order: 'desc', pageSize: 500 }, lastPage: true,
      where: 'coalesce(c.last_contact_at, c.created_at) < $2',
      order: "s.centre_id IS NULL, CASE WHEN s.month = '2026-03-01' THEN s.cost_month_usd ELSE 0 END DESC, c.matricule" },
    { q: { alert: 'silent', sort: 'lastContact', order: 'asc', pageSize: 200 }, lastPage: true,
      where: 'coalesce(c.last_contact_at, c.created_at) < $2',
      order: 'c.last_contact_at IS NULL, c.last_contact_at, c.matricule' },
    { q: { alert: 'quarantine', sort: 'backlog', order: 'asc', page: 2, pageSize: 100 },
      where: 'c.matricule IN (SELECT sender FROM quarantine WHERE received_at >= $1)',
      order: 's.backlog_reported_at IS NULL, CASE WHEN s.backlog_reported_at IS NULL THEN 0 ELSE s.backlog END, c.matricule' },
    { q: { sort: 'actsMonth', order: 'asc', page: 7, pageSize: 100 }, scope: { cities: ['City 7', 'City 9'] },
      where: "c.city IN ('City 7', 'City 9')",
      order: "s.centre_id IS NULL, CASE WHEN s.month = '2026-03-01' THEN s.acts_month ELSE 0 END, c.matricule" },
  ];
  const from = `FROM centres c LEFT JOIN centre_stats s ON s.centre_id = c.id WHERE $1::timestamptz IS NOT NULL AND $2::timestamptz IS NOT NULL`;
  for (const o of oracles) {
    const q = list(o.q);
    if (o.lastPage) q.page = Math.ceil((await db.query(`SELECT count(*)::int AS n ${from} AND ${o.where}`, [since, silentBefore])).rows[0].n / q.pageSize);
    const page = await store.listCentres(o.scope ?? ALL, q);
    const { rows } = await db.query(`SELECT c.matricule, count(*) OVER () AS total ${from} AND ${o.where}
      ORDER BY ${o.order} LIMIT ${q.pageSize} OFFSET ${(q.page - 1) * q.pageSize}`, [since, silentBefore]);
    t.true(rows.length > 0, `the oracle for ${JSON.stringify(o.q)} finds a page`);
    t.deepEqual(names(page.rows), rows.map((r) => r.matricule), JSON.stringify(o.q));
    t.is(page.total, Number(rows[0].total), JSON.stringify(o.q));
  }
  const overview = await store.overview(ALL);
  const { rows: [counts] } = await db.query(
    `SELECT count(*) FILTER (WHERE coalesce(c.last_contact_at, c.created_at) < $2)::int AS silent,
            count(*) FILTER (WHERE c.matricule IN (SELECT sender FROM quarantine WHERE received_at >= $1))::int AS quarantine FROM centres c`, [since, silentBefore]);
  t.like(overview.alerts, { silent: counts.silent, quarantine: counts.quarantine });
  t.is(overview.centres.total, 100_000);
});

test('list parameters: defaults, and a clear E_BAD_INPUT naming the parameter', (t) => {
  t.deepEqual(parseCentreListQuery(new URLSearchParams('')), { sort: 'matricule', order: 'asc', page: 1, pageSize: 50 });
  t.deepEqual(parseCentreListQuery(new URLSearchParams('q=+yde+&status=0&alert=silent&link=sbd&sort=costMonth&order=desc&page=3&pageSize=500&other=x')),
    { q: 'yde', status: 0, alert: 'silent', link: 'sbd', sort: 'costMonth', order: 'desc', page: 3, pageSize: 500 });
  t.deepEqual(parseCentreListQuery(new URLSearchParams('q=&status=&alert=')), { sort: 'matricule', order: 'asc', page: 1, pageSize: 50 });
  for (const [qs, name] of [['sort=cost', 'sort'], ['order=up', 'order'], ['page=0', 'page'], ['page=1.5', 'page'], ['pageSize=501', 'pageSize'],
    ['status=4', 'status'], ['alert=loud', 'alert'], ['link=a%20b', 'link'], [`q=${'x'.repeat(201)}`, 'q'], ['page=1&page=2', 'page']]) {
    const e = t.throws(() => parseCentreListQuery(new URLSearchParams(qs)), undefined, qs);
    t.is(code(e), 'E_BAD_INPUT', qs);
    t.true(e!.message.startsWith(name), `${qs}: ${e!.message}`);
  }
});
