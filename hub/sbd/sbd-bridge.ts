import type { ByteStream } from '../../common/byte-stream.js';
import { decodeFrame, encodeFrame, FrameType, type Frame } from '../../protocol/chunk/chunk-frame.js';
import { TamtamError, wrapError } from '../../protocol/errors.js';
import { MtFlags, type MtConfirmation } from '../../protocol/sbd/directip.js';
import { packSbdMessages, sbdFrameSize, SBD_MT_MAX, SBD_MT_MAX_CHUNK, unpackSbdMessage } from '../../protocol/sbd/sbd-frames.js';
import { decodeHello } from '../../protocol/session/index.js';
import type { StreamReceiver } from '../receivers/stream-receiver.js';
import type { MoDelivery } from './directip-server.js';

export interface SbdBridgeOptions {
  receiver: StreamReceiver;
  /** The centre of a modem; `findByImei` of hub/registry/centre-registry.ts. */
  registry: { findByImei(imei: string): Promise<{ matricule: string } | undefined> };
  /** The gateway's MT endpoint (a DirectIpClient). */
  mt: { send(imei: string, payload: Uint8Array, flags?: number): Promise<MtConfirmation> };
  /** A virtual call with nothing heard this long is ended. Default 15 min. */
  idleTimeoutMs?: number;
  /** Round trip assumed for re-asks: a modem polls for MT messages minutes apart. Default 60 s. */
  rttMs?: number;
  /** Wait before retrying an MT the gateway could not take now. Default 30 s. */
  mtRetryMs?: number;
  /** Frames written within this are packed into the same MT messages. Default 20 ms. */
  mtBatchMs?: number;
  onError?: (e: TamtamError) => void;
}

interface VirtualCall {
  imei: string;
  matricule: string;
  stream: ByteStream;
  deliver?: (bytes: Uint8Array) => void;
  closed?: (error?: TamtamError) => void;
  ended: boolean;
  /** The caller sent more than Hellos: a Hello from now on starts a new session. */
  pastHello: boolean;
  frames: Frame[];
  batch?: NodeJS.Timeout;
}

interface MtLine {
  queue: Uint8Array[];
  /** The next MT flushes the gateway's queue: what waits there belongs to an ended call. */
  flush: boolean;
  busy: boolean;
  retry?: NodeJS.Timeout;
}

/**
 * Runs stream sessions (FORMAT.md §14) over Iridium SBD. SBD has no
 * connection, so each IMEI gets a virtual call: MO payloads are unpacked into
 * frames and fed to the StreamReceiver as if read from a line, and the frames
 * the session writes are packed into MT messages queued at the gateway for
 * the modem's next session. Pass `onMo` to the DirectIpServer.
 */
export class SbdBridge {
  private readonly calls = new Map<string, VirtualCall>();
  private readonly lines = new Map<string, MtLine>();
  private readonly serial = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(private readonly o: SbdBridgeOptions) {}

  /** MOs of one IMEI are taken one at a time, in delivery order: the gateway may deliver the next before the last was confirmed. */
  readonly onMo = (mo: MoDelivery): Promise<void> => {
    const next = (this.serial.get(mo.imei) ?? Promise.resolve()).then(() => this.take(mo));
    const settled = next.catch(() => undefined);
    this.serial.set(mo.imei, settled);
    void settled.then(() => {
      if (this.serial.get(mo.imei) === settled) this.serial.delete(mo.imei);
    });
    return next;
  };

  private async take(mo: MoDelivery): Promise<void> {
    if (this.stopped) throw new TamtamError('E_LINK_DOWN', 'the SBD bridge is stopping', { retryable: true });
    if (mo.payload.length === 0) return;
    let frames: Frame[];
    try {
      frames = unpackSbdMessage(mo.payload);
    } catch (e) {
      // Delivered again it would be the same garbage: it is confirmed and dropped.
      return this.report(wrapError(e, 'E_MALFORMED', `MO ${mo.momsn} of IMEI ${mo.imei} is not an SBD frame message; dropped`));
    }
    const hello = frames.find((f) => f.type === FrameType.Hello);
    let call = this.calls.get(mo.imei);
    if (call && (call.ended || (hello && call.pastHello))) {
      void call.stream.close();
      call = undefined;
    }
    let matricule = call?.matricule;
    if (!matricule) {
      matricule = (await this.o.registry.findByImei(mo.imei))?.matricule;
      if (!matricule) {
        return this.report(new TamtamError('E_UNKNOWN_SIGNER', `MO ${mo.momsn} from IMEI ${mo.imei}: no centre has this IMEI; set it on the centre that owns the modem. Dropped`));
      }
    }
    if (hello && !this.helloMatches(mo.imei, matricule, hello)) return;
    call ??= this.open(mo.imei, matricule);
    if (frames.some((f) => f.type !== FrameType.Hello)) call.pastHello = true;
    const bytes = frames.map(encodeFrame);
    const joined = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
    bytes.reduce((pos, b) => (joined.set(b, pos), pos + b.length), 0);
    call.deliver?.(joined);
  }

