import { parseCertificate, type Certificate } from '../../protocol/certificate.js';
import { certMatches, type CertId } from '../../protocol/cms/cert-id.js';
import { TamtamError } from '../../protocol/errors.js';
import { readCertificate } from '../pki/trust-store.js';
import { sqlState, type HubDatabase } from '../db/hub-database.js';
import { EnrolTokens, type EnrolTokenOptions, type IssuedToken } from './enrol-tokens.js';

/** As in XMServer: which services a centre may use. Data SDCs need `all`. */
export const CentreStatus = { suspended: 0, someServices: 1, allButData: 2, all: 3 } as const;
export type CentreStatusCode = (typeof CentreStatus)[keyof typeof CentreStatus];

export interface Centre {
  id: number;
  matricule: string;
  name: string;
  city: string | null;
  phone: string | null;
  email: string | null;
  status: CentreStatusCode;
  certPem: string | null;
  certKeyId: Uint8Array | null;
  certNotAfter: Date | null;
  imei: string | null;
  /** numeric, as text: a credit account is not a float. */
  credit: string;
  /** The monthly link budget in USD (numeric, as text), null for none. */
  monthlyBudgetUsd: string | null;
  createdAt: Date;
  lastContactAt: Date | null;
  lastSequence: bigint | null;
}

export interface NewCentre {
  matricule?: string;
  name: string;
  city?: string;
  phone?: string;
  email?: string;
  status?: CentreStatusCode;
  /** The centre's Iridium SBD modem (15 digits): the gateway names senders by IMEI. */
  imei?: string;
}

export interface CentreQuery {
  status?: CentreStatusCode;
  /** Part of the matricule, name or city, any case. */
  search?: string;
  limit?: number;
  offset?: number;
}

const MATRICULE = /^[A-Za-z0-9._-]{1,64}$/;

function toCentre(r: Record<string, any>): Centre {
  return {
    id: r.id, matricule: r.matricule, name: r.name, city: r.city, phone: r.phone, email: r.email, status: r.status,
    certPem: r.cert_pem, certKeyId: r.cert_key_id ? new Uint8Array(r.cert_key_id) : null, certNotAfter: r.cert_not_after,
    imei: r.imei, credit: r.credit, monthlyBudgetUsd: r.monthly_budget_usd ?? null, createdAt: r.created_at, lastContactAt: r.last_contact_at,
    lastSequence: r.last_sequence === null ? null : BigInt(r.last_sequence),
  };
}

function checkStatus(status: number): CentreStatusCode {
  if (!Number.isInteger(status) || status < 0 || status > 3) {
    throw new TamtamError('E_BAD_INPUT', `centre status ${status} is not one of 0 (suspended), 1 (some services), 2 (all but data), 3 (all)`);
  }
  return status as CentreStatusCode;
}

/** The centres a hub knows, their enrolled certificates and enrolment tokens. */
export class CentreRegistry {
  readonly tokens: EnrolTokens;
  /** Parsed certificates by PEM: parsing on every SDC would cost more than opening it. */
  private readonly parsed = new Map<string, Certificate>();

  constructor(private readonly db: HubDatabase, options: EnrolTokenOptions = {}) {
    this.tokens = new EnrolTokens(db, options);
  }

