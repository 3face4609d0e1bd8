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

/** Picks the densest kind that represents every non-null value of a column exactly. */
function chooseKind(values: Value[]): ColumnKind {
  let ints = true, floats = true, dates = true, stamps = true, strings = true, bools = true, bytes = true, any = false;
  for (const v of values) {
    if (v === null) continue;
    any = true;
    const t = typeof v;
    if (t === 'number') {
      strings = dates = stamps = bools = bytes = false;
      if (ints && !isDeltaInt(v as number)) ints = false;
    } else {
      ints = floats = false;
      if (t === 'string') {
        bools = bytes = false;
        const s = v as string;
        if (dates && (s.length !== 10 || dateToDays(s) === undefined)) dates = false;
        if (stamps && (s.length !== 20 || stampToSeconds(s) === undefined)) stamps = false;
      } else {
        strings = dates = stamps = false;
        if (t === 'boolean') bytes = false;
        else if (v instanceof Uint8Array) bools = false;
        else throw new TamtamError('E_BAD_INPUT', `a value of type ${t} cannot be sent; use null, boolean, number, string or bytes`);
      }
    }
    if (!ints && !floats && !dates && !stamps && !strings && !bools && !bytes) return ColumnKind.Mixed;
  }
  if (!any) return ColumnKind.AllNull;
  if (ints) return ColumnKind.Int;
  if (floats) return ColumnKind.Float;
  if (dates) return ColumnKind.Date;
  if (stamps) return ColumnKind.Timestamp;
  if (strings) return refineStrings(values);
  if (bools) return ColumnKind.Bool;
  return ColumnKind.Bytes;
}

function refineStrings(values: Value[]): ColumnKind {
  const present = values.filter((v) => v !== null) as string[];
  if (new Set(present).size <= present.length * ENUM_SHARE) return ColumnKind.Enum;
  const words = new Set<string>();
  let total = 0;
  for (const s of present) for (const w of s.split(' ')) { words.add(w); total++; }
  return words.size <= total * WORDS_SHARE ? ColumnKind.Words : ColumnKind.String;
}

function writeMixed(w: ByteWriter, v: Value): void {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) w.u8(v >= 0 ? MixedTag.UInt : MixedTag.NegInt).varint(Math.abs(v));
    else w.u8(MixedTag.Float).f64(v);
  } else if (typeof v === 'string') w.u8(MixedTag.String).string(v);
  else if (typeof v === 'boolean') w.u8(v ? MixedTag.True : MixedTag.False);
  else w.u8(MixedTag.Bytes).lbytes(v as Uint8Array);
}

function writeDeltas(w: ByteWriter, present: Value[], toInt: (v: Value) => number): void {
  let prev = 0;
  for (const v of present) {
    const n = toInt(v);
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

function writeColumn(w: ByteWriter, kind: ColumnKind, present: Value[], words: WordTable): void {
  switch (kind) {
    case ColumnKind.AllNull: return;
    case ColumnKind.Int: return writeDeltas(w, present, (v) => v as number);
    case ColumnKind.Date: return writeDeltas(w, present, (v) => dateToDays(v as string)!);
    case ColumnKind.Timestamp: return writeDeltas(w, present, (v) => stampToSeconds(v as string)!);
    case ColumnKind.Float: for (const v of present) w.f64(v as number); return;
    case ColumnKind.String: for (const v of present) w.string(v as string); return;
    case ColumnKind.Bytes: for (const v of present) w.lbytes(v as Uint8Array); return;
    case ColumnKind.Bool: return writeBitmap(w, present.length, (i) => present[i] === true);
    case ColumnKind.Mixed: for (const v of present) writeMixed(w, v); return;
    case ColumnKind.Enum: {
      const table = [...new Set(present as string[])];
      const index = new Map(table.map((s, i) => [s, i]));
      w.varint(table.length);
      for (const s of table) w.string(s);
      for (const v of present) w.varint(index.get(v as string)!);
      return;
    }
    case ColumnKind.Words:
      for (const v of present) {
        const parts = (v as string).split(' ');
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
    const kind = chooseKind(values);
    cols.string(columns[c]).u8(kind);
    if (present.length < rows.length && kind !== ColumnKind.AllNull) {
      cols.u8(1);
      writeBitmap(cols, rows.length, (i) => values[i] !== null);
    } else cols.u8(0);
    writeColumn(cols, kind, present, words);
  }
  const head = new ByteWriter(256);
  head.u8(BATCH_BODY_VERSION).string(table).varint(rows.length).varint(columns.length).varint(words.words.length);
  for (const word of words.words) head.string(word);
  return head.bytes(cols.finish()).finish();
}
