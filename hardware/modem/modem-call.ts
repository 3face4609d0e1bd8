import type { ByteStream } from '../../common/byte-stream.js';
import { TamtamError } from '../../protocol/errors.js';
import type { AtEngine, CallEnd, DataHandlers } from '../at/at-engine.js';

export interface ModemCallHooks {
  /** Escape and ATH; resolves once the modem is back on hook. */
  hangUp(): Promise<void>;
  /** The call is over, however it ended: the modem may take commands again. */
  finished(): void;
}

/**
 * A connected modem call as a ByteStream: bytes both ways until NO CARRIER
 * (the far side or the satellite went away) or close() (we hang up).
 */
export class ModemCall implements ByteStream {
  private dataListener: ((bytes: Uint8Array) => void) | undefined;
  private closeListener: ((error?: TamtamError) => void) | undefined;
  private early: Uint8Array[] = [];
  private ended: { error?: TamtamError } | undefined;
  private closing: Promise<void> | undefined;
  private done = false;

  constructor(private readonly engine: AtEngine, private readonly hooks: ModemCallHooks, readonly connectText: string) {}

  /** What the engine calls with the call's bytes and its end. */
  handlers(): DataHandlers {
    return {
      onData: (bytes) => {
        if (this.dataListener) this.dataListener(bytes);
        else this.early.push(bytes);
      },
      onEnd: (reason) => this.lineEnded(reason),
    };
  }

  get closed(): boolean {
    return this.ended !== undefined || this.closing !== undefined;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new TamtamError('E_LINK_DOWN', 'the modem call has ended', { retryable: true }));
    return this.engine.writeRaw(bytes);
  }

  onData(listener: (bytes: Uint8Array) => void): void {
    this.dataListener = listener;
    const early = this.early;
    this.early = [];
    for (const bytes of early) listener(bytes);
  }

  onClose(listener: (error?: TamtamError) => void): void {
    this.closeListener = listener;
    if (this.ended && this.done) listener(this.ended.error);
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.ended) return Promise.resolve();
    this.closing = (async () => {
      try {
        await this.hooks.hangUp();
      } finally {
        this.finish({});
      }
    })();
    return this.closing;
  }

  private lineEnded(reason: CallEnd): void {
    // NO CARRIER while we hang up is our own doing.
    if (this.closing || this.ended) return;
    const error = reason === 'no-carrier'
      ? new TamtamError('E_LINK_DOWN', 'the modem call dropped (NO CARRIER): the satellite link or the far end went away; the session resumes on the next call', { retryable: true, details: { reason } })
      : new TamtamError('E_LINK_DOWN', 'the serial port closed during the call (modem unplugged or switched off?)', { retryable: true, details: { reason } });
    this.finish({ error });
  }

  private finish(end: { error?: TamtamError }): void {
    if (this.done) return;
    this.done = true;
    this.ended = end;
    this.hooks.finished();
    this.closeListener?.(end.error);
  }
}
