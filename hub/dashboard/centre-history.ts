import type { Queryable } from '../db/hub-database.js';
import type { CentreDetail } from './dashboard-types.js';

export type CentreHistory = Omit<CentreDetail, 'centre'>;

export interface HistorySpan {
  /** 'YYYY-MM-DD' (UTC). */
  today: string;
  /** First day of the daily series (90 days back, today included). */
  fromDay: string;
  /** First day of the first month of the monthly series (12 months, this one included). */
  fromMonth: string;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** One centre's history for its page, each part bounded (days, months, rows), by the centre's id. */
export async function centreHistory(db: Queryable, centre: { id: number; matricule: string }, span: HistorySpan): Promise<CentreHistory> {
  const [backlog, acts, usageDays, usageMonths, quarantine, diagnostics] = await Promise.all([
    db.query('SELECT table_name, status, records::float8 AS records, reported_at FROM centre_backlog WHERE centre_id = $1 ORDER BY table_name, status', [centre.id]),
    db.query(
      `SELECT to_char(day, 'YYYY-MM-DD') AS day, sdcs, merged::float8 AS merged, duplicates::float8 AS duplicates, rejected::float8 AS rejected, bytes::float8 AS bytes
         FROM centre_daily WHERE centre_id = $1 AND day BETWEEN $2::date AND $3::date ORDER BY day`, [centre.id, span.fromDay, span.today]),
    db.query(
      `SELECT to_char(day, 'YYYY-MM-DD') AS day, link, bytes_up::float8 AS bytes_up, bytes_down::float8 AS bytes_down, sessions,
              airtime_ms::float8 AS airtime_ms, cost_usd::float8 AS cost_usd
         FROM link_usage WHERE centre_id = $1 AND day BETWEEN $2::date AND $3::date ORDER BY day, link`, [centre.id, span.fromDay, span.today]),
    db.query(
      `SELECT to_char(month, 'YYYY-MM') AS month, link, bytes::float8 AS bytes, cost_usd::float8 AS cost_usd
         FROM centre_monthly WHERE centre_id = $1 AND month BETWEEN $2::date AND $3::date ORDER BY month, link`, [centre.id, span.fromMonth, span.today]),
    db.query(
      `SELECT id::text AS id, received_at, via, code, reason, size FROM quarantine WHERE sender = $1
        ORDER BY received_at DESC, id DESC LIMIT 20`, [centre.matricule]),
    db.query(
      `SELECT d.id::text AS id, d.requested_at, d.requested_by, d.delivered_via, d.answered_at, r.body
         FROM diagnostic_requests d LEFT JOIN centre_reports r ON r.id = d.report_id
        WHERE d.centre_id = $1 ORDER BY d.requested_at DESC, d.id DESC LIMIT 10`, [centre.id]),
  ]);
  return {
    backlog: backlog.rows.map((r) => ({ table: r.table_name, status: r.status, records: r.records, reportedAt: r.reported_at.toISOString() })),
    actsByDay: acts.rows.map((r) => ({ day: r.day, sdcs: r.sdcs, merged: r.merged, duplicates: r.duplicates, rejected: r.rejected, bytes: r.bytes })),
    usageByDay: usageDays.rows.map((r) => ({
      day: r.day, link: r.link, bytesUp: r.bytes_up, bytesDown: r.bytes_down, sessions: r.sessions, airtimeMs: r.airtime_ms, costUsd: r.cost_usd,
    })),
    usageByMonth: usageMonths.rows.map((r) => ({ month: r.month, link: r.link, bytes: r.bytes, costUsd: r.cost_usd })),
    quarantine: quarantine.rows.map((r) => ({ id: r.id, receivedAt: r.received_at.toISOString(), via: r.via, code: r.code, reason: r.reason, size: r.size })),
    diagnostics: diagnostics.rows.map((r) => ({
      id: r.id, requestedAt: r.requested_at.toISOString(), requestedBy: r.requested_by, deliveredVia: r.delivered_via,
      answeredAt: iso(r.answered_at), report: r.body && typeof r.body === 'object' && !Array.isArray(r.body) ? r.body : null,
    })),
  };
}
