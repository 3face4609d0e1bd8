import { MAX_BODY_SIZE } from '../../protocol/compressor.js';
import { layoutOf, mutate, splice, type Layout, type Mutant, type Rng } from './byte-mutations.js';

/** Offsets of the clear header's fields for a sender of n characters (protocol/FORMAT.md). */
export function headerFieldOffsets(n: number) {
  return { version: 3, kind: 4, flags: 5, senderLength: 6, sender: 7, sequence: 7 + n, dictId: 15 + n, created: 19 + n, count: 23 + n, bodySize: 27 + n, end: 31 + n };
}

/** Layout of a whole SDC: header field edges, then the EnvelopedData elements. */
export function sdcLayout(sdc: Uint8Array): Layout {
  const o = headerFieldOffsets(sdc[6]);
  return layoutOf(sdc, Object.values(o), o.end);
}

const u32 = (v: number) => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

function u64(v: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(56 - 8 * i)) & 0xffn));
}

/** Sets one clear-header field to a value a reader must refuse, or to a plausible other value. */
export function editHeaderField(rng: Rng, sdc: Uint8Array): Mutant {
  const n = sdc[6];
  const o = headerFieldOffsets(n);
  const read32 = (at: number) => new DataView(sdc.buffer, sdc.byteOffset).getUint32(at);
  const put = (at: number, bytes: number[], label: string): Mutant => ({ bytes: splice(sdc, at, bytes.length, bytes), label: `header ${label}` });
  const bodySize = read32(o.bodySize);
  const count = read32(o.count);
  switch (rng.int(10)) {
    case 0: return put(o.version, [rng.pick([0, 2, 0x81, 0xff, rng.int(256)])], 'version');
    case 1: return put(o.kind, [rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x7f, 0xff])], 'kind');
    case 2: return put(o.flags, [rng.pick([0, 1, 2, 3, 0x80, 0xff])], 'flags');
    case 3: return put(o.senderLength, [rng.pick([0, 1, n - 1, n + 1, 64, 65, 255, rng.int(256)])], 'sender length');
    case 4: {
      const at = o.sender + rng.int(n);
      return put(at, [rng.pick([0x20, 0x00, 0x2f, 0x41, 0x7a, 0xc3, 0xff])], `sender character ${at - o.sender}`);
    }
    case 5: return put(o.sequence, u64(rng.pick([0n, 1n, 0xffff_ffff_ffff_ffffn, BigInt(rng.u32()) << 32n | BigInt(rng.u32())])), 'sequence');
    case 6: return put(o.dictId, u32(rng.pick([0, 1, 0xffff_ffff, read32(o.dictId) ^ 1, rng.u32()])), 'dictionary id');
    case 7: return put(o.created, u32(rng.u32()), 'created');
    case 8: return put(o.count, u32(rng.pick([0, count + 1, count - 1 >>> 0, 0xffff_ffff])), 'count');
    default: {
      const size = rng.pick([0, 1, bodySize - 1, bodySize + 1, MAX_BODY_SIZE, MAX_BODY_SIZE + 1, 2 * MAX_BODY_SIZE, 0x7fff_ffff, 0xffff_ffff]);
      return put(o.bodySize, u32(size >>> 0), `body size ${size >>> 0}`);
    }
  }
}

/** Binary SDC mutations: the byte mutations plus header field edits. */
export function mutateSdc(rng: Rng, sdc: Uint8Array, layout: Layout): Mutant {
  return rng.chance(0.15) ? editHeaderField(rng, sdc) : mutate(rng, sdc, layout);
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Edits of armoured text as mail and people damage it: lines lost, doubled, re-wrapped, characters changed. */
export function mutateArmour(rng: Rng, text: string): { text: string; label: string } {
  const lines = text.split('\n');
  const li = rng.int(lines.length);
  const line = lines[li];
  const ci = rng.int(Math.max(1, line.length));
  const withLine = (l: string[], label: string) => ({ text: l.join('\n'), label });
  switch (rng.int(14)) {
    case 0: return withLine(lines.filter((_, i) => i !== li), `drop line ${li}`);
    case 1: return withLine([...lines.slice(0, li), line, ...lines.slice(li)], `double line ${li}`);
    case 2: return { text: text.replace(/\n/g, '\r\n'), label: 'CRLF line ends' };
    case 3: return withLine(lines.map((l, i) => (i === li ? `${l.slice(0, ci)}${rng.pick(B64.split(''))}${l.slice(ci + 1)}` : l)), `base64 character ${li}:${ci} replaced`);
    case 4: return withLine(lines.map((l, i) => (i === li ? `${l.slice(0, ci)}${rng.pick(['*', '-', ' ', '=', '\t', 'é', '\0'])}${l.slice(ci)}` : l)), `character inserted at ${li}:${ci}`);
    case 5: return withLine(lines.map((l, i) => (i === li ? l.slice(0, ci) + l.slice(ci + 1) : l)), `character ${li}:${ci} deleted`);
    case 6: return { text: text.slice(0, rng.int(text.length)), label: 'text cut short' };
    case 7: return { text: `Hello,\n\n${text}\nRegards\n`, label: 'inside a mail' };
    case 8: return { text: `${text}${text}`, label: 'two blocks' };
    case 9: return withLine(lines.map((l) => (l.startsWith('Kind:') ? `Kind: ${rng.pick(['receipt', 'data', '', 'x'.repeat(300)])}` : l)), 'Kind header edited');
    case 10: return withLine(lines.map((l) => (l.startsWith('-----') ? l.replace('SDC', rng.pick(['SDD', 'sdc', 'SDC ', ''])) : l)), 'armour label edited');
    case 11: return withLine([...lines.slice(0, li), ' ', ...lines.slice(li)], `blank line at ${li}`);
    case 12: return withLine(lines.map((l, i) => (i === li ? l.toLowerCase() : l)), `line ${li} lower-cased`);
    default: {
      const at = rng.int(text.length);
      const c = text.charCodeAt(at) ^ (1 << rng.int(7));
      return { text: text.slice(0, at) + String.fromCharCode(c) + text.slice(at + 1), label: `bit flip in character ${at}` };
    }
  }
}
