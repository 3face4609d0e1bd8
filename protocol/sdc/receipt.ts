import { ByteReader, ByteWriter } from '../bytes.js';
import { TamtamError } from '../errors.js';

export type RecordOutcome = 'merged' | 'duplicate' | 'rejected';
const OUTCOMES: RecordOutcome[] = ['merged', 'duplicate', 'rejected'];

export interface ReceiptEntry {
  numero: number;
  version: number;
  outcome: RecordOutcome;
  reason?: string;
}

/**
 * The hub's answer to one SDC: the whole SDC accepted (each record merged,
 * duplicate or rejected with a reason) or refused whole with a reason.
 */
export interface Receipt {
  sdcSender: string;
  sdcSequence: bigint;
  accepted: boolean;
  reason?: string;
  table?: string;
  entries: ReceiptEntry[];
}

export const RECEIPT_BODY_VERSION = 1;
const MAX_REASONS = 4096;

/** Numeros ascending and reasons pooled, since a batch's rejections share few reasons. */
export function encodeReceipt(r: Receipt): Uint8Array {
  const entries = [...r.entries].sort((a, b) => a.numero - b.numero || a.version - b.version);
  const reasons = [...new Set(entries.map((e) => e.reason).filter((x): x is string => !!x))];
  const index = new Map(reasons.map((x, i) => [x, i + 1]));
  const w = new ByteWriter(64 + entries.length * 4);
  w.u8(RECEIPT_BODY_VERSION).string(r.sdcSender).u64(r.sdcSequence).u8(r.accepted ? 0 : 1).string(r.reason ?? '').string(r.table ?? '');
  w.varint(reasons.length);
  for (const x of reasons) w.string(x);
  w.varint(entries.length);
  let prev = 0;
  for (const e of entries) {
    w.svarint(e.numero - prev).varint(e.version).u8(OUTCOMES.indexOf(e.outcome)).varint(e.reason ? index.get(e.reason)! : 0);
    prev = e.numero;
  }
  return w.finish();
}

export function decodeReceipt(body: Uint8Array, maxEntries = 1_000_000): Receipt {
  const r = new ByteReader(body, 'receipt');
  const version = r.u8('version');
  if (version !== RECEIPT_BODY_VERSION) throw new TamtamError('E_BAD_VERSION', `receipt version ${version} is not supported; upgrade Tamtam`);
  const sdcSender = r.string('SDC sender', 64);
  const sdcSequence = r.u64('SDC sequence');
  const status = r.u8('outcome');
  if (status > 1) throw new TamtamError('E_MALFORMED', `receipt outcome ${status} is unknown`);
  const reason = r.string('reason', 4096);
  const table = r.string('table', 255);
  const nReasons = r.varint('reason count');
  if (nReasons > MAX_REASONS) throw new TamtamError('E_TOO_LARGE', `receipt claims ${nReasons} reasons`);
  const reasons: string[] = [];
  for (let i = 0; i < nReasons; i++) reasons.push(r.string('reason', 4096));
  const n = r.varint('entry count');
  if (n > maxEntries || n > r.remaining) throw new TamtamError('E_TOO_LARGE', `receipt claims ${n} entries in ${r.remaining} bytes`);
  const entries: ReceiptEntry[] = [];
  let numero = 0;
  for (let i = 0; i < n; i++) {
    numero += r.svarint('numero');
    // Deltas of up to 2^52 each could sum past 2^53, where numbers lose their last digits silently.
    if (!Number.isSafeInteger(numero)) throw new TamtamError('E_MALFORMED', `receipt entry ${i} has a numero beyond 2^53`);
    const v = r.varint('version');
    const o = OUTCOMES[r.u8('record outcome')];
    const ri = r.varint('reason index');
    if (!o || ri > reasons.length) throw new TamtamError('E_MALFORMED', `receipt entry ${i} is malformed`);
    entries.push(ri ? { numero, version: v, outcome: o, reason: reasons[ri - 1] } : { numero, version: v, outcome: o });
  }
  r.end();
  return { sdcSender, sdcSequence, accepted: status === 0, ...(reason ? { reason } : {}), ...(table ? { table } : {}), entries };
}
