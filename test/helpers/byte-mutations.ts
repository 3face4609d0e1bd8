import { seededRandom } from './acts.js';

/** A seeded source of choices; one per fuzz case, so any case replays alone from (seed, case). */
export class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = seededRandom(seed);
  }

  /** 0 <= n < bound */
  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }

  u32(): number {
    return this.int(0x1_0000_0000);
  }
}

export function caseSeed(seed: number, index: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
}

/** One mutated input and what was done to it, for the failure message. */
export interface Mutant {
  bytes: Uint8Array;
  label: string;
}

/** Where one DER element sits (absolute offsets). */
export interface DerNode {
  start: number;
  lengthAt: number;
  lengthSize: number;
  contentAt: number;
  end: number;
}

/**
 * Walks our own (well-formed) DER into a flat list of elements, so mutations
 * can aim at tags, lengths and element edges, not only at random bytes.
 */
export function derNodes(bytes: Uint8Array, from = 0, to = bytes.length, depth = 0, out: DerNode[] = []): DerNode[] {
  let at = from;
  while (at + 2 <= to && depth < 32) {
    if ((bytes[at] & 0x1f) === 0x1f) return out;
    const first = bytes[at + 1];
    let lengthSize = 1;
    let length = first;
    if (first & 0x80) {
      const n = first & 0x7f;
      if (n === 0 || n > 4 || at + 2 + n > to) return out;
      lengthSize = 1 + n;
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + bytes[at + 2 + i];
    }
    const contentAt = at + 1 + lengthSize;
    const end = contentAt + length;
    if (end > to) return out;
    out.push({ start: at, lengthAt: at + 1, lengthSize, contentAt, end });
    if (bytes[at] & 0x20) derNodes(bytes, contentAt, end, depth + 1, out);
    at = end;
  }
  return out;
}

/** The shortest DER length field for n. */
export function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/** What the mutations aim at in one input. */
export interface Layout {
  /** Field and element edges: where truncation and insertion hurt most. */
  boundaries: number[];
  der: DerNode[];
}

export function layoutOf(bytes: Uint8Array, fieldEdges: number[] = [], derFrom?: number): Layout {
  const der = derFrom === undefined ? [] : derNodes(bytes, derFrom);
  const edges = new Set([0, bytes.length, ...fieldEdges, ...der.flatMap((n) => [n.start, n.lengthAt, n.contentAt, n.end])]);
  return { boundaries: [...edges].sort((a, b) => a - b), der };
}

export const splice = (b: Uint8Array, at: number, remove: number, insert: ArrayLike<number> = []): Uint8Array => {
  const out = new Uint8Array(b.length - remove + insert.length);
  out.set(b.subarray(0, at));
  out.set(insert, at);
  out.set(b.subarray(at + remove), at + insert.length);
  return out;
};

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x30, 0x04, 0xa0];

/** Half the time anywhere, half the time close to an edge, where parsers decide. */
function aim(rng: Rng, b: Uint8Array, layout: Layout): number {
  if (b.length === 0) return 0;
  if (layout.boundaries.length > 2 && rng.chance(0.5)) return Math.min(b.length - 1, Math.max(0, rng.pick(layout.boundaries) + rng.between(-2, 2)));
  return rng.int(b.length);
}

type Mutation = (rng: Rng, b: Uint8Array, layout: Layout) => Mutant;

const flipBits: Mutation = (rng, b, layout) => {
  const out = b.slice();
  const n = rng.between(1, 8);
  const at: number[] = [];
  for (let i = 0; i < n && out.length > 0; i++) {
    const pos = rng.chance(0.5) ? aim(rng, out, layout) : rng.int(out.length);
    out[pos] ^= 1 << rng.int(8);
    at.push(pos);
  }
  return { bytes: out, label: `flip ${n} bit(s) at ${at.join(',')}` };
};

const overwrite: Mutation = (rng, b, layout) => {
  const out = b.slice();
  const pos = aim(rng, out, layout);
  const n = Math.min(rng.between(1, 4), out.length - pos);
  for (let i = 0; i < n; i++) out[pos + i] = rng.chance(0.6) ? rng.pick(INTERESTING) : rng.int(256);
  return { bytes: out, label: `overwrite ${n} byte(s) at ${pos}` };
};

const truncate: Mutation = (rng, b, layout) => {
  const at = rng.chance(0.7) ? Math.max(0, Math.min(b.length - 1, rng.pick(layout.boundaries) + rng.between(-1, 1))) : rng.int(b.length);
  return { bytes: b.slice(0, at), label: `truncate to ${at} of ${b.length}` };
};

const extend: Mutation = (rng, b, layout) => {
  const extra = rng.chance(0.2) ? new Uint8Array(rng.between(1, 64)) : rng.bytes(rng.between(1, 64));
  if (rng.chance(0.5)) return { bytes: splice(b, b.length, 0, extra), label: `append ${extra.length} byte(s)` };
  const at = rng.pick(layout.boundaries);
  return { bytes: splice(b, at, 0, extra), label: `insert ${extra.length} byte(s) at ${at}` };
};

