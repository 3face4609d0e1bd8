import { EventEmitter } from 'node:events';
import { BitErrorInjector } from './bit-error-injector.js';

export interface ThrottledPipeOptions {
  /** Link rate in kilobits per second (1 kbps = 1000 bit/s, 8 bits a byte: no start/stop bits on a digital bearer). */
  kbps: number;
  /** One-way latency added after a byte has been serialised onto the link. */
  latencyMs: number;
  /** Bit error rate, 0 for a clean link. */
  ber?: number;
  random?: () => number;
  /** Where the bytes come out, in order. */
  deliver: (bytes: Buffer) => void;
}

export interface ThrottledPipeEvents {
  /** The backlog fell back under the high-water mark after write() returned false. */
  drain: [];
}

/** Serialising bytes one at a time would mean a timer per byte; a few ms of batching keeps the rate exact. */
const MIN_TICK_MS = 4;
/** Flow control holds the sender back once this much link time is queued. */
const HIGH_WATER_MS = 250;
const MIN_HIGH_WATER_BYTES = 64;

/** The backlog, in bytes, past which a pipe of this rate asks its writer to wait. */
export function pipeHighWater(kbps: number): number {
  return Math.max(MIN_HIGH_WATER_BYTES, Math.ceil((kbps / 8) * HIGH_WATER_MS));
}

/**
 * One direction of a slow link: bytes wait in a queue, leave it at the link
 * rate, then travel for the latency before `deliver` gets them, possibly with
 * bits flipped. The link clock advances by exactly the bytes sent, so the
 * long-run rate is the nominal one whatever the timer jitter. Like a stream,
 * write() returns false when the backlog passes the high-water mark (a
 * quarter second of link time) and 'drain' follows when it falls back.
 */
export class ThrottledPipe extends EventEmitter<ThrottledPipeEvents> {
  /** High-water mark of the backlog, in bytes. */
  readonly highWaterBytes: number;
  private readonly bytesPerMs: number;
  private readonly latencyMs: number;
  private readonly deliver: (bytes: Buffer) => void;
  private readonly errors: BitErrorInjector | undefined;
  private waiting: Buffer[] = [];
  private waitingBytes = 0;
  private inFlight: { at: number; bytes: Buffer }[] = [];
  private linkClock = 0;
  private sendTimer: NodeJS.Timeout | undefined;
  private deliverTimer: NodeJS.Timeout | undefined;
  private needDrain = false;
  private closed = false;
  /** Bytes that came out of the far end. */
  delivered = 0;

  constructor(options: ThrottledPipeOptions) {
    super();
    if (!(options.kbps > 0) || !(options.latencyMs >= 0)) throw new RangeError(`a pipe needs kbps > 0 and latencyMs >= 0, got ${options.kbps} and ${options.latencyMs}`);
    this.bytesPerMs = options.kbps / 8;
    this.latencyMs = options.latencyMs;
    this.deliver = options.deliver;
    this.highWaterBytes = pipeHighWater(options.kbps);
    const ber = options.ber ?? 0;
    this.errors = ber > 0 ? new BitErrorInjector(ber, options.random ?? Math.random) : undefined;
  }

  /** Bits flipped so far by the bit error rate. */
  get bitErrors(): number {
    return this.errors?.flipped ?? 0;
  }

  /** Bytes accepted but not yet serialised onto the link. */
  get backlog(): number {
    return this.waitingBytes;
  }

  write(bytes: Buffer): boolean {
    if (this.closed) return false;
    if (bytes.length > 0) {
      if (this.waitingBytes === 0) this.linkClock = Math.max(this.linkClock, performance.now());
      this.waiting.push(bytes);
      this.waitingBytes += bytes.length;
      this.scheduleSend();
    }
    const below = this.waitingBytes < this.highWaterBytes;
    if (!below) this.needDrain = true;
    return below;
  }

  /** Stops the pipe; bytes queued or in flight are lost, as on a dropped call. */
  close(): void {
    this.closed = true;
    clearTimeout(this.sendTimer);
    clearTimeout(this.deliverTimer);
    this.waiting = [];
    this.waitingBytes = 0;
    this.inFlight = [];
  }

  private scheduleSend(): void {
    if (this.sendTimer !== undefined || this.waitingBytes === 0 || this.closed) return;
    const firstByteDone = this.linkClock + 1 / this.bytesPerMs;
    this.sendTimer = setTimeout(() => this.send(), Math.max(MIN_TICK_MS, firstByteDone - performance.now()));
  }

  private send(): void {
    this.sendTimer = undefined;
    const now = performance.now();
    // The epsilon keeps float rounding from holding back a byte that is due.
    const due = Math.min(this.waitingBytes, Math.floor((now - this.linkClock) * this.bytesPerMs + 1e-6));
    if (due > 0) {
      const bytes = this.take(due);
      this.linkClock += due / this.bytesPerMs;
      this.inFlight.push({ at: this.linkClock + this.latencyMs, bytes: this.errors ? this.errors.apply(bytes) : bytes });
      this.scheduleDelivery();
      if (this.needDrain && this.waitingBytes < this.highWaterBytes) {
        this.needDrain = false;
        this.emit('drain');
      }
    }
    this.scheduleSend();
  }

  private take(count: number): Buffer {
    const parts: Buffer[] = [];
    let left = count;
    while (left > 0) {
      const head = this.waiting[0];
      if (head.length <= left) {
        parts.push(head);
        this.waiting.shift();
        left -= head.length;
      } else {
        parts.push(head.subarray(0, left));
        this.waiting[0] = head.subarray(left);
        left = 0;
      }
    }
    this.waitingBytes -= count;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  private scheduleDelivery(): void {
    if (this.deliverTimer !== undefined || this.inFlight.length === 0 || this.closed) return;
    this.deliverTimer = setTimeout(() => this.deliverDue(), Math.max(0, this.inFlight[0].at - performance.now()));
  }

  private deliverDue(): void {
    this.deliverTimer = undefined;
    const now = performance.now();
    const due: Buffer[] = [];
    // Timers may fire a fraction of a millisecond early.
    while (this.inFlight.length > 0 && this.inFlight[0].at <= now + 0.5) due.push(this.inFlight.shift()!.bytes);
    if (due.length > 0) {
      const bytes = due.length === 1 ? due[0] : Buffer.concat(due);
      this.delivered += bytes.length;
      this.deliver(bytes);
    }
    this.scheduleDelivery();
  }
}
