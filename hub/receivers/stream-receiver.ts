import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { SessionDriver } from '../../common/session-driver.js';
import { socketByteStream } from '../../common/socket-byte-stream.js';
import type { ByteStream } from '../../common/byte-stream.js';
import type { TransferSnapshot } from '../../protocol/chunk/reassembler.js';
import { TamtamError, wrapError } from '../../protocol/errors.js';
import { SessionMachine, SessionReason, TransferReceiver, welcomeFrame, type SessionEvent } from '../../protocol/session/index.js';
import { MemoryOutboundStore, type OutboundStore } from './outbound-store.js';
import { TransferStateDir } from './transfer-state-dir.js';
import type { CentreState, HubCall } from './hub-call.js';
import { resolveStreamReceiverOptions, type CentreStatus, type ResolvedStreamReceiverOptions, type StreamCallTuning, type StreamReceiverOptions, type StreamReceiverStats } from './stream-receiver-options.js';
import { listenOn } from '../../common/tcp-listen.js';

export type { CentreStatus, StreamCallTuning, StreamReceiverOptions, StreamReceiverStats } from './stream-receiver-options.js';

/**
 * The hub's end of stream sessions: a TCP server taking calls (Iridium
 * RUDICS delivers a modem call as a TCP connection). Per call: Hello, centre
 * check, Status frames for what it already holds of that centre, Welcome;
 * then SDCs up, handed to `onUp` one at a time per centre, each answered
 * "complete" only once the handler committed; replies down as transfers,
 * removed from the OutboundStore only once the centre confirmed them.
 */
export class StreamReceiver {
  private server: Server | undefined;
  private readonly centres = new Map<string, CentreState>();
  private readonly calls = new Set<HubCall>();
  private readonly outbound: OutboundStore;
  private readonly stateDir: TransferStateDir | undefined;
  private readonly now: () => number;
  private readonly o: ResolvedStreamReceiverOptions;
  private stopping = false;
  private readonly counters = { connections: 0, refused: 0, sdcsTaken: 0, repliesDelivered: 0, bytesIn: 0, bytesOut: 0, bytesDropped: 0 };

  constructor(private readonly options: StreamReceiverOptions) {
    this.o = resolveStreamReceiverOptions(options);
    this.outbound = options.outbound ?? new MemoryOutboundStore();
    this.stateDir = options.stateDir ? new TransferStateDir(options.stateDir) : undefined;
    this.now = options.now ?? Date.now;
  }

