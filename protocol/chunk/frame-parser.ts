import { TamtamError } from '../errors.js';
import { crc32 } from './crc32.js';
import { FRAME_HEADER_SIZE, FRAME_MAGIC, FRAME_OVERHEAD, FRAME_VERSION, MAX_FRAME_PAYLOAD, type Frame } from './chunk-frame.js';

export interface FrameParserOptions {
  /**
   * Largest payload the peer is expected to send. A header announcing more is
   * treated as damaged at once instead of stalling the stream while up to
   * 64 KiB arrive; set it to the link's chunk size (or the largest status
   * answer asked for) on slow links.
   */
  maxPayload?: number;
}

export interface FrameParserStats {
  bytesIn: number;
  /** Bytes that were part of a good frame. */
  bytesInFrames: number;
  /** Garbage, damaged frames and truncated tails, skipped while resynchronising. */
  bytesDropped: number;
  frames: number;
  crcErrors: number;
  versionErrors: number;
  /** Headers whose payload length exceeded maxPayload. */
  lengthErrors: number;
  /** Frame starts still incomplete when the stream ended. */
  truncated: number;
}

/**
 * Turns a raw byte stream into frames, like node-serialport's parsers, but
 * never trusting the link: it looks for the magic, waits for the announced
 * length, checks the CRC, and on any failure drops one byte and searches for
 * the next magic, so a good frame right after damage is still found. It never
 * throws on input, holds at most two maximum frames of bytes, and every loop
 * step consumes a byte, returns a frame, or waits for more input.
 */
export class FrameParser {
  readonly stats: FrameParserStats = {
    bytesIn: 0, bytesInFrames: 0, bytesDropped: 0, frames: 0, crcErrors: 0, versionErrors: 0, lengthErrors: 0, truncated: 0,
  };
  private readonly maxPayload: number;
  private readonly maxFrame: number;
  private buf: Uint8Array;
  private start = 0;
  private end = 0;

  constructor(options: FrameParserOptions = {}) {
    const maxPayload = options.maxPayload ?? MAX_FRAME_PAYLOAD;
    if (!Number.isInteger(maxPayload) || maxPayload < 0 || maxPayload > MAX_FRAME_PAYLOAD) {
      throw new TamtamError('E_BAD_INPUT', `maxPayload must be an integer from 0 to ${MAX_FRAME_PAYLOAD}, got ${maxPayload}`);
    }
    this.maxPayload = maxPayload;
    this.maxFrame = FRAME_OVERHEAD + maxPayload;
    this.buf = new Uint8Array(Math.min(2 * this.maxFrame, 4096));
  }

  /** Bytes held while waiting for the rest of a frame; never more than twice the largest frame. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Feeds bytes in any slicing; returns the good frames completed by them, in order. */
  push(bytes: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    this.stats.bytesIn += bytes.length;
    // Feeding in slices of at most one frame keeps the buffer bounded whatever the caller pushes.
    for (let off = 0; off < bytes.length; off += this.maxFrame) {
      this.append(bytes.subarray(off, Math.min(bytes.length, off + this.maxFrame)));
      this.scan(frames, false);
    }
    return frames;
  }

  /**
   * The stream ended (call dropped, file read). A frame start that cannot
   * complete is dropped one byte at a time so that good frames hidden behind a
   * damaged length field are still returned.
   */
  finish(): Frame[] {
    const frames: Frame[] = [];
    this.scan(frames, true);
    return frames;
  }

  private scan(out: Frame[], final: boolean): void {
    const buf = this.buf;
    for (;;) {
      const at = this.findMagic();
      if (at > this.start) this.drop(at - this.start);
      const avail = this.end - this.start;
      if (avail === 0) return;
      const s = this.start;
      if (avail < FRAME_HEADER_SIZE) {
        // A lone trailing 'T' or a short header may still become a frame.
        if (!final) return;
        this.stats.truncated++;
        this.drop(1);
        continue;
      }
      if (buf[s + 2] !== FRAME_VERSION) {
        this.stats.versionErrors++;
        this.drop(1);
        continue;
      }
      const length = (buf[s + 12] << 8) | buf[s + 13];
      if (length > this.maxPayload) {
        this.stats.lengthErrors++;
        this.drop(1);
        continue;
      }
      const total = FRAME_OVERHEAD + length;
      if (avail < total) {
        if (!final) return;
        this.stats.truncated++;
        this.drop(1);
        continue;
      }
      const crcAt = s + FRAME_HEADER_SIZE + length;
      const expected = ((buf[crcAt] << 24) | (buf[crcAt + 1] << 16) | (buf[crcAt + 2] << 8) | buf[crcAt + 3]) >>> 0;
      if (crc32(buf, 0, s, crcAt) !== expected) {
        this.stats.crcErrors++;
        this.drop(1);
        continue;
      }
      out.push({
        type: buf[s + 3],
        transferId: ((buf[s + 4] << 24) | (buf[s + 5] << 16) | (buf[s + 6] << 8) | buf[s + 7]) >>> 0,
        index: ((buf[s + 8] << 24) | (buf[s + 9] << 16) | (buf[s + 10] << 8) | buf[s + 11]) >>> 0,
        payload: buf.slice(s + FRAME_HEADER_SIZE, crcAt),
      });
      this.start += total;
      this.stats.frames++;
      this.stats.bytesInFrames += total;
    }
  }

  /** Index of the next possible frame start: a full magic, or a 'T' as the very last byte. */
  private findMagic(): number {
    const buf = this.buf;
    for (let i = this.start; i < this.end; i++) {
      if (buf[i] !== FRAME_MAGIC[0]) continue;
      if (i + 1 === this.end || buf[i + 1] === FRAME_MAGIC[1]) return i;
    }
    return this.end;
  }

  private drop(n: number): void {
    this.start += n;
    this.stats.bytesDropped += n;
  }

  private append(bytes: Uint8Array): void {
    const held = this.end - this.start;
    if (this.end + bytes.length > this.buf.length) {
      if (held + bytes.length > this.buf.length) {
        const grown = new Uint8Array(Math.max(held + bytes.length, Math.min(2 * this.buf.length, 2 * this.maxFrame)));
        grown.set(this.buf.subarray(this.start, this.end));
        this.buf = grown;
      } else {
        this.buf.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = held;
    }
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
  }
}
