import type { ByteStream, CarrierUsage, Dialer } from '../../common/byte-stream.js';
import { OpenOnce } from '../../common/open-once.js';
import { TamtamError } from '../../protocol/errors.js';
import { abortError } from '../at/async-lock.js';
import { DEFAULT_MO_RETRY } from './mo-status.js';
import { SbdModem, type SbdModemOptions } from './sbd-modem.js';
import { emptySbdStats, SbdStream, type SbdStats } from './sbd-stream.js';

export interface SbdDialerOptions extends SbdModemOptions {
  /** Mailbox check interval while a session is open and nothing is to be sent. Default 20 s. */
  pollMs?: number;
  /** Backoff of failed sessions: first wait, longest wait, failed sessions in a row before the call ends. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  maxAttempts?: number;
  random?: () => number;
  /** Waits; resolves early when the signal fires. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Bytes the carrier bills for a message of `size` bytes; default at least 10, then by the byte (the agent passes its link profile's rule). */
  billed?: (size: number) => number;
}

/**
 * Iridium SBD as a Dialer, so the stream session (resume, selective
 * acknowledgement, receipts) runs over 340/270-byte messages. "Dialling"
 * costs nothing: it opens and initialises the transceiver once; each message
 * is its own SBDIX session. dispose() closes the port.
 */
export class SbdDialer implements Dialer {
  readonly kind = 'sbd';
  private readonly modem = new OpenOnce(() => SbdModem.open({ ...this.options, baudRate: this.options.baudRate ?? 19_200 }));
  private stream: SbdStream | undefined;
  private readonly totals: SbdStats = emptySbdStats();

  constructor(readonly options: SbdDialerOptions) {}

  async dial(signal?: AbortSignal): Promise<ByteStream> {
    if (signal?.aborted) throw abortError(signal, 'the dial');
    if (this.stream && !this.stream.closed) {
      throw new TamtamError('E_PORT_BUSY', `an SBD session on ${this.options.port} is still open; close it before starting another`, { retryable: true });
    }
    const modem = await this.open();
    await modem.init(signal);
    const o = this.options;
    this.stream = new SbdStream(modem, {
      pollMs: o.pollMs ?? 20_000,
      policy: {
        baseMs: o.retryBaseMs ?? DEFAULT_MO_RETRY.baseMs,
        maxMs: o.retryMaxMs ?? DEFAULT_MO_RETRY.maxMs,
        maxAttempts: o.maxAttempts ?? DEFAULT_MO_RETRY.maxAttempts,
        random: o.random ?? Math.random,
      },
      stats: this.totals,
      sleep: o.sleep ?? sleep,
      billed: o.billed ?? ((size) => Math.max(10, size)),
    });
    return this.stream;
  }

  usage(): CarrierUsage {
    const t = this.totals;
    return { bytesUp: t.moBytes, bytesDown: t.mtBytes, messagesUp: t.moMessages, messagesDown: t.mtMessages, billedBytes: t.billedBytes };
  }

  /** Messages, bytes and sessions since the dialer was made: what the airtime bill counts. */
  stats(): SbdStats {
    return { ...this.totals, failures: { ...this.totals.failures } };
  }

  open(): Promise<SbdModem> {
    return this.modem.get();
  }

  async dispose(): Promise<void> {
    await this.stream?.close();
    const modem = await this.modem.take();
    await modem?.close();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
