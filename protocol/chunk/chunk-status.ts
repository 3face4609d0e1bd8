import { TamtamError } from '../errors.js';
import { isU32, MAX_FRAME_PAYLOAD } from './chunk-frame.js';

/**
 * Selective acknowledgement: what a receiver lacks of one transfer, so the
 * sender resends only that. Payload of a Status frame:
 *
 *   flags u8 | chunk size u16 | count u32 | base u32 | span u32 | body
 *
 * It describes the items (chunks, or manifest parts while the manifest is
 * incomplete) in [base, base + span); every item below base is held, items
 * from base + span on are not described (the answer had to fit a small
 * message; ask again after sending). The body is a bitmap (1 = held, MSB
 * first) or (gap, run) pairs of LEB128 varints, whichever is smaller.
 */

export const STATUS_HEADER_SIZE = 15;
/** Smallest status payload a receiver will fit an answer into; smaller requests are raised to it. */
export const MIN_STATUS_PAYLOAD = 24;
export const STATUS_REQUEST_SIZE = 2;

const FLAG_COMPLETE = 0x01;
const FLAG_MANIFEST = 0x02;
const FLAG_RANGES = 0x04;
const FLAG_REFUSED = 0x08;
const KNOWN_FLAGS = FLAG_COMPLETE | FLAG_MANIFEST | FLAG_RANGES | FLAG_REFUSED;

export interface IndexRange {
  start: number;
  count: number;
}

export interface ChunkStatus {
  /** Carried by the frame header, not the payload. */
  transferId: number;
  /** 'manifest' while the receiver lacks the manifest: then count and ranges are manifest parts. */
  subject: 'chunks' | 'manifest';
  /** All chunks arrived and the SDC matched its SHA-256. */
  complete: boolean;
  /** The receiver will not take this transfer (too large, inconsistent manifest): stop sending it. */
  refused: boolean;
  /** The receiver's chunk size (0 if not known): a sender that lost its own re-cuts with it. */
  chunkSize: number;
  /** Number of chunks or manifest parts, 0 if not known yet. */
  count: number;
  base: number;
  span: number;
  /** Missing items inside [base, base + span), ascending and disjoint. */
  missing: IndexRange[];
}

export type StatusEncoding = 'auto' | 'bitmap' | 'ranges';

export function bitmapFor(count: number): Uint8Array {
  return new Uint8Array(Math.ceil(count / 8));
}
export function hasBit(bitmap: Uint8Array, i: number): boolean {
  return (bitmap[i >>> 3] & (0x80 >>> (i & 7))) !== 0;
}
export function setBit(bitmap: Uint8Array, i: number): void {
  bitmap[i >>> 3] |= 0x80 >>> (i & 7);
}

/** Runs of missing (clear) items in [from, to) of a have-bitmap, ascending. */
export function* missingRuns(have: Uint8Array, from: number, to: number): Generator<IndexRange> {
  let i = from;
  while (i < to) {
    if ((i & 7) === 0 && have[i >>> 3] === 0xff) { i += 8; continue; }
    if (hasBit(have, i)) { i++; continue; }
    const start = i;
    while (i < to && !hasBit(have, i)) i++;
    yield { start, count: i - start };
  }
}

/**
 * Chooses base and span so the answer fits `maxPayload` bytes: base is the
 * first missing item, and the span is the longest that either encoding can
 * carry in the budget.
 */