  /** Ends every virtual call; MT messages not yet handed to the gateway are dropped (the sessions resume next time). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.calls.values()].map((c) => c.stream.close()));
    for (const line of this.lines.values()) clearTimeout(line.retry);
    this.lines.clear();
  }

  /** An IMEI is bound to its centre: a modem cannot open a session as another centre. */
  private helloMatches(imei: string, matricule: string, hello: Frame): boolean {
    let centre: string;
    try {
      centre = decodeHello(hello.payload).centre;
    } catch {
      return true;
    }
    if (centre === matricule) return true;
    this.report(new TamtamError('E_UNKNOWN_SIGNER', `IMEI ${imei} belongs to centre ${matricule} but said Hello as ${centre}; its MO was dropped`));
    return false;
  }

  private open(imei: string, matricule: string): VirtualCall {
    const line = this.line(imei);
    line.queue.length = 0;
    line.flush = true;
    const call: VirtualCall = { imei, matricule, ended: false, pastHello: false, frames: [], stream: undefined as unknown as ByteStream };
    const end = (): void => {
      if (call.ended) return;
      call.ended = true;
      this.flushFrames(call);
      if (this.calls.get(imei) === call) this.calls.delete(imei);
    };
    call.stream = {
      get closed() { return call.ended; },
      write: async (bytes) => {
        if (call.ended) throw new TamtamError('E_LINK_DOWN', `the SBD session of ${matricule} (IMEI ${imei}) has ended`, { retryable: true });
        call.frames.push(decodeFrame(bytes));
        call.batch ??= setTimeout(() => this.flushFrames(call), this.o.mtBatchMs ?? 20);
      },
      onData: (listener) => { call.deliver = listener; },
      onClose: (listener) => { call.closed = listener; },
      close: async () => {
        if (call.ended) return;
        end();
        call.closed?.();
      },
    };
    this.calls.set(imei, call);
    const done = this.o.receiver.acceptStream(call.stream, `sbd:${imei}`, {
      maxChunkBytes: SBD_MT_MAX_CHUNK, idleTimeoutMs: this.o.idleTimeoutMs ?? 15 * 60_000, helloTimeoutMs: this.o.idleTimeoutMs ?? 15 * 60_000, rttMs: this.o.rttMs ?? 60_000,
    });
    void done.finally(end);
    return call;
  }

  private flushFrames(call: VirtualCall): void {
    clearTimeout(call.batch);
    call.batch = undefined;
    const frames = call.frames.splice(0);
    if (frames.length === 0) return;
    const fitting = frames.filter((f) => {
      if (1 + sbdFrameSize(f, true) <= SBD_MT_MAX) return true;
      this.report(new TamtamError('E_TOO_LARGE', `a frame of ${f.payload.length} bytes for ${call.matricule} does not fit an MT message and was dropped; the agent's SBD chunk size must be at most ${SBD_MT_MAX_CHUNK}`));
      return false;
    });
    this.line(call.imei).queue.push(...packSbdMessages(fitting, SBD_MT_MAX));
    void this.pump(call.imei);
  }

  private line(imei: string): MtLine {
    let line = this.lines.get(imei);
    if (!line) {
      line = { queue: [], flush: false, busy: false };
      this.lines.set(imei, line);
    }
    return line;
  }

  /** One MT at a time per IMEI, in order: the gateway queues them for the modem in arrival order. */
  private async pump(imei: string): Promise<void> {
    const line = this.line(imei);
    if (line.busy || line.retry) return;
    line.busy = true;
    try {
      while (line.queue.length > 0 && !this.stopped) {
        const message = line.queue[0];
        const flushing = line.flush;
        line.flush = false;
        try {
          await this.o.mt.send(imei, message, flushing ? MtFlags.FlushQueue : 0);
        } catch (e) {
          const err = wrapError(e, 'E_LINK_DOWN', `MT for IMEI ${imei} failed`, { retryable: true });
          if (err.retryable) {
            line.flush ||= flushing;
            this.report(new TamtamError(err.code, `${err.message}; retrying in ${(this.o.mtRetryMs ?? 30_000) / 1000} s`, { cause: err, retryable: true }));
            line.retry = setTimeout(() => {
              line.retry = undefined;
              void this.pump(imei);
            }, this.o.mtRetryMs ?? 30_000);
            return;
          }
          this.report(new TamtamError(err.code, `${err.message}; that MT message was dropped (the session asks again for what it lacks)`, { cause: err }));
        }
        if (line.queue[0] === message) line.queue.shift();
      }
    } finally {
      line.busy = false;
    }
  }

  private report(e: TamtamError): void {
    this.o.onError?.(e);
  }
}
