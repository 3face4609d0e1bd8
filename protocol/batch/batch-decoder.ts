import { ByteReader } from '../bytes.js';
import { TamtamError } from '../errors.js';
import { BATCH_BODY_VERSION, ColumnKind, MixedTag, type Batch, type Value } from './batch.js';
import { daysToDate, secondsToStamp } from './civil-time.js';

export interface BatchLimits {
  maxRows: number;
  maxColumns: number;
  /** rows x columns: what decoding allocates, whatever the bytes say. */
  maxCells: number;
  /** Characters that Enum and Words values may expand to: tables let a few bytes name a long string many times. */
  maxExpanded: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxRows: 1_000_000, maxColumns: 2048, maxCells: 20_000_000, maxExpanded: 256 * 1024 * 1024 };

const NAME_MAX = 255;

function readMixed(r: ByteReader): Value {
  const tag = r.u8('mixed tag');
  switch (tag) {
    case MixedTag.UInt: return r.varint('integer');
    case MixedTag.NegInt: return -r.varint('integer');
    case MixedTag.Float: return r.f64('float');
    case MixedTag.String: return r.string('string');
    case MixedTag.False: return false;
    case MixedTag.True: return true;
    case MixedTag.Bytes: return r.lbytes('bytes').slice();
    default: throw new TamtamError('E_MALFORMED', `batch body: unknown mixed value tag ${tag}`);
  }
}

function readBitmap(r: ByteReader, n: number, what: string): Uint8Array {
  return r.bytes(Math.ceil(n / 8), what);
}

const bit = (map: Uint8Array, i: number) => (map[i >> 3] >> (i & 7)) & 1;

interface Expansion {
  words: string[];
  left: number;
}

function spend(budget: Expansion, n: number, column: string): void {
  budget.left -= n;
  if (budget.left < 0) throw new TamtamError('E_TOO_LARGE', `batch body: column ${column} expands past the limit on decoded text`);
}

function readEnum(r: ByteReader, count: number, column: string, budget: Expansion): Value[] {
  const n = r.varint('enum size');
  if (n > count || n > r.remaining) throw new TamtamError('E_MALFORMED', `batch body: column ${column} has an enum of ${n} values for ${count}`);
  const table: string[] = [];
  for (let i = 0; i < n; i++) table.push(r.string('enum value'));
  const out: Value[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const s = table[r.varint('enum index')];
    if (s === undefined) throw new TamtamError('E_MALFORMED', `batch body: column ${column} has an enum index out of range`);
    spend(budget, s.length, column);
    out[i] = s;
  }
  return out;
}

function readWords(r: ByteReader, count: number, column: string, budget: Expansion): Value[] {
  const out: Value[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const n = r.varint('word count');
    if (n === 0 || n > r.remaining) throw new TamtamError('E_MALFORMED', `batch body: column ${column} has a value of ${n} words`);
    const parts: string[] = new Array(n);
    let size = n - 1;
    for (let k = 0; k < n; k++) {
      const w = budget.words[r.varint('word index')];
      if (w === undefined) throw new TamtamError('E_MALFORMED', `batch body: column ${column} names a word out of range`);
      parts[k] = w;
      size += w.length;
    }
    spend(budget, size, column);
    out[i] = parts.join(' ');
  }
  return out;
}

