/** What the reporter reads off the agent at one moment. */
export interface ProgressCounts {
  /** Acts that have gone out (receipted) since the backlog started, and that number plus those still waiting. */
  actsDone: number;
  actsTotal: number;
  /** Bytes the link carried up since the start, and that number plus the bytes still waiting in the outbox. */
  bytesSent: number;
  bytesTotal: number;
}

export interface ProgressSnapshot extends ProgressCounts {
  at: number;
  elapsedMs: number;
  /** 0..1, by acts when there are any, else by bytes. */
  fraction: number;
  /** Over the moving window; undefined until two samples span some time. */
  actsPerSecond?: number;
  bytesPerSecond?: number;
  /** Undefined while nothing moves (no rate to extrapolate); 0 once finished. */
  etaMs?: number;
  finished: boolean;
}

export interface ProgressTrackerOptions {
  clock: () => number;
  /** Rates are measured over this much of the recent past; default 30 s, long enough to span a batch's receipt on a slow link. */
  windowMs?: number;
}

interface Sample extends ProgressCounts {
  at: number;
}

/**
 * Turns counts sampled over time into a fraction, speeds and a time left.
 * Pure: time comes only from the injected clock, so a test can play an hour
 * of sending in a few lines.
 */
export class ProgressTracker {
  private readonly samples: Sample[] = [];
  private readonly startedAt: number;
  private readonly windowMs: number;

  constructor(private readonly o: ProgressTrackerOptions) {
    this.startedAt = o.clock();
    this.windowMs = o.windowMs ?? 30_000;
  }

  update(counts: ProgressCounts): ProgressSnapshot {
    const at = this.o.clock();
    const sample: Sample = {
      at,
      actsDone: Math.max(0, counts.actsDone),
      actsTotal: Math.max(0, counts.actsTotal, counts.actsDone),
      bytesSent: Math.max(0, counts.bytesSent),
      bytesTotal: Math.max(0, counts.bytesTotal, counts.bytesSent),
    };
    this.samples.push(sample);
    // The newest sample older than the window stays, so a rate always spans the whole window once there is one.
    while (this.samples.length > 2 && this.samples[1]!.at <= at - this.windowMs) this.samples.shift();
    return this.snapshot(sample);
  }

  private snapshot(last: Sample): ProgressSnapshot {
    const first = this.samples[0]!;
    const span = last.at - first.at;
    const rate = (a: number, b: number) => (span > 0 ? ((b - a) * 1000) / span : undefined);
    const actsPerSecond = rate(first.actsDone, last.actsDone);
    const bytesPerSecond = rate(first.bytesSent, last.bytesSent);
    const finished = last.actsDone >= last.actsTotal && last.bytesSent >= last.bytesTotal;
    const fraction = last.actsTotal > 0 ? last.actsDone / last.actsTotal : last.bytesTotal > 0 ? last.bytesSent / last.bytesTotal : 1;
    const out: ProgressSnapshot = { ...last, elapsedMs: last.at - this.startedAt, fraction: Math.min(1, Math.max(0, fraction)), finished };
    if (actsPerSecond !== undefined) out.actsPerSecond = actsPerSecond;
    if (bytesPerSecond !== undefined) out.bytesPerSecond = bytesPerSecond;
    const eta = finished ? 0 : timeLeft(last, actsPerSecond, bytesPerSecond);
    if (eta !== undefined) out.etaMs = eta;
    return out;
  }
}

/**
 * Acts finish in steps (a whole SDC at each receipt) while bytes flow
 * smoothly: each gives an estimate where it moves, and the later one wins,
 * since the work is done only when both are.
 */
function timeLeft(s: Sample, actsPerSecond: number | undefined, bytesPerSecond: number | undefined): number | undefined {
  const estimates: number[] = [];
  if (actsPerSecond && actsPerSecond > 0 && s.actsTotal > s.actsDone) estimates.push(((s.actsTotal - s.actsDone) / actsPerSecond) * 1000);
  if (bytesPerSecond && bytesPerSecond > 0 && s.bytesTotal > s.bytesSent) estimates.push(((s.bytesTotal - s.bytesSent) / bytesPerSecond) * 1000);
  // None when bytes are all sent and acts wait for receipts that have not started coming: nothing to extrapolate from.
  return estimates.length === 0 ? undefined : Math.round(Math.max(...estimates));
}