  /** Registers a centre and issues its first enrolment token. Without a matricule it gets `CTR-000042` after its id. */
  async add(input: NewCentre): Promise<{ centre: Centre; token: string; expiresAt: Date }> {
    if (input.matricule !== undefined && !MATRICULE.test(input.matricule)) {
      throw new TamtamError('E_BAD_INPUT', `matricule '${input.matricule}' must be 1 to 64 letters, digits, '.', '_' or '-'`);
    }
    if (!input.name?.trim()) throw new TamtamError('E_BAD_INPUT', 'a centre needs a name');
    if (input.imei !== undefined && !/^\d{15}$/.test(input.imei)) throw new TamtamError('E_BAD_INPUT', `IMEI '${input.imei}' must be the modem's 15 digits (AT+CGSN, or the label)`);
    const status = checkStatus(input.status ?? CentreStatus.all);
    try {
      return await this.db.transaction(async (tx) => {
        const { rows } = await tx.query(
          `WITH n AS (SELECT nextval(pg_get_serial_sequence('centres', 'id')) AS id)
           INSERT INTO centres (id, matricule, name, city, phone, email, status, imei)
           SELECT n.id, coalesce($1, 'CTR-' || lpad(n.id::text, 6, '0')), $2, $3, $4, $5, $6, $7 FROM n RETURNING *`,
          [input.matricule ?? null, input.name.trim(), input.city ?? null, input.phone ?? null, input.email ?? null, status, input.imei ?? null]);
        const centre = toCentre(rows[0]);
        const issued = await this.tokens.issue(tx, centre.id);
        return { centre, ...issued };
      });
    } catch (e) {
      if (sqlState(e) === '23505') {
        if (/imei/.test((e as { constraint?: string }).constraint ?? '')) throw new TamtamError('E_BAD_INPUT', `IMEI ${input.imei} is already another centre's`, { cause: e });
        throw new TamtamError('E_BAD_INPUT', input.matricule === undefined
          ? 'the generated matricule is already taken by a centre registered with that name by hand; give this one a matricule'
          : `a centre with matricule '${input.matricule}' already exists; choose another matricule`, { cause: e });
      }
      throw e;
    }
  }

