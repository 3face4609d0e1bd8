import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { readDirectIpMessage } from '../../common/directip-reader.js';
import { TamtamError, wrapError } from '../../protocol/errors.js';
import { decodeMo, encodeMoConfirmation, MoSessionStatus } from '../../protocol/sbd/directip.js';
import { listenOn, closeServer } from '../../common/tcp-listen.js';

export interface MoDelivery {
  imei: string;
  momsn: number;
  mtmsn: number;
  sessionStatus: number;
  /** Empty when the session carried none (a mailbox check). */
  payload: Uint8Array;
  /** Time of session, ms since 1970. */
  time: number;
}

export interface DirectIpServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0: any free port, read it from `port` once started. */
  port: number;
  /** Resolves once the MO is kept for good: only then is it confirmed to the gateway. */
  onMo: (mo: MoDelivery) => Promise<void>;
  /** Garbage, timeouts, handler failures: the server carries on. */
  onError?: (e: TamtamError) => void;
  /** Largest DirectIP message read. Default 4096 (an MO of a 9522B is under 2 KB). */
  maxMessageBytes?: number;
  /** A connection must deliver its whole message within this. Default 10 s. */
  readTimeoutMs?: number;
}

/**
 * The hub's DirectIP MO endpoint: the Iridium gateway connects once per MO
 * message, sends it, waits for the MO confirmation and closes. A confirmation
 * with status 0 (or none) makes the gateway deliver the message again later.
 */
export class DirectIpServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly host: string;

  constructor(private readonly o: DirectIpServerOptions) {
    this.host = o.host ?? '127.0.0.1';
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((socket) => void this.onConnection(socket));
    await listenOn(server, 'the DirectIP MO server', this.host, this.o.port);
    server.on('error', (e) => this.report(wrapError(e, 'E_IO', 'the DirectIP MO server socket failed')));
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await closeServer(server, this.sockets);
  }

  private async onConnection(socket: Socket): Promise<void> {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
    let ok = false;
    try {
      const bytes = await readDirectIpMessage(socket, { maxBytes: this.o.maxMessageBytes ?? 4096, timeoutMs: this.o.readTimeoutMs ?? 10_000 }, peer);
      const mo = decodeMo(bytes);
      if (mo.sessionStatus <= MoSessionStatus.BadLocation) {
        await this.o.onMo({ imei: mo.imei, momsn: mo.momsn, mtmsn: mo.mtmsn, sessionStatus: mo.sessionStatus, payload: mo.payload ?? new Uint8Array(0), time: mo.time * 1000 });
      }
      ok = true;
    } catch (e) {
      const err = wrapError(e, 'E_INTERNAL', `an MO message from ${peer} was not taken: ${(e as Error).message}; the gateway delivers it again`);
      this.report(new TamtamError(err.code, `DirectIP MO from ${peer}: ${err.message}`, { cause: err, retryable: err.retryable }));
    }
    if (socket.destroyed) return;
    socket.end(encodeMoConfirmation(ok));
    setTimeout(() => socket.destroy(), 2000).unref();
  }

  private report(e: TamtamError): void {
    this.o.onError?.(e);
  }
}
