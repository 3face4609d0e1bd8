import type { KeyObject } from 'node:crypto';
import type { Certificate } from '../../protocol/certificate.js';
import type { RandomBytes } from '../../protocol/cms/enveloped-data.js';
import type { Compressor } from '../../protocol/compressor.js';
import { encodeReceipt, type Receipt } from '../../protocol/sdc/receipt.js';
import { SdcKind, checkSender } from '../../protocol/sdc/sdc-header.js';
import { sealSdc } from '../../protocol/sdc/sdc.js';
import type { Queryable } from '../db/hub-database.js';

export interface ReceiptBuilderOptions {
  compressor: Compressor;
  hubKey: KeyObject;
  hubCert: Certificate;
  /** Sender id of the hub's own SDCs; default 'hub'. */
  hubId?: string;
  now?: () => Date;
  random?: RandomBytes;
}

/** Receipt reasons are read by people and capped at 4096 bytes by the format; database messages can quote a whole value. */
const MAX_REASON_CHARS = 1000;

export const clipReason = (reason: string): string => (reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS - 3)}...` : reason);

/** Seals receipts for centres: signed by the hub, encrypted for the centre's enrolled certificate. */
export class ReceiptBuilder {
  readonly hubId: string;

  constructor(private readonly o: ReceiptBuilderOptions) {
    this.hubId = checkSender(o.hubId ?? 'hub');
  }

  /** The hub's receipt sequence comes from PostgreSQL, so every hub process numbers from one counter. */
  async seal(q: Queryable, centreCert: Certificate, receipt: Receipt): Promise<Uint8Array> {
    const { rows } = await q.query<{ s: string }>("SELECT nextval('hub_receipt_seq')::text AS s");
    const clipped: Receipt = {
      ...receipt,
      ...(receipt.reason === undefined ? {} : { reason: clipReason(receipt.reason) }),
      entries: receipt.entries.map((e) => (e.reason === undefined ? e : { ...e, reason: clipReason(e.reason) })),
    };
    return sealSdc(this.o.compressor, encodeReceipt(clipped), {
      kind: SdcKind.receipt,
      sender: this.hubId,
      sequence: BigInt(rows[0].s),
      count: clipped.entries.length,
      signerKey: this.o.hubKey,
      signerCert: this.o.hubCert,
      recipientCert: centreCert,
      created: Math.floor((this.o.now?.() ?? new Date()).getTime() / 1000),
      ...(this.o.random ? { random: this.o.random } : {}),
    });
  }
}
