import { NO_CARRIER, SequenceScanner } from './at-lines.js';

export type CallEnd = 'no-carrier' | 'port-closed';

export interface DataHandlers {
  onData(bytes: Uint8Array): void;
  onEnd(reason: CallEnd): void;
}

const OK_AFTER_ESCAPE = '\r\nOK\r\n';

/**
 * The port's bytes while a call is up: data for the handlers, up to the
 * modem's own NO CARRIER (or the OK that answers an escape). Bytes that may
 * start one of those are held back, and let go as data after a short quiet,
 * so that a frame ending in CR LF is not stuck waiting for more.
 */
export class CallData {
  private scanner = new SequenceScanner([NO_CARRIER]);
  private handlers: DataHandlers | undefined;
  private early: Uint8Array[] = [];
  private flushTimer: NodeJS.Timeout | undefined;

  /** skipLf: CONNECT ended in a bare CR, so an LF coming first belongs to it, not to the call. */
  constructor(private skipLf: boolean, private readonly flushMs: number) {}

  /** Hands over the call's bytes, those that came with CONNECT first. */
  attach(handlers: DataHandlers): void {
    this.handlers = handlers;
    const early = this.early;
    this.early = [];
    for (const bytes of early) handlers.onData(bytes);
  }

  /** While escaping, an OK after `+++` ends data mode too. */
  watchEscape(on: boolean): Buffer | undefined {
    const held = this.scanner.flush();
    this.scanner = new SequenceScanner(on ? [NO_CARRIER, OK_AFTER_ESCAPE] : [NO_CARRIER]);
    return held.length > 0 ? Buffer.from(held) : undefined;
  }

  /** Delivers the data in `chunk`; says what ended the call's data, if something did, with the bytes after it. */
  push(chunk: Buffer): { end?: 'no-carrier' | 'escaped'; rest?: Buffer } {
    clearTimeout(this.flushTimer);
    if (this.skipLf) {
      this.skipLf = false;
      if (chunk[0] === 0x0a) chunk = chunk.subarray(1);
    }
    const { data, match, rest } = this.scanner.push(chunk);
    if (data.length > 0) this.deliver(data);
    const after = rest && rest.length > 0 ? Buffer.from(rest) : undefined;
    if (match === OK_AFTER_ESCAPE) return { end: 'escaped', ...(after ? { rest: after } : {}) };
    if (match === NO_CARRIER) return { end: 'no-carrier', ...(after ? { rest: after } : {}) };
    if (this.scanner.holding) {
      this.flushTimer = setTimeout(() => {
        const held = this.scanner.flush();
        if (held.length > 0) this.deliver(held);
      }, this.flushMs);
    }
    return {};
  }

  /** Data is over: bytes still held back are returned (they may be command talk), the handlers told why if there is a reason. */
  finish(reason?: CallEnd): Uint8Array {
    clearTimeout(this.flushTimer);
    const handlers = this.handlers;
    this.handlers = undefined;
    this.early = [];
    const held = this.scanner.flush();
    if (reason) handlers?.onEnd(reason);
    return held;
  }

  private deliver(bytes: Uint8Array): void {
    if (this.handlers) this.handlers.onData(bytes);
    else this.early.push(Buffer.from(bytes));
  }
}
