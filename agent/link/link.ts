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
}

export type InboundHandler = (payload: Uint8Array) => Promise<void> | void;

export interface Link {
  readonly kind: string;
  readonly state: LinkState;
  /** Resolves once the link is up; rejects with E_LINK_DOWN (retryable) when it cannot be brought up. */
  open(signal?: AbortSignal): Promise<void>;
  /**
   * Resolves when the far side has taken responsibility for the payload (for
   * MQTT: the broker's PUBACK), never before. Rejects with E_LINK_DOWN when
   * the link fails first; the caller sends again later.
   */
  send(payload: Uint8Array, signal?: AbortSignal): Promise<void>;
  /**
   * Inbound payloads (receipts, answers). The link acknowledges one only after
   * the handler's promise resolved, so a crash while handling gets it again.
   */
  onMessage(handler: InboundHandler): void;
  onStateChange(listener: (state: LinkState) => void): void;
  usage(): LinkUsage;
  close(): Promise<void>;
}

export const emptyUsage = (): LinkUsage => ({ bytesUp: 0, bytesDown: 0, messagesUp: 0, messagesDown: 0, sessions: 0 });
