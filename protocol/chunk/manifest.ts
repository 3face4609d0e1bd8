import { createHash } from 'node:crypto';
import { TamtamError } from '../errors.js';
import { crc32 } from './crc32.js';
import { transferIdOf } from './chunk-frame.js';

/**
 * The manifest describes one SDC cut into chunks: its size, chunk size,
 * SHA-256, and a truncated SHA-256 per chunk, so the receiver can reject a bad
 * chunk on arrival instead of learning at the very end that one of thousands
 * was wrong. It has its own magic because it is also stored and carried
 * alone (spool, other links), not only inside frames.
 *
 *   'T' 'M' | version | hash length | transfer id u32 | total size u64 | chunk size u16
 *   | chunk count u32 | SHA-256 (32) | chunk hashes (count × hash length) | CRC-32
 */

export const MANIFEST_MAGIC = Uint8Array.of(0x54, 0x4d);
export const MANIFEST_VERSION = 0x01;
export const MANIFEST_FIXED_SIZE = 58;
export const DEFAULT_HASH_LENGTH = 8;
export const MIN_HASH_LENGTH = 4;
export const MAX_HASH_LENGTH = 32;
export const DEFAULT_MAX_TOTAL_SIZE = 64 * 1024 * 1024;
export const DEFAULT_MAX_CHUNK_COUNT = 1 << 20;
/** Manifest part payload: part count u16, then a slice of the manifest bytes. */
export const MANIFEST_PART_HEADER = 2;

export interface Manifest {
  transferId: number;
  totalSize: number;
  chunkSize: number;
  chunkCount: number;
  hashLength: number;
  sha256: Uint8Array;
  /** chunkCount × hashLength bytes: the first hashLength bytes of each chunk's SHA-256. */
  chunkHashes: Uint8Array;
}

export interface ManifestLimits {
  maxTotalSize?: number;
  maxChunkCount?: number;
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

export function buildManifest(sdc: Uint8Array, chunkSize: number, hashLength = DEFAULT_HASH_LENGTH): Manifest {
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 0xffff) {
    throw new TamtamError('E_BAD_INPUT', `chunk size must be an integer from 1 to 65535, got ${chunkSize}`);
  }
  if (!Number.isInteger(hashLength) || hashLength < MIN_HASH_LENGTH || hashLength > MAX_HASH_LENGTH) {
    throw new TamtamError('E_BAD_INPUT', `chunk hash length must be ${MIN_HASH_LENGTH} to ${MAX_HASH_LENGTH} bytes, got ${hashLength}`);
  }
  const chunkCount = Math.ceil(sdc.length / chunkSize);
  const chunkHashes = new Uint8Array(chunkCount * hashLength);
  for (let i = 0; i < chunkCount; i++) {
    const chunk = sdc.subarray(i * chunkSize, Math.min(sdc.length, (i + 1) * chunkSize));
    chunkHashes.set(sha256(chunk).subarray(0, hashLength), i * hashLength);
  }
  const digest = sha256(sdc);
  return { transferId: transferIdOf(digest), totalSize: sdc.length, chunkSize, chunkCount, hashLength, sha256: digest, chunkHashes };
}

export function encodeManifest(m: Manifest): Uint8Array {
  const body = MANIFEST_FIXED_SIZE - 4 + m.chunkHashes.length;
  const out = new Uint8Array(body + 4);
  const view = new DataView(out.buffer);
  out.set(MANIFEST_MAGIC, 0);
  out[2] = MANIFEST_VERSION;
  out[3] = m.hashLength;
  view.setUint32(4, m.transferId);
  view.setUint32(8, Math.floor(m.totalSize / 2 ** 32));
  view.setUint32(12, m.totalSize >>> 0);
  view.setUint16(16, m.chunkSize);
  view.setUint32(18, m.chunkCount);
  out.set(m.sha256, 22);
  out.set(m.chunkHashes, 54);
  view.setUint32(body, crc32(out, 0, 0, body));
  return out;
}