  async list(q: CentreQuery = {}): Promise<{ centres: Centre[]; total: number }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.status !== undefined) {
      params.push(checkStatus(q.status));
      where.push(`status = $${params.length}`);
    }
    if (q.search) {
      params.push(`%${q.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
      where.push(`(matricule ILIKE $${params.length} OR name ILIKE $${params.length} OR city ILIKE $${params.length})`);
    }
    params.push(Math.max(1, Math.min(q.limit ?? 100, 10_000)), Math.max(0, q.offset ?? 0));
    const { rows } = await this.db.query(
      `SELECT *, count(*) OVER () AS total FROM centres ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY matricule LIMIT $${params.length - 1} OFFSET $${params.length}`, params);
    const total = rows.length ? Number(rows[0].total) : Number((await this.db.query(`SELECT count(*) AS n FROM centres ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`, params.slice(0, -2))).rows[0].n);
    return { centres: rows.map(toCentre), total };
  }

  async get(matricule: string): Promise<Centre | undefined> {
    const { rows } = await this.db.query('SELECT * FROM centres WHERE matricule = $1', [matricule]);
    return rows[0] ? toCentre(rows[0]) : undefined;
  }

  /** The centre whose Iridium SBD modem has this IMEI: the gateway names MO messages by IMEI only. */
  async findByImei(imei: string): Promise<Centre | undefined> {
    const { rows } = await this.db.query('SELECT * FROM centres WHERE imei = $1', [imei]);
    return rows[0] ? toCentre(rows[0]) : undefined;
  }

  async require(matricule: string): Promise<Centre> {
    const centre = await this.get(matricule);
    if (!centre) throw new TamtamError('E_BAD_INPUT', `no centre '${matricule}' is registered at this hub; list them with 'tamtam hub centre list'`);
    return centre;
  }

  async setStatus(matricule: string, status: CentreStatusCode): Promise<Centre> {
    const { rows } = await this.db.query('UPDATE centres SET status = $2 WHERE matricule = $1 RETURNING *', [matricule, checkStatus(status)]);
    if (!rows[0]) return this.require(matricule);
    return toCentre(rows[0]);
  }

  suspend(matricule: string): Promise<Centre> {
    return this.setStatus(matricule, CentreStatus.suspended);
  }

  resume(matricule: string): Promise<Centre> {
    return this.setStatus(matricule, CentreStatus.all);
  }

  /** The centre's monthly link budget in USD, null when it has none. */
  async getBudget(matricule: string): Promise<number | null> {
    const { rows } = await this.db.query<{ b: number | null }>('SELECT monthly_budget_usd::float8 AS b FROM centres WHERE matricule = $1', [matricule]);
    if (!rows[0]) return this.require(matricule).then(() => null);
    return rows[0].b;
  }

  /** Sets (in whole cents) or clears (null) the monthly link budget the dashboard's over-budget alert compares the month's cost with. */
  async setBudget(matricule: string, usd: number | null): Promise<number | null> {
    if (usd !== null && (typeof usd !== 'number' || !Number.isFinite(usd) || usd < 0 || usd >= 1e9)) {
      throw new TamtamError('E_BAD_INPUT', `a monthly budget is an amount in USD from 0 to 999,999,999.99, not ${usd}; or none to have no budget`);
    }
    const { rows } = await this.db.query<{ b: number | null }>('UPDATE centres SET monthly_budget_usd = round($2::numeric, 2) WHERE matricule = $1 RETURNING monthly_budget_usd::float8 AS b',
      [matricule, usd]);
    if (!rows[0]) return this.require(matricule).then(() => null);
    return rows[0].b;
  }

  /** A new token (for a re-enrolment, or when the first one expired); earlier unused ones stop working. */
  async issueToken(matricule: string, validDays?: number): Promise<IssuedToken> {
    const centre = await this.require(matricule);
    return this.db.transaction((tx) => this.tokens.issue(tx, centre.id, validDays));
  }

  /** Spends the centre's one-time token; throws E_BAD_TOKEN when it is wrong, used or expired. */
  async consumeToken(matricule: string, token: string): Promise<Centre> {
    const centre = await this.get(matricule);
    if (!centre) throw new TamtamError('E_BAD_TOKEN', `no centre '${matricule}' is registered at this hub; check the matricule the operator gave`);
    await this.tokens.consume(centre.id, matricule, token);
    return centre;
  }

  /** Enrols the certificate: from now on only SDCs signed with its key are accepted from this centre. */
  async setCertificate(matricule: string, certPem: string): Promise<Centre> {
    const cert = readCertificate(certPem, `the certificate for centre ${matricule}`);
    try {
      const { rows } = await this.db.query(
        'UPDATE centres SET cert_pem = $2, cert_key_id = $3, cert_not_after = $4 WHERE matricule = $1 RETURNING *',
        [matricule, certPem, cert.subjectKeyId ? Buffer.from(cert.subjectKeyId) : null, cert.notAfter]);
      if (!rows[0]) return this.require(matricule);
      return toCentre(rows[0]);
    } catch (e) {
      if (sqlState(e) === '23505') throw new TamtamError('E_BAD_CERT', `this certificate is already enrolled for another centre; centre ${matricule} must enrol with its own key pair`, { cause: e });
      throw e;
    }
  }

  /** The centre's enrolled certificate, parsed (cached), or undefined when it has none. */
  certificateOf(centre: Centre): Certificate | undefined {
    if (!centre.certPem) return undefined;
    let cert = this.parsed.get(centre.certPem);
    if (!cert) {
      cert = parseCertificate(centre.certPem);
      if (this.parsed.size >= 10_000) this.parsed.clear();
      this.parsed.set(centre.certPem, cert);
    }
    return cert;
  }

  /** The certificate enrolled for THIS centre, if `id` names it; another centre's certificate never answers. */
  async findSigner(matricule: string, id: CertId): Promise<Certificate | undefined> {
    const centre = await this.get(matricule);
    const cert = centre && this.certificateOf(centre);
    return cert && certMatches(cert, id) ? cert : undefined;
  }

  /** Records that the centre was heard from, and the highest SDC sequence seen. */
  async touch(matricule: string, sequence?: bigint): Promise<void> {
    await this.db.query(
      `UPDATE centres SET last_contact_at = now(),
         last_sequence = CASE WHEN $2::bigint IS NULL THEN last_sequence ELSE greatest(last_sequence, $2::bigint) END
       WHERE matricule = $1`, [matricule, sequence === undefined ? null : sequence.toString()]);
  }
}
