import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { TamtamError } from '../protocol/errors.js';
import { backoffDelay, type Backoff, type Delivery, type MqttSessionOptions, type SessionEvents, type SessionState, type SessionUsage } from './mqtt-session-options.js';

export { backoffDelay, type Backoff, type Delivery, type MqttSessionOptions, type SessionEvents, type SessionState, type SessionUsage } from './mqtt-session-options.js';

interface Pending {
  client: MqttClient;
  fail(e: TamtamError): void;
}

// mqtt.js sends PUBACK when handleMessage's callback gets no error; an error skips it and lets the next packet in.
const DEFERRED = new Error('acknowledged later by the session owner');
type PacketSender = { _sendPacket(packet: object, cb?: () => void, cbStorePut?: () => void, noStore?: boolean): void };

// require, not import: importing a CommonJS package makes Node scan its sources for export names, and on mqtt.js that scan
// runs hot enough to be optimised by TurboFan, whose compiler memory (about 7 MB) the process then keeps for good.
const { connect } = createRequire(import.meta.url)('mqtt') as typeof import('mqtt');

const linkDown = (message: string, cause?: unknown) => new TamtamError('E_LINK_DOWN', message, { retryable: true, cause });
const aborted = () => new TamtamError('E_ABORTED', 'aborted by the caller');

/**
 * One MQTT identity kept connected, shared by the agent's link and the hub's
 * receiver: a new mqtt.js client per network session (so nothing of a dead
 * session, such as a packet id, leaks into the next), reconnection with
 * backoff, and inbound QoS 1 messages acknowledged by the caller, late.
 */
export class MqttSession {
  private stateNow: SessionState = 'down';
  private current: MqttClient | undefined;
  private attempting: MqttClient | undefined;
  private connecting: Promise<void> | undefined;
  private stopper = new AbortController();
  private wanted = false;
  private streak = 0;
  private upSince = 0;
  private opening = false;
  private lastError: TamtamError | undefined;
  private readonly pending = new Set<Pending>();
  private readonly counts: SessionUsage = { bytesUp: 0, bytesDown: 0, messagesUp: 0, messagesDown: 0, sessions: 0 };
  private readonly upWaiters = new Set<() => void>();
  private readonly backoff: Backoff;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(
    private readonly opts: MqttSessionOptions,
    private readonly events: SessionEvents,
  ) {
    this.backoff = { initialMs: opts.backoff?.initialMs ?? 1000, maxMs: opts.backoff?.maxMs ?? 120_000 };
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
  }

  get state(): SessionState {
    return this.stateNow;
  }

  /** Connects, retrying with backoff until openTimeoutMs; once up, reconnects by itself until close(). A failed open leaves it down. */
  async open(signal?: AbortSignal): Promise<void> {
    if (this.stateNow === 'up') return;
    if (signal?.aborted) throw aborted();
    this.wanted = true;
    if (this.stopper.signal.aborted) this.stopper = new AbortController();
    if (!this.connecting) this.connecting = this.loop().finally(() => (this.connecting = undefined));
    const timeoutMs = this.opts.openTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    let onUp: (() => void) | undefined;
    this.opening = true;
    try {
      await Promise.race([
        this.connecting,
        new Promise<void>((resolve) => this.upWaiters.add((onUp = resolve))),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(linkDown(`could not connect to the MQTT broker at ${this.opts.url} within ${timeoutMs} ms${this.lastErrorText()}; check the URL, that the broker runs and that this machine can reach it`)), timeoutMs);
          onAbort = () => reject(aborted());
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
      if ((this.stateNow as SessionState) !== 'up') throw linkDown(`the link to ${this.opts.url} was closed while opening`);
    } catch (e) {
      await this.close();
      throw e;
    } finally {
      this.opening = false;
      clearTimeout(timer);
      if (onUp) this.upWaiters.delete(onUp);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Resolves on the broker's PUBACK; rejects with E_LINK_DOWN (retryable) if the session drops first, E_ABORTED on the signal. */
  publish(topic: string, payload: Uint8Array, signal?: AbortSignal): Promise<void> {
    const client = this.current;
    if (signal?.aborted) return Promise.reject(aborted());
    // Allowed from CONNACK on, before our SUBSCRIBE is answered: the hub answers messages the broker kept for it at once.
    if (!client) return Promise.reject(linkDown(`the MQTT link to ${this.opts.url} is ${this.stateNow}; send again when it is up`));
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (e?: TamtamError) => {
        if (done) return;
        done = true;
        this.pending.delete(entry);
        signal?.removeEventListener('abort', onAbort);
        if (e) return reject(e);
        this.counts.messagesUp++;
        this.streak = 0;
        resolve();
      };
      const entry: Pending = { client, fail: finish };
      const onAbort = () => finish(aborted());
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.add(entry);
      client.publish(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: 1 }, (err) => {
        if (!err) return finish();
        const code = (err as { code?: number }).code;
        if (code !== undefined && code >= 0x80) return finish(new TamtamError('E_CONFIG', `the broker refused the message on ${topic} (reason ${code}: ${err.message}); check the broker's access rules for this account`, { cause: err }));
        finish(linkDown(`the MQTT session dropped before the broker acknowledged the message on ${topic}; it will be sent again`, err));
      });
    });
  }

