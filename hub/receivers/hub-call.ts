import type { ByteStream } from '../../common/byte-stream.js';
import type { SessionDriver } from '../../common/session-driver.js';
import type { SessionMachine, TransferReceiver } from '../../protocol/session/index.js';

/** What the stream receiver keeps per centre, across its calls: partial transfers, SDCs waiting for the handler. */
export interface CentreState {
  matricule: string;
  receiver: TransferReceiver;
  call?: HubCall;
  queue: { transferId: number; sdc: Uint8Array }[];
  handling?: Promise<void>;
  /** Replies the centre refused for good: not offered again by this process. */
  refusedReplies: Set<string>;
}

/** One call (a TCP connection, a modem call, an SBD virtual call) on the stream receiver. */
export interface HubCall {
  stream: ByteStream;
  peer: string;
  /** Lets written bytes leave, then ends the call. */
  end(): void;
  /** Ends the call now. */
  destroy(): void;
  machine: SessionMachine;
  driver: SessionDriver;
  centre?: CentreState;
  /** Down transfer id → outbound ids it carries (identical replies share one transfer). */
  down: Map<number, Set<string>>;
  loadingOutbound: boolean;
  /** A refusal is on its way out; the call ends after it. */
  refusing: boolean;
  ended: boolean;
  done: Promise<void>;
  finished: () => void;
  timers: NodeJS.Timeout[];
}
