import { ByteReader, ByteWriter } from '../bytes.js';
import { TamtamError } from '../errors.js';

/** "TTS" then the format version; a reader refuses versions it does not know. */
export const SDC_MAGIC = [0x54, 0x54, 0x53] as const;
export const SDC_VERSION = 1;

export const SdcKind = {
  data: 1,
  receipt: 2,
  importRequest: 3,
  importAnswer: 4,
  usageReport: 5,
  diagnosticRequest: 6,
  diagnosticReport: 7,
} as const;
export type SdcKindName = keyof typeof SdcKind;
export type SdcKindCode = (typeof SdcKind)[SdcKindName];

export function kindName(code: number): SdcKindName | undefined {
  return (Object.keys(SdcKind) as SdcKindName[]).find((k) => SdcKind[k] === code);
}

/** The body is a zstd frame. Other bits are reserved and must be zero. */
export const FLAG_ZSTD = 0x01;

const SENDER = /^[A-Za-z0-9._-]{1,64}$/;

/** The clear header: readable without keys, and signed with the body. */
export interface SdcHeader {
  version: number;
  kind: SdcKindCode;
  flags: number;
  /** Who made it: a centre's matricule, or the hub's id. */
  sender: string;
  /** Unique per sender and increasing: the hub remembers it to refuse replays. */
  sequence: bigint;
  /** zstd dictionary the body needs, 0 for none. */
  dictId: number;
  /** Seconds since 1970-01-01 UTC when the SDC was sealed. */
  created: number;
  /** Records in a data batch, entries in a receipt, 0 otherwise. */
  count: number;
  /** Bytes of the body before compression. */
  bodySize: number;
}

export function checkSender(sender: string): string {
  if (!SENDER.test(sender)) throw new TamtamError('E_BAD_INPUT', `sender id '${sender}' must be 1 to 64 letters, digits, '.', '_' or '-'`);
  return sender;
}

export function encodeHeader(h: SdcHeader): Uint8Array {
  checkSender(h.sender);
  const w = new ByteWriter(64);
  w.u8(SDC_MAGIC[0]).u8(SDC_MAGIC[1]).u8(SDC_MAGIC[2]).u8(h.version);
  w.u8(h.kind).u8(h.flags).u8(h.sender.length);
  for (let i = 0; i < h.sender.length; i++) w.u8(h.sender.charCodeAt(i));
  return w.u64(h.sequence).u32(h.dictId).u32(h.created).u32(h.count).u32(h.bodySize).finish();
}

/** Reads the header at the start of `bytes`; returns it and where the CMS payload starts. */
export function decodeHeader(bytes: Uint8Array): { header: SdcHeader; length: number } {
  const r = new ByteReader(bytes, 'SDC header');
  if (bytes.length < 3 || bytes[0] !== SDC_MAGIC[0] || bytes[1] !== SDC_MAGIC[1] || bytes[2] !== SDC_MAGIC[2]) {
    throw new TamtamError('E_BAD_MAGIC', "not an SDC: it does not start with 'TTS' (is it armoured text, a chunk frame, or another file?)");
  }
  r.bytes(3, 'magic');
  const version = r.u8('version');
  if (version !== SDC_VERSION) throw new TamtamError('E_BAD_VERSION', `SDC format version ${version} is not supported (this build reads ${SDC_VERSION}); upgrade Tamtam`);
  const kind = r.u8('kind');
  if (kindName(kind) === undefined) throw new TamtamError('E_MALFORMED', `SDC kind ${kind} is unknown`);
  const flags = r.u8('flags');
  if ((flags & ~FLAG_ZSTD) !== 0) throw new TamtamError('E_MALFORMED', `SDC flags 0x${flags.toString(16)} use reserved bits`);
  const senderBytes = r.bytes(r.u8('sender length'), 'sender');
  const sender = String.fromCharCode(...senderBytes);
  if (!SENDER.test(sender)) throw new TamtamError('E_MALFORMED', 'SDC sender id has characters outside [A-Za-z0-9._-] or a bad length');
  const header: SdcHeader = {
    version,
    kind: kind as SdcKindCode,
    flags,
    sender,
    sequence: r.u64('sequence'),
    dictId: r.u32('dictionary id'),
    created: r.u32('created'),
    count: r.u32('count'),
    bodySize: r.u32('body size'),
  };
  return { header, length: r.pos };
}
