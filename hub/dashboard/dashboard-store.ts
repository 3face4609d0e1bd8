import { TamtamError } from '../../protocol/errors.js';
import type { Queryable } from '../db/hub-database.js';
import { CENTRE_SORTS, MAX_PAGE_SIZE } from './centre-list-query.js';
import { ALERT_KINDS, CENTRES_WITH_STATS, CentreExprs, DEFAULT_ALERTS, SqlParams, rowColumns, scopeCondition, sortKey, toCentreRow, windowAt, type Window } from './centre-sql.js';
import { centreHistory } from './centre-history.js';
import type { AlertKind, AlertSettings, CentreDetail, CentreListQuery, CentrePage, HubOverview, MetricsSnapshot, Scope } from './dashboard-types.js';

export { parseCentreListQuery } from './centre-list-query.js';

const STATUSES = ['0', '1', '2', '3'];
const DAY_MS = 86_400_000;

interface Summary {
  byStatus: Record<string, number>;
  total: number;
  alerts: Record<AlertKind, number>;
  backlog: number;
}

const where = (conditions: (string | undefined)[]): string => {
  const c = conditions.filter((x): x is string => x !== undefined);
  return c.length ? `WHERE ${c.join(' AND ')}` : '';
};

/** 'YYYY-MM-01' of the month `back` months before the one of `month` ('YYYY-MM-01'). */
export function monthsBack(month: string, back: number): string {
  const d = new Date(`${month}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() - back);
  return d.toISOString().slice(0, 10);
}

export const daysBack = (day: string, back: number): string => new Date(Date.parse(`${day}T00:00:00Z`) - back * DAY_MS).toISOString().slice(0, 10);

/**
 * What the dashboard and /metrics read, aggregated in SQL: a list is one page
 * query plus one count, whatever the number of centres, and a scoped user's
 * queries never touch another city's rows.
 */
export class DashboardStore {
  readonly alertSettings: AlertSettings;
  private readonly now: () => Date;

  constructor(private readonly db: Queryable, o: { alerts?: Partial<AlertSettings>; now?: () => Date } = {}) {
    this.alertSettings = { ...DEFAULT_ALERTS, ...o.alerts };
    for (const [k, v] of Object.entries(this.alertSettings)) {
      if (typeof v !== 'number' || !(v > 0)) throw new TamtamError('E_CONFIG', `alerts.${k} must be a number of days above 0, not ${JSON.stringify(v)}`);
    }
    this.now = o.now ?? (() => new Date());
  }

  private window(): Window {
    return windowAt(this.now(), this.alertSettings);
  }

  async listCentres(scope: Scope, q: CentreListQuery): Promise<CentrePage> {
    if (!CENTRE_SORTS.includes(q.sort) || (q.order !== 'asc' && q.order !== 'desc')) throw new TamtamError('E_BAD_INPUT', `sort must be one of ${CENTRE_SORTS.join(', ')} and order asc or desc`);
    if (!Number.isSafeInteger(q.page) || q.page < 1 || !Number.isInteger(q.pageSize) || q.pageSize < 1 || q.pageSize > MAX_PAGE_SIZE) {
      throw new TamtamError('E_BAD_INPUT', `page must be a whole number from 1 and pageSize from 1 to ${MAX_PAGE_SIZE}`);
    }
    if (q.alert !== undefined && !ALERT_KINDS.includes(q.alert)) throw new TamtamError('E_BAD_INPUT', `alert must be one of ${ALERT_KINDS.join(', ')}, not '${String(q.alert)}'`);
    const w = this.window();
    // Built twice, once per query, so that each passes only the parameters its text uses.
    const filtered = (p: SqlParams, e: CentreExprs): string => {
      const conditions = [scopeCondition(p, scope)];
      if (q.q) {
        const like = p.add(`%${q.q.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`);
        conditions.push(`(c.matricule ILIKE ${like} OR c.name ILIKE ${like} OR c.city ILIKE ${like})`);
      }
      if (q.status !== undefined) conditions.push(`c.status = ${p.add(q.status)}`);
      if (q.link !== undefined) conditions.push(`s.last_via = ${p.add(q.link)}`);
      if (q.alert !== undefined) conditions.push(e.alert(q.alert));
      return `FROM ${CENTRES_WITH_STATS} ${where(conditions)}`;
    };
    const p = new SqlParams();
    const e = new CentreExprs(p, w);
    const from = filtered(p, e);
    const dir = q.order === 'asc' ? 'ASC' : 'DESC';
    const order = q.sort === 'matricule' ? `c.matricule ${dir}` : `${sortKey(q.sort, e)} ${dir} NULLS LAST, c.matricule ASC`;
    const page = `SELECT ${rowColumns(e)} ${from} ORDER BY ${order} LIMIT ${p.add(q.pageSize)} OFFSET ${p.add((q.page - 1) * q.pageSize)}`;
    const pc = new SqlParams();
    const [rows, count] = await Promise.all([
      this.db.query(page, p.values),
      this.db.query<{ n: number }>(`SELECT count(*)::float8 AS n ${filtered(pc, new CentreExprs(pc, w))}`, pc.values),
    ]);
    return { total: count.rows[0].n, page: q.page, pageSize: q.pageSize, rows: rows.rows.map(toCentreRow) };
  }

  /** Undefined for an unknown centre and for one outside the scope alike, so nobody learns that it exists. */
  async centreDetail(scope: Scope, matricule: string): Promise<CentreDetail | undefined> {
    const w = this.window();
    const p = new SqlParams();
    const e = new CentreExprs(p, w);
    const { rows } = await this.db.query(
      `SELECT ${rowColumns(e)}, c.id, c.phone, c.email, c.cert_pem IS NOT NULL AS enrolled, c.cert_not_after, c.credit::text AS credit,
              c.last_sequence::text AS last_sequence, c.created_at
         FROM ${CENTRES_WITH_STATS} ${where([`c.matricule = ${p.add(matricule)}`, scopeCondition(p, scope)])}`, p.values);
    const r = rows[0];
    if (!r) return undefined;
    const history = await centreHistory(this.db, { id: r.id, matricule }, { today: w.today, fromDay: daysBack(w.today, 89), fromMonth: monthsBack(w.month, 11) });
    return {
      centre: {
        ...toCentreRow(r), phone: r.phone, email: r.email, enrolled: r.enrolled, certificateExpires: r.cert_not_after?.toISOString() ?? null,
        credit: r.credit, lastSequence: r.last_sequence, createdAt: r.created_at.toISOString(),
      },
      ...history,
    };
  }

  /** Counts by status and alert, and the backlog, over the scope: one pass over the centres. */
  private async summary(scope: Scope, w: Window): Promise<Summary> {
    const p = new SqlParams();
    const e = new CentreExprs(p, w, { hashed: true });
    const { rows } = await this.db.query(
      `SELECT count(*)::float8 AS total,
              ${STATUSES.map((s) => `count(*) FILTER (WHERE c.status = ${s})::float8 AS status_${s}`).join(', ')},
              count(*) FILTER (WHERE ${e.alert('silent')})::float8 AS silent,
              count(*) FILTER (WHERE ${e.alert('overBudget')})::float8 AS over_budget,
              count(*) FILTER (WHERE ${e.alert('quarantine')})::float8 AS quarantine,
              coalesce(sum(s.backlog), 0)::float8 AS backlog
         FROM ${CENTRES_WITH_STATS} ${where([scopeCondition(p, scope)])}`, p.values);
    const r = rows[0];
    return {
      total: r.total,
      byStatus: Object.fromEntries(STATUSES.map((s) => [s, r[`status_${s}`]])),
      alerts: { silent: r.silent, overBudget: r.over_budget, quarantine: r.quarantine },
      backlog: r.backlog,
    };
  }

  /**
   * Acts by day over the last 30 days. The whole hub reads closed days from
   * hub_daily, filling the ones missing there first; a scope sums its
   * centres' rows. "Closed" leaves a day's margin for hub processes whose
   * clocks differ around midnight.
   */
  private async actsByDay(scope: Scope, w: Window): Promise<HubOverview['actsByDay']> {
    const from = daysBack(w.today, 29);
    const series = `SELECT gs::date AS day FROM generate_series($1::date::timestamp, $2::date::timestamp, interval '1 day') AS gs`;
    const output = `SELECT to_char(g.day, 'YYYY-MM-DD') AS day, coalesce(d.merged, 0)::float8 AS merged, coalesce(d.sdcs, 0)::float8 AS sdcs
        FROM (${series}) g LEFT JOIN d ON d.day = g.day ORDER BY g.day`;
    if (scope.cities !== null) {
      const { rows } = await this.db.query(
        `WITH d AS (SELECT d.day, sum(d.merged) AS merged, sum(d.sdcs) AS sdcs FROM centre_daily d JOIN centres c ON c.id = d.centre_id
                     WHERE c.city = ANY($3::text[]) AND d.day BETWEEN $1::date AND $2::date GROUP BY d.day)
         ${output}`, [from, w.today, scope.cities]);
      return rows.map((r) => ({ day: r.day, merged: r.merged, sdcs: r.sdcs }));
    }
    const closedUntil = daysBack(w.today, 2);
    await this.db.query(
      `WITH missing AS (SELECT g.day FROM (${series}) g WHERE NOT EXISTS (SELECT 1 FROM hub_daily h WHERE h.day = g.day))
       INSERT INTO hub_daily (day, sdcs, merged)
       SELECT m.day, coalesce(sum(d.sdcs), 0), coalesce(sum(d.merged), 0) FROM missing m LEFT JOIN centre_daily d ON d.day = m.day GROUP BY m.day
       ON CONFLICT (day) DO NOTHING`, [from, closedUntil]);
    const { rows } = await this.db.query(
      `WITH d AS (SELECT day, merged, sdcs FROM hub_daily WHERE day BETWEEN $1::date AND $3::date
                  UNION ALL
                  SELECT day, sum(merged), sum(sdcs) FROM centre_daily WHERE day > $3::date AND day <= $2::date GROUP BY day)
       ${output}`, [from, w.today, closedUntil]);
    return rows.map((r) => ({ day: r.day, merged: r.merged, sdcs: r.sdcs }));
  }

  async overview(scope: Scope): Promise<HubOverview> {
    const w = this.window();
    const scoped = scope.cities !== null;
    const cost = new SqlParams();
    const costSql = `SELECT to_char(m.month, 'YYYY-MM') AS month, m.link, sum(m.bytes)::float8 AS bytes, sum(m.cost_usd)::float8 AS cost
        FROM centre_monthly m ${scoped ? `JOIN centres c ON c.id = m.centre_id AND ${scopeCondition(cost, scope)}` : ''}
       WHERE m.month BETWEEN ${cost.add(monthsBack(w.month, 11))}::date AND ${cost.add(w.month)}::date
       GROUP BY m.month, m.link ORDER BY m.month, m.link`;
    const unattributed = scoped
      ? Promise.resolve(0)
      : this.db.query<{ n: number }>(
        'SELECT count(*)::float8 AS n FROM quarantine q WHERE q.received_at >= $1 AND NOT EXISTS (SELECT 1 FROM centres c WHERE c.matricule = q.sender)',
        [w.quarantineSince]).then((r) => r.rows[0].n);
    const [summary, actsByDay, costRows, unattributedQuarantine] = await Promise.all([
      this.summary(scope, w), this.actsByDay(scope, w), this.db.query(costSql, cost.values), unattributed,
    ]);
    return {
      centres: { total: summary.total, byStatus: summary.byStatus },
      alerts: { ...summary.alerts, unattributedQuarantine },
      actsByDay,
      costByMonth: costRows.rows.map((r) => ({ month: r.month, link: r.link, bytes: r.bytes, costUsd: r.cost })),
      backlog: summary.backlog,
    };
  }

  /** The whole hub, for /metrics: no per-centre figures. */
  async metricsSnapshot(): Promise<MetricsSnapshot> {
    const w = this.window();
    const [summary, backlog, quarantine, month] = await Promise.all([
      this.summary({ cities: null }, w),
      this.db.query('SELECT status::text AS status, sum(records)::float8 AS n FROM centre_backlog GROUP BY status ORDER BY status'),
      this.db.query<{ n: number }>('SELECT count(*)::float8 AS n FROM quarantine'),
      this.db.query('SELECT link, sum(bytes)::float8 AS bytes, sum(cost_usd)::float8 AS cost FROM centre_monthly WHERE month = $1::date GROUP BY link ORDER BY link', [w.month]),
    ]);
    return {
      centresByStatus: summary.byStatus,
      alerts: summary.alerts,
      backlogByStatus: { '2': 0, '3': 0, ...Object.fromEntries(backlog.rows.map((r) => [r.status, r.n])) },
      quarantineTotal: quarantine.rows[0].n,
      monthByLink: month.rows.map((r) => ({ link: r.link, bytes: r.bytes, costUsd: r.cost })),
    };
  }
}
