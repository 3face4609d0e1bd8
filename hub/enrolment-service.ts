import { checkCsr } from './pki/certificate-authority.js';
import { decodeEnrolRequest, encodeEnrolMessage, type EnrolReply } from '../protocol/enrolment.js';
import { isTamtamError, TamtamError } from '../protocol/errors.js';

export interface EnrolmentServiceOptions {
  /** True once, for a token the operator issued for this centre that has not expired; false for any other. */
  consumeToken(centre: string, token: string): Promise<boolean>;
  /** The centre's certificate (PEM) for the key in the CSR, with the centre as its CN. */
  issue(csrPem: string, centre: string): Promise<string>;
  /** Records the certificate as the centre's enrolled one. */
  store(centre: string, certPem: string): Promise<void>;
  caPem: string;
  hubCertPem: string;
  /** Hub-side failures after the token was spent, for the operator's log. */
  onError?: (e: TamtamError) => void;
}

const refuse = (code: string, message: string): EnrolReply => ({ ok: false, code, message });

/**
 * Answers a centre's enrolment request. Bad input of any kind gets a refusal
 * that tells the centre's operator what to do; it never throws for it. It
 * throws only when the token store cannot be asked (database down), so the
 * receiver leaves the request unacknowledged and it is handled again later.
 */
export function createEnrolmentService(options: EnrolmentServiceOptions) {
  return {
    /** `topicCentre` is the centre named by the topic the request came on. */
    async handle(topicCentre: string, payload: Uint8Array): Promise<EnrolReply> {
      let request;
      try {
        request = decodeEnrolRequest(payload);
      } catch (e) {
        return refuse('E_MALFORMED', `the enrolment request is not readable (${(e as Error).message}); update the agent, or enrol again with 'tamtam agent enrol'`);
      }
      const { centre, token, csrPem } = request;
      if (centre !== topicCentre) {
        return refuse('E_BAD_INPUT', `the request names centre '${centre}' but came on the topic of '${topicCentre}'; enrol again with the centre's own matricule`);
      }
      try {
        checkCsr(csrPem);
      } catch (e) {
        const why = isTamtamError(e) ? e.message : String(e);
        return refuse('E_BAD_INPUT', `the certificate request of ${centre} cannot be used: ${why}`);
      }
      if (!(await options.consumeToken(centre, token))) {
        return refuse(
          'E_BAD_TOKEN',
          `the enrolment token for centre ${centre} is wrong, already used or expired; ask the hub operator for a new one ('tamtam hub centre token ${centre}') and check that it was made for this centre`,
        );
      }
      let certPem: string;
      try {
        certPem = await options.issue(csrPem, centre);
        await options.store(centre, certPem);
      } catch (e) {
        const failure = new TamtamError('E_INTERNAL', `enrolment of ${centre} failed after its token was used: ${(e as Error).message}`, { cause: e });
        options.onError?.(failure);
        return refuse('E_INTERNAL', `the hub could not issue or record the certificate of ${centre} (${(e as Error).message}); the token is spent: ask the hub operator to check the hub's log and give a new token`);
      }
      return { ok: true, certPem, caPem: options.caPem, hubCertPem: options.hubCertPem };
    },
  };
}

export type EnrolmentService = ReturnType<typeof createEnrolmentService>;

/** The service as an MqttReceiver `onEnrol` handler: the reply goes to tamtam/<centre>/enrol/reply. */
export function enrolmentHandler(service: EnrolmentService) {
  return async (centre: string, payload: Uint8Array): Promise<{ reply: Uint8Array }> => ({ reply: encodeEnrolMessage(await service.handle(centre, payload)) });
}
