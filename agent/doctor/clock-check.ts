import type { AgentState } from '../state/agent-state.js';
import type { CertificateFacts } from './certificate-checks.js';
import { fail, ok, warn, type DoctorCheck, type Finding } from './doctor-check.js';

/** This release was built in this year: a clock that reads earlier is wrong (a flat clock battery resets it to 1970 or 2000). */
export const BUILD_YEAR = 2026;
/** Hub and centre clocks further apart than this are worth a warning. */
export const CLOCK_TOLERANCE_MS = 5 * 60_000;

const HUB_CLOCK_KEY = 'doctor.hub_clock';
const SAMPLES = 10;
const FIX = "set this computer's date, time and time zone right (or let it sync with the network: timedatectl set-ntp true), then restart the agent";

/**
 * Remembers how late by the local clock the hub's messages arrived (local
 * minus hub time, in ms) over the last few. Delivery delays only add to it,
 * so the smallest of them is the truest reading of the clocks' difference.
 */
export function recordHubClock(state: AgentState, hubSeconds: number, localMs: number): void {
  const samples = hubClockSamples(state);
  samples.push(Math.round(localMs - hubSeconds * 1000));
  state.setMeta(HUB_CLOCK_KEY, JSON.stringify(samples.slice(-SAMPLES)));
}

export function hubClockSamples(state: AgentState): number[] {
  try {
    const parsed = JSON.parse(state.meta(HUB_CLOCK_KEY) ?? '[]') as unknown;
    return Array.isArray(parsed) ? parsed.filter((n): n is number => typeof n === 'number' && Number.isFinite(n)) : [];
  } catch {
    return [];
  }
}

/** The latest time the agent's own records say it saw, or undefined for a new agent. */
export function newestStateTime(state: AgentState): number | undefined {
  const times: (number | null)[] = [state.lastReceipt()?.receiptAt ?? null];
  const recent = [...state.sdcs(['packing', 'packed']), ...['data', 'usageReport', 'diagnosticReport'].flatMap((k) => state.recentSdcs(k, 'done', 1))];
  for (const s of recent) times.push(s.createdAt, s.packedAt, s.sentAt, s.receiptAt);
  const known = times.filter((t): t is number => t !== null);
  return known.length ? Math.max(...known) : undefined;
}

const minutes = (ms: number) => `${Math.round(Math.abs(ms) / 60_000)} minutes`;

function clock(now: number, o: { facts: CertificateFacts; state?: AgentState; buildYear: number }): Finding {
  const at = new Date(now).toISOString();
  if (new Date(now).getUTCFullYear() < o.buildYear) return fail(`this computer's clock says ${at}, before this Tamtam was even built (${o.buildYear})`, FIX, 'E_CONFIG');
  const notBefore = o.facts.cert?.notBefore.getTime();
  if (notBefore !== undefined && now < notBefore - CLOCK_TOLERANCE_MS) {
    return fail(`this computer's clock says ${at}, before the centre's certificate was issued (${new Date(notBefore).toISOString()})`, FIX, 'E_CONFIG');
  }
  const newest = o.state ? newestStateTime(o.state) : undefined;
  if (newest !== undefined && now < newest - 60_000) {
    return fail(`this computer's clock says ${at}, earlier than the agent's own last activity (${new Date(newest).toISOString()}): the clock went back`, FIX, 'E_CONFIG');
  }
  const samples = o.state ? hubClockSamples(o.state) : [];
  if (samples.length > 0) {
    const offset = Math.min(...samples);
    if (offset < -CLOCK_TOLERANCE_MS) return warn(`this computer's clock is about ${minutes(offset)} behind the hub's (from the hub's last messages)`, FIX);
    if (offset > CLOCK_TOLERANCE_MS) {
      return warn(`the hub's last ${samples.length} messages all arrived at least ${minutes(offset)} after the hub sent them by this computer's clock: the clock is fast, or they waited on the way (agent stopped, USB stick)`, `if no message waited, ${FIX}`);
    }
    return ok(`${at}; within ${minutes(offset) === '0 minutes' ? 'a minute' : minutes(offset)} of the hub's clock`);
  }
  return ok(`${at}; not compared with the hub's yet (no message from it)`);
}

export function clockCheck(now: number, o: { facts: CertificateFacts; state?: AgentState; buildYear?: number }): DoctorCheck {
  return { id: 'clock', title: 'Clock', ...clock(now, { ...o, buildYear: o.buildYear ?? BUILD_YEAR }) };
}
