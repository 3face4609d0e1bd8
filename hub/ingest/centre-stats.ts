import type { Queryable } from '../db/hub-database.js';

/**
 * The running figures the dashboard lists (centre_stats, centre_daily), kept
 * in the transaction that settles each SDC: a list page over 100,000 centres
 * then reads one row per centre instead of aggregating their history.
 *
 * Lock order: every writer here runs after the centre's `centres` row is
 * locked (the pipeline's contact update, or lockCentre before a report's
 * figures), so two hub processes settling SDCs of one centre queue on that row
 * instead of deadlocking on these.
 */

/** 'YYYY-MM-DD', the UTC day of `at`. */
export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);

/** 'YYYY-MM-01', the first UTC day of the month of `at`: centre_stats.month. */
export const utcMonth = (at: Date): string => `${at.toISOString().slice(0, 7)}-01`;

export interface SdcTally {
  centreId: number;
  /** The receiver that brought it: 'mqtt', 'stream', 'sbd', 't2d'... */
  via: string;
  /** Size of the SDC as received. */
  bytes: number;
  merged: number;
  duplicates: number;
  rejected: number;
  /** The pipeline's clock: the day and month it counts in. */
  at: Date;
}

/**
 * Counts one settled SDC (merged, refused or a report) in its centre's day and
 * month. A clock behind the month already counted (another hub process at a
 * month's turn) adds to the day but never moves the month back.
 */
export async function countSdc(tx: Queryable, t: SdcTally): Promise<void> {
  await tx.query(
    `WITH daily AS (
       INSERT INTO centre_daily AS d (centre_id, day, sdcs, merged, duplicates, rejected, bytes) VALUES ($1, $2, 1, $3, $4, $5, $6)
       ON CONFLICT (centre_id, day) DO UPDATE SET sdcs = d.sdcs + 1, merged = d.merged + excluded.merged,
         duplicates = d.duplicates + excluded.duplicates, rejected = d.rejected + excluded.rejected, bytes = d.bytes + excluded.bytes)
     INSERT INTO centre_stats AS s (centre_id, last_via, month, acts_month) VALUES ($1, $7, $8, $3)
     ON CONFLICT (centre_id) DO UPDATE SET last_via = excluded.last_via,
       acts_month = CASE WHEN s.month = excluded.month THEN s.acts_month + excluded.acts_month
                         WHEN s.month > excluded.month THEN s.acts_month ELSE excluded.acts_month END,
       cost_month_usd = CASE WHEN s.month >= excluded.month THEN s.cost_month_usd ELSE 0 END,
       month = GREATEST(s.month, excluded.month)`,
    [t.centreId, utcDay(t.at), t.merged, t.duplicates, t.rejected, t.bytes, t.via, utcMonth(t.at)]);
}

/** Takes the centre's row lock first, so that what follows keeps the lock order above. */
export async function lockCentre(tx: Queryable, centreId: number): Promise<void> {
  await tx.query('SELECT 1 FROM centres WHERE id = $1 FOR NO KEY UPDATE', [centreId]);
}

/**
 * After a usage report's link_usage and centre_backlog upserts: its profile,
 * the backlog (statuses 2 and 3), the month's cost and the monthly sums of the
 * months the report's days fall in, recomputed from those tables rather than
 * added, since a centre repeats a day's totals while the day grows.
 */
export async function reportFigures(tx: Queryable, centreId: number, profile: string | null, at: Date, days: string[]): Promise<void> {
  if (days.length) {
    const sorted = [...days].sort();
    await tx.query(
      `INSERT INTO centre_monthly AS m (centre_id, month, link, bytes, cost_usd)
       SELECT centre_id, date_trunc('month', day::timestamp)::date, link, sum(bytes_up + bytes_down), sum(cost_usd) FROM link_usage
        WHERE centre_id = $1 AND day >= $2::date AND day < ($3::date + interval '1 month')::date GROUP BY 1, 2, 3
       ON CONFLICT (centre_id, month, link) DO UPDATE SET bytes = excluded.bytes, cost_usd = excluded.cost_usd`,
      [centreId, `${sorted[0].slice(0, 7)}-01`, `${sorted[sorted.length - 1].slice(0, 7)}-01`]);
  }
  await tx.query(
    `INSERT INTO centre_stats AS s (centre_id, profile, backlog, backlog_reported_at, month, cost_month_usd)
     SELECT $1, $2, coalesce(b.records, 0), b.reported_at, $3::date, coalesce(u.usd, 0)
       FROM (SELECT sum(records) FILTER (WHERE status IN (2, 3)) AS records, max(reported_at) AS reported_at FROM centre_backlog WHERE centre_id = $1) b,
            (SELECT sum(cost_usd) AS usd FROM link_usage WHERE centre_id = $1 AND day >= $3::date AND day < ($3::date + interval '1 month')::date) u
     ON CONFLICT (centre_id) DO UPDATE SET profile = coalesce(excluded.profile, s.profile),
       backlog = excluded.backlog, backlog_reported_at = excluded.backlog_reported_at,
       cost_month_usd = CASE WHEN s.month > excluded.month THEN s.cost_month_usd ELSE excluded.cost_month_usd END,
       acts_month = CASE WHEN s.month >= excluded.month THEN s.acts_month ELSE 0 END,
       month = GREATEST(s.month, excluded.month)`,
    [centreId, profile, utcMonth(at)]);
}