export function describeBitmap(have: Uint8Array, count: number, maxPayload = MAX_FRAME_PAYLOAD): Pick<ChunkStatus, 'base' | 'span' | 'missing'> {
  const budget = Math.min(Math.max(maxPayload, MIN_STATUS_PAYLOAD), MAX_FRAME_PAYLOAD) - STATUS_HEADER_SIZE;
  const runs: IndexRange[] = [];
  let base = count;
  let pos = -1;
  let bytes = 0;
  let rangesSpan = -1;
  for (const run of missingRuns(have, 0, count)) {
    if (pos < 0) pos = base = run.start;
    const cost = varintSize(run.start - pos) + varintSize(run.count);
    if (rangesSpan < 0 && bytes + cost > budget) rangesSpan = run.start - base;
    bytes += cost;
    pos = run.start + run.count;
    runs.push(run);
    if (rangesSpan >= 0 && run.start - base >= budget * 8) break;
  }
  if (rangesSpan < 0) rangesSpan = count - base;
  const span = Math.max(rangesSpan, Math.min(count - base, budget * 8));
  const end = base + span;
  const missing: IndexRange[] = [];
  for (const r of runs) {
    if (r.start >= end) break;
    missing.push({ start: r.start, count: Math.min(r.count, end - r.start) });
  }
  return { base, span, missing };
}

export function encodeChunkStatus(s: ChunkStatus, encoding: StatusEncoding = 'auto'): Uint8Array {
  if (!Number.isInteger(s.chunkSize) || s.chunkSize < 0 || s.chunkSize > 0xffff || !isU32(s.count) || !isU32(s.base) || !isU32(s.span)) {
    throw new TamtamError('E_BAD_INPUT', 'chunk status fields out of range');
  }
  let pos = s.base;
  for (const r of s.missing) {
    if (!isU32(r.start) || !Number.isInteger(r.count) || r.count < 1 || r.start < pos || r.start + r.count > s.base + s.span) {
      throw new TamtamError('E_BAD_INPUT', 'chunk status ranges must be ascending, disjoint and inside [base, base + span)');
    }
    pos = r.start + r.count;
  }
  const ranges = encodeRanges(s);
  const useRanges = encoding === 'ranges' || (encoding === 'auto' && ranges.length < Math.ceil(s.span / 8));
  if ((useRanges ? ranges.length : Math.ceil(s.span / 8)) > MAX_FRAME_PAYLOAD - STATUS_HEADER_SIZE) {
    throw new TamtamError('E_TOO_LARGE', 'chunk status does not fit one frame; build it with describeBitmap and a size limit');
  }
  const body = useRanges ? ranges : encodeBitmap(s);
  const out = new Uint8Array(STATUS_HEADER_SIZE + body.length);
  const view = new DataView(out.buffer);
  out[0] = (s.complete ? FLAG_COMPLETE : 0) | (s.subject === 'manifest' ? FLAG_MANIFEST : 0) | (useRanges ? FLAG_RANGES : 0) | (s.refused ? FLAG_REFUSED : 0);
  view.setUint16(1, s.chunkSize);
  view.setUint32(3, s.count);
  view.setUint32(7, s.base);
  view.setUint32(11, s.span);
  out.set(body, STATUS_HEADER_SIZE);
  return out;
}