function range(rng: Rng, b: Uint8Array, layout: Layout): [number, number] {
  if (layout.der.length > 0 && rng.chance(0.4)) {
    const node = rng.pick(layout.der);
    return [node.start, node.end - node.start];
  }
  const start = aim(rng, b, layout);
  return [start, Math.min(rng.between(1, 64), b.length - start)];
}

const duplicate: Mutation = (rng, b, layout) => {
  const [start, n] = range(rng, b, layout);
  const at = rng.chance(0.5) ? start + n : rng.pick(layout.boundaries);
  return { bytes: splice(b, at, 0, b.slice(start, start + n)), label: `duplicate [${start},+${n}) to ${at}` };
};

const remove: Mutation = (rng, b, layout) => {
  const [start, n] = range(rng, b, layout);
  return { bytes: splice(b, start, n), label: `remove [${start},+${n})` };
};

/** Rewrites one element's length field: another element's length, off by one, indefinite, huge, or non-minimal. */
const derLengthEdit: Mutation = (rng, b, layout) => {
  if (layout.der.length === 0) return flipBits(rng, b, layout);
  const node = rng.pick(layout.der);
  const length = node.end - node.contentAt;
  const other = rng.pick(layout.der);
  const choices: [string, number[]][] = [
    ['swapped', derLength(other.end - other.contentAt)],
    ['+1', derLength(length + 1)],
    ['-1', derLength(Math.max(0, length - 1))],
    ['zero', [0]],
    ['indefinite', [0x80]],
    ['huge', [0x84, 0xff, 0xff, 0xff, 0xff]],
    ['5-byte', [0x85, 0x01, 0x00, 0x00, 0x00, 0x00]],
    ['non-minimal', [0x82, length >> 8, length & 0xff]],
  ];
  const [name, field] = rng.pick(choices);
  const out = splice(b, node.lengthAt, node.lengthSize, field);
  if (name !== 'swapped' || rng.chance(0.5)) return { bytes: out, label: `DER length at ${node.lengthAt} ${name}` };
  // A real swap: the other element takes this one's length too.
  const back = other.lengthAt > node.lengthAt ? other.lengthAt + field.length - node.lengthSize : other.lengthAt;
  return { bytes: splice(out, back, other.lengthSize, derLength(length)), label: `DER lengths at ${node.lengthAt} and ${other.lengthAt} swapped` };
};

const derTagEdit: Mutation = (rng, b, layout) => {
  if (layout.der.length === 0) return overwrite(rng, b, layout);
  const node = rng.pick(layout.der);
  const out = b.slice();
  out[node.start] = rng.pick([0x30, 0x31, 0x02, 0x04, 0x05, 0x06, 0x80, 0xa0, 0xa1, 0x24, 0x1f, rng.int(256)]);
  return { bytes: out, label: `DER tag at ${node.start} set to 0x${out[node.start].toString(16)}` };
};

/** LEB128 forms of counts and lengths on or near limits: 2^53-1, 2^52, 2^32, 2^31, 2^32-1, 2^18, 100,000, one- and two-byte edges. */
const BIG_VARINTS = [
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x08], [0x80, 0x80, 0x80, 0x80, 0x10],
  [0x80, 0x80, 0x80, 0x80, 0x08], [0xff, 0xff, 0xff, 0xff, 0x0f], [0x80, 0x80, 0x10], [0xa0, 0x8d, 0x06], [0x7f], [0x80, 0x01], [0xff, 0x7f],
  [0x80, 0x80, 0x01], [0x80, 0x00],
];

/** Puts a limit-sized varint over (or before) a byte: the counts and lengths of bodies are varints. */
const varintEdit: Mutation = (rng, b, layout) => {
  const at = aim(rng, b, layout);
  const v = rng.pick(BIG_VARINTS);
  const replace = rng.chance(0.5) ? Math.min(b.length - at, rng.between(1, 2)) : 0;
  return { bytes: splice(b, at, replace, v), label: `varint ${v.map((x) => x.toString(16)).join('')} at ${at}, replacing ${replace}` };
};

export const byteMutations: Record<string, Mutation> = { flipBits, overwrite, truncate, extend, duplicate, remove, derLengthEdit, derTagEdit, varintEdit };

/** One mutation, or now and then two stacked. */
export function mutate(rng: Rng, b: Uint8Array, layout: Layout, names: string[] = Object.keys(byteMutations)): Mutant {
  const first = byteMutations[rng.pick(names)](rng, b, layout);
  if (!rng.chance(0.1)) return first;
  const second = byteMutations[rng.pick(names)](rng, first.bytes, layoutOf(first.bytes));
  return { bytes: second.bytes, label: `${first.label}; then ${second.label}` };
}
