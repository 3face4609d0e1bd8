import type { KeyObject } from 'node:crypto';
import type { Certificate } from '../../protocol/certificate.js';
import type { Compressor } from '../../protocol/compressor.js';
import { TamtamError } from '../../protocol/errors.js';
import { encodeJsonBody } from '../../protocol/sdc/json-body.js';
import { SdcKind, checkSender } from '../../protocol/sdc/sdc-header.js';
import { sealSdc } from '../../protocol/sdc/sdc.js';
import type { DiagnosticRequestView } from '../dashboard/dashboard-types.js';
import type { HubDatabase, Queryable } from '../db/hub-database.js';
import type { OutboundStore } from '../receivers/outbound-store.js';
import { CentreRegistry } from '../registry/centre-registry.js';

export interface DiagnosticRequestsOptions {
  db: HubDatabase;
  compressor: Compressor;
  hubKey: KeyObject;
  hubCert: Certificate;
  hubId: string;
  /** Replies waiting for a centre's next call (modem, SBD) or USB stick. */
  outbound: OutboundStore;
  /** Publishes on the centre's MQTT down topic (MqttReceiver.publishDown); absent: every request waits in `outbound`. */
  publish?: (centre: string, payload: Uint8Array) => Promise<void>;
  now?: () => Date;
}

const REQUESTED_BY_MAX = 200;

interface Row {
  id: string;
  requested_at: Date;
  requested_by: string;
  delivered_via: string;
  answered_at: Date | null;
  body: Record<string, unknown> | null;
}

const view = (r: Row): DiagnosticRequestView => ({
  id: r.id, requestedAt: r.requested_at.toISOString(), requestedBy: r.requested_by, deliveredVia: r.delivered_via,
  answeredAt: r.answered_at ? r.answered_at.toISOString() : null, report: r.body,
});

/**
 * Asks a centre's agent for a diagnostic report without any open port at the
 * centre: a diagnosticRequest SDC, signed by the hub and sealed for the
 * centre, goes down the way the centre's receipts do. The agent answers with a
 * diagnosticReport SDC like any other, and the ingest marks the request
 * answered (storeDiagnosticAnswer).
 */
export class DiagnosticRequests {
  private readonly registry: CentreRegistry;
  private readonly now: () => Date;

  constructor(private readonly o: DiagnosticRequestsOptions) {
    checkSender(o.hubId);
    this.registry = new CentreRegistry(o.db);
    this.now = o.now ?? (() => new Date());
  }

  /**
   * Seals a request for the centre's enrolled certificate and sends it:
   * published on its MQTT down topic when its last SDC came by MQTT and a
   * publisher is given, else left in the outbound store for its next call or
   * stick. E_NOT_FOUND for an unknown centre, E_CONFIG when it never enrolled.
   */
  async request(matricule: string, requestedBy: string): Promise<DiagnosticRequestView> {
    const centre = await this.registry.get(matricule);
    if (!centre) throw new TamtamError('E_NOT_FOUND', `no centre '${matricule}' is registered at this hub; check the matricule ('tamtam hub centre list')`);
    const cert = this.registry.certificateOf(centre);
    if (!cert) throw new TamtamError('E_CONFIG', `centre ${matricule} never enrolled, so nothing can be sealed for it; it must enrol first ('tamtam agent enrol' at the centre)`);
    const last = await this.o.db.query<{ via: string }>('SELECT via FROM sdc_seen WHERE centre_id = $1 ORDER BY received_at DESC, sequence DESC LIMIT 1', [centre.id]);
    const via = last.rows[0]?.via === 'mqtt' && this.o.publish ? 'mqtt' : 'outbound';
    const by = requestedBy.trim().slice(0, REQUESTED_BY_MAX) || 'unknown';
    const at = this.now();
    // The row first, so its id names the request; the hub's receipt counter numbers the SDC, so it never collides with a receipt.
    const { id, sdc } = await this.o.db.transaction(async (tx) => {
      const row = await tx.query<{ id: string }>(
        'INSERT INTO diagnostic_requests (centre_id, requested_at, requested_by, delivered_via) VALUES ($1, $2, $3, $4) RETURNING id::text AS id', [centre.id, at, by, via]);
      const seq = await tx.query<{ s: string }>("SELECT nextval('hub_receipt_seq')::text AS s");
      const body = { request: 'diagnostic', version: 1, id: row.rows[0]!.id, requestedBy: by, at: at.toISOString() };
      const sealed = sealSdc(this.o.compressor, encodeJsonBody(body), {
        kind: SdcKind.diagnosticRequest, sender: this.o.hubId, sequence: BigInt(seq.rows[0]!.s), count: 0,
        signerKey: this.o.hubKey, signerCert: this.o.hubCert, recipientCert: cert, created: Math.floor(at.getTime() / 1000),
      });
      return { id: row.rows[0]!.id, sdc: sealed };
    });
    try {
      if (via === 'mqtt') await this.o.publish!(matricule, sdc);
      else {
        const outboundId = await this.o.outbound.put(matricule, sdc);
        if (/^\d+$/.test(outboundId)) await this.o.db.query('UPDATE diagnostic_requests SET outbound_id = $2 WHERE id = $1', [id, outboundId]);
      }
    } catch (e) {
      // Not sent: no request may be listed as waiting for an answer that cannot come.
      await this.o.db.query('DELETE FROM diagnostic_requests WHERE id = $1', [id]).catch(() => undefined);
      throw e;
    }
    return { id, requestedAt: at.toISOString(), requestedBy: by, deliveredVia: via, answeredAt: null, report: null };
  }

  /** The centre's requests, newest first, each with its report once answered. */
  async list(matricule: string, limit = 10): Promise<DiagnosticRequestView[]> {
    const centre = await this.registry.get(matricule);
    if (!centre) throw new TamtamError('E_NOT_FOUND', `no centre '${matricule}' is registered at this hub; check the matricule ('tamtam hub centre list')`);
    const { rows } = await this.o.db.query<Row>(
      `SELECT d.id::text AS id, d.requested_at, d.requested_by, d.delivered_via, d.answered_at, r.body
         FROM diagnostic_requests d LEFT JOIN centre_reports r ON r.id = d.report_id
        WHERE d.centre_id = $1 ORDER BY d.requested_at DESC, d.id DESC LIMIT $2`, [centre.id, Math.max(1, Math.min(limit, 500))]);
    return rows.map(view);
  }
}

/**
 * Called by the ingest, in the transaction that stores a diagnosticReport:
 * marks its request answered and drops the request from the outbound store if
 * it still waits there (the answer came another way, or before the centre
 * confirmed the request). A report naming no request of this centre changes
 * nothing: it is still kept, as every report is.
 */
export async function storeDiagnosticAnswer(tx: Queryable, centreId: number, reportId: string, body: Record<string, unknown>, at: Date): Promise<void> {
  const requestId = body.requestId;
  if (body.report !== 'diagnostic' || typeof requestId !== 'string' || !/^\d{1,18}$/.test(requestId)) return;
  const { rows } = await tx.query<{ outbound_id: string | null }>(
    `UPDATE diagnostic_requests SET answered_at = $4, report_id = $3
      WHERE id = $1 AND centre_id = $2 AND answered_at IS NULL RETURNING outbound_id::text AS outbound_id`, [requestId, centreId, reportId, at]);
  const outboundId = rows[0]?.outbound_id;
  if (outboundId) await tx.query('DELETE FROM outbound WHERE id = $1 AND centre_id = $2', [outboundId, centreId]);
}