export function decodeChunkStatus(payload: Uint8Array, transferId: number): ChunkStatus {
  if (payload.length < STATUS_HEADER_SIZE) throw new TamtamError('E_TRUNCATED', `chunk status of ${payload.length} bytes is shorter than its ${STATUS_HEADER_SIZE}-byte header`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const flags = payload[0];
  if ((flags & ~KNOWN_FLAGS) !== 0) throw new TamtamError('E_MALFORMED', `chunk status has unknown flags 0x${flags.toString(16)}`);
  const count = view.getUint32(3);
  const base = view.getUint32(7);
  const span = view.getUint32(11);
  if (base + span > count) throw new TamtamError('E_MALFORMED', `chunk status describes [${base}, ${base + span}) of only ${count} items`);
  const body = payload.subarray(STATUS_HEADER_SIZE);
  const missing = flags & FLAG_RANGES ? decodeRanges(body, base, span) : decodeBitmap(body, base, span);
  const complete = (flags & FLAG_COMPLETE) !== 0;
  if (complete && (missing.length > 0 || base !== count)) throw new TamtamError('E_MALFORMED', 'chunk status says complete yet lists missing chunks');
  return {
    transferId, complete, subject: flags & FLAG_MANIFEST ? 'manifest' : 'chunks', refused: (flags & FLAG_REFUSED) !== 0,
    chunkSize: view.getUint16(1), count, base, span, missing,
  };
}

/** Payload of a StatusRequest frame: the largest status payload the asker can take (0 = no limit). */
export function encodeStatusRequest(maxStatusPayload = 0): Uint8Array {
  if (!Number.isInteger(maxStatusPayload) || maxStatusPayload < 0 || maxStatusPayload > 0xffff) {
    throw new TamtamError('E_BAD_INPUT', `status size limit ${maxStatusPayload} is not a 16-bit unsigned integer`);
  }
  return Uint8Array.of(maxStatusPayload >>> 8, maxStatusPayload & 0xff);
}

export function decodeStatusRequest(payload: Uint8Array): number {
  if (payload.length < STATUS_REQUEST_SIZE) throw new TamtamError('E_TRUNCATED', 'status request shorter than 2 bytes');
  if (payload.length > STATUS_REQUEST_SIZE) throw new TamtamError('E_MALFORMED', 'status request longer than 2 bytes');
  const limit = (payload[0] << 8) | payload[1];
  return limit === 0 ? MAX_FRAME_PAYLOAD : limit;
}

function encodeBitmap(s: ChunkStatus): Uint8Array {
  const body = bitmapFor(s.span).fill(0xff);
  if (s.span % 8 !== 0) body[body.length - 1] = 0xff << (8 - (s.span % 8));
  for (const r of s.missing) for (let i = r.start; i < r.start + r.count; i++) body[(i - s.base) >>> 3] &= ~(0x80 >>> ((i - s.base) & 7));
  return body;
}

function decodeBitmap(body: Uint8Array, base: number, span: number): IndexRange[] {
  const need = Math.ceil(span / 8);
  if (body.length < need) throw new TamtamError('E_TRUNCATED', `status bitmap has ${body.length} bytes, ${need} needed for ${span} items`);
  if (body.length > need) throw new TamtamError('E_MALFORMED', `status bitmap has ${body.length - need} bytes too many`);
  if (span % 8 !== 0 && (body[need - 1] & (0xff >>> (span % 8))) !== 0) throw new TamtamError('E_MALFORMED', 'status bitmap padding bits are not zero');
  return Array.from(missingRuns(body, 0, span), (r) => ({ start: base + r.start, count: r.count }));
}

function encodeRanges(s: ChunkStatus): Uint8Array {
  const out: number[] = [];
  let pos = s.base;
  for (const r of s.missing) {
    writeVarint(out, r.start - pos);
    writeVarint(out, r.count);
    pos = r.start + r.count;
  }
  return Uint8Array.from(out);
}

function decodeRanges(body: Uint8Array, base: number, span: number): IndexRange[] {
  const ranges: IndexRange[] = [];
  let pos = base;
  let at = 0;
  while (at < body.length) {
    const [gap, next] = readVarint(body, at);
    const [count, after] = readVarint(body, next);
    at = after;
    if (count === 0) throw new TamtamError('E_MALFORMED', 'status range of zero items');
    if (pos + gap + count > base + span) throw new TamtamError('E_MALFORMED', `status ranges run past the described span [${base}, ${base + span})`);
    ranges.push({ start: pos + gap, count });
    pos += gap + count;
  }
  return ranges;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) { n = Math.floor(n / 128); size++; }
  return size;
}

function writeVarint(out: number[], n: number): void {
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
}

/** Unsigned LEB128, at most 32 bits, shortest form only, so each status has one encoding. */
function readVarint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (at + i >= bytes.length) throw new TamtamError('E_TRUNCATED', 'status range varint cut short');
    const b = bytes[at + i];
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) {
      if (i > 0 && b === 0) throw new TamtamError('E_MALFORMED', 'status range varint is not in shortest form');
      if (value > 0xffffffff) throw new TamtamError('E_MALFORMED', 'status range varint exceeds 32 bits');
      return [value, at + i + 1];
    }
  }
  throw new TamtamError('E_MALFORMED', 'status range varint longer than 5 bytes');
}
