import { TamtamError, isTamtamError } from '../../protocol/errors.js';
import type { Link } from '../link/link.js';
import type { Spool } from '../spool/spool.js';
import type { AgentState } from '../state/agent-state.js';

/** What the set-up's test SDC showed of the whole path: centre → link → hub → receipt → centre. */
export interface TestReportResult {
  sequence: number;
  /** Size of the SDC. */
  sdcBytes: number;
  /** Bringing the link up: connecting, or dialling and the modem's CONNECT. */
  connectMs: number;
  /** From the first byte sent to the receipt applied. */
  roundTripMs: number;
  /** What the link carried both ways for the test, framing and acknowledgements included. */
  bytesUp: number;
  bytesDown: number;
  /** The hub's verdict: a refusal (a suspended centre) still proves the path works, and says why. */
  accepted: boolean;
  reason?: string;
}

/** The parts of an AgentRuntime the test needs, some of them private to it: given by AgentRuntime.sendTestReport. */
export interface TestReportParts {
  link: Link;
  state: AgentState;
  spool: Spool;
  clock: () => number;
  /** Packs a usage report into the outbox now; returns its sequence. */
  pack(): Promise<number>;
  /** Called on every receipt the agent applies. */
  receiptWaiters: Set<() => void>;
  /** Records the link's bytes in the agent's usage, as every session does. */
  meter(): void;
}

const CALLS = 3;

/**
 * Packs a usage report (an SDC like any other, that touches no record) and
 * runs the link until its receipt is applied. A dropped call is called again
 * while time is left, as `sync --once` does. On failure the report stays in
 * the outbox and goes with the next sync.
 */
export async function sendTestReport(p: TestReportParts, timeoutMs: number, signal?: AbortSignal): Promise<TestReportResult> {
  const deadline = p.clock() + timeoutMs;
  const limit = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])]);
  const sequence = await p.pack();
  const bytes = p.spool.readOutbox(sequence);
  const before = p.link.usage();
  let connectMs = 0;
  let sentAt = 0;
  for (let call = 1; ; call++) {
    const opening = p.clock();
    try {
      await p.link.open(limit);
      connectMs = p.clock() - opening;
      sentAt = p.clock();
      await p.link.send(bytes, limit);
      p.state.markSent(sequence);
      await receiptOf(p, sequence, deadline, limit, timeoutMs);
      break;
    } catch (e) {
      const again = p.link.mode === 'session' && isTamtamError(e) && e.retryable && call < CALLS && p.clock() < deadline && !limit.aborted;
      if (!again) throw limit.aborted && !signal?.aborted ? timedOut(p, sequence, timeoutMs) : e;
    } finally {
      p.meter();
      if (p.link.mode === 'session') await p.link.close();
      p.meter();
    }
  }
  const after = p.link.usage();
  const sdc = p.state.sdc(sequence)!;
  return {
    sequence, sdcBytes: bytes.length, connectMs, roundTripMs: (sdc.receiptAt ?? p.clock()) - sentAt,
    bytesUp: after.bytesUp - before.bytesUp, bytesDown: after.bytesDown - before.bytesDown,
    accepted: sdc.outcome === 'accepted', ...(sdc.reason ? { reason: sdc.reason } : {}),
  };
}

function timedOut(p: TestReportParts, sequence: number, timeoutMs: number): TamtamError {
  const sent = p.state.sdc(sequence)?.sentAt !== null;
  return new TamtamError('E_TIMEOUT', sent
    ? `the test SDC reached the hub's side of the link, but no receipt came back within ${timeoutMs / 1000} s: check with the hub operator that the hub is running and that this centre is registered there`
    : `the test SDC could not be sent within ${timeoutMs / 1000} s: the link did not come up or did not carry it`, { retryable: true, details: { sequence, sent } });
}

async function receiptOf(p: TestReportParts, sequence: number, deadline: number, signal: AbortSignal, timeoutMs: number): Promise<void> {
  const settled = () => ['done', 'receipted'].includes(p.state.sdc(sequence)?.state ?? '');
  while (!settled()) {
    if (p.clock() >= deadline) throw timedOut(p, sequence, timeoutMs);
    if (signal.aborted) throw new TamtamError('E_ABORTED', 'the test was stopped before its receipt came');
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        p.receiptWaiters.delete(wake);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, deadline - p.clock()));
      p.receiptWaiters.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }
}
