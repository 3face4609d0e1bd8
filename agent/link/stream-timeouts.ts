import type { LinkProfile } from './link-profile.js';

export interface StreamTimeouts {
  /** From the call connecting to the hub's Welcome. */
  welcomeMs: number;
  /** First wait for an answer to a StatusRequest or Hello; doubled each time up to maxRtoMs. */
  rtoMs: number;
  maxRtoMs: number;
  /** Nothing heard for this long while something is outstanding: the call is presumed dead. */
  idleMs: number;
  /** close(): how long to let outstanding work settle, then how long to wait for the hub's Bye. */
  closeGraceMs: number;
}

/**
 * Timeouts from the link profile. The idle limit leaves room for a 32 KiB
 * backlog at the link's slower rate (1.8 minutes at 2.4 kbps), and
 * re-asks come at least three times within it, so a live hub always
 * answers before the watchdog fires.
 */
export function streamTimeouts(p: LinkProfile, overrides: Partial<StreamTimeouts> = {}): StreamTimeouts {
  const backlogMs = (32 * 1024 * 8) / (Math.min(p.upKbps, p.downKbps) * 1000) * 1000;
  const idleMs = overrides.idleMs ?? Math.max(30_000, 10 * p.rttMs, backlogMs);
  const rtoMs = overrides.rtoMs ?? 2 * p.rttMs + 500;
  return {
    welcomeMs: Math.max(10_000, 10 * p.rttMs),
    rtoMs,
    maxRtoMs: Math.max(rtoMs, idleMs / 3),
    idleMs,
    closeGraceMs: Math.max(3000, 4 * p.rttMs),
    ...overrides,
  };
}
