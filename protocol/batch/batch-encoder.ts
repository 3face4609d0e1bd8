import { ByteWriter } from '../bytes.js';
import { TamtamError } from '../errors.js';
import { BATCH_BODY_VERSION, ColumnKind, MixedTag, type Batch, type Value } from './batch.js';
import { dateToDays, stampToSeconds } from './civil-time.js';

/** Integers this small keep their deltas within zigzag's safe range. */
const DELTA_SAFE = 2 ** 51;
/** A string column becomes Enum when distinct values are at most this share of its values. */
const ENUM_SHARE = 0.7;
/** ...and Words when distinct words are at most this share of its words. */
const WORDS_SHARE = 0.5;

const isDeltaInt = (v: number) => Number.isSafeInteger(v) && Math.abs(v) <= DELTA_SAFE && !Object.is(v, -0);

/** A column's kind and what analysing it already computed, so nothing is parsed twice. */
interface ColumnPlan {
  kind: ColumnKind;
  /** Int, Date and Timestamp values as integers. */
  ints?: number[];
  /** Enum: distinct values in order of first use. */
  table?: Set<string>;
  /** Words: each value split on single spaces. */
  splits?: string[][];
}

/** Picks the densest kind that represents every non-null value of a column exactly. */
function planColumn(present: Value[]): ColumnPlan {
  if (present.length === 0) return { kind: ColumnKind.AllNull };
  let ints = true, floats = true, strings = true, bools = true, bytes = true;
  let dates: number[] | undefined = [];
  let stamps: number[] | undefined = [];
  for (const v of present) {
    const t = typeof v;
    if (t === 'number') {
      strings = bools = bytes = false;
      dates = stamps = undefined;
      if (ints && !isDeltaInt(v as number)) ints = false;
    } else {
      ints = floats = false;
      if (t === 'string') {
        bools = bytes = false;
        const s = v as string;
        if (dates) {
          const d = s.length === 10 ? dateToDays(s) : undefined;
          if (d === undefined) dates = undefined;
          else dates.push(d);
        }
        if (stamps) {
          const d = s.length === 20 ? stampToSeconds(s) : undefined;
          if (d === undefined) stamps = undefined;
          else stamps.push(d);
        }
      } else {
        strings = false;
        dates = stamps = undefined;
        if (t === 'boolean') bytes = false;
        else if (v instanceof Uint8Array) bools = false;
        else throw new TamtamError('E_BAD_INPUT', `a value of type ${t} cannot be sent; use null, boolean, number, string or bytes`);
      }
    }
    if (!ints && !floats && !dates && !stamps && !strings && !bools && !bytes) return { kind: ColumnKind.Mixed };
  }
  if (ints) return { kind: ColumnKind.Int, ints: present as number[] };
  if (floats) return { kind: ColumnKind.Float };
  if (dates) return { kind: ColumnKind.Date, ints: dates };
  if (stamps) return { kind: ColumnKind.Timestamp, ints: stamps };
  if (strings) return planStrings(present as string[]);
  return { kind: bools ? ColumnKind.Bool : ColumnKind.Bytes };
}

function planStrings(present: string[]): ColumnPlan {
  const table = new Set(present);
  if (table.size <= present.length * ENUM_SHARE) return { kind: ColumnKind.Enum, table };
  const words = new Set<string>();
  let total = 0;
  const splits = present.map((s) => {
    const parts = s.split(' ');
    for (const w of parts) words.add(w);
    total += parts.length;
    return parts;
  });
  return words.size <= total * WORDS_SHARE ? { kind: ColumnKind.Words, splits } : { kind: ColumnKind.String };
}

function writeMixed(w: ByteWriter, v: Value): void {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) w.u8(v >= 0 ? MixedTag.UInt : MixedTag.NegInt).varint(Math.abs(v));
    else w.u8(MixedTag.Float).f64(v);
  } else if (typeof v === 'string') w.u8(MixedTag.String).string(v);
  else if (typeof v === 'boolean') w.u8(v ? MixedTag.True : MixedTag.False);
  else w.u8(MixedTag.Bytes).lbytes(v as Uint8Array);
}

