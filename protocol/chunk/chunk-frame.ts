import { TamtamError } from '../errors.js';
import { crc32 } from './crc32.js';

/**
 * One frame on a raw byte link (serial modem, SBD message, file):
 *
 *   magic 'T' 'F' | version | type | transfer id u32 | index u32 | length u16 | payload | CRC-32
 *
 * All integers big-endian; the CRC covers every byte before it. The layout is
 * in protocol/FORMAT.md §12; change it only with a new version byte.
 */

export const FRAME_MAGIC = Uint8Array.of(0x54, 0x46);
export const FRAME_VERSION = 0x01;
export const FRAME_HEADER_SIZE = 14;
export const FRAME_CRC_SIZE = 4;
export const FRAME_OVERHEAD = FRAME_HEADER_SIZE + FRAME_CRC_SIZE;
export const MAX_FRAME_PAYLOAD = 0xffff;

/** Frame types of version 1; 0x09–0x7F are kept for the protocol, 0x80–0xFF for local experiments. */
export const FrameType = {
  Chunk: 0x01,
  Manifest: 0x02,
  Status: 0x03,
  StatusRequest: 0x04,
  /** Stream sessions (FORMAT.md §14, protocol/session/): caller → answerer. */
  Hello: 0x05,
  /** Answerer → caller: the call is accepted or refused. */
  Welcome: 0x06,
  /** Either side: nothing more to send. */
  Bye: 0x07,
  /** Receiver → sender: a transfer is held but not taken now, or refused for good, with a reason. */
  Decline: 0x08,
} as const;
export type FrameTypeName = keyof typeof FrameType;

export interface Frame {
  type: number;
  /** First four bytes of the SDC's SHA-256, read big-endian. */
  transferId: number;
  /** Chunk index, manifest part number, or 0 for status frames. */
  index: number;
  payload: Uint8Array;
}

export function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/** The transfer id every frame of an SDC carries, derived from its SHA-256. */
export function transferIdOf(sha256: Uint8Array): number {
  if (sha256.length < 4) throw new TamtamError('E_BAD_INPUT', 'a transfer id needs at least 4 bytes of SHA-256');
  return ((sha256[0] << 24) | (sha256[1] << 16) | (sha256[2] << 8) | sha256[3]) >>> 0;
}

export function frameLength(payloadLength: number): number {
  return FRAME_OVERHEAD + payloadLength;
}

export function encodeFrame(frame: Frame): Uint8Array {
  const { type, transferId, index, payload } = frame;
  if (!Number.isInteger(type) || type < 0 || type > 0xff) throw new TamtamError('E_BAD_INPUT', `frame type ${type} is not a byte`);
  if (!isU32(transferId)) throw new TamtamError('E_BAD_INPUT', `transfer id ${transferId} is not a 32-bit unsigned integer`);
  if (!isU32(index)) throw new TamtamError('E_BAD_INPUT', `frame index ${index} is not a 32-bit unsigned integer`);
  if (payload.length > MAX_FRAME_PAYLOAD) {
    throw new TamtamError('E_TOO_LARGE', `frame payload of ${payload.length} bytes exceeds ${MAX_FRAME_PAYLOAD}; use a smaller chunk size`);
  }
  const out = new Uint8Array(frameLength(payload.length));
  const view = new DataView(out.buffer);
  out.set(FRAME_MAGIC, 0);
  out[2] = FRAME_VERSION;
  out[3] = type;
  view.setUint32(4, transferId);
  view.setUint32(8, index);
  view.setUint16(12, payload.length);
  out.set(payload, FRAME_HEADER_SIZE);
  const end = FRAME_HEADER_SIZE + payload.length;
  view.setUint32(end, crc32(out, 0, 0, end));
  return out;
}

/**
 * Decodes a buffer that holds exactly one frame. Throws TamtamError with
 * E_BAD_MAGIC, E_BAD_VERSION, E_TRUNCATED, E_BAD_CRC or E_MALFORMED (bytes
 * left over). For a byte stream use FrameParser, which resynchronises instead.
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length >= 1 && bytes[0] !== FRAME_MAGIC[0]) throw badMagic(bytes);
  if (bytes.length >= 2 && bytes[1] !== FRAME_MAGIC[1]) throw badMagic(bytes);
  if (bytes.length >= 3 && bytes[2] !== FRAME_VERSION) {
    throw new TamtamError('E_BAD_VERSION', `frame version ${bytes[2]} is not supported (this build reads version ${FRAME_VERSION}); upgrade the receiver`);
  }
  if (bytes.length < FRAME_OVERHEAD) {
    throw new TamtamError('E_TRUNCATED', `frame of ${bytes.length} bytes is shorter than its ${FRAME_OVERHEAD}-byte header and CRC`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint16(12);
  const total = frameLength(length);
  if (bytes.length < total) throw new TamtamError('E_TRUNCATED', `frame announces ${total} bytes but only ${bytes.length} arrived`);
  if (bytes.length > total) throw new TamtamError('E_MALFORMED', `${bytes.length - total} bytes follow the frame's CRC`);
  const end = FRAME_HEADER_SIZE + length;
  const expected = view.getUint32(end);
  const actual = crc32(bytes, 0, 0, end);
  if (expected !== actual) {
    throw new TamtamError('E_BAD_CRC', 'frame CRC-32 does not match its bytes; the frame was damaged on the link', {
      details: { expected, actual },
    });
  }
  return {
    type: bytes[3],
    transferId: view.getUint32(4),
    index: view.getUint32(8),
    payload: bytes.slice(FRAME_HEADER_SIZE, end),
  };
}

function badMagic(bytes: Uint8Array): TamtamError {
  const head = Array.from(bytes.subarray(0, 2), (b) => b.toString(16).padStart(2, '0')).join('');
  return new TamtamError('E_BAD_MAGIC', `not a chunk frame: starts with 0x${head}, expected 0x5446 ('TF')`);
}
