import type { CarrierUsage } from '../../common/byte-stream.js';
import { sessionCost, type LinkProfile } from './link-profile.js';
import type { LinkUsage } from './link.js';

/**
 * A stream link's usage: the calls ended (`totals`) and the one in progress.
 * Links billed per message (SBD) take the carrier's own counts, since it
 * repacks the stream's frames into messages and bills each one; the others
 * are billed by session (minimum, increment, airtime).
 */
export function streamUsage(totals: LinkUsage, live: { bytesUp: number; bytesDown: number; ms: number } | undefined, carrier: CarrierUsage | undefined, profile: LinkProfile): LinkUsage {
  const ms = live?.ms ?? 0;
  if (carrier) {
    return {
      bytesUp: carrier.bytesUp, bytesDown: carrier.bytesDown, messagesUp: carrier.messagesUp, messagesDown: carrier.messagesDown, sessions: totals.sessions,
      airtimeMs: totals.airtimeMs + ms, costUsd: (carrier.billedBytes / 1024) * profile.perKbUsd,
    };
  }
  return {
    bytesUp: totals.bytesUp + (live?.bytesUp ?? 0), bytesDown: totals.bytesDown + (live?.bytesDown ?? 0), messagesUp: totals.messagesUp, messagesDown: totals.messagesDown,
    sessions: totals.sessions, airtimeMs: totals.airtimeMs + ms,
    costUsd: totals.costUsd + (live ? sessionCost(profile, { bytesUp: live.bytesUp, bytesDown: live.bytesDown, seconds: ms / 1000 }) : 0),
  };
}