  /** The bound port (useful with port 0), once started. */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    if (this.server) return;
    this.stopping = false;
    if (this.stateDir) {
      let saved: Map<string, TransferSnapshot[]>;
      try {
        saved = this.stateDir.load((e) => this.report(e));
      } catch (e) {
        throw wrapError(e, 'E_IO', `cannot read the stream receiver's state folder ${this.stateDir.dir}`);
      }
      for (const [matricule, snapshots] of saved) {
        const st = this.centre(matricule);
        for (const s of snapshots) {
          try {
            st.receiver.importTransfer(s);
          } catch (e) {
            this.report(wrapError(e, 'E_MALFORMED', `saved transfer ${s.transferId.toString(16)} of ${matricule} was skipped`));
          }
        }
      }
    }
    const server = createServer((socket) => this.onConnection(socket));
    await listenOn(server, 'the stream receiver', this.o.host, this.o.port);
    server.on('error', (e) => this.report(wrapError(e, 'E_IO', 'the stream receiver socket failed')));
    this.server = server;
  }

  stats(): StreamReceiverStats {
    const live = [...this.calls];
    const sum = (f: (c: HubCall) => number) => live.reduce((n, c) => n + f(c), 0);
    return {
      ...this.counters, activeCalls: live.length, bytesIn: this.counters.bytesIn + sum((c) => c.driver.bytesIn),
      bytesOut: this.counters.bytesOut + sum((c) => c.driver.bytesOut), bytesDropped: this.counters.bytesDropped + sum((c) => c.machine.stats().parser.bytesDropped),
    };
  }

  /**
   * Takes no new call, says Bye (ShuttingDown) on every call, lets the
   * handlers at work finish, ends the calls and saves what is held.
   */
  async stop(): Promise<void> {
    if (!this.server) return;
    this.stopping = true;
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.calls) {
      if (c.machine.state === 'open') {
        c.machine.bye(SessionReason.ShuttingDown, 'the hub is stopping');
        c.driver.kick();
      }
    }
    await Promise.all([...this.calls].map((c) => c.driver.idle(1000)));
    for (const c of this.calls) c.destroy();
    await Promise.all([...this.calls].map((c) => c.done));
    await Promise.all([...this.centres.values()].map((st) => st.handling));
    for (const st of this.centres.values()) this.save(st);
    await closed;
  }

  private onConnection(socket: Socket): void {
    this.counters.connections++;
    socket.on('error', () => undefined);
    const refusal = this.refusal();
    if (refusal) {
      socket.end(refusal);
      setTimeout(() => socket.destroy(), 5000).unref();
      return;
    }
    const call = this.openCall(socketByteStream(socket), `${socket.remoteAddress}`, { end: () => socket.end(), destroy: () => socket.destroy() }, {});
    socket.setTimeout(this.o.idleTimeoutMs, () => this.hangUp(call, SessionReason.Idle, `nothing heard for ${this.o.idleTimeoutMs / 1000} s`));
  }

  /**
   * Runs a session over any ByteStream: the TCP server's connections, the
   * virtual calls of Iridium SBD (hub/sbd/sbd-bridge.ts). `tuning` overrides
   * the receiver's options for this call (SBD: small chunks, long silences).
   * Resolves once the call has ended.
   */
  acceptStream(stream: ByteStream, peer: string, tuning: StreamCallTuning = {}): Promise<void> {
    this.counters.connections++;
    const refusal = this.refusal();
    if (refusal) {
      return stream.write(refusal).catch(() => undefined).then(() => stream.close());
    }
    const idleMs = tuning.idleTimeoutMs ?? this.o.idleTimeoutMs;
    let lastHeard = this.now();
    let timer: NodeJS.Timeout | undefined;
    const watch = (): void => {
      const left = lastHeard + idleMs - this.now();
      if (left > 0) timer = setTimeout(watch, left);
      else this.hangUp(call, SessionReason.Idle, `nothing heard for ${idleMs / 1000} s`);
    };
    const watched: ByteStream = {
      get closed() { return stream.closed; },
      write: (bytes) => { lastHeard = this.now(); return stream.write(bytes); },
      onData: (listener) => stream.onData((bytes) => { lastHeard = this.now(); listener(bytes); }),
      onClose: (listener) => stream.onClose((e) => { clearTimeout(timer); listener(e); }),
      close: () => stream.close(),
    };
    const call = this.openCall(watched, peer, { end: () => void stream.close(), destroy: () => void stream.close() }, tuning);
    timer = setTimeout(watch, idleMs);
    return call.done;
  }

  /** The Welcome that turns a call away, if the hub takes no call now. */
  private refusal(): Uint8Array | undefined {
    if (!this.stopping && this.calls.size < this.o.maxCalls) return undefined;
    this.counters.refused++;
    const why = this.stopping ? 'the hub is stopping' : `${this.o.maxCalls} calls are in progress`;
    return welcomeFrame({ reason: this.stopping ? SessionReason.ShuttingDown : SessionReason.Busy, text: why, chunkSize: 0, maxPayload: 0, partials: 0 });
  }

  private openCall(stream: ByteStream, peer: string, control: Pick<HubCall, 'end' | 'destroy'>, tuning: StreamCallTuning): HubCall {
    const rttMs = tuning.rttMs ?? this.o.rttMs;
    const idleMs = tuning.idleTimeoutMs ?? this.o.idleTimeoutMs;
    const rtoMs = 2 * rttMs + 500;
    const machine = new SessionMachine({
      role: 'answerer', chunkSize: Math.min(tuning.maxChunkBytes ?? this.o.maxChunkBytes, this.o.maxChunkBytes), rtoMs, maxRtoMs: Math.max(rtoMs, idleMs / 4), checkpointMs: idleMs / 4,
    }, this.now());
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    let call!: HubCall;
    const driver = new SessionDriver(stream, machine, {
      now: this.now,
      events: (events) => this.onEvents(call, events),
      ended: () => this.onCallEnded(call),
    });
    call = { stream, peer, ...control, machine, driver, down: new Map(), loadingOutbound: false, refusing: false, ended: false, done, finished, timers: [] };
    this.calls.add(call);
    call.timers.push(setTimeout(() => {
      if (!call.centre) this.hangUp(call, SessionReason.ProtocolError, 'no Hello');
    }, tuning.helloTimeoutMs ?? this.o.helloTimeoutMs));
    return call;
  }

  private onEvents(call: HubCall, events: SessionEvent[]): void {
    for (const e of events) {
      switch (e.kind) {
        case 'hello': void this.greet(call, e.hello.centre); break;
        case 'received': {
          const st = call.centre as CentreState;
          st.queue.push({ transferId: e.transferId, sdc: e.sdc });
          this.handle(st);
          break;
        }
        case 'sent': void this.delivered(call, e.transferId); break;
        case 'failed': {
          const ids = call.down.get(e.transferId) ?? new Set();
          call.down.delete(e.transferId);
          const centre = call.centre?.matricule ?? '?';
          if (!e.error.retryable) for (const id of ids) call.centre?.refusedReplies.add(id);
          this.report(new TamtamError(e.error.code, `${centre} did not take reply ${[...ids].join(', ')}: ${e.error.message}`, { cause: e.error, retryable: e.error.retryable }));
          break;
        }
        case 'error': this.report(new TamtamError(e.error.code, `call from ${call.centre?.matricule ?? call.peer}: ${e.error.message}`, { cause: e.error })); break;
        default: break;
      }
    }
    if (call.machine.state === 'refused' && !call.refusing) {
      // A Hello that could not be read was answered with a refusal: hang up once it is written.
      call.refusing = true;
      void call.driver.idle(1000).then(() => call.end());
    }
    this.maybeBye(call);
  }

  private async greet(call: HubCall, matricule: string): Promise<void> {
    let status: CentreStatus | 'unchecked';
    try {
      status = await this.options.centreStatus(matricule);
    } catch (e) {
      this.report(wrapError(e, 'E_INTERNAL', `cannot check centre ${matricule}; its call was refused as Busy`));
      status = 'unchecked';
    }
    if (call.ended) return;
    if (this.stopping) status = 'unchecked';
    if (status !== 'ok') {
      this.counters.refused++;
      call.refusing = true;
      const [reason, text] = status === 'unknown' ? [SessionReason.UnknownCentre, `centre ${matricule} is not enrolled at this hub`]
        : status === 'suspended' ? [SessionReason.Suspended, `centre ${matricule} is suspended`]
        : this.stopping ? [SessionReason.ShuttingDown, 'the hub is stopping'] : [SessionReason.Busy, 'the hub cannot check centres now'];
      call.machine.refuse(reason, text);
      call.driver.kick();
      await call.driver.idle(2000);
      call.end();
      return;
    }
    const st = this.centre(matricule);
    // A centre redials while the hub still holds its dropped call: the new call wins, after the old one has let go.
    const old = st.call;
    if (old && old !== call) {
      old.destroy();
      await old.done;
      if (call.ended) return;
    }
    st.call = call;
    call.centre = st;
    for (const t of call.timers.splice(0)) clearTimeout(t);
    call.machine.accept(st.receiver, this.now());
    call.driver.kick();
    call.loadingOutbound = true;
    try {
      for (const item of await this.outbound.pending(matricule)) if (!st.refusedReplies.has(item.id)) this.sendDown(call, item.id, item.payload);
    } catch (e) {
      this.report(wrapError(e, 'E_INTERNAL', `cannot read the replies waiting for ${matricule}; they go out on a later call`));
    } finally {
      call.loadingOutbound = false;
    }
    this.maybeBye(call);
  }

  /** SDCs of one centre, one at a time in arrival order, whichever call brought them. */
  private handle(st: CentreState): void {
    if (st.handling) return;
    st.handling = (async () => {
      while (st.queue.length > 0) {
        const { transferId, sdc } = st.queue.shift() as { transferId: number; sdc: Uint8Array };
        let reply: Uint8Array | undefined;
        let replyId: string | undefined;
        try {
          reply = (await this.options.onUp(st.matricule, sdc)).reply;
          if (reply) replyId = await this.outbound.put(st.matricule, reply);
        } catch (e) {
          const code = e instanceof TamtamError ? e.code : 'E_INTERNAL';
          this.report(new TamtamError(code, `an SDC from ${st.matricule} was not taken: ${(e as Error).message}; the hub keeps its bytes and takes it when the centre asks again`, { cause: e, retryable: true }));
          const live = this.liveCall(st);
          if (live) {
            live.machine.declined(transferId, `the hub could not take it now (${code})`);
            live.driver.kick();
          } else st.receiver.declined(transferId, '');
          continue;
        }
        this.counters.sdcsTaken++;
        const live = this.liveCall(st);
        if (live) {
          live.machine.taken(transferId);
          if (reply && replyId) this.sendDown(live, replyId, reply);
          live.driver.kick();
        } else {
          st.receiver.taken(transferId);
          this.save(st);
        }
      }
    })().finally(() => {
      st.handling = undefined;
      if (st.queue.length > 0) this.handle(st);
      const live = this.liveCall(st);
      if (live) this.maybeBye(live);
    });
  }

  private sendDown(call: HubCall, id: string, payload: Uint8Array): void {
    let transferId: number;
    try {
      transferId = call.machine.send(payload);
    } catch (e) {
      // The same transfer id for another reply (one in 4 billion): it goes out on a later call.
      this.report(wrapError(e, 'E_INTERNAL', `reply ${id} cannot go out on this call`));
      return;
    }
    const ids = call.down.get(transferId) ?? new Set<string>();
    ids.add(id);
    call.down.set(transferId, ids);
    call.driver.kick();
  }

  private async delivered(call: HubCall, transferId: number): Promise<void> {
    const ids = call.down.get(transferId);
    call.down.delete(transferId);
    const centre = call.centre as CentreState;
    for (const id of ids ?? []) {
      try {
        await this.outbound.delivered(centre.matricule, id);
        this.counters.repliesDelivered++;
      } catch (e) {
        this.report(wrapError(e, 'E_INTERNAL', `reply ${id} reached ${centre.matricule} but could not be marked delivered; it may be sent again`));
      }
    }
    this.maybeBye(call);
  }

  /** After the caller's Bye, the hub says Bye once nothing is left for it on this call; the caller then hangs up. */
  private maybeBye(call: HubCall): void {
    const st = call.centre;
    if (call.ended || !st || !call.machine.peerSaidBye || call.machine.byeSent) return;
    if (call.loadingOutbound || call.machine.sender.size > 0 || st.handling || st.queue.length > 0) return;
    call.machine.bye(SessionReason.None);
    call.driver.kick();
    call.timers.push(setTimeout(() => call.destroy(), 10_000));
  }

  private hangUp(call: HubCall, reason: number, text: string): void {
    if (call.ended) return;
    if (call.machine.state === 'open') {
      call.machine.bye(reason, text);
      call.driver.kick();
      void call.driver.idle(1000).then(() => call.destroy());
    } else call.destroy();
  }

  private onCallEnded(call: HubCall): void {
    if (call.ended) return;
    call.ended = true;
    for (const t of call.timers) clearTimeout(t);
    this.calls.delete(call);
    this.counters.bytesIn += call.driver.bytesIn;
    this.counters.bytesOut += call.driver.bytesOut;
    this.counters.bytesDropped += call.machine.stats().parser.bytesDropped;
    call.destroy();
    const st = call.centre;
    if (st && st.call === call) {
      st.call = undefined;
      st.receiver.sessionEnded(call.machine.peerSaidBye);
      this.save(st);
    }
    call.finished();
  }

  private liveCall(st: CentreState): HubCall | undefined {
    const c = st.call;
    return c && !c.ended && c.machine.state === 'open' ? c : undefined;
  }

  private centre(matricule: string): CentreState {
    let st = this.centres.get(matricule);
    if (!st) {
      const receiver = new TransferReceiver({
        maxTransfers: this.o.maxPartialsPerCentre, maxHeld: this.o.maxWaitingPerCentre, maxTotalSize: this.o.maxSdcBytes, maxPendingBytes: Math.min(this.o.maxSdcBytes, 1 << 20),
      });
      st = { matricule, receiver, queue: [], refusedReplies: new Set() };
      this.centres.set(matricule, st);
    }
    return st;
  }

  private save(st: CentreState): void {
    if (!this.stateDir) return;
    try {
      this.stateDir.save(st.matricule, st.receiver.exportTransfers());
    } catch (e) {
      this.report(wrapError(e, 'E_IO', `cannot save the partial transfers of ${st.matricule}`));
    }
  }

  private report(e: TamtamError): void {
    this.options.onError?.(e);
  }
}
