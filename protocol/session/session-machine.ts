import { TamtamError } from '../errors.js';
import { FrameType, type Frame } from '../chunk/chunk-frame.js';
import { decodeChunkStatus } from '../chunk/chunk-status.js';
import { MIN_CHUNK_SIZE } from '../chunk/chunker.js';
import { FrameParser, type FrameParserStats } from '../chunk/frame-parser.js';
import {
  byeFrame, CONTROL_MAX_PAYLOAD, decodeBye, decodeDecline, decodeHello, decodeWelcome, helloFrame, SessionReason, welcomeFrame,
  type Bye, type Hello, type Welcome,
} from './session-frames.js';
import { TransferReceiver } from './transfer-receiver.js';
import { TransferSender, type SenderTiming } from './transfer-sender.js';

export type SessionRole = 'caller' | 'answerer';
export type SessionState = 'greeting' | 'open' | 'refused';

export interface SessionMachineOptions extends SenderTiming {
  role: SessionRole;
  /** Caller: its matricule, sent in the Hello. */
  centre?: string;
  /**
   * Caller: the chunk size it would send with (its link profile's).
   * Answerer: the largest chunk size it accepts; it sends with the caller's, if no larger.
   */
  chunkSize: number;
  /** Caller: what keeps partial down transfers between calls. Answerer: given to accept(), once the centre is known. */
  receiver?: TransferReceiver;
  hashLength?: number;
}

export type SessionEvent =
  /** Answerer: decide with accept() or refuse(). */
  | { kind: 'hello'; hello: Hello }
  | { kind: 'welcome'; welcome: Welcome }
  | { kind: 'refused'; welcome: Welcome }
  | { kind: 'sent'; transferId: number }
  | { kind: 'failed'; transferId: number; error: TamtamError }
  /** Answer with taken() once the application has it for good, or declined(). */
  | { kind: 'received'; transferId: number; sdc: Uint8Array }
  | { kind: 'bye'; bye: Bye }
  /** Worth a log line; the session carries on. */
  | { kind: 'error'; error: TamtamError };

export interface SessionStats {
  framesIn: number;
  framesOut: number;
  /** Frame-parser figures, summed over the parsers of the session: noise skipped, CRC failures. */
  parser: FrameParserStats;
  /** Frames sent again after a Status listed them missing. */
  resent: number;
}

/**
 * One stream session, either end (FORMAT.md §14): Hello / Status… / Welcome,
 * then transfers both ways with the same sender and receiver halves, then
 * Bye. Bytes in through receive(), frames out through next(); control
 * frames and answers go before repairs, repairs before fresh data. Pure: no
 * I/O and no timers; the driver calls next() again at nextDeadline().
 */
export class SessionMachine {
  readonly role: SessionRole;
  readonly sender: TransferSender;
  private receiverHalf: TransferReceiver | undefined;
  private parser: FrameParser;
  private readonly control: Uint8Array[] = [];
  private readonly events: SessionEvent[] = [];
  private readonly parserTotals: FrameParserStats[] = [];
  private readonly volunteered = new Set<number>();
  private readonly accepts: number;
  private st: SessionState = 'greeting';
  private hello: Hello | undefined;
  private helloAt = -Infinity;
  private helloRto: number;
  private framesIn = 0;
  private framesOut = 0;
  /** Time of the last good frame: what an idle watchdog looks at. */
  lastHeardAt: number;
  peerSaidBye = false;
  byeSent = false;

  constructor(private readonly options: SessionMachineOptions, now: number) {
    this.role = options.role;
    if (!Number.isInteger(options.chunkSize) || options.chunkSize < MIN_CHUNK_SIZE || options.chunkSize > 0xffff) {
      throw new TamtamError('E_CONFIG', `chunk size ${options.chunkSize} is not a whole number from ${MIN_CHUNK_SIZE} to 65535`);
    }
    this.sender = new TransferSender(options, options.hashLength);
    this.receiverHalf = options.role === 'caller' ? options.receiver ?? new TransferReceiver() : undefined;
    this.accepts = options.role === 'caller' ? Math.max(options.chunkSize, CONTROL_MAX_PAYLOAD) : CONTROL_MAX_PAYLOAD;
    // Until the Hello has said what to expect, the answerer takes control frames only: a damaged length costs nothing.
    this.parser = new FrameParser({ maxPayload: this.accepts });
    this.helloRto = options.rtoMs;
    this.lastHeardAt = now;
    if (options.role === 'caller') {
      if (!options.centre) throw new TamtamError('E_CONFIG', 'a calling session needs the centre matricule');
      this.control.push(this.helloBytes());
      this.helloAt = now;
    }
  }

