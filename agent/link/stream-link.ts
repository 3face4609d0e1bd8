import type { ByteStream, Dialer } from '../../common/byte-stream.js';
import { SessionDriver } from '../../common/session-driver.js';
import { deferred, Notifier, type Deferred } from '../../common/waiters.js';
import { streamTimeouts, type StreamTimeouts } from './stream-timeouts.js';
import { streamUsage } from './stream-usage.js';
import { TamtamError, wrapError } from '../../protocol/errors.js';
import { reasonError, SessionMachine, SessionReason, TransferReceiver, type SessionEvent } from '../../protocol/session/index.js';
import { sessionCost, type LinkProfile } from './link-profile.js';
import type { InboundHandler, Link, LinkState, LinkUsage } from './link.js';

/** airtimeMs: dial start to hang-up, summed over calls (the current one so far); costUsd: sessionCost() of each call, summed. */
export type StreamLinkUsage = LinkUsage;

export interface StreamLinkOptions {
  /** The centre's matricule, sent in the Hello. */
  centre: string;
  dialer: Dialer;
  /** Chunk size, timeouts, session limit and tariff. */
  profile: LinkProfile;
  now?: () => number;
  timeouts?: Partial<StreamTimeouts>;
  /** Largest reply taken from the hub. Default 1 MiB. */
  maxReplyBytes?: number;
}

interface Waiter {
  resolve: () => void;
  reject: (e: TamtamError) => void;
}

interface Call {
  stream: ByteStream;
  machine: SessionMachine;
  driver: SessionDriver;
  dialStart: number;
  waiters: Map<number, Set<Waiter>>;
  welcomed: Deferred;
  /** Why we hung up, reported to sends still pending. */
  endReason?: TamtamError;
  ended: boolean;
  closing?: Promise<void>;
  /** Start of the current stretch with something outstanding: silence is measured from here or the last frame, whichever is later. */
  watchFrom: number;
  limitTimer?: NodeJS.Timeout;
  watchdog?: NodeJS.Timeout;
}

interface Inbound {
  call: Call;
  transferId: number;
  sdc: Uint8Array;
}

/**
 * A centre's link over a byte stream: a satellite modem call, or TCP. One
 * call is one session (FORMAT.md §14): Hello and Welcome, then SDCs up and
 * receipts down as chunked transfers that resume after a dropped call, then
 * Bye and hang-up. send() resolves when the hub took the SDC for good
 * (ingested and committed); several may be in flight at once and share the
 * call without a round trip each.
 */
export class StreamLink implements Link {
  readonly kind = 'stream';
  /** Every call costs airtime: the agent dials when it has work and hangs up when done. */
  readonly mode = 'session';
  private readonly now: () => number;
  private readonly timeouts: StreamTimeouts;
  /** Partial receipts survive a dropped call while the process lives; a receipt handled but not confirmed is answered "complete" next time. */
  private readonly inbound: TransferReceiver;
  private call: Call | undefined;
  private opening: Promise<void> | undefined;
  private st: LinkState = 'down';
  private handler: InboundHandler | undefined;
  private readonly inbox: Inbound[] = [];
  private draining: Promise<void> | undefined;
  private readonly stateListeners = new Set<(s: LinkState) => void>();
  private readonly errorListeners = new Set<(e: TamtamError) => void>();
  private readonly changed = new Notifier();
  private readonly totals = { bytesUp: 0, bytesDown: 0, messagesUp: 0, messagesDown: 0, sessions: 0, airtimeMs: 0, costUsd: 0, bytesDropped: 0, crcErrors: 0, resent: 0 };

  constructor(private readonly options: StreamLinkOptions) {
    this.now = options.now ?? Date.now;
    this.timeouts = streamTimeouts(options.profile, options.timeouts);
    const maxTotalSize = options.maxReplyBytes ?? 1 << 20;
    this.inbound = new TransferReceiver({ maxTotalSize, maxTransfers: 8, maxHeld: 64, maxPendingBytes: Math.min(maxTotalSize, 1 << 20) });
  }

  get state(): LinkState {
    return this.st;
  }

  open(signal?: AbortSignal): Promise<void> {
    if (this.st === 'up' && this.call && !this.call.closing) return Promise.resolve();
    this.opening ??= (async () => {
      // A call still hanging up finishes first: two calls at once would be two bills and one confused hub.
      if (this.call?.closing) await this.call.closing;
      if (this.st === 'up' && this.call) return;
      await this.dialAndGreet(signal);
    })().finally(() => (this.opening = undefined));
    return this.opening;
  }