/** Decodes and checks a whole manifest; limits are checked before anything is allocated. */
export function decodeManifest(bytes: Uint8Array, limits: ManifestLimits = {}): Manifest {
  const maxTotal = limits.maxTotalSize ?? DEFAULT_MAX_TOTAL_SIZE;
  const maxCount = limits.maxChunkCount ?? DEFAULT_MAX_CHUNK_COUNT;
  if ((bytes.length >= 1 && bytes[0] !== MANIFEST_MAGIC[0]) || (bytes.length >= 2 && bytes[1] !== MANIFEST_MAGIC[1])) {
    throw new TamtamError('E_BAD_MAGIC', "not a chunk manifest: it does not start with 'TM'");
  }
  if (bytes.length >= 3 && bytes[2] !== MANIFEST_VERSION) {
    throw new TamtamError('E_BAD_VERSION', `manifest version ${bytes[2]} is not supported (this build reads version ${MANIFEST_VERSION})`);
  }
  if (bytes.length < MANIFEST_FIXED_SIZE) throw new TamtamError('E_TRUNCATED', `manifest of ${bytes.length} bytes is shorter than its ${MANIFEST_FIXED_SIZE}-byte minimum`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hashLength = bytes[3];
  if (hashLength < MIN_HASH_LENGTH || hashLength > MAX_HASH_LENGTH) {
    throw new TamtamError('E_MALFORMED', `manifest chunk hash length ${hashLength} is outside ${MIN_HASH_LENGTH}..${MAX_HASH_LENGTH}`);
  }
  const high = view.getUint32(8);
  const totalSize = high * 2 ** 32 + view.getUint32(12);
  const chunkSize = view.getUint16(16);
  const chunkCount = view.getUint32(18);
  if (totalSize > maxTotal) throw new TamtamError('E_TOO_LARGE', `SDC of ${totalSize} bytes exceeds the receiver's limit of ${maxTotal}`, { details: { totalSize, maxTotal } });
  if (chunkCount > maxCount) throw new TamtamError('E_TOO_LARGE', `${chunkCount} chunks exceed the receiver's limit of ${maxCount}`, { details: { chunkCount, maxCount } });
  if (chunkSize === 0 || chunkCount !== Math.ceil(totalSize / chunkSize)) {
    throw new TamtamError('E_MALFORMED', `manifest says ${chunkCount} chunks of ${chunkSize} bytes for ${totalSize} bytes, which does not add up`);
  }
  const body = MANIFEST_FIXED_SIZE - 4 + chunkCount * hashLength;
  if (bytes.length < body + 4) throw new TamtamError('E_TRUNCATED', `manifest announces ${body + 4} bytes but has ${bytes.length}`);
  if (bytes.length > body + 4) throw new TamtamError('E_MALFORMED', `${bytes.length - body - 4} bytes follow the manifest's CRC`);
  if (view.getUint32(body) !== crc32(bytes, 0, 0, body)) throw new TamtamError('E_BAD_CRC', 'manifest CRC-32 does not match; it was damaged or assembled from parts of two manifests');
  const digest = bytes.slice(22, 54);
  const transferId = view.getUint32(4);
  if (transferId !== transferIdOf(digest)) throw new TamtamError('E_MALFORMED', "manifest transfer id is not the first 4 bytes of the SDC's SHA-256");
  return { transferId, totalSize, chunkSize, chunkCount, hashLength, sha256: digest, chunkHashes: bytes.slice(54, body) };
}

/** Length the chunk at `index` must have: chunkSize, except a shorter last one. */
export function chunkLength(m: Manifest, index: number): number {
  return Math.min(m.chunkSize, m.totalSize - index * m.chunkSize);
}

/** True if `payload` is chunk `index` of the SDC the manifest describes (length and truncated hash). */
export function chunkMatches(m: Manifest, index: number, payload: Uint8Array): boolean {
  if (index < 0 || index >= m.chunkCount || payload.length !== chunkLength(m, index)) return false;
  const want = m.chunkHashes.subarray(index * m.hashLength, (index + 1) * m.hashLength);
  const got = sha256(payload);
  for (let i = 0; i < want.length; i++) if (want[i] !== got[i]) return false;
  return true;
}

/** Cuts encoded manifest bytes into frame payloads of at most `payloadSize` bytes. */
export function splitManifest(manifestBytes: Uint8Array, payloadSize: number): Uint8Array[] {
  const slice = payloadSize - MANIFEST_PART_HEADER;
  if (!Number.isInteger(slice) || slice < 1) throw new TamtamError('E_BAD_INPUT', `manifest part payload size ${payloadSize} leaves no room for data`);
  const count = Math.ceil(manifestBytes.length / slice);
  if (count > 0xffff) throw new TamtamError('E_TOO_LARGE', `manifest needs ${count} parts, more than 65535; use a larger chunk size`);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const data = manifestBytes.subarray(i * slice, Math.min(manifestBytes.length, (i + 1) * slice));
    const part = new Uint8Array(MANIFEST_PART_HEADER + data.length);
    part[0] = count >>> 8;
    part[1] = count & 0xff;
    part.set(data, MANIFEST_PART_HEADER);
    parts.push(part);
  }
  return parts;
}

export interface ManifestPart {
  partCount: number;
  data: Uint8Array;
}

/** Decodes the payload of a manifest frame whose index is `index`. */
export function decodeManifestPart(payload: Uint8Array, index: number): ManifestPart {
  if (payload.length <= MANIFEST_PART_HEADER) throw new TamtamError('E_TRUNCATED', `manifest part of ${payload.length} bytes holds no data`);
  const partCount = (payload[0] << 8) | payload[1];
  if (index >= partCount) throw new TamtamError('E_MALFORMED', `manifest part ${index} of a manifest announced as ${partCount} parts`);
  return { partCount, data: payload.slice(MANIFEST_PART_HEADER) };
}
