import type { AlertKind, AlertSettings, CentreRow, CentreSort, Scope } from './dashboard-types.js';

/**
 * SQL pieces the dashboard's queries share. Every value goes in as a
 * parameter; only fixed text from this file is spliced into SQL.
 */

export const ALERT_KINDS: readonly AlertKind[] = ['silent', 'overBudget', 'quarantine'];
export const DEFAULT_ALERTS: AlertSettings = { silentDays: 3, quarantineDays: 7 };

const DAY_MS = 86_400_000;

/** Numbered parameters, added as the SQL text is built: a query passes only those its text uses. */
export class SqlParams {
  readonly values: unknown[] = [];
  private readonly named = new Map<string, string>();

  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }

  /** One placeholder (with its cast) for a value used in several places of the query. */
  once(name: string, v: unknown, cast: string): string {
    let placeholder = this.named.get(name);
    if (placeholder === undefined) this.named.set(name, (placeholder = `${this.add(v)}::${cast}`));
    return placeholder;
  }
}

/** The instants a query's figures and alerts are relative to, all from one reading of the clock. */
export interface Window {
  /** 'YYYY-MM-DD', today (UTC). */
  today: string;
  /** 'YYYY-MM-01', this month (UTC): centre_stats.month must equal it for its figures to count. */
  month: string;
  silentBefore: Date;
  quarantineSince: Date;
}

export function windowAt(now: Date, alerts: AlertSettings): Window {
  const iso = now.toISOString();
  return {
    today: iso.slice(0, 10),
    month: `${iso.slice(0, 7)}-01`,
    silentBefore: new Date(now.getTime() - alerts.silentDays * DAY_MS),
    quarantineSince: new Date(now.getTime() - alerts.quarantineDays * DAY_MS),
  };
}

/** Centres with their stats: `c` and `s` in every expression below. */
export const CENTRES_WITH_STATS = 'centres c LEFT JOIN centre_stats s ON s.centre_id = c.id';

/**
 * Boolean alert expressions (never NULL) and month figures, each adding the
 * parameters it needs when first used. `hashed` writes the quarantine test as
 * IN (subquery), which PostgreSQL hashes once for a count over every centre,
 * where a page of rows is better served by EXISTS probing quarantine_sender.
 */
export class CentreExprs {
  constructor(private readonly p: SqlParams, private readonly w: Window, private readonly o: { hashed?: boolean } = {}) {}

  private get thisMonth(): string {
    return `s.month = ${this.p.once('month', this.w.month, 'date')}`;
  }

  alert(kind: AlertKind): string {
    switch (kind) {
      case 'silent': {
        const before = this.p.once('silentBefore', this.w.silentBefore, 'timestamptz');
        return `(c.last_contact_at < ${before} OR (c.last_contact_at IS NULL AND c.created_at < ${before}))`;
      }
      case 'overBudget':
        return `coalesce(c.monthly_budget_usd IS NOT NULL AND ${this.thisMonth} AND s.cost_month_usd > c.monthly_budget_usd, false)`;
      case 'quarantine': {
        const since = this.p.once('quarantineSince', this.w.quarantineSince, 'timestamptz');
        return this.o.hashed
          ? `coalesce(c.matricule IN (SELECT q.sender FROM quarantine q WHERE q.received_at >= ${since} AND q.sender IS NOT NULL), false)`
          : `EXISTS (SELECT 1 FROM quarantine q WHERE q.sender = c.matricule AND q.received_at >= ${since})`;
      }
    }
  }

  /** The month's figures as the row shows them: 0 when the stats are of another month. */
  get actsMonth(): string {
    return `(CASE WHEN ${this.thisMonth} THEN s.acts_month ELSE 0 END)`;
  }

  get costMonth(): string {
    return `(CASE WHEN ${this.thisMonth} THEN s.cost_month_usd ELSE 0 END)`;
  }
}

/** The condition limiting rows to the scope's cities, or undefined for every centre. A centre without a city is only for unscoped users. */
export function scopeCondition(p: SqlParams, scope: Scope): string | undefined {
  return scope.cities === null ? undefined : `c.city = ANY(${p.add(scope.cities)}::text[])`;
}

/** The columns of a CentreRow, for toCentreRow. */
export function rowColumns(e: CentreExprs): string {
  return `c.matricule, c.name, c.city, c.status, c.last_contact_at, s.last_via, s.profile,
    coalesce(s.backlog, 0)::float8 AS backlog, s.backlog_reported_at,
    ${e.actsMonth}::float8 AS acts_month, ${e.costMonth}::float8 AS cost_month,
    c.monthly_budget_usd::float8 AS budget,
    ${e.alert('silent')} AS alert_silent, ${e.alert('overBudget')} AS alert_over_budget, ${e.alert('quarantine')} AS alert_quarantine`;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toCentreRow(r: Record<string, any>): CentreRow {
  const alerts: AlertKind[] = [];
  if (r.alert_silent) alerts.push('silent');
  if (r.alert_over_budget) alerts.push('overBudget');
  if (r.alert_quarantine) alerts.push('quarantine');
  return {
    matricule: r.matricule, name: r.name, city: r.city, status: r.status, lastContact: iso(r.last_contact_at),
    link: r.last_via, profile: r.profile, backlog: r.backlog, backlogReportedAt: iso(r.backlog_reported_at),
    actsMonth: r.acts_month, costMonthUsd: r.cost_month, budgetUsd: r.budget, alerts,
  };
}

/**
 * What each sort orders by. NULL means "no figure" (never heard from, no
 * backlog ever reported) and goes last in both directions.
 */
export function sortKey(sort: CentreSort, e: CentreExprs): string {
  switch (sort) {
    case 'matricule': return 'c.matricule';
    case 'name': return 'c.name';
    case 'city': return 'c.city';
    case 'status': return 'c.status';
    case 'lastContact': return 'c.last_contact_at';
    case 'link': return 's.last_via';
    case 'backlog': return '(CASE WHEN s.backlog_reported_at IS NOT NULL THEN s.backlog END)';
    // No stats row (never heard from): NULL; stats of an earlier month: 0 this month.
    case 'actsMonth': return `(CASE WHEN s.centre_id IS NOT NULL THEN ${e.actsMonth} END)`;
    case 'costMonth': return `(CASE WHEN s.centre_id IS NOT NULL THEN ${e.costMonth} END)`;
  }
}
