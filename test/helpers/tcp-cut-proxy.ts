import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { seededRandom as prng } from './acts.js';

/** What the proxy does to one connection. */
export interface ProxyPlan {
  /** Cut the call (both sockets destroyed) once this many bytes went up through it; exactly that many arrive. */
  cutAfterUp?: number;
  /** Likewise, counting bytes going down. */
  cutAfterDown?: number;
  /** Rate each way, bytes a second; 0 or absent: as fast as the sockets go. */
  bytesPerSecond?: number;
  /** Added one-way delay. */
  delayMs?: number;
  /** Bit error rate on forwarded bytes, both ways. */
  ber?: number;
  /** Probability, per piece forwarded, of garbage (1–40 random bytes) before it. */
  noise?: number;
  /** Forward nothing more, close nothing: a call that died without a hang-up. */
  blackhole?: boolean;
}

export interface ProxyStats {
  connections: number;
  up: number;
  down: number;
  flippedBits: number;
  noiseBytes: number;
  cuts: number;
}


const PIECE = 512;

/**
 * A test-only TCP man in the middle between a StreamLink and a
 * StreamReceiver on 127.0.0.1: it can cut a connection after an exact byte
 * count, throttle, delay, flip bits and add noise, per connection.
 */
export class TcpCutProxy {
  readonly stats: ProxyStats = { connections: 0, up: 0, down: 0, flippedBits: 0, noiseBytes: 0, cuts: 0 };
  private server: Server | undefined;
  private readonly live = new Set<Socket>();
  private readonly rng: () => number;
  private cutWaiters: (() => void)[] = [];

  /** `plan(n)` for the n-th connection, counting from 0. */
  constructor(private readonly target: { host: string; port: number }, private plan: (index: number) => ProxyPlan = () => ({}), seed = 1) {
    this.rng = prng(seed);
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  setPlan(plan: (index: number) => ProxyPlan): void {
    this.plan = plan;
  }

  async start(): Promise<void> {
    const server = createServer((client) => this.onClient(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
  }

  /** Drops every connection now, as a lost carrier does. */
  cutAll(): void {
    for (const s of this.live) s.destroy();
  }

  /** Resolves at the next cut made by a plan. */
  nextCut(): Promise<void> {
    return new Promise((resolve) => this.cutWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.cutAll();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private onClient(client: Socket): void {
    const plan = this.plan(this.stats.connections++);
    const upstream = connect(this.target);
    for (const s of [client, upstream]) {
      this.live.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.live.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    const cut = () => {
      this.stats.cuts++;
      client.destroy();
      upstream.destroy();
      for (const w of this.cutWaiters.splice(0)) w();
    };
    this.pipe(client, upstream, plan, plan.cutAfterUp, 'up', cut);
    this.pipe(upstream, client, plan, plan.cutAfterDown, 'down', cut);
  }

  private pipe(from: Socket, to: Socket, plan: ProxyPlan, cutAfter: number | undefined, dir: 'up' | 'down', cut: () => void): void {
    let passed = 0;
    let freeAt = 0;
    let queued = 0;
    // One ordered queue a direction: pieces leave at their time, in order, whatever the rate and delay.
    const queue: { at: number; bytes: Uint8Array; then?: () => void }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const drain = () => {
      timer = undefined;
      const now = Date.now();
      while (queue.length > 0 && queue[0].at <= now) {
        const q = queue.shift() as (typeof queue)[number];
        queued -= q.bytes.length;
        if (!to.destroyed && q.bytes.length > 0) to.write(q.bytes);
        q.then?.();
      }
      if (queued < 65536 && from.isPaused()) from.resume();
      if (queue.length > 0) timer = setTimeout(drain, queue[0].at - now);
    };
    const enqueue = (bytes: Uint8Array, then?: () => void) => {
      const rate = plan.bytesPerSecond ?? 0;
      const now = Date.now();
      freeAt = Math.max(now, freeAt) + (rate > 0 ? (bytes.length / rate) * 1000 : 0);
      queue.push({ at: freeAt + (plan.delayMs ?? 0), bytes, then });
      queued += bytes.length;
      timer ??= setTimeout(drain, Math.max(0, queue[0].at - now));
    };
    from.on('data', (chunk: Buffer) => {
      if (plan.blackhole || to.destroyed) return;
      let bytes = new Uint8Array(chunk);
      const cutHere = cutAfter !== undefined && passed + bytes.length >= cutAfter;
      if (cutHere) bytes = bytes.subarray(0, (cutAfter as number) - passed);
      passed += bytes.length;
      this.stats[dir] += bytes.length;
      for (let at = 0; at < bytes.length; at += PIECE) enqueue(this.damage(bytes.slice(at, at + PIECE), plan));
      if (cutHere) {
        from.removeAllListeners('data');
        enqueue(new Uint8Array(0), () => to.end(() => cut()));
      }
      if (queued >= 65536) from.pause();
    });
  }

  private damage(piece: Uint8Array, plan: ProxyPlan): Uint8Array {
    if (plan.ber) {
      const ln = Math.log(1 - plan.ber);
      for (let bit = Math.floor(Math.log(1 - this.rng()) / ln); bit < piece.length * 8; bit += 1 + Math.floor(Math.log(1 - this.rng()) / ln)) {
        piece[bit >>> 3] ^= 0x80 >>> (bit & 7);
        this.stats.flippedBits++;
      }
    }
    if (plan.noise && this.rng() < plan.noise) {
      const n = 1 + Math.floor(this.rng() * 40);
      const out = new Uint8Array(n + piece.length);
      for (let i = 0; i < n; i++) out[i] = Math.floor(this.rng() * 256);
      out.set(piece, n);
      this.stats.noiseBytes += n;
      return out;
    }
    return piece;
  }
}
