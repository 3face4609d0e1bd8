import { createHash, randomBytes } from 'node:crypto';
import { TamtamError } from '../../protocol/errors.js';
import { sqlState, type Queryable } from '../db/hub-database.js';
import type { StaffRole, StaffUser } from './dashboard-types.js';
import { hashPassword, verifyPassword } from './password-hash.js';

export const MIN_PASSWORD = 10;
export const MAX_FAILED_LOGINS = 5;
export const LOCK_MINUTES = 15;
const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const MAX_SESSION_HOURS = 24 * 366;
const ROLES: readonly StaffRole[] = ['admin', 'viewer'];
/** Checked when the name is unknown, so that a wrong name costs the same scrypt as a wrong password (of a password nobody knows). */
const NOBODY = 'scrypt$16384$8$1$rBRDEOfRYfVIW1vZbBmcuA==$BqCYn+AkszqpqNyf8JXiQwznCNP0gAhhiX691lNezmo=';

const bad = (message: string) => new TamtamError('E_BAD_INPUT', message);
const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');
const toUser = (r: Record<string, any>): StaffUser => ({ username: r.username, role: r.role, cities: r.cities });

function checkUsername(username: string): string {
  if (typeof username !== 'string' || !USERNAME.test(username)) throw bad(`staff user name '${String(username).slice(0, 80)}' must be 1 to 64 letters, digits, '.', '_', '@' or '-'`);
  return username;
}

function checkPassword(password: string): string {
  if (typeof password !== 'string' || [...password].length < MIN_PASSWORD) throw bad(`a staff password needs at least ${MIN_PASSWORD} characters`);
  return password;
}

function checkCities(cities: string[] | null): string[] | null {
  if (cities === null) return null;
  if (!Array.isArray(cities) || cities.length === 0) throw bad('give the cities this user may see, or none at all for every centre');
  for (const c of cities) if (typeof c !== 'string' || c.trim() === '' || c.length > 200) throw bad(`city '${String(c).slice(0, 80)}' must be a non-empty name`);
  return [...new Set(cities)];
}

/**
 * Staff accounts and their sessions. Passwords are kept as scrypt hashes,
 * session tokens as their SHA-256: a copy of the database logs nobody in.
 */
export class StaffStore {
  private readonly now: () => Date;
  private readonly random: (n: number) => Buffer;

  constructor(private readonly db: Queryable, o: { now?: () => Date; random?: (n: number) => Buffer } = {}) {
    this.now = o.now ?? (() => new Date());
    this.random = o.random ?? randomBytes;
  }

  async add(input: { username: string; password: string; role: StaffRole; cities: string[] | null }): Promise<StaffUser> {
    const username = checkUsername(input.username);
    checkPassword(input.password);
    if (!ROLES.includes(input.role)) throw bad(`role must be admin or viewer, not '${String(input.role)}'`);
    const cities = checkCities(input.cities);
    const hash = await hashPassword(input.password, this.random);
    try {
      const { rows } = await this.db.query('INSERT INTO staff_users (username, password_hash, role, cities, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING *',
        [username, hash, input.role, cities, this.now()]);
      return toUser(rows[0]);
    } catch (e) {
      if (sqlState(e) === '23505') throw bad(`a staff user '${username}' already exists; choose another name or remove it first`);
      throw e;
    }
  }

  async list(): Promise<(StaffUser & { createdAt: string; lockedUntil: string | null })[]> {
    const { rows } = await this.db.query('SELECT username, role, cities, created_at, locked_until FROM staff_users ORDER BY username');
    return rows.map((r) => ({ ...toUser(r), createdAt: r.created_at.toISOString(), lockedUntil: r.locked_until && r.locked_until > this.now() ? r.locked_until.toISOString() : null }));
  }

  async remove(username: string): Promise<boolean> {
    return ((await this.db.query('DELETE FROM staff_users WHERE username = $1', [username])).rowCount ?? 0) > 0;
  }

