import type { IClientOptions } from 'mqtt';
import type { TamtamError } from '../protocol/errors.js';

/** The options, events and values of an MqttSession (common/mqtt-session.ts), and its reconnection backoff. */

/** Delays between reconnection attempts. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** Exponential, half of it random, so a hundred centres cut off together do not all call back in the same second. */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number): number {
  const cap = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

export type SessionState = 'down' | 'connecting' | 'up';

export interface MqttSessionOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** 4 = MQTT 3.1.1 (default), 5 = MQTT 5. */
  protocolVersion?: 4 | 5;
  /** Default 60; satellite terminals want long ones (each PINGREQ costs airtime). */
  keepaliveSec?: number;
  /** Default 30000. */
  connectTimeoutMs?: number;
  /** open() gives up after this long. Default 60000. */
  openTimeoutMs?: number;
  /** MQTT 5 only: how long the broker keeps the session of an absent client. Default: for ever, as 3.1.1 does. */
  sessionExpirySec?: number;
  /** MQTT 5 only: how many unacknowledged messages the broker may push at once. */
  receiveMaximum?: number;
  /** Filters subscribed at QoS 1 whenever the broker has no session for us. */
  subscriptions: string[];
  /** Subscribe even when the broker kept our session (saves nothing, but survives a changed filter set). Default false. */
  subscribeEverySession?: boolean;
  /** Default { initialMs: 1000, maxMs: 120000 }. */
  backoff?: Partial<Backoff>;
  /** A session that lived this long resets the backoff when it drops. Default 30000. */
  stableAfterMs?: number;
  random?: () => number;
  now?: () => number;
  tls?: Pick<IClientOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'>;
}

/** An inbound message; the broker sends it again (next session) unless ack() is called while its session lives. */
export interface Delivery {
  topic: string;
  payload: Uint8Array;
  duplicate: boolean;
  live(): boolean;
  /** Sends the PUBACK; false when the session it came on is gone. */
  ack(): boolean;
}

export interface SessionEvents {
  state?(state: SessionState): void;
  message(delivery: Delivery): void;
  error?(e: TamtamError): void;
}

export interface SessionUsage {
  bytesUp: number;
  bytesDown: number;
  messagesUp: number;
  messagesDown: number;
  sessions: number;
}