/** Reads a column's present values, in order, checking each as it goes. */
function readValues(r: ByteReader, kind: ColumnKind, count: number, column: string, budget: Expansion): Value[] {
  if (kind === ColumnKind.Enum) return readEnum(r, count, column, budget);
  if (kind === ColumnKind.Words) return readWords(r, count, column, budget);
  const out: Value[] = new Array(count);
  let acc = 0;
  const delta = (what: string) => {
    acc += r.svarint(what);
    if (!Number.isSafeInteger(acc)) throw new TamtamError('E_MALFORMED', `batch body: column ${column} overflows`);
    return acc;
  };
  for (let i = 0; i < count; i++) {
    switch (kind) {
      case ColumnKind.Int: out[i] = delta('integer'); break;
      case ColumnKind.Float: out[i] = r.f64('float'); break;
      case ColumnKind.String: out[i] = r.string('string'); break;
      case ColumnKind.Bytes: out[i] = r.lbytes('bytes').slice(); break;
      case ColumnKind.Mixed: out[i] = readMixed(r); break;
      case ColumnKind.Date: {
        const d = daysToDate(delta('date'));
        if (d === undefined) throw new TamtamError('E_MALFORMED', `batch body: column ${column} holds a date out of range`);
        out[i] = d;
        break;
      }
      case ColumnKind.Timestamp: {
        const s = secondsToStamp(delta('timestamp'));
        if (s === undefined) throw new TamtamError('E_MALFORMED', `batch body: column ${column} holds a timestamp out of range`);
        out[i] = s;
        break;
      }
      default: throw new TamtamError('E_MALFORMED', `batch body: column ${column} has unknown kind ${kind}`);
    }
  }
  return out;
}

/** Decodes a batch body; never trusts counts further than `limits` and the bytes present. */
export function decodeBatch(body: Uint8Array, limits: BatchLimits = DEFAULT_BATCH_LIMITS): Batch {
  const r = new ByteReader(body, 'batch body');
  const version = r.u8('body version');
  if (version !== BATCH_BODY_VERSION) throw new TamtamError('E_BAD_VERSION', `batch body version ${version} is not supported (this build reads ${BATCH_BODY_VERSION}); upgrade Tamtam`);
  const table = r.string('table name', NAME_MAX);
  const nRows = r.varint('row count');
  const nCols = r.varint('column count');
  if (nRows > limits.maxRows || nCols > limits.maxColumns || nRows * nCols > limits.maxCells) {
    throw new TamtamError('E_TOO_LARGE', `batch body claims ${nRows} rows x ${nCols} columns, over the limits (${limits.maxRows} rows, ${limits.maxColumns} columns, ${limits.maxCells} cells)`);
  }
  const nWords = r.varint('word count');
  if (nWords > r.remaining) throw new TamtamError('E_MALFORMED', `batch body claims ${nWords} words in ${r.remaining} bytes`);
  const budget: Expansion = { words: [], left: limits.maxExpanded };
  for (let i = 0; i < nWords; i++) budget.words.push(r.string('word'));
  const columns: string[] = [];
  // Rows are built only once every column has been read: a few bytes claiming many rows must fail before they cost memory.
  const read: ({ present: Uint8Array | undefined; values: Value[] } | undefined)[] = [];
  const seen = new Set<string>();
  for (let c = 0; c < nCols; c++) {
    const name = r.string('column name', NAME_MAX);
    if (seen.has(name)) throw new TamtamError('E_MALFORMED', `batch body: column ${name} appears twice`);
    seen.add(name);
    columns.push(name);
    const kind = r.u8('column kind') as ColumnKind;
    const hasNulls = r.u8('null flag');
    if (hasNulls > 1) throw new TamtamError('E_MALFORMED', `batch body: column ${name} has a bad null flag`);
    if (kind === ColumnKind.AllNull) {
      if (hasNulls) throw new TamtamError('E_MALFORMED', `batch body: all-null column ${name} has a bitmap`);
      read.push(undefined);
      continue;
    }
    const present = hasNulls ? readBitmap(r, nRows, 'null bitmap') : undefined;
    let count = nRows;
    if (present) {
      count = 0;
      for (let i = 0; i < nRows; i++) count += bit(present, i);
    }
    let values: Value[];
    if (kind === ColumnKind.Bool) {
      const map = readBitmap(r, count, 'booleans');
      values = Array.from({ length: count }, (_, i) => bit(map, i) === 1);
    } else values = readValues(r, kind, count, name, budget);
    read.push({ present, values });
  }
  r.end();
  const rows: Value[][] = Array.from({ length: nRows }, () => new Array<Value>(nCols).fill(null));
  read.forEach((column, c) => {
    if (!column) return;
    const { present, values } = column;
    for (let i = 0, k = 0; i < nRows; i++) if (!present || bit(present, i)) rows[i][c] = values[k++];
  });
  return { table, columns, rows };
}
