import { MqttSession, type Delivery, type MqttSessionOptions } from '../../common/mqtt-session.js';
import { TamtamError } from '../../protocol/errors.js';
import { agentClientId, downTopic, upTopic } from '../../protocol/topics.js';
import type { InboundHandler, Link, LinkState, LinkUsage } from './link.js';
import { resolveProfile, type LinkProfile } from './link-profile.js';
import { SessionMeter } from './session-meter.js';

/** The session's options a centre sets; its client id and topics follow from `centre`, its matricule. */
export type MqttLinkOptions = Pick<MqttSessionOptions,
  'url' | 'username' | 'password' | 'protocolVersion' | 'keepaliveSec' | 'connectTimeoutMs' | 'openTimeoutMs' | 'backoff' | 'random' | 'now' | 'tls'>
  & { centre: string; profile?: LinkProfile };

/**
 * The Internet link of a centre: QoS 1 both ways over a persistent session
 * (fixed client id, clean: false), so receipts published while the agent was
 * off wait at the broker. A receipt is acknowledged only after the handler
 * took it; a handler failure leaves it unacknowledged and reconnects after
 * a growing delay, which makes the broker send it again.
 */
export class MqttLink implements Link {
  readonly kind = 'mqtt';
  readonly mode = 'always';
  private readonly session: MqttSession;
  private readonly meter: SessionMeter;
  private handler: InboundHandler | undefined;
  private readonly inbox: Delivery[] = [];
  private draining: Promise<void> | undefined;
  private readonly stateListeners = new Set<(state: LinkState) => void>();
  private readonly errorListeners = new Set<(e: TamtamError) => void>();

  constructor(private readonly options: MqttLinkOptions) {
    const profile = options.profile ?? resolveProfile(undefined);
    this.meter = new SessionMeter(profile, options.now);
    this.session = new MqttSession(
      {
        url: options.url,
        clientId: agentClientId(options.centre),
        username: options.username,
        password: options.password,
        protocolVersion: options.protocolVersion,
        keepaliveSec: options.keepaliveSec ?? profile.keepaliveSeconds,
        connectTimeoutMs: options.connectTimeoutMs,
        openTimeoutMs: options.openTimeoutMs,
        subscriptions: [downTopic(options.centre)],
        backoff: options.backoff,
        random: options.random,
        now: options.now,
        tls: options.tls,
      },
      {
        state: (s) => {
          if (s === 'up') this.meter.begin(this.session.usage());
          else this.meter.end(this.session.usage());
          this.stateListeners.forEach((l) => l(s));
        },
        message: (d) => this.receive(d),
        error: (e) => this.report(e),
      },
    );
  }

  get state(): LinkState {
    return this.session.state;
  }

  open(signal?: AbortSignal): Promise<void> {
    return this.session.open(signal);
  }

  send(payload: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.session.publish(upTopic(this.options.centre), payload, signal);
  }

  /** One handler; messages that came before it was set wait for it, unacknowledged. */
  onMessage(handler: InboundHandler): void {
    this.handler = handler;
    void this.drain();
  }

  onStateChange(listener: (state: LinkState) => void): void {
    this.stateListeners.add(listener);
  }

  /** Connection failures while reconnecting and handler failures: the link carries on, these are for logs and status. */
  onError(listener: (e: TamtamError) => void): void {
    this.errorListeners.add(listener);
  }

  usage(): LinkUsage {
    const bytes = this.session.usage();
    return { ...bytes, ...this.meter.read(bytes) };
  }

  /** Lets the message being handled finish and be acknowledged, then disconnects; queued ones come again next session. */
  async close(): Promise<void> {
    this.inbox.length = 0;
    await this.draining;
    await this.session.close();
  }

  private receive(d: Delivery): void {
    this.inbox.push(d);
    void this.drain();
  }

  /** One message at a time, in arrival order: the agent applies receipts to its journal one by one. */
  private drain(): Promise<void> {
    this.draining ??= this.handleInbox().finally(() => {
      this.draining = undefined;
      if (this.handler && this.inbox.length > 0) void this.drain();
    });
    return this.draining;
  }

  private async handleInbox(): Promise<void> {
    while (this.handler && this.inbox.length > 0) {
      const d = this.inbox.shift() as Delivery;
      if (!d.live()) continue;
      try {
        await this.handler(d.payload);
      } catch (e) {
        this.report(
          new TamtamError('E_INTERNAL', `handling a message from ${d.topic} failed: ${(e as Error).message}; it was not acknowledged, so the broker sends it again after reconnecting`, {
            cause: e,
            retryable: true,
          }),
        );
        // Whatever came after it on this session is sent again too: drop it here rather than handle it out of order.
        this.inbox.length = 0;
        this.session.recycle(d);
        continue;
      }
      d.ack();
    }
  }

  private report(e: TamtamError): void {
    this.errorListeners.forEach((l) => l(e));
  }
}
