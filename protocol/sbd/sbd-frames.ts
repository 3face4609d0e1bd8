import { isU32, MAX_FRAME_PAYLOAD, type Frame } from '../chunk/chunk-frame.js';
import { TamtamError } from '../errors.js';

/**
 * §12 frames packed into Iridium SBD messages (protocol/FORMAT.md §16).
 *
 * The gateway already delimits every message and checks it end to end, so the
 * §12 magic, length and CRC would be paid for nothing in a 340-byte message:
 *
 *   header u8 (version << 4 | frame count − 1)
 *   per frame: type u8 | transfer id u32 BE | index varint | [length varint] | payload
 *
 * The last frame has no length: its payload runs to the end of the message.
 */

/** Largest mobile-originated message of a 9602/9603 (modem → hub). */
export const SBD_MO_MAX = 340;
/** Largest mobile-terminated message of a 9602/9603 (hub → modem). */
export const SBD_MT_MAX = 270;
export const SBD_VERSION = 1;
/** Frames in one message: the header keeps the count in four bits. */
export const SBD_MAX_FRAMES = 16;
/**
 * What a message holding one Chunk frame spends beyond the chunk, whatever
 * its index: header 1, type 1, transfer id 4, index varint up to 5.
 */
export const SBD_FRAME_OVERHEAD = 11;
/** Largest chunk that always fits one MO message (329). */
export const SBD_MO_MAX_CHUNK = SBD_MO_MAX - SBD_FRAME_OVERHEAD;
/** Largest chunk that always fits one MT message (259): the hub cuts its replies with the caller's chunk size, so an SBD caller uses this. */
export const SBD_MT_MAX_CHUNK = SBD_MT_MAX - SBD_FRAME_OVERHEAD;

export function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Bytes a frame takes in a message; `last` frames carry no length. */
export function sbdFrameSize(frame: Frame, last: boolean): number {
  return 5 + varintLength(frame.index) + (last ? 0 : varintLength(frame.payload.length)) + frame.payload.length;
}

/**
 * Packs frames, in their order, into as few messages of at most `maxBytes` as
 * greedy filling gives. Order is kept because the session puts repairs ahead
 * of fresh data. A frame that cannot fit an empty message is E_TOO_LARGE.
 */
export function packSbdMessages(frames: Frame[], maxBytes: number): Uint8Array[] {
  if (!Number.isInteger(maxBytes) || maxBytes < 7) throw new TamtamError('E_BAD_INPUT', `an SBD message of ${maxBytes} bytes cannot hold any frame`);
  const groups: Frame[][] = [];
  let group: Frame[] = [];
  let size = 1;
  for (const f of frames) {
    checkFrame(f);
    const alone = 1 + sbdFrameSize(f, true);
    if (alone > maxBytes) {
      throw new TamtamError('E_TOO_LARGE', `a frame with a ${f.payload.length}-byte payload needs a ${alone}-byte SBD message, over ${maxBytes}; use chunks of at most ${maxBytes - SBD_FRAME_OVERHEAD} bytes`);
    }
    const prev = group[group.length - 1];
    const grown = prev ? size + varintLength(prev.payload.length) + sbdFrameSize(f, true) : alone;
    if (prev && (grown > maxBytes || group.length >= SBD_MAX_FRAMES)) {
      groups.push(group);
      group = [f];
      size = alone;
    } else {
      group.push(f);
      size = grown;
    }
  }
  if (group.length > 0) groups.push(group);
  return groups.map(encodeGroup);
}

function checkFrame(f: Frame): void {
  if (!Number.isInteger(f.type) || f.type < 0 || f.type > 0xff) throw new TamtamError('E_BAD_INPUT', `frame type ${f.type} is not a byte`);
  if (!isU32(f.transferId)) throw new TamtamError('E_BAD_INPUT', `transfer id ${f.transferId} is not a 32-bit unsigned integer`);
  if (!isU32(f.index)) throw new TamtamError('E_BAD_INPUT', `frame index ${f.index} is not a 32-bit unsigned integer`);
  if (f.payload.length > MAX_FRAME_PAYLOAD) throw new TamtamError('E_TOO_LARGE', `frame payload of ${f.payload.length} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
}

function encodeGroup(frames: Frame[]): Uint8Array {
  const total = 1 + frames.reduce((n, f, i) => n + sbdFrameSize(f, i === frames.length - 1), 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out[0] = (SBD_VERSION << 4) | (frames.length - 1);
  let pos = 1;
  const varint = (v: number): void => {
    while (v >= 0x80) {
      out[pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    out[pos++] = v;
  };
  frames.forEach((f, i) => {
    out[pos++] = f.type;
    view.setUint32(pos, f.transferId);
    pos += 4;
    varint(f.index);
    if (i < frames.length - 1) varint(f.payload.length);
    out.set(f.payload, pos);
    pos += f.payload.length;
  });
  return out;
}

/**
 * The frames of one SBD message. Throws E_TRUNCATED (a field runs past the
 * end), E_BAD_VERSION (another layout version) or E_MALFORMED (a varint not
 * in shortest form or over its range).
 */
export function unpackSbdMessage(message: Uint8Array): Frame[] {
  if (message.length === 0) throw new TamtamError('E_TRUNCATED', 'an empty SBD message holds no frame header; the modem sent nothing');
  const version = message[0] >> 4;
  if (version !== SBD_VERSION) {
    throw new TamtamError('E_BAD_VERSION', `SBD message layout version ${version} is not supported (this build reads version ${SBD_VERSION}); upgrade the hub or the agent`);
  }
  const count = (message[0] & 0x0f) + 1;
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  let pos = 1;
  const need = (n: number, what: string): void => {
    if (pos + n > message.length) throw new TamtamError('E_TRUNCATED', `SBD message of ${message.length} bytes ends inside ${what} at offset ${pos}; it announced ${count} frames`);
  };
  const varint = (what: string, max: number): number => {
    let v = 0;
    for (let i = 0; i < 5; i++) {
      need(1, what);
      const b = message[pos++];
      v += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) throw new TamtamError('E_MALFORMED', `SBD message: ${what} is not a shortest-form varint (offset ${pos - 1})`);
        if (v > max) throw new TamtamError('E_MALFORMED', `SBD message: ${what} ${v} is over ${max} (offset ${pos - 1})`);
        return v;
      }
    }
    throw new TamtamError('E_MALFORMED', `SBD message: ${what} varint is longer than 5 bytes (offset ${pos - 1})`);
  };
  const frames: Frame[] = [];
  for (let i = 0; i < count; i++) {
    need(5, `frame ${i}'s type and transfer id`);
    const type = message[pos];
    const transferId = view.getUint32(pos + 1);
    pos += 5;
    const index = varint(`frame ${i}'s index`, 0xffffffff);
    let length: number;
    if (i < count - 1) {
      length = varint(`frame ${i}'s payload length`, MAX_FRAME_PAYLOAD);
      need(length, `frame ${i}'s ${length}-byte payload`);
    } else {
      length = message.length - pos;
      if (length > MAX_FRAME_PAYLOAD) throw new TamtamError('E_MALFORMED', `SBD message: last frame's payload of ${length} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
    }
    frames.push({ type, transferId, index, payload: message.slice(pos, pos + length) });
    pos += length;
  }
  return frames;
}
