import { directIpExchange } from '../../common/directip-reader.js';
import { TamtamError, type ErrorCode } from '../../protocol/errors.js';
import { decodeMtConfirmation, encodeMt, mtStatusText, MtStatus, type MtConfirmation, type MtMessage } from '../../protocol/sbd/directip.js';

export interface DirectIpClientOptions {
  /** The gateway's DirectIP MT endpoint. */
  host: string;
  port: number;
  /** Connect, send and confirmation together. Default 15 s. */
  timeoutMs?: number;
}

/** What each negative status means for the hub: its error code, whether trying later can help, and what to do. */
const STATUS_ERRORS: Record<number, [ErrorCode, boolean, string]> = {
  [MtStatus.InvalidImei]: ['E_BAD_INPUT', false, "fix the centre's IMEI (15 digits)"],
  [MtStatus.UnknownImei]: ['E_CONFIG', false, "check the centre's IMEI and that the modem is provisioned for DirectIP to this hub"],
  [MtStatus.PayloadTooLarge]: ['E_TOO_LARGE', false, 'MT payloads of a 9602/9603 are at most 270 bytes'],
  [MtStatus.PayloadMissing]: ['E_BAD_INPUT', false, 'send a payload, or set the flush or ring-alert flag'],
  [MtStatus.QueueFull]: ['E_LINK_DOWN', true, 'the modem has 50 messages waiting; try after its next session'],
  [MtStatus.ResourcesUnavailable]: ['E_LINK_DOWN', true, 'the gateway is busy; try later'],
  [MtStatus.ProtocolViolation]: ['E_MALFORMED', false, 'the hub sent a message the gateway could not read; report it'],
  [MtStatus.RingAlertsDisabled]: ['E_CONFIG', false, 'enable ring alerts for this IMEI, or send without the ring-alert flag'],
  [MtStatus.ImeiNotAttached]: ['E_CONFIG', false, 'the modem is not registered for ring alerts; send without the ring-alert flag'],
  [MtStatus.SourceIpRejected]: ['E_CONFIG', false, "add the hub's address to the MT filter of the Iridium account"],
  [MtStatus.MtmsnOutOfRange]: ['E_BAD_INPUT', false, 'an assigned MTMSN must be 1–65535'],
};

/** The TamtamError for a negative MT confirmation status, undefined for a success. */
export function mtStatusError(c: MtConfirmation): TamtamError | undefined {
  if (c.status >= 0) return undefined;
  const [code, retryable, todo] = STATUS_ERRORS[c.status] ?? ['E_INTERNAL', false, 'see the Iridium SBD developers guide'];
  return new TamtamError(code, `the Iridium gateway refused an MT message for ${c.imei}: ${mtStatusText(c.status)} (status ${c.status}); ${todo}`, {
    retryable, details: { status: c.status, imei: c.imei, clientMessageId: c.clientMessageId },
  });
}

/**
 * Sends MT messages to the Iridium gateway's DirectIP MT endpoint, one
 * connection each. Resolves with the confirmation (status ≥ 0: the queue
 * position); rejects with the status's TamtamError, or E_LINK_DOWN /
 * E_TIMEOUT (retryable) when the gateway cannot be reached.
 */
export class DirectIpClient {
  private nextId = 1;

  constructor(private readonly o: DirectIpClientOptions) {}

  async send(imei: string, payload: Uint8Array, flags = 0): Promise<MtConfirmation> {
    const clientMessageId = this.nextId;
    this.nextId = (this.nextId % 0xffffffff) + 1;
    return this.sendMessage({ clientMessageId, imei, flags, payload });
  }

  async sendMessage(mt: MtMessage): Promise<MtConfirmation> {
    const answer = await directIpExchange(this.o.host, this.o.port, encodeMt(mt), { maxBytes: 256, timeoutMs: this.o.timeoutMs ?? 15_000 });
    let c: MtConfirmation;
    try {
      c = decodeMtConfirmation(answer);
    } catch (e) {
      throw new TamtamError('E_MALFORMED', `the Iridium gateway at ${this.o.host}:${this.o.port} answered an MT message with something that is not an MT confirmation: ${(e as Error).message}`, { cause: e, retryable: true });
    }
    if (c.clientMessageId !== mt.clientMessageId) {
      throw new TamtamError('E_MALFORMED', `the gateway confirmed MT message ${c.clientMessageId}, not ${mt.clientMessageId}; it may not be queued`, { retryable: true });
    }
    const error = mtStatusError(c);
    if (error) throw error;
    return c;
  }
}
