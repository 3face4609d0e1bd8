import type { BatchingConfig } from './config.js';
import type { SourceAdapter } from './source/source-adapter.js';
import type { Clock } from './state/agent-state.js';

export interface PackDecision {
  table: string;
  pack: boolean;
  /** size: enough records for a worthwhile SDC; age: the oldest has waited long enough. */
  reason?: 'size' | 'age';
  pending: number;
  /** How long the current backlog has waited, in milliseconds. */
  waitedMs: number;
  /** When not packing yet: milliseconds until the age rule packs it anyway. */
  dueInMs?: number;
}

/**
 * When to pack a table: once it has minRecords validated records, or once the
 * oldest of them has waited maxAgeSeconds. Small SDCs waste a costly link
 * (Certus bills 5 KB a session), so records wait to be many; the age rule
 * keeps a lone act from waiting forever; the exporter then packs the whole
 * backlog in SDCs of maxRecords, so 100,000 pending go out in large SDCs.
 *
 * A centre's table need not say when a record was validated, so the wait is
 * counted from when the policy first saw the table's backlog non-empty.
 */
export class BatchPolicy {
  private readonly since = new Map<string, number>();

  constructor(private readonly batching: Pick<BatchingConfig, 'minRecords' | 'maxAgeSeconds'>, private readonly clock: Clock = Date.now) {}

  decide(table: string, pending: number): PackDecision {
    const now = this.clock();
    if (pending <= 0) {
      this.since.delete(table);
      return { table, pack: false, pending: 0, waitedMs: 0 };
    }
    let since = this.since.get(table);
    if (since === undefined) {
      since = now;
      this.since.set(table, since);
    }
    const waitedMs = Math.max(0, now - since);
    const maxAgeMs = this.batching.maxAgeSeconds * 1000;
    if (pending >= this.batching.minRecords) return { table, pack: true, reason: 'size', pending, waitedMs };
    if (waitedMs >= maxAgeMs) return { table, pack: true, reason: 'age', pending, waitedMs };
    return { table, pack: false, pending, waitedMs, dueInMs: maxAgeMs - waitedMs };
  }

  /** After a pack: records validated from now on start a new wait. */
  packed(table: string): void {
    this.since.delete(table);
  }

  /** Asks the source how many records wait in each table and decides for each. */
  async check(source: SourceAdapter, tables: readonly string[]): Promise<PackDecision[]> {
    const out: PackDecision[] = [];
    for (const table of tables) out.push(this.decide(table, (await source.countByStatus(table))[2] ?? 0));
    return out;
  }
}

/** An SDC should take at most this long on the link: a drop on a link without resume (MQTT) costs at most that much again, and receipts come sooner. */
export const SDC_LINK_SECONDS = 60;
/** Bytes a record takes in an SDC before the agent has sent any (birth acts with a dictionary: 75–100). */
const FIRST_GUESS_BYTES = 100;

/**
 * Records in one SDC for this link: the configured most, or fewer on a slow
 * link, by the bytes a record took in the centre's recent SDCs.
 */
export function recordsPerSdc(maxRecords: number, upKbps: number, recent: { bytes: number | null; count: number }[]): number {
  const measured = recent.filter((s) => s.bytes !== null && s.count > 0);
  const records = measured.reduce((n, s) => n + s.count, 0);
  const perRecord = records > 0 ? measured.reduce((n, s) => n + s.bytes!, 0) / records : FIRST_GUESS_BYTES;
  const fit = Math.floor(((upKbps * 1000) / 8) * SDC_LINK_SECONDS / perRecord);
  return Math.max(1, Math.min(maxRecords, fit));
}