  /**
   * Drops the session `from` came on (if it still lives) and reconnects after a
   * growing delay, so the broker sends again what was not acknowledged.
   */
  recycle(from: Delivery): void {
    if (!from.live()) return;
    this.streak++;
    this.current?.end(true);
  }

  usage(): SessionUsage {
    const live = [this.current, this.attempting].map((c) => this.socketCounts(c));
    return { ...this.counts, bytesUp: this.counts.bytesUp + live[0].up + live[1].up, bytesDown: this.counts.bytesDown + live[0].down + live[1].down };
  }

  async close(): Promise<void> {
    this.wanted = false;
    this.stopper.abort();
    this.attempting?.end(true);
    const client = this.current;
    this.failPending(client, 'the link was closed before the broker acknowledged the message; it will be sent again');
    if (client) {
      // A clean DISCONNECT keeps the broker's logs quiet; a dead broker must not hold close() up.
      const graceful = client.connected ? client.endAsync(false) : Promise.resolve();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([graceful, new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
      client.end(true);
    }
    await this.connecting?.catch(() => undefined);
    this.setState('down');
  }

  private async loop(): Promise<void> {
    for (let attempt = 0; this.wanted; attempt++) {
      if (attempt > 0 || this.streak > 0) {
        try {
          await sleep(backoffDelay(this.streak + attempt, this.backoff, this.random), undefined, { signal: this.stopper.signal });
        } catch {
          return;
        }
      }
      if (!this.wanted) return;
      this.setState('connecting');
      try {
        await this.attempt();
        return;
      } catch (e) {
        this.lastError = e as TamtamError;
        if (this.opening && !this.lastError.retryable) throw this.lastError;
        this.events.error?.(this.lastError);
      }
    }
  }

  private lastErrorText(): string {
    return this.lastError ? ` (last error: ${this.lastError.message})` : '';
  }

  private attempt(): Promise<void> {
    const o = this.opts;
    const v5 = o.protocolVersion === 5;
    const client = connect(o.url, {
      clientId: o.clientId,
      clean: false,
      protocolVersion: o.protocolVersion ?? 4,
      reconnectPeriod: 0,
      keepalive: o.keepaliveSec ?? 60,
      connectTimeout: o.connectTimeoutMs ?? 30_000,
      resubscribe: false,
      // Otherwise mqtt-packet keeps 65,536 two-byte Buffers for packet ids (about 7 MB of heap) for as long as the process lives.
      writeCache: false,
      ...(o.username !== undefined ? { username: o.username, password: o.password } : {}),
      ...(v5 ? { properties: { sessionExpiryInterval: o.sessionExpirySec ?? 0xffffffff, ...(o.receiveMaximum ? { receiveMaximum: o.receiveMaximum } : {}) } } : {}),
      ...o.tls,
    });
    this.attempting = client;
    client.handleMessage = (packet, callback) => {
      this.inbound(client, packet);
      callback(DEFERRED);
    };
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let up = false;
      const fail = (e: TamtamError) => {
        if (settled) return;
        settled = true;
        if (this.attempting === client) this.attempting = undefined;
        if (this.current === client) this.current = undefined;
        client.end(true);
        reject(e);
      };
      client.on('error', (e) => {
        const code = (e as { code?: number | string }).code;
        if (code === 4 || code === 5 || code === 134 || code === 135) {
          fail(new TamtamError('E_LINK_DOWN', `the broker at ${o.url} refused the credentials of '${o.username ?? '(anonymous)'}' (code ${code}); check the user name and password of this centre`, { cause: e }));
        } else fail(linkDown(`cannot connect to the MQTT broker at ${o.url}: ${e.message}`, e));
      });
      client.once('close', () => {
        this.addSocketCounts(client);
        if (up) return this.lost(client);
        fail(linkDown(`the broker at ${o.url} closed the connection before accepting it`));
      });
      client.once('connect', (connack) => {
        this.attempting = undefined;
        if (!this.wanted) return fail(linkDown('the link was closed while connecting'));
        this.current = client;
        this.counts.sessions++;
        const subscribe = (connack.sessionPresent && !o.subscribeEverySession) || o.subscriptions.length === 0 ? Promise.resolve([]) : client.subscribeAsync(o.subscriptions, { qos: 1 });
        subscribe.then(
          (grants) => {
            const refused = grants.filter((g) => g.qos >= 0x80).map((g) => g.topic);
            if (refused.length > 0) return fail(new TamtamError('E_CONFIG', `the broker at ${o.url} refused the subscription to ${refused.join(', ')}; check its access rules for '${o.username ?? '(anonymous)'}'`));
            if (settled) return;
            settled = up = true;
            this.upSince = this.now();
            this.setState('up');
            resolve();
          },
          (e: Error) => fail(linkDown(`subscribing at ${o.url} failed: ${e.message}`, e)),
        );
      });
    });
  }

