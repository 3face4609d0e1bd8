/**
 * Hayes escape from data mode: a guard time of silence, three escape
 * characters (S2, '+'), each within the guard time of the previous one, then
 * the guard time of silence again. Anything else is data: '+++' inside a
 * burst passes through. Candidate escape characters are held back until the
 * outcome is known, so an escape that succeeds never reaches the far end and
 * one that fails reaches it late by at most a guard time, in order.
 */
export interface EscapeDetectorOptions {
  guardMs: () => number;
  /** The escape character (S2); above 127 disables the escape, as on real modems. */
  escapeChar: () => number;
  onData: (bytes: Buffer) => void;
  onEscape: () => void;
}

export class EscapeDetector {
  private lastByteAt = performance.now();
  private held = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: EscapeDetectorOptions) {}

  /** Starts a fresh guard period, e.g. at CONNECT or after ATO. */
  reset(): void {
    this.cancel();
    this.held = 0;
    this.lastByteAt = performance.now();
  }

  /** Drops held characters without sending them (call ended). */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  feed(bytes: Buffer): void {
    const now = performance.now();
    const guard = this.options.guardMs();
    const escape = this.options.escapeChar();
    const silentBefore = now - this.lastByteAt >= guard;
    this.lastByteAt = now;
    if (bytes.length === 0) return;
    if (escape > 127) return this.options.onData(bytes);

    let start = 0;
    if (this.held > 0 && this.held < 3) {
      // Later escape characters must follow within the guard time; the timer guarantees it.
      while (start < bytes.length && bytes[start] === escape && this.held + start < 3) start++;
    } else if (this.held === 0 && silentBefore) {
      while (start < bytes.length && bytes[start] === escape && start < 3) start++;
    }
    const count = this.held + start;
    if (start > 0 && start === bytes.length && count <= 3) {
      this.held = count;
      this.arm(guard);
      return;
    }
    this.flush(bytes);
  }

  /** The held characters and `after` are data after all. */
  private flush(after?: Buffer): void {
    this.cancel();
    const held = Buffer.alloc(this.held, this.options.escapeChar());
    this.held = 0;
    const bytes = after === undefined ? held : held.length > 0 ? Buffer.concat([held, after]) : after;
    if (bytes.length > 0) this.options.onData(bytes);
  }

  private arm(guard: number): void {
    this.cancel();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.held === 3) {
        this.held = 0;
        this.options.onEscape();
      } else {
        this.flush();
      }
    }, guard);
  }
}
