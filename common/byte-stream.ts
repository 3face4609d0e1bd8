import type { TamtamError } from '../protocol/errors.js';

/**
 * A connected byte pipe to the hub: a modem call in data mode, a TCP socket.
 * Chunk frames travel over it (protocol/FORMAT.md §12); it knows nothing of
 * them. Like a node-serialport binding, it is small on purpose: the session
 * logic above it is the same for every kind of pipe.
 */
export interface ByteStream {
  /**
   * Resolves once the bytes were handed to the OS (serial driver, socket), so
   * a writer that awaits each write is held back to the link's speed. Rejects
   * with E_LINK_DOWN once the stream has ended.
   */
  write(bytes: Uint8Array): Promise<void>;
  /** Bytes as they arrive. One listener; set it before the first byte can come. */
  onData(listener: (bytes: Uint8Array) => void): void;
  /**
   * Called once when the stream ends: without an error after close(), with
   * E_LINK_DOWN (retryable) when the far side went away (NO CARRIER, socket
   * closed by the peer) or the pipe failed.
   */
  onClose(listener: (error?: TamtamError) => void): void;
  readonly closed: boolean;
  /** Ends the call: for a modem, escape to command mode and hang up; resolves once it is down. */
  close(): Promise<void>;
}

/** Makes calls: a modem dials a number, a TCP dialer connects. */
export interface Dialer {
  /** 'modem', 'tcp': for logs and the link's usage rows. */
  readonly kind: string;
  /**
   * Rejects with E_DIAL_FAILED (retryable: NO CARRIER, BUSY, NO ANSWER),
   * E_MODEM_SILENT, E_PORT_NOT_FOUND, E_PORT_BUSY, E_LINK_DOWN (TCP refused)
   * or E_ABORTED, each with a message saying what to check.
   */
  dial(signal?: AbortSignal): Promise<ByteStream>;
  /**
   * What the carrier counted, for links where it differs from the stream's
   * bytes: SBD repacks frames into messages and bills each one.
   */
  usage?(): CarrierUsage;
  /** Lets go of what the dialer keeps between calls (a modem keeps its serial port open and initialised). */
  dispose?(): Promise<void>;
}

export interface CarrierUsage {
  bytesUp: number;
  bytesDown: number;
  messagesUp: number;
  messagesDown: number;
  /** Bytes billed, message by message (minimums and increments applied). */
  billedBytes: number;
}