  private inbound(client: MqttClient, packet: IPublishPacket): void {
    this.counts.messagesDown++;
    let acked = packet.qos === 0;
    const live = () => this.current === client && client.connected;
    this.events.message({
      topic: packet.topic,
      payload: new Uint8Array(packet.payload as Buffer),
      duplicate: packet.dup === true,
      live,
      ack: () => {
        if (acked) return true;
        if (!live()) return false;
        acked = true;
        (client as unknown as PacketSender)._sendPacket({ cmd: 'puback', messageId: packet.messageId }, undefined, undefined, true);
        this.streak = 0;
        return true;
      },
    });
  }

  private lost(client: MqttClient): void {
    if (this.current !== client) return;
    this.current = undefined;
    if (this.now() - this.upSince >= (this.opts.stableAfterMs ?? 30_000)) this.streak = 0;
    this.failPending(client, 'the MQTT session dropped before the broker acknowledged the message; it will be sent again');
    if (!this.wanted) return this.setState('down');
    this.setState('connecting');
    if (!this.connecting) this.connecting = this.loop().finally(() => (this.connecting = undefined));
  }

  private failPending(client: MqttClient | undefined, message: string): void {
    for (const p of [...this.pending]) if (p.client === client || client === undefined) p.fail(linkDown(message));
  }

  private socketCounts(client: MqttClient | undefined): { up: number; down: number } {
    const s = client?.stream as Partial<Socket> | undefined;
    return { up: s?.bytesWritten ?? 0, down: s?.bytesRead ?? 0 };
  }

  private addSocketCounts(client: MqttClient): void {
    const c = this.socketCounts(client);
    this.counts.bytesUp += c.up;
    this.counts.bytesDown += c.down;
  }

  private setState(state: SessionState): void {
    if (state === this.stateNow) return;
    this.stateNow = state;
    if (state === 'up') for (const w of [...this.upWaiters]) w();
    this.events.state?.(state);
  }
}
