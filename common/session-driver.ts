import type { SessionEvent, SessionMachine } from '../protocol/session/index.js';
import type { TamtamError } from '../protocol/errors.js';
import type { ByteStream } from './byte-stream.js';

export interface SessionDriverHooks {
  now: () => number;
  /** Events from the machine, after each input and each kick. */
  events: (events: SessionEvent[]) => void;
  /** The stream ended; `error` when it dropped. Called once. */
  ended: (error?: TamtamError) => void;
}

export interface SessionPacing {
  /** The line's rate: frames are written no faster, so nothing piles up in serial and modem buffers. */
  bytesPerSecond: number;
  /** How far the writer may run ahead of the line. Default 250 ms. */
  aheadMs?: number;
}

/**
 * Runs a SessionMachine over a ByteStream: bytes in to the machine, frames
 * out one write at a time (so a repair or an answer queued now goes before
 * data not yet written, and a slow link holds the writer back), and a timer
 * for the machine's next deadline. Used by both ends.
 */
export class SessionDriver {
  bytesIn = 0;
  bytesOut = 0;
  private pumping = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];

  /** When the line will have sent everything written so far, if paced. */
  private lineFreeAt = 0;

  constructor(readonly stream: ByteStream, readonly machine: SessionMachine, private readonly hooks: SessionDriverHooks, private readonly pacing?: SessionPacing) {
    stream.onData((bytes) => {
      if (this.stopped) return;
      this.bytesIn += bytes.length;
      machine.receive(bytes, hooks.now());
      this.kick();
    });
    stream.onClose((error) => {
      if (!this.stopped) machine.finish(hooks.now());
      this.deliver();
      this.stop();
      hooks.ended(error);
    });
  }

  /** After anything that may have given the machine frames to send or events to report. */
  kick(): void {
    this.deliver();
    void this.pump();
  }

  /** Resolves when everything queued is written, or after `ms`. */
  idle(ms: number): Promise<void> {
    if (!this.pumping && this.machine.nextDeadline() !== -Infinity) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.idleWaiters.push(() => { clearTimeout(timer); resolve(); });
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private deliver(): void {
    const events = this.machine.takeEvents();
    if (events.length > 0) this.hooks.events(events);
  }

  private async pump(): Promise<void> {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    try {
      for (;;) {
        const frame = this.machine.next(this.hooks.now());
        if (!frame || this.stopped) break;
        await this.pace(frame.length);
        await this.stream.write(frame);
        this.bytesOut += frame.length;
      }
    } catch {
      // The stream ended under the write; its onClose reports why.
    } finally {
      this.pumping = false;
      this.deliver();
      this.arm();
    }
  }

  /**
   * A modem's serial port takes data far faster than the satellite carries
   * it, and what waits in its buffers when the call drops is lost while
   * counted as sent (and then reads to the modem as commands). Writing at the
   * line's rate keeps that backlog to `aheadMs`, and keeps a status request
   * from queueing behind seconds of data.
   */
  private async pace(bytes: number): Promise<void> {
    if (!this.pacing) return;
    const now = this.hooks.now();
    this.lineFreeAt = Math.max(this.lineFreeAt, now) + (bytes * 1000) / this.pacing.bytesPerSecond;
    const wait = this.lineFreeAt - now - (this.pacing.aheadMs ?? 250);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const at = this.machine.nextDeadline();
    if (at === -Infinity) {
      void this.pump();
      return;
    }
    for (const w of this.idleWaiters.splice(0)) w();
    if (at === undefined) return;
    this.timer = setTimeout(() => this.kick(), Math.max(1, at - this.hooks.now()));
  }
}
