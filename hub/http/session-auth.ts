import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

export const SESSION_COOKIE = 'tamtam_session';

/** Cookies of a request; a malformed pair is skipped, the first of two same names wins. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      continue;
    }
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

export const sessionToken = (req: IncomingMessage): string | undefined => parseCookies(req.headers.cookie).get(SESSION_COOKIE) || undefined;

/** Came over TLS, here or at a reverse proxy in front (the header can only make the cookie stricter, never weaker). */
export const overHttps = (req: IncomingMessage): boolean =>
  Boolean((req.socket as TLSSocket).encrypted) || String(req.headers['x-forwarded-proto'] ?? '').split(',')[0].trim() === 'https';

/**
 * The session cookie: HttpOnly (scripts never see it), SameSite=Strict (no
 * other site's page can send it), Secure over https. An empty token with
 * maxAge 0 deletes it.
 */
export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return [`${SESSION_COOKIE}=${encodeURIComponent(token)}`, 'Path=/', `Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`, 'HttpOnly', 'SameSite=Strict', ...(secure ? ['Secure'] : [])].join('; ');
}

/**
 * The browser says where a request comes from; one from another site's page
 * is refused even if a cookie came with it. No Origin (curl, old browsers)
 * is let through: SameSite and the JSON content type still hold.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export interface LoginThrottleOptions {
  /** Failed logins from one address before it must wait; default 10. */
  maxFailures?: number;
  /** The window failures are counted in, and the wait; default 15 minutes. */
  windowMs?: number;
  now?: () => number;
}

/**
 * Failed logins per client address, in memory: slows password guessing from
 * one place. The store's own lock-out (per account) covers guessing spread
 * over many addresses.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();
  private readonly max: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(o: LoginThrottleOptions = {}) {
    this.max = o.maxFailures ?? 10;
    this.windowMs = o.windowMs ?? 15 * 60_000;
    this.now = o.now ?? Date.now;
  }

  /** Milliseconds `address` must wait before trying again; 0: it may try now. */
  waitMs(address: string): number {
    const f = this.current(address);
    return f && f.count >= this.max ? f.since + this.windowMs - this.now() : 0;
  }

  failed(address: string): void {
    const f = this.current(address);
    if (f) f.count++;
    else this.failures.set(address, { count: 1, since: this.now() });
    // Bounded memory under a flood of addresses: old entries go first.
    if (this.failures.size > 10_000) this.prune();
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }

  private current(address: string) {
    const f = this.failures.get(address);
    if (f && this.now() - f.since >= this.windowMs) {
      this.failures.delete(address);
      return undefined;
    }
    return f;
  }

  private prune(): void {
    for (const [address, f] of this.failures) if (this.now() - f.since >= this.windowMs) this.failures.delete(address);
    while (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
  }
}
