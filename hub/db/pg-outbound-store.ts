import { TamtamError } from '../../protocol/errors.js';
import type { OutboundStore } from '../receivers/outbound-store.js';
import type { Queryable } from './hub-database.js';

/**
 * Replies waiting for a centre that calls in on a byte-stream link (a modem):
 * kept in the hub's database so a receipt whose call dropped before the
 * centre confirmed it goes out on the next call, even after a hub restart.
 */
export class PgOutboundStore implements OutboundStore {
  constructor(private readonly db: Queryable) {}

  async put(centre: string, payload: Uint8Array): Promise<string> {
    const r = await this.db.query<{ id: string }>(
      'INSERT INTO outbound (centre_id, payload) SELECT id, $2 FROM centres WHERE matricule = $1 RETURNING id::text AS id', [centre, Buffer.from(payload)]);
    if (r.rows.length === 0) throw new TamtamError('E_UNKNOWN_SIGNER', `centre ${centre} is not in the registry; nothing can be queued for it`);
    return r.rows[0]!.id;
  }

  async pending(centre: string): Promise<{ id: string; payload: Uint8Array }[]> {
    const r = await this.db.query<{ id: string; payload: Buffer }>(
      'SELECT o.id::text AS id, o.payload FROM outbound o JOIN centres c ON c.id = o.centre_id WHERE c.matricule = $1 ORDER BY o.id', [centre]);
    return r.rows.map((row) => ({ id: row.id, payload: new Uint8Array(row.payload) }));
  }

  async delivered(centre: string, id: string): Promise<void> {
    await this.db.query('DELETE FROM outbound o USING centres c WHERE c.id = o.centre_id AND c.matricule = $1 AND o.id = $2::bigint', [centre, id]);
  }
}
