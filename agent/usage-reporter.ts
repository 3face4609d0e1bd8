import type { Compressor } from '../protocol/compressor.js';
import type { AgentIdentity } from './config.js';
import { packJsonReport } from './diagnostics/pack-json-report.js';
import type { SourceAdapter } from './source/source-adapter.js';
import type { Spool } from './spool/spool.js';
import type { AgentState } from './state/agent-state.js';
import { USAGE_REPORT_AT, usageReportDue } from './usage-report-due.js';

export interface UsageReporterOptions {
  state: AgentState;
  spool: Spool;
  compressor: Compressor;
  identity: AgentIdentity;
  source: SourceAdapter;
  tables: string[];
  /** The link profile in use, so the hub can tell which tariff the costs were counted with. */
  profile: string;
  /** A report goes at most this often; 0 = never. */
  everySeconds: number;
}

/** The body of a usage report SDC (kind usageReport): read by the hub's ingest (hub/ingest/report-store.ts). */
export interface UsageReportBody {
  report: 'usage';
  version: 1;
  at: string;
  profile: string;
  /** Totals by link and day, whole days: a day sent before is sent again while it grows, and the hub keeps the largest figures. */
  usage: { link: string; day: string; bytesUp: number; bytesDown: number; messagesUp: number; messagesDown: number; sessions: number; airtimeMs: number; costUsd: number }[];
  /** Records by status in each synced table: 2 waiting to go, 3 sent and waiting for a receipt. */
  backlog: Record<string, Record<string, number>>;
}

const LAST_DAY = 'usage_report_day';

/**
 * Tells the hub what each link carried and cost, and the backlog, in an SDC
 * like any other (DESIGN: every byte on every link is counted and reported):
 * it goes through the outbox, is sent by whatever link the centre has, and
 * gets a receipt.
 */
export class UsageReporter {
  constructor(private readonly o: UsageReporterOptions) {}

  due(): boolean {
    return usageReportDue(this.o.state, this.o.everySeconds);
  }

  /** Packs a report into the outbox; returns its sequence. */
  pack(): Promise<number> {
    const { state } = this.o;
    return state.exclusive(async () => {
      const now = state.clock();
      const fromDay = state.meta(LAST_DAY) ?? '';
      const backlog: UsageReportBody['backlog'] = {};
      for (const t of this.o.tables) backlog[t] = await this.o.source.countByStatus(t);
      const body: UsageReportBody = {
        report: 'usage', version: 1, at: new Date(now).toISOString(), profile: this.o.profile,
        usage: state.usage(fromDay).map((u) => ({ ...u, costUsd: Math.round(u.costUsd * 1e6) / 1e6 })), backlog,
      };
      const sequence = packJsonReport(this.o, 'usageReport', body, now);
      state.setMeta(USAGE_REPORT_AT, String(now));
      state.setMeta(LAST_DAY, new Date(now).toISOString().slice(0, 10));
      return sequence;
    });
  }
}
