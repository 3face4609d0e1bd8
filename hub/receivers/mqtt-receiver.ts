import { MqttSession, type Backoff, type Delivery, type MqttSessionOptions, type SessionState, type SessionUsage } from '../../common/mqtt-session.js';
import { TamtamError } from '../../protocol/errors.js';
import { HUB_SHARE_GROUP, centreOfTopic, downTopic, enrolReplyTopic, hubEnrolFilter, hubUpFilter } from '../../protocol/topics.js';

/** What the hub does with one message: the reply (a receipt, an enrolment answer) goes back to the centre before the message is acknowledged. */
export type ReceiverHandler = (centre: string, payload: Uint8Array) => Promise<{ reply?: Uint8Array }>;

export interface MqttReceiverOptions {
  url: string;
  /** Stable per hub process (e.g. from the host name), so its persistent session survives a restart. */
  clientId: string;
  /** MQTT shared subscription, to spread centres' SDCs over several hub processes. Must be false with aedes. */
  shared: boolean;
  /** SDCs and other messages on tamtam/<centre>/up. */
  onUp: ReceiverHandler;
  /** Enrolment requests on tamtam/<centre>/enrol; not subscribed when absent. */
  onEnrol?: ReceiverHandler;
  username?: string;
  password?: string;
  /** 4 = MQTT 3.1.1 (default), 5 = MQTT 5 (the broker then pushes no more than `concurrency` at once). */
  protocolVersion?: 4 | 5;
  /** Messages handled at once. Default 4. Messages of one centre are handled one after another. */
  concurrency?: number;
  keepaliveSec?: number;
  openTimeoutMs?: number;
  backoff?: Partial<Backoff>;
  random?: () => number;
  tls?: MqttSessionOptions['tls'];
  /** Handler failures (nothing acknowledged, the broker sends it again) and connection trouble. */
  onError?: (e: TamtamError) => void;
}

interface Job {
  delivery: Delivery;
  centre: string;
  enrol: boolean;
}

/**
 * The hub's MQTT client. A message is acknowledged only after its handler
 * committed and the reply was acknowledged by the broker, so a hub killed or
 * cut off midway gets it again (or another hub of the shared group does).
 */
export class MqttReceiver {
  private readonly session: MqttSession;
  private readonly queue: Job[] = [];
  private readonly busyCentres = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private readonly concurrency: number;
  private stopping = false;
  /** A failed message waiting for the others of its session to finish before the session is dropped. */
  private failed: Delivery | undefined;
  private handled = 0;

  constructor(private readonly options: MqttReceiverOptions) {
    this.concurrency = options.concurrency ?? 4;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new TamtamError('E_CONFIG', `concurrency ${options.concurrency} is not a whole number of at least 1`);
    this.session = new MqttSession(
      {
        url: options.url,
        clientId: options.clientId,
        username: options.username,
        password: options.password,
        protocolVersion: options.protocolVersion,
        keepaliveSec: options.keepaliveSec,
        openTimeoutMs: options.openTimeoutMs,
        receiveMaximum: this.concurrency,
        // Enrolments are shared too: every hub process answering one request would refuse the token the first had just used.
        subscriptions: [hubUpFilter(options.shared), ...(options.onEnrol ? [`${options.shared ? `$share/${HUB_SHARE_GROUP}/` : ''}${hubEnrolFilter}`] : [])],
        subscribeEverySession: true,
        backoff: options.backoff,
        random: options.random,
        tls: options.tls,
      },
      { message: (d) => this.receive(d), error: (e) => options.onError?.(e) },
    );
  }

  get state(): SessionState {
    return this.session.state;
  }

  /** Messages handled and acknowledged so far. */
  get acknowledged(): number {
    return this.handled;
  }

  start(signal?: AbortSignal): Promise<void> {
    this.stopping = false;
    return this.session.open(signal);
  }

  usage(): SessionUsage {
    return this.session.usage();
  }

  /** Publishes to a centre on its down topic, QoS 1 (a persistent session keeps it while the centre is away); resolves on the broker's PUBACK. */
  publishDown(centre: string, payload: Uint8Array): Promise<void> {
    return this.session.publish(downTopic(centre), payload);
  }

  /** Takes no new message, lets those being handled finish (acknowledged), then disconnects; queued ones come again later. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.failed = undefined;
    this.queue.length = 0;
    await Promise.all([...this.running]);
    await this.session.close();
  }

  private receive(delivery: Delivery): void {
    if (this.stopping) return;
    const enrol = delivery.topic.endsWith('/enrol');
    let centre: string;
    try {
      centre = centreOfTopic(delivery.topic);
    } catch (e) {
      // Nobody can answer a message on a topic naming no centre; sending it again would not help.
      delivery.ack();
      return this.report(`dropped a message on '${delivery.topic}', which names no centre`, e);
    }
    this.queue.push({ delivery, centre, enrol });
    this.pump();
  }

  private pump(): void {
    if (this.failed && this.running.size === 0 && !this.stopping) {
      this.queue.length = 0;
      this.session.recycle(this.failed);
      this.failed = undefined;
    }
    while (!this.stopping && !this.failed && this.running.size < this.concurrency) {
      const i = this.queue.findIndex((j) => !this.busyCentres.has(j.centre));
      if (i < 0) return;
      const [job] = this.queue.splice(i, 1);
      if (!job.delivery.live()) continue;
      this.busyCentres.add(job.centre);
      const run: Promise<void> = this.handle(job).finally(() => {
        this.busyCentres.delete(job.centre);
        this.running.delete(run);
        this.pump();
      });
      this.running.add(run);
    }
  }

  private async handle(job: Job): Promise<void> {
    const { delivery, centre, enrol } = job;
    const handler = enrol ? this.options.onEnrol : this.options.onUp;
    try {
      const { reply } = await (handler as ReceiverHandler)(centre, delivery.payload);
      if (reply) await this.session.publish(enrol ? enrolReplyTopic(centre) : downTopic(centre), reply);
    } catch (e) {
      this.report(`${enrol ? 'an enrolment request' : 'a message'} from ${centre} was not handled, so not acknowledged; the broker sends it again after reconnecting`, e);
      // Unacknowledged messages come back only on a new session: drop this one once the others in hand are done.
      if (delivery.live()) this.failed ??= delivery;
      return;
    }
    if (delivery.ack()) this.handled++;
  }

  private report(message: string, cause: unknown): void {
    const why = cause instanceof Error ? cause.message : String(cause);
    this.options.onError?.(new TamtamError('E_INTERNAL', `${message}: ${why}`, { cause, retryable: true }));
  }
}
