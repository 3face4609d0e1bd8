import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RandomBytes } from '../../protocol/cms/enveloped-data.js';
import { TamtamError } from '../../protocol/errors.js';
import type { HubDatabase, Queryable } from '../db/hub-database.js';

export const DEFAULT_TOKEN_DAYS = 30;
const TOKEN_BYTES = 32;
const DAY_MS = 86_400_000;

export interface IssuedToken {
  /** Shown once to the operator, who gives it to the centre; only its hash is kept. */
  token: string;
  expiresAt: Date;
}

export interface EnrolTokenOptions {
  now?: () => Date;
  random?: RandomBytes;
  validDays?: number;
}

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

export const TOKEN_PREFIX = 'tt_';

const defaultRandom: RandomBytes = (n) => new Uint8Array(randomBytes(n));

/**
 * One-time enrolment tokens: 'tt_' and 32 random bytes in base64url, kept as
 * SHA-256 only. The prefix keeps a token from starting with '-', which a
 * command line would take for an option (one token in 64 did).
 */
export class EnrolTokens {
  private readonly now: () => Date;
  private readonly random: RandomBytes;
  private readonly validDays: number;

  constructor(private readonly db: HubDatabase, options: EnrolTokenOptions = {}) {
    this.now = options.now ?? (() => new Date());
    this.random = options.random ?? defaultRandom;
    this.validDays = options.validDays ?? DEFAULT_TOKEN_DAYS;
  }

  /** A new token for the centre; its unused earlier tokens stop working, so only the latest one handed out is valid. */
  async issue(q: Queryable, centreId: number, validDays = this.validDays): Promise<IssuedToken> {
    if (!(validDays > 0)) throw new TamtamError('E_BAD_INPUT', `a token must be valid for a positive number of days, not ${validDays}`);
    const bytes = this.random(TOKEN_BYTES);
    if (bytes.length !== TOKEN_BYTES) throw new TamtamError('E_INTERNAL', `the random source gave ${bytes.length} bytes instead of ${TOKEN_BYTES}`);
    const token = `${TOKEN_PREFIX}${Buffer.from(bytes).toString('base64url')}`;
    const expiresAt = new Date(this.now().getTime() + validDays * DAY_MS);
    await q.query('DELETE FROM enrol_tokens WHERE centre_id = $1 AND used_at IS NULL', [centreId]);
    await q.query('INSERT INTO enrol_tokens (centre_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)', [centreId, hashToken(token), this.now(), expiresAt]);
    return { token, expiresAt };
  }

  /**
   * Uses up the centre's token, or throws E_BAD_TOKEN saying why. The row lock
   * makes two enrolments racing with one token see one success.
   */
  async consume(centreId: number, matricule: string, token: string): Promise<void> {
    const wanted = Buffer.from(hashToken(token), 'hex');
    const again = `ask the hub operator for a new one ('tamtam hub centre token ${matricule}')`;
    await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: number; token_hash: string; expires_at: Date; used_at: Date | null }>(
        'SELECT id, token_hash, expires_at, used_at FROM enrol_tokens WHERE centre_id = $1 FOR UPDATE', [centreId]);
      // Every stored hash is compared, in constant time, whatever matches.
      let match: (typeof rows)[number] | undefined;
      for (const row of rows) if (timingSafeEqual(Buffer.from(row.token_hash, 'hex'), wanted)) match = row;
      if (!match) throw new TamtamError('E_BAD_TOKEN', `the enrolment token for centre ${matricule} is wrong (or was replaced by a newer one); check it was copied whole, or ${again}`);
      if (match.used_at) throw new TamtamError('E_BAD_TOKEN', `the enrolment token for centre ${matricule} was already used on ${match.used_at.toISOString()}; tokens work once: ${again}`);
      const now = this.now();
      if (match.expires_at.getTime() <= now.getTime()) {
        throw new TamtamError('E_BAD_TOKEN', `the enrolment token for centre ${matricule} expired on ${match.expires_at.toISOString()}; ${again}`);
      }
      await tx.query('UPDATE enrol_tokens SET used_at = $2 WHERE id = $1', [match.id, now]);
    });
  }
}