  send(payload: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(aborted('sending'));
    const call = this.call;
    if (!call || call.ended || call.closing || this.st !== 'up') {
      return Promise.reject(new TamtamError('E_LINK_DOWN', 'the stream link is not up; open() it (dial) before sending', { retryable: true }));
    }
    let id: number;
    try {
      id = call.machine.send(payload);
    } catch (e) {
      return Promise.reject(wrapError(e, 'E_INTERNAL', 'cannot queue the payload'));
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      const set = call.waiters.get(id) ?? new Set<Waiter>();
      set.add(w);
      call.waiters.set(id, set);
      if (signal) {
        const onAbort = () => {
          set.delete(w);
          if (set.size === 0 && call.waiters.get(id) === set) {
            call.waiters.delete(id);
            call.machine.cancel(id);
          }
          reject(aborted('sending'));
          this.changed.notify();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const done = () => signal.removeEventListener('abort', onAbort);
        w.resolve = () => { done(); resolve(); };
        w.reject = (e) => { done(); reject(e); };
      }
      call.watchFrom = this.now();
      call.driver.kick();
    });
  }

  /** One handler; receipts that came before it was set wait for it, unconfirmed. */
  onMessage(handler: InboundHandler): void {
    this.handler = handler;
    void this.drain();
  }

  onStateChange(listener: (state: LinkState) => void): void {
    this.stateListeners.add(listener);
  }

  /** Handler failures and protocol trouble the session survived: for logs. */
  onError(listener: (e: TamtamError) => void): void {
    this.errorListeners.add(listener);
  }

  usage(): StreamLinkUsage {
    const c = this.call && !this.call.ended ? this.call : undefined;
    const live = c ? { bytesUp: c.driver.bytesOut, bytesDown: c.driver.bytesIn, ms: this.now() - c.dialStart } : undefined;
    return streamUsage(this.totals, live, this.options.dialer.usage?.(), this.options.profile);
  }

  /** Noise skipped, frames that failed their CRC, chunks sent again: how clean the line is. */
  lineStats(): { bytesDropped: number; crcErrors: number; resent: number } {
    const t = { bytesDropped: this.totals.bytesDropped, crcErrors: this.totals.crcErrors, resent: this.totals.resent };
    if (this.call && !this.call.ended) {
      const s = this.call.machine.stats();
      t.bytesDropped += s.parser.bytesDropped;
      t.crcErrors += s.parser.crcErrors;
      t.resent += s.resent;
    }
    return t;
  }

  /**
   * Lets outstanding sends and receipts settle (at most closeGraceMs), says
   * Bye, waits for the hub's Bye (at most closeGraceMs more: receipts keep
   * coming meanwhile), then hangs up. Sends still pending reject E_LINK_DOWN.
   */
  async close(): Promise<void> {
    // A call being dialled is let come up first, so close() leaves nothing running behind it.
    if (this.opening && !this.call) await this.opening.catch(() => undefined);
    const call = this.call;
    if (!call || call.ended) return;
    call.closing ??= (async () => {
      const settled = () => call.ended || (call.waiters.size === 0 && !this.inboxBusy(call) && !call.machine.outstanding());
      await this.until(settled, this.timeouts.closeGraceMs);
      if (!call.ended) {
        call.machine.bye(SessionReason.None);
        call.driver.kick();
        await this.until(() => call.ended || call.machine.peerSaidBye, this.timeouts.closeGraceMs);
      }
      await this.hangUp(call, new TamtamError('E_LINK_DOWN', 'the link was closed before the hub took it; it is sent again next session, resuming where it stopped', { retryable: true }));
    })();
    return call.closing;
  }

  /** Hangs up if a call is up, then lets the dialer go (a modem's serial port). */
  async dispose(): Promise<void> {
    await this.close();
    await this.options.dialer.dispose?.();
  }