  get state(): SessionState {
    return this.st;
  }

  /** Transfers or application work not settled, or a handshake in progress. */
  outstanding(): boolean {
    return this.st === 'greeting' || this.sender.size > 0 || (this.receiverHalf?.handling ?? 0) > 0;
  }

  stats(): SessionStats {
    const parser = [...this.parserTotals, this.parser.stats].reduce((sum, s) => {
      for (const k of Object.keys(sum) as (keyof FrameParserStats)[]) sum[k] += s[k];
      return sum;
    }, { bytesIn: 0, bytesInFrames: 0, bytesDropped: 0, frames: 0, crcErrors: 0, versionErrors: 0, lengthErrors: 0, truncated: 0 });
    return { framesIn: this.framesIn, framesOut: this.framesOut, parser, resent: this.sender.resent };
  }

  takeEvents(): SessionEvent[] {
    for (const e of this.sender.takeEvents()) this.events.push(e);
    return this.events.splice(0);
  }

  receive(bytes: Uint8Array, now: number): void {
    for (const f of this.parser.push(bytes)) this.handle(f, now);
  }

  /** The stream ended: frames completed by the last bytes still count. */
  finish(now: number): void {
    for (const f of this.parser.finish()) this.handle(f, now);
  }

  /** Queues an SDC (caller) or a reply (answerer); it starts once the handshake is done. */
  send(sdc: Uint8Array): number {
    return this.sender.add(sdc);
  }

  cancel(transferId: number): void {
    this.sender.cancel(transferId);
  }

  /** Answerer: the centre may call. Statuses of what it holds go first, then the Welcome. */
  accept(receiver: TransferReceiver, now: number): void {
    const hello = this.hello;
    if (this.role !== 'answerer' || !hello || this.st !== 'greeting') throw new TamtamError('E_INTERNAL', 'accept() needs a Hello to answer');
    this.receiverHalf = receiver;
    receiver.sessionStarted();
    const chunkSize = Math.min(hello.chunkSize, hello.maxPayload, this.options.chunkSize);
    const accepts = Math.max(chunkSize, CONTROL_MAX_PAYLOAD);
    this.swapParser(accepts);
    this.sender.configure({ chunkSize, peerMaxPayload: hello.maxPayload, maxStatusPayload: accepts });
    this.st = 'open';
    this.queueWelcome();
  }

  /** Answerer: the call is refused; the driver hangs up once the Welcome is written. */
  refuse(reason: number, text: string): void {
    this.st = 'refused';
    this.control.push(welcomeFrame({ reason, text, chunkSize: 0, maxPayload: 0, partials: 0 }));
  }

  /** The application took a received SDC. */
  taken(transferId: number): void {
    const frame = this.receiverHalf?.taken(transferId);
    if (frame && this.st === 'open') this.control.push(frame);
  }

  /** The application could not take it now: held, offered again in a later session. */
  declined(transferId: number, text: string): void {
    const frame = this.receiverHalf?.declined(transferId, text);
    if (frame && this.st === 'open') this.control.push(frame);
  }

  bye(reason: number = SessionReason.None, text = ''): void {
    if (this.byeSent) return;
    this.byeSent = true;
    this.control.push(byeFrame({ reason, text }));
  }

  next(now: number): Uint8Array | undefined {
    let frame = this.control.shift();
    if (!frame && this.role === 'caller' && this.st === 'greeting' && now >= this.helloAt + this.helloRto) {
      // A Hello or Welcome lost to noise: say it again, less often each time.
      this.helloRto = Math.min(2 * this.helloRto, this.options.maxRtoMs);
      this.helloAt = now;
      frame = this.helloBytes();
    }
    if (!frame && this.st === 'open' && !this.byeSent) frame = this.sender.next(now);
    if (frame) this.framesOut++;
    return frame;
  }

