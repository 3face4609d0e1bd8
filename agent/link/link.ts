/**
 * One interface for every way a centre reaches the hub (MQTT, serial modem,
 * SBD, USB stick), as node-serialport has one binding interface: the agent
 * only opens, sends, receives and closes. Each kind runs the same contract
 * suite.
 */
export type LinkState = 'down' | 'connecting' | 'up';

/** Every byte on every link is counted (DESIGN.md invariant 6). */
export interface LinkUsage {
  bytesUp: number;
  bytesDown: number;
  messagesUp: number;
  messagesDown: number;
  sessions: number;
  /** Time connected (a modem call from dialling to hang-up, an MQTT connection), summed over sessions. */
  airtimeMs: number;
  /** What the carrier bills for those sessions under the link's profile (agent/link/link-profile.ts). */
  costUsd: number;
}

export const USAGE_FIELDS = ['bytesUp', 'bytesDown', 'messagesUp', 'messagesDown', 'sessions', 'airtimeMs', 'costUsd'] as const;

export type InboundHandler = (payload: Uint8Array) => Promise<void> | void;

export interface Link {
  readonly kind: string;
  readonly state: LinkState;
  /** Resolves once the link is up; rejects with E_LINK_DOWN (retryable) when it cannot be brought up. */
  open(signal?: AbortSignal): Promise<void>;
  /**
   * Resolves when the far side has taken responsibility for the payload (for
   * MQTT: the broker's PUBACK; on a byte stream: the hub's complete status),
   * never before. Rejects with E_LINK_DOWN when the link fails first; the
   * caller sends again later. Several sends may be in flight at once, which
   * keeps a long-latency link busy.
   */
  send(payload: Uint8Array, signal?: AbortSignal): Promise<void>;
  /**
   * Inbound payloads (receipts, answers). The link acknowledges one only after
   * the handler's promise resolved, so a crash while handling gets it again.
   */
  onMessage(handler: InboundHandler): void;
  onStateChange(listener: (state: LinkState) => void): void;
  usage(): LinkUsage;
  /**
   * 'always': kept up while the agent runs (MQTT on the Internet).
   * 'session': every call costs, so the agent opens it when there is work,
   * and closes it once that work is done (a modem call).
   */
  readonly mode: 'always' | 'session';
  /** Ends the session (hangs up a call); the link may be opened again. */
  close(): Promise<void>;
  /** Lets go of what a link keeps between sessions (a modem's serial port); when the agent stops. */
  dispose?(): Promise<void>;
}

export const emptyUsage = (): LinkUsage => ({ bytesUp: 0, bytesDown: 0, messagesUp: 0, messagesDown: 0, sessions: 0, airtimeMs: 0, costUsd: 0 });

/** What changed between two readings of a link's counters. */
export function usageDelta(now: LinkUsage, before: LinkUsage): LinkUsage {
  const out = emptyUsage();
  for (const k of USAGE_FIELDS) out[k] = now[k] - before[k];
  return out;
}
