import { TamtamError, type ErrorCode } from '../../protocol/errors.js';
import type { SdcHeader } from '../../protocol/sdc/sdc-header.js';
import { DEFAULT_MAX_SDC } from '../../protocol/sdc/sdc.js';
import type { Queryable } from '../db/hub-database.js';

/** Bytes of a quarantined SDC kept: enough for any real SDC, not a disk filled by garbage. */
export const MAX_QUARANTINED_BYTES = DEFAULT_MAX_SDC;

export interface QuarantineEntry {
  id: string;
  receivedAt: Date;
  via: string;
  /** As the clear header claims it: not authenticated. */
  sender: string | null;
  kind: number | null;
  sequence: string | null;
  code: ErrorCode;
  reason: string;
  /** Size as received; `sdc` holds at most MAX_QUARANTINED_BYTES of it. */
  size: number;
}

export interface QuarantineQuery {
  sender?: string;
  limit?: number;
  offset?: number;
}

/** Keeps an SDC that could not be opened or attributed, with why, for staff to look at; returns its id. */
export async function quarantineSdc(q: Queryable, sdc: Uint8Array, o: { via: string; header?: SdcHeader; error: TamtamError }): Promise<string> {
  const kept = sdc.subarray(0, MAX_QUARANTINED_BYTES);
  const { rows } = await q.query<{ id: string }>(
    `INSERT INTO quarantine (via, sender, kind, sequence, code, reason, size, sdc)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
    [o.via, o.header?.sender ?? null, o.header?.kind ?? null, o.header?.sequence.toString() ?? null, o.error.code,
      o.error.message, sdc.length, Buffer.from(kept.buffer, kept.byteOffset, kept.byteLength)]);
  return rows[0].id;
}

export async function listQuarantine(q: Queryable, query: QuarantineQuery = {}): Promise<QuarantineEntry[]> {
  const { rows } = await q.query(
    `SELECT id, received_at, via, sender, kind, sequence::text AS sequence, code, reason, size FROM quarantine
      WHERE ($1::text IS NULL OR sender = $1) ORDER BY id DESC LIMIT $2 OFFSET $3`,
    [query.sender ?? null, Math.max(1, Math.min(query.limit ?? 100, 10_000)), Math.max(0, query.offset ?? 0)]);
  return rows.map((r) => ({
    id: r.id, receivedAt: r.received_at, via: r.via, sender: r.sender, kind: r.kind, sequence: r.sequence,
    code: r.code, reason: r.reason, size: r.size,
  }));
}

/** The kept bytes of a quarantined SDC, to inspect or to ingest again once the cause is fixed. */
export async function quarantinedSdc(q: Queryable, id: string): Promise<Uint8Array | undefined> {
  const { rows } = await q.query<{ sdc: Buffer }>('SELECT sdc FROM quarantine WHERE id = $1', [id]);
  return rows[0] ? new Uint8Array(rows[0].sdc) : undefined;
}

/** Anything a pure decoder threw, as the TamtamError a quarantine row needs. */
export function asInputError(e: unknown, what: string): TamtamError {
  if (e instanceof TamtamError) return e;
  return new TamtamError('E_MALFORMED', `${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}
