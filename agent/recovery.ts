import type { Exporter } from './exporter.js';
import type { ReceiptApplier, ReceiptResult } from './receipt-applier.js';
import type { SourceAdapter } from './source/source-adapter.js';
import type { Spool } from './spool/spool.js';
import type { AgentState, LatestEntry } from './state/agent-state.js';

export interface RecoveryOptions {
  state: AgentState;
  source: SourceAdapter;
  spool: Spool;
  exporter: Exporter;
  applier: ReceiptApplier;
  tables: readonly string[];
}

export interface RecoveryReport {
  tempFilesRemoved: number;
  /** SDCs whose receipt was journaled but whose status changes had not all run. */
  receiptsReapplied: number;
  /** Inbound files left in the inbox, now applied or quarantined. */
  inbox: ReceiptResult[];
  /** SDCs written to the outbox before the crash but not yet marked packed. */
  markedPacked: number[];
  /** SDCs journaled whose file never reached the outbox, and the SDCs that replace them. */
  repacked: { lost: number; by: number[] }[];
  /** Outbox files no open SDC owns (receipt applied, or unknown to this state.db), deleted. */
  orphansDeleted: string[];
  /** Records found at 3 with no journal entry covering them, packed again. */
  stranded: { table: string; numeros: number[]; sdcs: number[] }[];
}

const PAGE = 10_000;

/**
 * Whether a record at 3 is accounted for: waiting in an open SDC, rejected
 * (it stays at 3 for staff), or with a receipt still to apply. Anything else
 * at 3 was claimed by a pack that died before its journal commit.
 */
function covered(latest: LatestEntry | undefined): boolean {
  if (!latest) return false;
  if (latest.outcome === null) return latest.sdcState === 'packing' || latest.sdcState === 'packed' || latest.sdcState === 'receipted';
  if (latest.outcome === 'rejected') return true;
  return !latest.applied;
}

/**
 * Run at start, before any pack or link: finishes or redoes whatever a crash
 * interrupted (docs/ARCHITECTURE.md, "Agent state and the status machine").
 * Every step is idempotent, so a crash during recovery is recovered the same way.
 */
export function recover(o: RecoveryOptions): Promise<RecoveryReport> {
  return o.state.exclusive(async () => {
    const report: RecoveryReport = { tempFilesRemoved: o.spool.removeTempFiles(), receiptsReapplied: 0, inbox: [], markedPacked: [], repacked: [], orphansDeleted: [], stranded: [] };
    report.receiptsReapplied = await o.applier.reapplyPending();
    report.inbox = await o.applier.processInboxUnlocked();

    for (const sdc of o.state.sdcs(['packing', 'packed'])) {
      if (o.spool.hasOutbox(sdc.sequence)) {
        if (sdc.state === 'packing') {
          // The rename is atomic: a file under its final name is the whole SDC.
          o.state.markPacked(sdc.sequence, o.spool.readOutbox(sdc.sequence).length);
          report.markedPacked.push(sdc.sequence);
        }
        continue;
      }
      const again = await o.exporter.repackLost(sdc.sequence);
      report.repacked.push({ lost: sdc.sequence, by: again.sdcs.map((s) => s.sequence) });
    }

    for (const file of o.spool.listOutbox()) {
      const sdc = o.state.sdc(file.sequence);
      if (sdc && (sdc.state === 'packing' || sdc.state === 'packed')) continue;
      o.spool.removeOutbox(file.sequence);
      report.orphansDeleted.push(file.name);
    }

    for (const table of o.tables) {
      const stranded: number[] = [];
      for (let after: number | undefined, page: number[]; (page = await o.source.listNumeros(table, 3, { limit: PAGE, afterNumero: after })).length > 0;) {
        after = page.at(-1);
        const latest = o.state.latestEntries(table, page);
        stranded.push(...page.filter((n) => !covered(latest.get(n))));
      }
      if (stranded.length === 0) continue;
      const packed = await o.exporter.packStranded(table, stranded);
      report.stranded.push({ table, numeros: stranded, sdcs: packed.sdcs.map((s) => s.sequence) });
    }
    return report;
  });
}

/** Counts for the log line at start. */
export function summariseRecovery(r: RecoveryReport): Record<string, number> {
  return {
    tempFilesRemoved: r.tempFilesRemoved, receiptsReapplied: r.receiptsReapplied, inbox: r.inbox.length, markedPacked: r.markedPacked.length,
    repacked: r.repacked.length, orphansDeleted: r.orphansDeleted.length, stranded: r.stranded.reduce((n, s) => n + s.numeros.length, 0),
  };
}
