import { SdcKind } from '../../protocol/sdc/sdc-header.js';
import type { Queryable } from '../db/hub-database.js';
import { lockCentre, reportFigures } from './centre-stats.js';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/**
 * Keeps what a report says in tables staff can query (link_usage,
 * centre_backlog), besides the report itself in centre_reports. A centre
 * re-sends a day's totals while that day grows and reports may arrive out of
 * order, so each figure keeps the largest value seen. Fields that are not what
 * they should be are skipped: a report is information, never a reason to
 * refuse the SDC that carried it. The centre's dashboard figures
 * (centre_stats) follow in the same transaction.
 */
export async function storeReport(tx: Queryable, centreId: number, kind: number, report: Record<string, unknown>, at: Date): Promise<void> {
  if (kind !== SdcKind.usageReport || report.report !== 'usage') return;
  await lockCentre(tx, centreId);
  const profile = typeof report.profile === 'string' ? report.profile.slice(0, 64) : null;
  const days: string[] = [];
  for (const u of Array.isArray(report.usage) ? report.usage : []) {
    if (typeof u !== 'object' || u === null) continue;
    const r = u as Record<string, unknown>;
    if (typeof r.link !== 'string' || r.link.length > 64 || typeof r.day !== 'string' || !DAY.test(r.day)) continue;
    days.push(r.day);
    await tx.query(
      `INSERT INTO link_usage (centre_id, link, day, bytes_up, bytes_down, messages_up, messages_down, sessions, airtime_ms, cost_usd, profile, reported_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (centre_id, link, day) DO UPDATE SET
         bytes_up = GREATEST(link_usage.bytes_up, excluded.bytes_up), bytes_down = GREATEST(link_usage.bytes_down, excluded.bytes_down),
         messages_up = GREATEST(link_usage.messages_up, excluded.messages_up), messages_down = GREATEST(link_usage.messages_down, excluded.messages_down),
         sessions = GREATEST(link_usage.sessions, excluded.sessions), airtime_ms = GREATEST(link_usage.airtime_ms, excluded.airtime_ms),
         cost_usd = GREATEST(link_usage.cost_usd, excluded.cost_usd), profile = COALESCE(excluded.profile, link_usage.profile),
         reported_at = GREATEST(link_usage.reported_at, excluded.reported_at)`,
      [centreId, r.link, r.day, ...['bytesUp', 'bytesDown', 'messagesUp', 'messagesDown', 'sessions', 'airtimeMs'].map((k) => Math.round(count(r[k]))), count(r.costUsd), profile, at],
    );
  }
  await storeBacklog(tx, centreId, report.backlog, at);
  await reportFigures(tx, centreId, profile, at, days);
}

async function storeBacklog(tx: Queryable, centreId: number, backlog: unknown, at: Date): Promise<void> {
  if (typeof backlog !== 'object' || backlog === null) return;
  for (const [table, byStatus] of Object.entries(backlog as Record<string, unknown>)) {
    if (typeof byStatus !== 'object' || byStatus === null || table.length > 63) continue;
    // Statuses the centre no longer has records in must read 0, not their last count.
    await tx.query('UPDATE centre_backlog SET records = 0, reported_at = $3 WHERE centre_id = $1 AND table_name = $2 AND reported_at < $3', [centreId, table, at]);
    for (const [status, n] of Object.entries(byStatus as Record<string, unknown>)) {
      if (!/^[0-9]$/.test(status)) continue;
      await tx.query(
        `INSERT INTO centre_backlog (centre_id, table_name, status, records, reported_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (centre_id, table_name, status) DO UPDATE SET records = excluded.records, reported_at = excluded.reported_at
         WHERE centre_backlog.reported_at <= excluded.reported_at`,
        [centreId, table, Number(status), Math.round(count(n)), at],
      );
    }
  }
}
