import { ByteWriter } from '../bytes.js';
import { TamtamError } from '../errors.js';
import { BATCH_BODY_VERSION, ColumnKind, MixedTag, type Batch, type Value } from './batch.js';
import { dateToDays, stampToSeconds } from './civil-time.js';

/** Integers this small keep their deltas within zigzag's safe range. */
const DELTA_SAFE = 2 ** 51;

function isDeltaInt(v: number): boolean {
  return Number.isSafeInteger(v) && Math.abs(v) <= DELTA_SAFE && !Object.is(v, -0);
}

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
        if (dates && dateToDays(v as string) === undefined) dates = false;
        if (stamps && stampToSeconds(v as string) === undefined) stamps = false;
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
  if (strings) return ColumnKind.String;
  if (bools) return ColumnKind.Bool;
  return ColumnKind.Bytes;
}

function writeMixed(w: ByteWriter, v: Value): void {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) w.u8(v >= 0 ? MixedTag.UInt : MixedTag.NegInt).varint(Math.abs(v));
    else w.u8(MixedTag.Float).f64(v);
  } else if (typeof v === 'string') w.u8(MixedTag.String).string(v);
  else if (typeof v === 'boolean') w.u8(v ? MixedTag.True : MixedTag.False);
  else w.u8(MixedTag.Bytes).lbytes(v as Uint8Array);
}

function writeDeltas(w: ByteWriter, values: Value[], toInt: (v: Value) => number): void {
  let prev = 0;
  for (const v of values) {
    if (v === null) continue;
    const n = toInt(v);
    w.svarint(n - prev);
    prev = n;
  }
}

function writeColumn(w: ByteWriter, kind: ColumnKind, values: Value[]): void {
  switch (kind) {
    case ColumnKind.AllNull:
      return;
    case ColumnKind.Int:
      return writeDeltas(w, values, (v) => v as number);
    case ColumnKind.Date:
      return writeDeltas(w, values, (v) => dateToDays(v as string)!);
    case ColumnKind.Timestamp:
      return writeDeltas(w, values, (v) => stampToSeconds(v as string)!);
    case ColumnKind.Float:
      for (const v of values) if (v !== null) w.f64(v as number);
      return;
    case ColumnKind.String:
      for (const v of values) if (v !== null) w.string(v as string);
      return;
    case ColumnKind.Bytes:
      for (const v of values) if (v !== null) w.lbytes(v as Uint8Array);
      return;
    case ColumnKind.Bool: {
      const present = values.filter((v) => v !== null);
      writeBitmap(w, present.length, (i) => present[i] === true);
      return;
    }
    case ColumnKind.Mixed:
      for (const v of values) if (v !== null) writeMixed(w, v);
      return;
  }
}

function writeBitmap(w: ByteWriter, n: number, bit: (i: number) => boolean): void {
  for (let i = 0; i < n; i += 8) {
    let b = 0;
    for (let j = 0; j < 8 && i + j < n; j++) if (bit(i + j)) b |= 1 << j;
    w.u8(b);
  }
}

/**
 * Column by column: names once, then each column's values in the densest
 * exact kind (deltas for numbers, dates and timestamps), which leaves zstd
 * long runs of like bytes. Layout in protocol/FORMAT.md, "Batch body".
 */
export function encodeBatch(batch: Batch): Uint8Array {
  const { table, columns, rows } = batch;
  if (new Set(columns).size !== columns.length) throw new TamtamError('E_BAD_INPUT', `table ${table}: a column name appears twice`);
  const w = new ByteWriter(64 + rows.length * columns.length * 8);
  w.u8(BATCH_BODY_VERSION).string(table).varint(rows.length).varint(columns.length);
  const values: Value[] = new Array(rows.length);
  for (let c = 0; c < columns.length; c++) {
    let nulls = 0;
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r];
      if (row.length !== columns.length) throw new TamtamError('E_BAD_INPUT', `table ${table}: row ${r} has ${row.length} values for ${columns.length} columns`);
      const v = row[c];
      values[r] = v === undefined ? null : v;
      if (values[r] === null) nulls++;
    }
    const kind = chooseKind(values);
    w.string(columns[c]).u8(kind);
    if (nulls > 0 && kind !== ColumnKind.AllNull) {
      w.u8(1);
      writeBitmap(w, rows.length, (i) => values[i] !== null);
    } else w.u8(0);
    writeColumn(w, kind, values);
  }
  return w.finish();
}
