import { argv } from 'node:process';
import { HubDatabase } from '../hub/db/hub-database.js';
import { migrate } from '../hub/db/migrations.js';
import { DashboardStore } from '../hub/dashboard/dashboard-store.js';
import type { CentreListQuery, Scope } from '../hub/dashboard/dashboard-types.js';
import { startPostgres } from './services/postgres-cluster.js';

/**
 * The dashboard's queries on a hub the size XMcomm quotes: 100,000 centres in
 * 200 cities, each with 30 days of daily figures and link usage, in a real
 * PostgreSQL. Prints the median and 95th percentile of 20 runs of each.
 */
function option(name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
}
const CENTRES = option('centres', 100_000);
const CITIES = option('cities', 200);
const DAYS = option('days', 30);
const RUNS = option('runs', 20);

const pg = await startPostgres({ settings: { shared_buffers: '512MB', max_wal_size: '2GB', work_mem: '32MB' } });
try {
  const db = await HubDatabase.connect(pg.url, { max: 8 });
  await migrate(db);
  const now = new Date();
  const t0 = Date.now();
  // Spread like a real network: most centres heard from lately, some silent, some never; a third with a budget.
  await db.query(
    `INSERT INTO centres (matricule, name, city, status, monthly_budget_usd, created_at, last_contact_at)
     SELECT 'CM-' || lpad(i::text, 6, '0'), 'Centre d''etat civil ' || i, 'City ' || lpad((i % $2)::text, 3, '0'),
            CASE WHEN i % 100 = 0 THEN 0 ELSE 3 END, CASE WHEN i % 3 = 0 THEN 20 + i % 80 END, $3::timestamptz - interval '400 days',
            CASE WHEN i % 41 <> 0 THEN $3::timestamptz - (i % 97) * interval '1 hour' END
       FROM generate_series(1, $1) AS i`, [CENTRES, CITIES, now]);
  await db.query(
    `INSERT INTO centre_daily (centre_id, day, sdcs, merged, duplicates, rejected, bytes)
     SELECT c.id, ($2::timestamptz AT TIME ZONE 'UTC')::date - d, 1 + (c.id + d) % 5, (c.id * 7 + d * 13) % 400, (c.id + d) % 3, 0, 20000 + (c.id * d) % 300000
       FROM centres c, generate_series(0, $1 - 1) AS d WHERE c.id % 41 <> 0`, [DAYS, now]);
  await db.query(
    `INSERT INTO link_usage (centre_id, link, day, bytes_up, bytes_down, messages_up, messages_down, sessions, airtime_ms, cost_usd, profile, reported_at)
     SELECT c.id, (ARRAY['mqtt', 'stream', 'sbd', 't2d'])[1 + c.id % 4], ($2::timestamptz AT TIME ZONE 'UTC')::date - d,
            30000 + (c.id * 31 + d) % 500000, 2000 + (c.id + d) % 30000, 10, 10, 1 + d % 4, (c.id * d) % 600000,
            ((c.id * 7919 + d * 104729) % 50000) / 10000.0, 'profile-' || c.id % 4, $2::timestamptz
       FROM centres c, generate_series(0, $1 - 1) AS d WHERE c.id % 41 <> 0`, [DAYS, now]);
  // What usage reports leave beside link_usage (hub/ingest/centre-stats.ts).
  await db.query(
    `INSERT INTO centre_monthly (centre_id, month, link, bytes, cost_usd)
     SELECT centre_id, date_trunc('month', day::timestamp)::date, link, sum(bytes_up + bytes_down), sum(cost_usd) FROM link_usage GROUP BY 1, 2, 3`);
  await db.query(
    `INSERT INTO centre_backlog (centre_id, table_name, status, records, reported_at)
     SELECT c.id, 'births', s, (c.id * s) % 250, $1 FROM centres c, generate_series(2, 3) AS s WHERE c.id % 41 <> 0`, [now]);
  await db.query(
    `INSERT INTO centre_stats (centre_id, last_via, profile, backlog, backlog_reported_at, month, acts_month, cost_month_usd)
     SELECT c.id, (ARRAY['mqtt', 'stream', 'sbd', 't2d'])[1 + c.id % 4], 'profile-' || c.id % 4, b.records, $1,
            date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC')::date, d.merged, u.cost
       FROM centres c
       JOIN (SELECT centre_id, sum(records) AS records FROM centre_backlog GROUP BY centre_id) b ON b.centre_id = c.id
       JOIN (SELECT centre_id, sum(merged) AS merged FROM centre_daily WHERE day >= date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC')::date GROUP BY centre_id) d ON d.centre_id = c.id
       JOIN (SELECT centre_id, sum(cost_usd) AS cost FROM link_usage WHERE day >= date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC')::date GROUP BY centre_id) u ON u.centre_id = c.id`, [now]);
  await db.query(
    `INSERT INTO quarantine (received_at, via, sender, code, reason, size, sdc)
     SELECT $1::timestamptz - (i % 20) * interval '1 day', 'mqtt', CASE WHEN i % 10 = 0 THEN 'UNKNOWN-' || i ELSE 'CM-' || lpad((i * 37 % $2 + 1)::text, 6, '0') END,
            'E_BAD_SIGNATURE', 'the signature does not verify', 1200, '\\x00'
       FROM generate_series(1, 5000) AS i`, [now, CENTRES]);
  await db.query('VACUUM ANALYZE');
  const loadSecs = (Date.now() - t0) / 1000;

  const store = new DashboardStore(db);
  const all: Scope = { cities: null };
  const city: Scope = { cities: ['City 007', 'City 123'] };
  const list = (q: Partial<CentreListQuery>): CentreListQuery => ({ sort: 'matricule', order: 'asc', page: 1, pageSize: 50, ...q });
  const cases: [string, () => Promise<unknown>][] = [
    ['dashboard_list_default_ms', () => store.listCentres(all, list({}))],
    ['dashboard_list_cost_desc_ms', () => store.listCentres(all, list({ sort: 'costMonth', order: 'desc' }))],
    ['dashboard_list_cost_desc_page_100_ms', () => store.listCentres(all, list({ sort: 'costMonth', order: 'desc', page: 100 }))],
    ['dashboard_list_alert_silent_ms', () => store.listCentres(all, list({ alert: 'silent' }))],
    ['dashboard_list_alert_over_budget_cost_desc_ms', () => store.listCentres(all, list({ alert: 'overBudget', sort: 'costMonth', order: 'desc' }))],
    ['dashboard_list_q_substring_ms', () => store.listCentres(all, list({ q: '4242' }))],
    ['dashboard_list_city_scoped_ms', () => store.listCentres(city, list({ sort: 'lastContact', order: 'desc' }))],
    ['dashboard_centre_detail_ms', () => store.centreDetail(all, 'CM-054321')],
    ['dashboard_overview_ms', () => store.overview(all)],
    ['dashboard_overview_city_scoped_ms', () => store.overview(city)],
    ['dashboard_metrics_snapshot_ms', () => store.metricsSnapshot()],
  ];
  console.log(`centres=${CENTRES} cities=${CITIES} days=${DAYS} runs=${RUNS} load_s=${loadSecs.toFixed(1)} postgres=${pg.url.replace(/\/\/[^@]*@/, '//')}`);
  for (const [name, run] of cases) {
    await run();
    const ms: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const start = process.hrtime.bigint();
      await run();
      ms.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    ms.sort((a, b) => a - b);
    const at = (p: number) => ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)];
    console.log(`${name} p50=${at(0.5).toFixed(1)} p95=${at(0.95).toFixed(1)}`);
  }
  await db.close();
} finally {
  await pg.stop();
}