function writeDeltas(w: ByteWriter, ints: number[]): void {
  let prev = 0;
  for (const n of ints) {
    w.svarint(n - prev);
    prev = n;
  }
}

function writeBitmap(w: ByteWriter, n: number, bit: (i: number) => boolean): void {
  for (let i = 0; i < n; i += 8) {
    let b = 0;
    for (let j = 0; j < 8 && i + j < n; j++) if (bit(i + j)) b |= 1 << j;
    w.u8(b);
  }
}

/** The batch-wide word table that Words columns index into, in order of first use. */
class WordTable {
  readonly words: string[] = [];
  private readonly index = new Map<string, number>();

  id(word: string): number {
    let i = this.index.get(word);
    if (i === undefined) {
      i = this.words.length;
      this.index.set(word, i);
      this.words.push(word);
    }
    return i;
  }
}

function writeColumn(w: ByteWriter, plan: ColumnPlan, present: Value[], words: WordTable): void {
  switch (plan.kind) {
    case ColumnKind.AllNull: return;
    case ColumnKind.Int:
    case ColumnKind.Date:
    case ColumnKind.Timestamp: return writeDeltas(w, plan.ints!);
    case ColumnKind.Float: for (const v of present) w.f64(v as number); return;
    case ColumnKind.String: for (const v of present) w.string(v as string); return;
    case ColumnKind.Bytes: for (const v of present) w.lbytes(v as Uint8Array); return;
    case ColumnKind.Bool: return writeBitmap(w, present.length, (i) => present[i] === true);
    case ColumnKind.Mixed: for (const v of present) writeMixed(w, v); return;
    case ColumnKind.Enum: {
      const index = new Map<string, number>();
      w.varint(plan.table!.size);
      for (const s of plan.table!) {
        index.set(s, index.size);
        w.string(s);
      }
      for (const v of present) w.varint(index.get(v as string)!);
      return;
    }
    case ColumnKind.Words:
      for (const parts of plan.splits!) {
        w.varint(parts.length);
        for (const p of parts) w.varint(words.id(p));
      }
      return;
  }
}

/**
 * Column by column: names once, then each column's values in the densest
 * exact kind (deltas for numbers, dates and timestamps; tables for repeated
 * strings and words), which leaves zstd little but the real information.
 * Layout in protocol/FORMAT.md, "Batch body".
 */
export function encodeBatch(batch: Batch): Uint8Array {
  const { table, columns, rows } = batch;
  if (new Set(columns).size !== columns.length) throw new TamtamError('E_BAD_INPUT', `table ${table}: a column name appears twice`);
  const words = new WordTable();
  const cols = new ByteWriter(64 + rows.length * columns.length * 6);
  for (let c = 0; c < columns.length; c++) {
    const values: Value[] = new Array(rows.length);
    const present: Value[] = [];
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r];
      if (row.length !== columns.length) throw new TamtamError('E_BAD_INPUT', `table ${table}: row ${r} has ${row.length} values for ${columns.length} columns`);
      const v = row[c] === undefined ? null : row[c];
      values[r] = v;
      if (v !== null) present.push(v);
    }
    const plan = planColumn(present);
    cols.string(columns[c]).u8(plan.kind);
    if (present.length < rows.length && plan.kind !== ColumnKind.AllNull) {
      cols.u8(1);
      writeBitmap(cols, rows.length, (i) => values[i] !== null);
    } else cols.u8(0);
    writeColumn(cols, plan, present, words);
  }
  const head = new ByteWriter(256);
  head.u8(BATCH_BODY_VERSION).string(table).varint(rows.length).varint(columns.length).varint(words.words.length);
  for (const word of words.words) head.string(word);
  return head.bytes(cols.finish()).finish();
}
