/**
 * What an AT+SBDIX mobile-originated status means and what to do about it,
 * after the Iridium ISU AT Command Reference and the 9602/9603 developer
 * guides. Pure: the caller sleeps, with the random source it injects.
 */

export type MoOutcome = 'transferred' | 'retry' | 'final';

export interface MoStatusInfo {
  code: number;
  outcome: MoOutcome;
  /** Plain words for logs and the status page. */
  meaning: string;
  /** Some statuses ask for a least wait whatever the backoff says (36: three minutes after a registration). */
  minWaitMs?: number;
}

export interface MoRetryPolicy {
  /** First wait; doubles per failure. */
  baseMs: number;
  /** Longest backoff wait (a status's own least wait may exceed it). */
  maxMs: number;
  /** Consecutive failed sessions after which the call ends. */
  maxAttempts: number;
  /** 0..1; the wait is drawn between half and all of the backoff so that many centres do not retry in step. */
  random: () => number;
}

export const DEFAULT_MO_RETRY: Omit<MoRetryPolicy, 'random'> = { baseMs: 10_000, maxMs: 300_000, maxAttempts: 6 };

const SKY = 'check that the antenna has a clear view of the sky and its cable is tight';

type Row = [outcome: MoOutcome, meaning: string, minWaitMs?: number];

const TABLE: Record<number, Row> = {
  0: ['transferred', 'message transferred'],
  1: ['transferred', 'message transferred, but the waiting mobile-terminated message was too big to be delivered'],
  2: ['transferred', 'message transferred, but the requested location update was not accepted'],
  10: ['retry', 'the gateway reported that the call did not complete in the allowed time'],
  11: ['retry', 'the mobile-originated message queue at the gateway is full', 60_000],
  12: ['final', 'the message has too many segments: the gateway refuses it; the message must be made smaller'],
  13: ['retry', 'the gateway reported that the session did not complete'],
  14: ['final', 'invalid segment size: the gateway refuses the message as sent'],
  15: ['final', 'access is denied by the gateway: check that the SBD subscription of this IMEI is active with the service provider'],
  16: ['final', 'the transceiver is locked and may not make SBD calls (AT+CULK): unlock it with its code'],
  17: ['retry', 'the gateway is not responding (local session timeout)'],
  18: ['retry', `the radio connection was lost (RF drop); ${SKY}`],
  19: ['retry', 'link failure: a protocol error ended the call'],
  32: ['retry', `no network service, unable to start a session; ${SKY}`],
  33: ['final', 'antenna fault: check the antenna, its cable and connectors (a short or an open circuit)'],
  34: ['final', 'the radio is disabled (AT*R0): enable it with AT*R1'],
  35: ['retry', 'the transceiver is busy, unable to start a session'],
  36: ['retry', 'try later: at least 3 minutes must pass after the last registration', 180_000],
  37: ['retry', 'SBD service is temporarily disabled', 60_000],
  38: ['retry', 'try later: the network is in a traffic management period', 60_000],
  64: ['final', 'band violation: the transceiver tried to transmit outside its permitted frequency band (hardware or configuration fault)'],
  65: ['retry', 'PLL lock failure: a hardware error during the transmit attempt'],
};

/** The reference marks 3..4 as success and the other unlisted codes as failures; an unknown failure is retried, bounded by maxAttempts. */
export function describeMoStatus(code: number): MoStatusInfo {
  const row = TABLE[code];
  if (row) return { code, outcome: row[0], meaning: row[1], ...(row[2] === undefined ? {} : { minWaitMs: row[2] }) };
  if (code >= 0 && code <= 4) return { code, outcome: 'transferred', meaning: 'message transferred (reserved success code)' };
  return { code, outcome: 'retry', meaning: `session failed (status ${code}, reserved by the reference)` };
}

/** MO status 0..4: the message in the MO buffer (if any) reached the gateway. */
export function moSucceeded(code: number): boolean {
  return describeMoStatus(code).outcome === 'transferred';
}

export interface MoRetryDecision {
  info: MoStatusInfo;
  /** false: end the call (a final status, or attempts used up). */
  retry: boolean;
  waitMs: number;
}

/** `attempt` counts consecutive failed sessions, this one included (1 for the first failure). */
export function moRetryDecision(code: number, attempt: number, policy: MoRetryPolicy): MoRetryDecision {
  const info = describeMoStatus(code);
  if (info.outcome === 'transferred') return { info, retry: false, waitMs: 0 };
  if (info.outcome === 'final' || attempt >= policy.maxAttempts) return { info, retry: false, waitMs: 0 };
  const backoff = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(backoff * (0.5 + 0.5 * Math.min(1, Math.max(0, policy.random()))));
  return { info, retry: true, waitMs: Math.max(jittered, info.minWaitMs ?? 0) };
}
