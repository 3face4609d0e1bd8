import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { directIpExchange, readDirectIpMessage } from '../../common/directip-reader.js';
import { TamtamError, wrapError } from '../../protocol/errors.js';
import { decodeMoConfirmation, decodeMt, encodeMo, encodeMtConfirmation, isImei, MoSessionStatus, MtFlags, MtStatus, type MtMessage } from '../../protocol/sbd/directip.js';
import { SBD_MT_MAX } from '../../protocol/sbd/sbd-frames.js';
import { listenOn, closeServer } from '../../common/tcp-listen.js';

/** What a 9602/9603 simulator needs of the gateway at each SBDIX. */
export interface SbdGatewayPort {
  /** Delivers an MO to the hub; resolves once the hub confirmed it, rejects (E_LINK_DOWN) if it could not. */
  mo(imei: string, momsn: number, payload: Uint8Array): Promise<void>;
  /** The next queued MT for the modem, with how many are still queued behind it. */
  mt(imei: string): Promise<{ payload: Uint8Array; queued: number } | undefined>;
}

export interface SbdGatewayOptions {
  /** The hub's DirectIP MO server. */
  hub: { host: string; port: number };
  /** The simulator's DirectIP MT server; 0 = any free port. Default 0. */
  mtPort?: number;
  /** Provisioned IMEIs; others get status −2 (unknown IMEI). Default: any 15-digit IMEI. */
  imeis?: Iterable<string>;
  /** MT queue per IMEI. Default 50, as the real gateway. */
  queueLimit?: number;
  /** Largest MT payload. Default 270 (9602/9603). */
  mtMaxBytes?: number;
  /** Added before each MO delivery and each MT pop. Default 0. */
  latencyMs?: number;
  /** Return true to lose this MO in space: mo() rejects and the hub never sees it. */
  loseMo?: (imei: string, momsn: number) => boolean;
  now?: () => number;
  /** Each MT queued for a modem, with the queue's length after it: lets a test wait for the hub's answer. */
  onMtQueued?: (imei: string, queued: number) => void;
}

/**
 * An Iridium gateway for tests and the demo: MO messages go to the hub over
 * DirectIP like the real one (one connection each, confirmation awaited);
 * the hub's MT messages arrive on a DirectIP MT server and wait per IMEI
 * until the modem's next session takes them.
 */
export class SbdGateway implements SbdGatewayPort {
  readonly delivered: { imei: string; momsn: number; bytes: number }[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly queues = new Map<string, Uint8Array[]>();
  private readonly provisioned: Set<string> | undefined;
  private readonly now: () => number;
  private cdr = 1;
  private autoId = 1;

  constructor(private readonly o: SbdGatewayOptions) {
    this.provisioned = o.imeis ? new Set(o.imeis) : undefined;
    this.now = o.now ?? Date.now;
  }

  get mtPort(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  provision(imei: string): void {
    this.provisioned?.add(imei);
  }

  queued(imei: string): number {
    return this.queues.get(imei)?.length ?? 0;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((socket) => void this.onMt(socket));
    await listenOn(server, 'the SBD gateway simulator', '127.0.0.1', this.o.mtPort ?? 0);
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await closeServer(server, this.sockets);
  }

  async mo(imei: string, momsn: number, payload: Uint8Array): Promise<void> {
    await this.delay();
    if (this.o.loseMo?.(imei, momsn)) throw new TamtamError('E_LINK_DOWN', `MO ${momsn} of ${imei} was lost on the way (simulated)`, { retryable: true });
    const message = encodeMo({
      cdrReference: this.cdr++, imei, sessionStatus: MoSessionStatus.Success, momsn: momsn & 0xffff, mtmsn: 0, time: Math.floor(this.now() / 1000), payload,
    });
    const answer = await directIpExchange(this.o.hub.host, this.o.hub.port, message, { maxBytes: 64, timeoutMs: 15_000 });
    let ok: boolean;
    try {
      ok = decodeMoConfirmation(answer);
    } catch (e) {
      throw wrapError(e, 'E_MALFORMED', 'the hub answered an MO with something that is not an MO confirmation', { retryable: true });
    }
    if (!ok) throw new TamtamError('E_LINK_DOWN', `the hub did not confirm MO ${momsn} of ${imei}; the gateway would deliver it again`, { retryable: true });
    this.delivered.push({ imei, momsn, bytes: payload.length });
  }

  async mt(imei: string): Promise<{ payload: Uint8Array; queued: number } | undefined> {
    await this.delay();
    const q = this.queues.get(imei);
    const payload = q?.shift();
    return payload ? { payload, queued: q?.length ?? 0 } : undefined;
  }

  private async onMt(socket: Socket): Promise<void> {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
    let mt: MtMessage;
    try {
      mt = decodeMt(await readDirectIpMessage(socket, { maxBytes: 4096, timeoutMs: 10_000 }, 'the hub'));
    } catch {
      socket.end(encodeMtConfirmation({ clientMessageId: 0, imei: '', autoIdReference: 0, status: MtStatus.ProtocolViolation }));
      return;
    }
    const status = this.enqueue(mt);
    if (status > 0) this.o.onMtQueued?.(mt.imei, status);
    socket.end(encodeMtConfirmation({ clientMessageId: mt.clientMessageId, imei: mt.imei, autoIdReference: status >= 0 ? this.autoId++ : 0, status }));
  }

  /** The MT confirmation status the real gateway gives for `mt`. */
  private enqueue(mt: MtMessage): number {
    if (!isImei(mt.imei)) return MtStatus.InvalidImei;
    if (this.provisioned && !this.provisioned.has(mt.imei)) return MtStatus.UnknownImei;
    const q = this.queues.get(mt.imei) ?? [];
    this.queues.set(mt.imei, q);
    if (mt.flags & MtFlags.FlushQueue) q.length = 0;
    if (!mt.payload) return mt.flags & (MtFlags.FlushQueue | MtFlags.RingAlert) ? 0 : MtStatus.PayloadMissing;
    if (mt.payload.length > (this.o.mtMaxBytes ?? SBD_MT_MAX)) return MtStatus.PayloadTooLarge;
    if (q.length >= (this.o.queueLimit ?? 50)) return MtStatus.QueueFull;
    q.push(mt.payload);
    return q.length;
  }

  private delay(): Promise<void> {
    const ms = this.o.latencyMs ?? 0;
    return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
  }
}