  nextDeadline(): number | undefined {
    if (this.control.length > 0) return -Infinity;
    if (this.role === 'caller' && this.st === 'greeting') return this.helloAt + this.helloRto;
    return this.st === 'open' && !this.byeSent ? this.sender.nextDeadline() : undefined;
  }

  private handle(f: Frame, now: number): void {
    this.framesIn++;
    this.lastHeardAt = now;
    try {
      switch (f.type) {
        case FrameType.Hello: return this.onHello(f);
        case FrameType.Welcome: return this.onWelcome(f);
        case FrameType.Bye:
          this.peerSaidBye = true;
          this.events.push({ kind: 'bye', bye: decodeBye(f.payload) });
          return;
        case FrameType.Status: return this.onStatus(f, now);
        case FrameType.Decline: return this.sender.noteDecline(f.transferId, decodeDecline(f.payload));
        case FrameType.Chunk:
        case FrameType.Manifest:
        case FrameType.StatusRequest: return this.onTransferFrame(f);
        default: return;
      }
    } catch (e) {
      this.events.push({ kind: 'error', error: e instanceof TamtamError ? e : new TamtamError('E_INTERNAL', `session failed on a frame: ${(e as Error).message}`, { cause: e }) });
    }
  }

  private onHello(f: Frame): void {
    if (this.role !== 'answerer') return;
    let hello: Hello;
    try {
      hello = decodeHello(f.payload);
    } catch (e) {
      if (this.st !== 'greeting' || this.hello) return;
      const err = e as TamtamError;
      this.refuse(err.code === 'E_BAD_VERSION' ? SessionReason.BadVersion : SessionReason.ProtocolError, err.message);
      throw err;
    }
    if (this.st === 'open' && hello.centre === this.hello?.centre) return this.queueWelcome();
    if (this.st !== 'greeting' || this.hello) return;
    this.hello = hello;
    this.events.push({ kind: 'hello', hello });
  }

  private onWelcome(f: Frame): void {
    if (this.role !== 'caller' || this.st !== 'greeting') return;
    const w = decodeWelcome(f.payload);
    if (w.reason !== SessionReason.None) {
      this.st = 'refused';
      this.events.push({ kind: 'refused', welcome: w });
      return;
    }
    const chunkSize = Math.min(this.options.chunkSize, w.maxPayload);
    this.sender.setProbeUnknown(this.volunteered.size < w.partials);
    this.sender.configure({ chunkSize, peerMaxPayload: w.maxPayload, maxStatusPayload: this.accepts });
    this.st = 'open';
    this.events.push({ kind: 'welcome', welcome: w });
  }

  private onStatus(f: Frame, now: number): void {
    const s = decodeChunkStatus(f.payload, f.transferId);
    if (f.index === 0 && this.st === 'greeting') this.volunteered.add(f.transferId);
    this.sender.noteStatus(f.index, s, now);
  }

  private onTransferFrame(f: Frame): void {
    // Before the Welcome the answerer has no receiver: frames of a caller that did not wait are dropped.
    const r = this.st === 'refused' ? undefined : this.receiverHalf?.accept(f);
    if (!r) return;
    for (const frame of r.frames) this.control.push(frame);
    if (r.received) this.events.push({ kind: 'received', ...r.received });
    if (r.error) this.events.push({ kind: 'error', error: r.error });
  }

  private queueWelcome(): void {
    const hello = this.hello as Hello;
    const statuses = (this.receiverHalf as TransferReceiver).welcomeStatuses(hello.maxPayload);
    for (const s of statuses) this.control.push(s);
    const chunkSize = Math.min(hello.chunkSize, hello.maxPayload, this.options.chunkSize);
    this.control.push(welcomeFrame({ reason: SessionReason.None, text: '', chunkSize, maxPayload: Math.max(chunkSize, CONTROL_MAX_PAYLOAD), partials: statuses.length }));
  }

  private helloBytes(): Uint8Array {
    return helloFrame({ centre: this.options.centre as string, chunkSize: this.options.chunkSize, maxPayload: this.accepts });
  }

  private swapParser(maxPayload: number): void {
    this.parserTotals.push(this.parser.stats);
    this.parser = new FrameParser({ maxPayload });
  }
}