  private async dialAndGreet(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw aborted('opening');
    this.setState('connecting');
    const dialStart = this.now();
    let stream: ByteStream;
    try {
      stream = await this.options.dialer.dial(signal);
    } catch (e) {
      this.setState('down');
      throw wrapError(e, 'E_LINK_DOWN', `dialling with ${this.options.dialer.kind} failed`, { retryable: true });
    }
    this.totals.sessions++;
    const t = this.timeouts;
    const machine = new SessionMachine({
      role: 'caller', centre: this.options.centre, chunkSize: this.options.profile.chunkBytes, receiver: this.inbound,
      rtoMs: t.rtoMs, maxRtoMs: t.maxRtoMs, checkpointMs: t.idleMs / 3,
    }, this.now());
    let call!: Call;
    // A serial port (and an SBD message queue) buffers what a socket's flow control would hold back: pace to the profile's rate there.
    const paced = this.options.dialer.kind === 'modem' || this.options.dialer.kind === 'sbd';
    const pacing = paced ? { bytesPerSecond: (this.options.profile.upKbps * 1000) / 8 } : undefined;
    const driver = new SessionDriver(stream, machine, { now: this.now, events: (ev) => this.onEvents(call, ev), ended: (e) => this.ended(call, e) }, pacing);
    call = { stream, machine, driver, dialStart, waiters: new Map(), welcomed: deferred(), ended: false, watchFrom: this.now() };
    this.call = call;
    call.driver.kick();
    const onAbort = () => call.welcomed.reject(aborted('opening'));
    signal?.addEventListener('abort', onAbort, { once: true });
    // A dialer that connected although the caller gave up meanwhile: hang up rather than wait for the Welcome.
    if (signal?.aborted) onAbort();
    const timer = setTimeout(() => call.welcomed.reject(new TamtamError('E_LINK_DOWN', `the hub did not welcome the call within ${t.welcomeMs} ms; check it runs its stream endpoint`, { retryable: true })), t.welcomeMs);
    try {
      await call.welcomed.promise;
    } catch (e) {
      await this.hangUp(call, e as TamtamError);
      throw e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    const limitMs = this.options.profile.maxSessionSeconds * 1000 - (this.now() - dialStart);
    call.limitTimer = setTimeout(() => void this.hangUpAtLimit(call), Math.max(0, limitMs));
    this.armWatchdog(call);
    this.setState('up');
  }

  private onEvents(call: Call, events: SessionEvent[]): void {
    for (const e of events) {
      switch (e.kind) {
        case 'welcome': call.welcomed.resolve(); break;
        case 'refused': call.welcomed.reject(reasonError(e.welcome.reason, e.welcome.text, `the hub refused the call from ${this.options.centre}`)); break;
        case 'sent': this.totals.messagesUp++; this.settle(call, e.transferId); break;
        case 'failed': this.settle(call, e.transferId, e.error); break;
        case 'received':
          this.inbox.push({ call, transferId: e.transferId, sdc: e.sdc });
          void this.drain();
          break;
        case 'bye':
          // A Bye we did not ask for: the hub is going away; pending sends resume next call.
          if (!call.closing) void this.hangUp(call, reasonError(e.bye.reason, e.bye.text, 'the hub ended the call'));
          break;
        case 'error': this.report(e.error); break;
        default: break;
      }
    }
    this.changed.notify();
  }

  private settle(call: Call, transferId: number, error?: TamtamError): void {
    const set = call.waiters.get(transferId);
    call.waiters.delete(transferId);
    for (const w of set ?? []) (error ? w.reject(error) : w.resolve());
  }

  private inboxBusy(call: Call): boolean {
    return this.draining !== undefined || this.inbox.some((i) => i.call === call);
  }

  /** One receipt at a time, in arrival order, as the agent applies them to its journal. */
  private drain(): Promise<void> {
    this.draining ??= this.handleInbox().finally(() => {
      this.draining = undefined;
      this.changed.notify();
      if (this.handler && this.inbox.length > 0) void this.drain();
    });
    return this.draining;
  }

  private async handleInbox(): Promise<void> {
    while (this.handler && this.inbox.length > 0) {
      const item = this.inbox.shift() as Inbound;
      const live = () => (this.call === item.call && !item.call.ended ? item.call : undefined);
      try {
        await this.handler(item.sdc);
      } catch (e) {
        this.report(new TamtamError('E_INTERNAL', `handling a message from the hub failed: ${(e as Error).message}; it was not confirmed, so the hub offers it again next session`, { cause: e, retryable: true }));
        const call = live();
        if (call) {
          call.machine.declined(item.transferId, 'the agent could not apply it now');
          call.driver.kick();
        } else this.inbound.declined(item.transferId, '');
        continue;
      }
      this.totals.messagesDown++;
      const call = live();
      if (call) {
        call.machine.taken(item.transferId);
        call.driver.kick();
      } else this.inbound.taken(item.transferId);
    }
  }

  private armWatchdog(call: Call): void {
    const check = () => {
      if (call.ended) return;
      const quietSince = Math.max(call.machine.lastHeardAt, call.watchFrom);
      const due = quietSince + this.timeouts.idleMs;
      const now = this.now();
      const busy = call.waiters.size > 0 || call.machine.outstanding();
      if (now < due || !busy) {
        if (!busy) call.watchFrom = now;
        call.watchdog = setTimeout(check, Math.max(1, now < due ? due - now : this.timeouts.idleMs));
        return;
      }
      void this.hangUp(call, new TamtamError('E_LINK_DOWN', `nothing heard from the hub for ${Math.round((now - quietSince) / 1000)} s with work outstanding; the call is presumed dead and is hung up`, { retryable: true }));
    };
    call.watchdog = setTimeout(check, this.timeouts.idleMs);
  }

  private async hangUpAtLimit(call: Call): Promise<void> {
    if (call.ended) return;
    call.machine.bye(SessionReason.SessionLimit, 'session time limit');
    call.driver.kick();
    await call.driver.idle(Math.min(2000, this.timeouts.closeGraceMs));
    await this.hangUp(call, new TamtamError('E_LINK_DOWN', `the call reached the profile's limit of ${this.options.profile.maxSessionSeconds} s and was hung up; the next call resumes what was left`, { retryable: true }));
  }

  private async hangUp(call: Call, reason: TamtamError): Promise<void> {
    call.endReason ??= reason;
    if (!call.ended) await call.stream.close().catch(() => undefined);
    // A stream whose close() does not report its end still ends the call here.
    this.ended(call, undefined);
  }

  /** The stream ended: by our hang-up, or dropped (error). */
  private ended(call: Call, error: TamtamError | undefined): void {
    if (call.ended) return;
    call.ended = true;
    clearTimeout(call.limitTimer);
    clearTimeout(call.watchdog);
    call.driver.stop();
    const now = this.now();
    const use = { bytesUp: call.driver.bytesOut, bytesDown: call.driver.bytesIn, seconds: (now - call.dialStart) / 1000 };
    const s = call.machine.stats();
    Object.assign(this.totals, {
      bytesUp: this.totals.bytesUp + use.bytesUp, bytesDown: this.totals.bytesDown + use.bytesDown, airtimeMs: this.totals.airtimeMs + (now - call.dialStart),
      costUsd: this.totals.costUsd + sessionCost(this.options.profile, use), bytesDropped: this.totals.bytesDropped + s.parser.bytesDropped,
      crcErrors: this.totals.crcErrors + s.parser.crcErrors, resent: this.totals.resent + s.resent,
    });
    const why = call.endReason ?? error ?? new TamtamError('E_LINK_DOWN', 'the call ended', { retryable: true });
    const pending = why.code === 'E_LINK_DOWN' && why.retryable
      ? why
      : new TamtamError('E_LINK_DOWN', `the call ended before the hub took it (${why.message}); it is sent again next session, resuming where it stopped`, { retryable: true, cause: why });
    for (const id of [...call.waiters.keys()]) this.settle(call, id, pending);
    call.welcomed.reject(call.endReason ?? error ?? new TamtamError('E_LINK_DOWN', 'the call ended before the hub welcomed it', { retryable: true }));
    this.inbound.sessionEnded(call.machine.byeSent && call.machine.peerSaidBye);
    if (this.call === call) {
      this.call = undefined;
      this.setState('down');
    }
    this.changed.notify();
  }

  private async until(cond: () => boolean, ms: number): Promise<void> {
    const deadline = this.now() + ms;
    while (!cond()) {
      const left = deadline - this.now();
      if (left <= 0) return;
      await this.changed.wait(left);
    }
  }

  private setState(s: LinkState): void {
    if (this.st === s) return;
    this.st = s;
    for (const l of this.stateListeners) l(s);
  }

  private report(e: TamtamError): void {
    for (const l of this.errorListeners) l(e);
  }
}

function aborted(what: string): TamtamError {
  return new TamtamError('E_ABORTED', `${what} was cancelled by the caller`);
}
