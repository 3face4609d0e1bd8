import { sessionCost, type LinkProfile } from './link-profile.js';

interface Bytes {
  bytesUp: number;
  bytesDown: number;
}

/**
 * Airtime and cost of a link's sessions under its profile. Carriers bill per
 * session (Certus: at least 5 KB each; Iridium CSD: by the started 20 s), so
 * cost is counted session by session, not from the byte totals. A session in
 * progress is counted as if it ended now, which only ever grows as it goes on.
 */
export class SessionMeter {
  private open: { at: number; bytes: Bytes } | undefined;
  private airtimeMs = 0;
  private costUsd = 0;

  constructor(private readonly profile: LinkProfile, private readonly now: () => number = Date.now) {}

  /** `bytes`: the link's byte counters when the session started. */
  begin(bytes: Bytes): void {
    if (!this.open) this.open = { at: this.now(), bytes: { ...bytes } };
  }

  end(bytes: Bytes): void {
    if (!this.open) return;
    const live = this.live(bytes);
    this.airtimeMs += live.airtimeMs;
    this.costUsd += live.costUsd;
    this.open = undefined;
  }

  read(bytes: Bytes): { airtimeMs: number; costUsd: number } {
    const live = this.open ? this.live(bytes) : { airtimeMs: 0, costUsd: 0 };
    return { airtimeMs: this.airtimeMs + live.airtimeMs, costUsd: this.costUsd + live.costUsd };
  }

  private live(bytes: Bytes): { airtimeMs: number; costUsd: number } {
    const o = this.open!;
    const airtimeMs = Math.max(0, this.now() - o.at);
    const costUsd = sessionCost(this.profile, { bytesUp: bytes.bytesUp - o.bytes.bytesUp, bytesDown: bytes.bytesDown - o.bytes.bytesDown, seconds: airtimeMs / 1000 });
    return { airtimeMs, costUsd };
  }
}
