import type { ByteStream } from '../../common/byte-stream.js';
import { encodeFrame, FrameParser, type Frame } from '../../protocol/chunk/index.js';
import { isTamtamError, TamtamError } from '../../protocol/errors.js';
import { packSbdMessages, SBD_MO_MAX, unpackSbdMessage } from '../../protocol/sbd/sbd-frames.js';
import { moRetryDecision, moSucceeded, type MoRetryPolicy } from './mo-status.js';
import type { SbdixResult } from './sbd-answers.js';
import type { SbdModem } from './sbd-modem.js';

export interface SbdStats {
  moMessages: number;
  mtMessages: number;
  moBytes: number;
  mtBytes: number;
  sessions: number;
  /** Failed sessions by MO status. */
  failures: Record<number, number>;
  /** MT messages that were not SBD frame messages, dropped. */
  mtRejected: number;
  /** Bytes billed, message by message, with the carrier's minimum and increment. */
  billedBytes: number;
}

export function emptySbdStats(): SbdStats {
  return { moMessages: 0, mtMessages: 0, moBytes: 0, mtBytes: 0, sessions: 0, failures: {}, mtRejected: 0, billedBytes: 0 };
}

export interface SbdStreamOptions {
  pollMs: number;
  policy: MoRetryPolicy;
  stats: SbdStats;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Bytes the carrier bills for a message of this size. */
  billed: (size: number) => number;
}

/**
 * A "call" over SBD: frames written by the session layer are packed into
 * messages and each goes up in its own SBDIX session, retried per MO status;
 * every session also brings down what the gateway holds, and while idle the
 * mailbox is checked every pollMs, or at once on a ring alert.
 */
export class SbdStream implements ByteStream {
  private readonly parser = new FrameParser();
  private queue: Frame[] = [];
  private dataListener: (bytes: Uint8Array) => void = () => undefined;
  private closeListener: (error?: TamtamError) => void = () => undefined;
  private ended = false;
  private stopping = false;
  private ringPending = false;
  private mtQueued = 0;
  /** A message whose MO buffer content is still to clear before an empty mailbox check. */
  private moLoaded = false;
  private wake: AbortController = new AbortController();
  private readonly stop = new AbortController();
  private readonly pump: Promise<void>;
  private readonly offRing: () => void;

  constructor(private readonly modem: SbdModem, private readonly options: SbdStreamOptions) {
    this.offRing = modem.onRing(() => {
      this.ringPending = true;
      this.wake.abort();
    });
    this.pump = this.run();
  }

  get closed(): boolean {
    return this.ended || this.stopping;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new TamtamError('E_LINK_DOWN', 'the SBD session has ended', { retryable: true }));
    const frames = this.parser.push(bytes);
    try {
      packSbdMessages(frames, SBD_MO_MAX);
    } catch (e) {
      return Promise.reject(e);
    }
    this.queue.push(...frames);
    this.wake.abort();
    return Promise.resolve();
  }

  onData(listener: (bytes: Uint8Array) => void): void {
    this.dataListener = listener;
  }

  onClose(listener: (error?: TamtamError) => void): void {
    this.closeListener = listener;
  }

  /** Ends after the session in progress; frames not yet sent are dropped (the session layer resumes them). */
  async close(): Promise<void> {
    this.stopping = true;
    this.stop.abort();
    this.wake.abort();
    await this.pump;
  }

  private async run(): Promise<void> {
    let error: TamtamError | undefined;
    try {
      while (!this.stopping) {
        if (this.queue.length > 0) {
          for (const message of packSbdMessages(this.queue.splice(0), SBD_MO_MAX)) {
            if (this.stopping) break;
            await this.send(message);
          }
        } else if (this.mtQueued > 0 || this.ringPending) {
          await this.send(undefined);
        } else {
          const timedOut = await this.idle();
          if (timedOut && !this.stopping) await this.send(undefined);
        }
      }
    } catch (e) {
      if (!this.stopping || !isTamtamError(e, 'E_ABORTED')) error = asLinkDown(e);
    }
    this.ended = true;
    this.offRing();
    this.closeListener(error);
  }

  /** Resolves true when pollMs passed with nothing to do, false when woken. */
  private async idle(): Promise<boolean> {
    this.wake = new AbortController();
    if (this.queue.length > 0 || this.stopping || this.ringPending) return false;
    await this.options.sleep(this.options.pollMs, this.wake.signal);
    return !this.wake.signal.aborted;
  }

  /** One message (or a mailbox check), with sessions retried per MO status until it is through. */
  private async send(message: Uint8Array | undefined): Promise<void> {
    if (message) {
      await this.modem.writeMo(message, this.stop.signal);
      this.moLoaded = true;
    } else if (this.moLoaded) {
      await this.modem.clearBuffers(0, this.stop.signal);
      this.moLoaded = false;
    }
    for (let failures = 0; ;) {
      const answerRing = this.ringPending;
      this.ringPending = false;
      // The session runs to its end even when close() comes meanwhile: the message may already be at the gateway.
      const result = await this.modem.sessionIx(answerRing);
      this.options.stats.sessions++;
      await this.receive(result);
      if (moSucceeded(result.moStatus)) {
        if (message) {
          this.options.stats.moMessages++;
          this.options.stats.moBytes += message.length;
          this.options.stats.billedBytes += this.options.billed(message.length);
        }
        return;
      }
      failures++;
      const f = this.options.stats.failures;
      f[result.moStatus] = (f[result.moStatus] ?? 0) + 1;
      const decision = moRetryDecision(result.moStatus, failures, this.options.policy);
      if (!decision.retry) {
        const why = decision.info.outcome === 'final' ? 'gave up' : `gave up after ${failures} failed sessions`;
        throw new TamtamError('E_LINK_DOWN', `SBD session ${why}: MO status ${result.moStatus}, ${decision.info.meaning}`, {
          retryable: true, details: { moStatus: result.moStatus, attempts: failures },
        });
      }
      if (this.stopping) return;
      await this.options.sleep(decision.waitMs, this.stop.signal);
      if (this.stopping) return;
    }
  }

  private async receive(result: SbdixResult): Promise<void> {
    this.mtQueued = result.mtQueued;
    if (result.mtStatus !== 1) return;
    const message = await this.modem.readMt();
    this.options.stats.mtMessages++;
    this.options.stats.mtBytes += message.length;
    this.options.stats.billedBytes += this.options.billed(message.length);
    let frames: Frame[];
    try {
      frames = unpackSbdMessage(message);
    } catch {
      // Anyone who knows the IMEI can send it a message: what is not ours is dropped, not fatal.
      this.options.stats.mtRejected++;
      return;
    }
    for (const frame of frames) this.dataListener(encodeFrame(frame));
  }
}

function asLinkDown(e: unknown): TamtamError {
  if (isTamtamError(e, 'E_LINK_DOWN')) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new TamtamError('E_LINK_DOWN', `the SBD session ended: ${message}`, { retryable: true, cause: e });
}
