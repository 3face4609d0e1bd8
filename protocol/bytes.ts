import { TamtamError } from './errors.js';

import { isUtf8 } from 'node:buffer';

/** A growable buffer for building binary layouts (big-endian fixed ints, LEB128 varints). */
export class ByteWriter {
  private buf: Buffer;
  private view: DataView;
  length = 0;

  constructor(initial = 1024) {
    this.buf = Buffer.alloc(Math.max(16, initial));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.alloc(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.length++] = v;
    return this;
  }

  u16(v: number): this {
    this.room(2);
    this.view.setUint16(this.length, v);
    this.length += 2;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    this.view.setUint32(this.length, v);
    this.length += 4;
    return this;
  }

  u64(v: bigint): this {
    this.room(8);
    this.view.setBigUint64(this.length, v);
    this.length += 8;
    return this;
  }

  f64(v: number): this {
    this.room(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
    return this;
  }

  /** Unsigned LEB128 for 0 <= v <= 2^53-1. */
  varint(v: number): this {
    this.room(8);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
    return this;
  }

  /** Zigzag then LEB128, for |v| <= 2^52. */
  svarint(v: number): this {
    return this.varint(v < 0 ? -v * 2 - 1 : v * 2);
  }

  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }

  /** varint length, then UTF-8 bytes. Short ASCII, most of a centre's text, is copied without the encoder. */
  string(s: string): this {
    const n = s.length;
    if (n < 128) {
      this.room(n + 1);
      const start = this.length + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        this.buf[start + i] = c;
      }
      if (i === n) {
        this.buf[this.length] = n;
        this.length = start + n;
        return this;
      }
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.varint(bytes).room(bytes);
    this.length += this.buf.write(s, this.length, bytes, 'utf8');
    return this;
  }

  /** varint length, then raw bytes. */
  lbytes(b: Uint8Array): this {
    return this.varint(b.length).bytes(b);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    out.set(this.buf.subarray(0, this.length));
    return out;
  }
}

/** Bounds-checked reader: every read past the end is E_TRUNCATED, every bad value E_MALFORMED naming `what`. */
export class ByteReader {
  private readonly view: DataView;
  private readonly text: Buffer;
  pos = 0;

  constructor(readonly buf: Uint8Array, private readonly what: string) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, field: string): void {
    if (n > this.buf.length - this.pos) {
      throw new TamtamError('E_TRUNCATED', `${this.what} ends early: ${field} needs ${n} bytes at offset ${this.pos}, ${this.remaining} left`);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++];
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u64(field: string): bigint {
    this.need(8, field);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  f64(field: string): number {
    this.need(8, field);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  varint(field: string): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8(field);
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) break;
        return result;
      }
      scale *= 0x80;
    }
    throw new TamtamError('E_MALFORMED', `${this.what}: ${field} is not a valid varint (over 2^53) at offset ${this.pos}`);
  }

  svarint(field: string): number {
    const z = this.varint(field);
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  bytes(n: number, field: string): Uint8Array {
    this.need(n, field);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  lbytes(field: string, max = Infinity): Uint8Array {
    const n = this.varint(field);
    if (n > max) throw new TamtamError('E_TOO_LARGE', `${this.what}: ${field} claims ${n} bytes, at most ${max} allowed`);
    return this.bytes(n, field);
  }

  string(field: string, max = Infinity): string {
    const n = this.varint(field);
    if (n > max) throw new TamtamError('E_TOO_LARGE', `${this.what}: ${field} claims ${n} bytes, at most ${max} allowed`);
    this.need(n, field);
    const start = this.pos;
    const end = start + n;
    this.pos = end;
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (this.buf[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return this.text.toString('latin1', start, end);
    if (!isUtf8(this.buf.subarray(start, end))) throw new TamtamError('E_MALFORMED', `${this.what}: ${field} is not valid UTF-8`);
    return this.text.toString('utf8', start, end);
  }

  end(): void {
    if (this.remaining !== 0) throw new TamtamError('E_MALFORMED', `${this.what}: ${this.remaining} unexpected bytes after the end`);
  }
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const fromHex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