  /** A new password also unlocks the account and ends its sessions: whoever knew the old one is logged out. */
  async setPassword(username: string, password: string): Promise<void> {
    checkPassword(password);
    const hash = await hashPassword(password, this.random);
    const { rows } = await this.db.query(
      `WITH u AS (UPDATE staff_users SET password_hash = $2, failed_logins = 0, locked_until = NULL WHERE username = $1 RETURNING username),
            gone AS (DELETE FROM staff_sessions WHERE username IN (SELECT username FROM u))
       SELECT username FROM u`, [username, hash]);
    if (!rows[0]) throw bad(`no staff user '${String(username).slice(0, 80)}'; list them with 'tamtam hub staff list'`);
  }

  /**
   * The user, or undefined for a wrong name or password or a locked account,
   * alike. Every attempt costs one scrypt and the same queries, whether the
   * name exists or not. After 5 failures in a row the account is locked
   * 15 minutes; attempts while locked neither count nor extend it.
   */
  async authenticate(username: string, password: string): Promise<StaffUser | undefined> {
    const now = this.now();
    const known = typeof username === 'string' && USERNAME.test(username);
    const { rows } = await this.db.query('SELECT username, role, cities, password_hash, failed_logins, locked_until FROM staff_users WHERE username = $1',
      [known ? username : '']);
    const row = rows[0];
    const ok = await verifyPassword(typeof password === 'string' ? password : '', row?.password_hash ?? NOBODY);
    const locked = row?.locked_until != null && row.locked_until > now;
    if (row && ok && !locked) {
      if (row.failed_logins > 0 || row.locked_until !== null) {
        await this.db.query('UPDATE staff_users SET failed_logins = 0, locked_until = NULL WHERE username = $1', [row.username]);
      }
      return toUser(row);
    }
    // Run for unknown names too (it matches nothing), so that they take as long.
    await this.db.query(
      `UPDATE staff_users SET failed_logins = CASE WHEN failed_logins + 1 >= $3 THEN 0 ELSE failed_logins + 1 END,
         locked_until = CASE WHEN failed_logins + 1 >= $3 THEN $2::timestamptz + make_interval(mins => $4) ELSE locked_until END
       WHERE username = $1 AND (locked_until IS NULL OR locked_until <= $2)`,
      [row?.username ?? '', now, MAX_FAILED_LOGINS, LOCK_MINUTES]);
    return undefined;
  }

  /** A new session: the token goes to the browser, only its SHA-256 is stored. Expired sessions are cleared on the way. */
  async createSession(username: string, hours: number): Promise<{ token: string; expiresAt: Date }> {
    if (typeof hours !== 'number' || !(hours > 0 && hours <= MAX_SESSION_HOURS)) throw bad(`a session lasts more than 0 and at most ${MAX_SESSION_HOURS} hours, not ${hours}`);
    const now = this.now();
    const token = this.random(32).toString('base64url');
    const expiresAt = new Date(now.getTime() + Math.round(hours * 3_600_000));
    await this.db.query('DELETE FROM staff_sessions WHERE expires_at <= $1', [now]);
    try {
      await this.db.query('INSERT INTO staff_sessions (token_hash, username, created_at, expires_at) VALUES ($1, $2, $3, $4)', [tokenHash(token), username, now, expiresAt]);
    } catch (e) {
      if (sqlState(e) === '23503') throw bad(`no staff user '${String(username).slice(0, 80)}'`);
      throw e;
    }
    return { token, expiresAt };
  }

  async sessionUser(token: string): Promise<StaffUser | undefined> {
    if (typeof token !== 'string' || !TOKEN.test(token)) return undefined;
    const { rows } = await this.db.query(
      `SELECT u.username, u.role, u.cities FROM staff_sessions s JOIN staff_users u ON u.username = s.username
        WHERE s.token_hash = $1 AND s.expires_at > $2`, [tokenHash(token), this.now()]);
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  async endSession(token: string): Promise<void> {
    if (typeof token !== 'string' || !TOKEN.test(token)) return;
    await this.db.query('DELETE FROM staff_sessions WHERE token_hash = $1', [tokenHash(token)]);
  }
}
