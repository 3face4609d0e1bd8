import { createHash } from 'node:crypto';
import { ByteReader, ByteWriter, bytesEqual } from './bytes.js';
import { TamtamError } from './errors.js';
import { encodeBatch } from './batch/batch-encoder.js';
import type { Batch } from './batch/batch.js';

/** "TTD" then format version 1. */
export const DICT_MAGIC = new Uint8Array([0x54, 0x54, 0x44, 0x01]);
export const DEFAULT_DICT_SIZE = 64 * 1024;
const MAX_DICT_SIZE = 1024 * 1024;

/**
 * A zstd raw-content dictionary shared by a table's centres and the hub. Its
 * id is derived from its content, so two parties can never disagree on what
 * an id means.
 */
export interface Dictionary {
  id: number;
  table: string;
  content: Uint8Array;
}

export function dictionaryId(content: Uint8Array): number {
  const id = createHash('sha256').update(content).digest().readUInt32BE(0);
  return id === 0 ? 1 : id;
}

export function makeDictionary(table: string, content: Uint8Array): Dictionary {
  if (content.length === 0 || content.length > MAX_DICT_SIZE) throw new TamtamError('E_BAD_INPUT', `a dictionary holds 1 to ${MAX_DICT_SIZE} bytes, not ${content.length}`);
  return { id: dictionaryId(content), table, content };
}

export function encodeDictionary(d: Dictionary): Uint8Array {
  return new ByteWriter(d.content.length + 64).bytes(DICT_MAGIC).u32(d.id).string(d.table).lbytes(d.content).finish();
}

export function decodeDictionary(bytes: Uint8Array): Dictionary {
  const r = new ByteReader(bytes, 'dictionary file');
  const magic = r.bytes(4, 'magic');
  if (!bytesEqual(magic.subarray(0, 3), DICT_MAGIC.subarray(0, 3))) throw new TamtamError('E_BAD_MAGIC', "not a Tamtam dictionary (no 'TTD' magic); make one with 'tamtam sdc dict train'");
  if (magic[3] !== DICT_MAGIC[3]) throw new TamtamError('E_BAD_VERSION', `dictionary format version ${magic[3]} is not supported; upgrade Tamtam`);
  const id = r.u32('dictionary id');
  const table = r.string('table', 255);
  const content = r.lbytes('content', MAX_DICT_SIZE).slice();
  r.end();
  if (dictionaryId(content) !== id) throw new TamtamError('E_BAD_HASH', 'the dictionary content does not match its id: the file is damaged');
  return { id, table, content };
}

/**
 * Trains a raw-content dictionary: batches of sample rows go through the same
 * columnar encoder as real SDCs, and batches spread evenly over the samples
 * are kept up to `size`. zstd then finds in it the names, places and codes
 * a centre's acts repeat. Train on other acts than the ones you measure.
 */
export function trainDictionary(sample: Batch, options: { size?: number; batchSize?: number } = {}): Dictionary {
  const size = options.size ?? DEFAULT_DICT_SIZE;
  const batchSize = options.batchSize ?? 100;
  if (sample.rows.length < batchSize) throw new TamtamError('E_BAD_INPUT', `training needs at least ${batchSize} sample rows, got ${sample.rows.length}`);
  const encoded: Uint8Array[] = [];
  for (let i = 0; i + batchSize <= sample.rows.length; i += batchSize) {
    encoded.push(encodeBatch({ ...sample, rows: sample.rows.slice(i, i + batchSize) }));
  }
  const per = encoded[0].length;
  const wanted = Math.max(1, Math.ceil(size / per));
  const step = Math.max(1, encoded.length / wanted);
  const picked: Uint8Array[] = [];
  for (let k = 0; k < wanted && Math.floor(k * step) < encoded.length; k++) picked.push(encoded[Math.floor(k * step)]);
  const all = new ByteWriter(size + per);
  for (const p of picked) all.bytes(p);
  const content = all.finish();
  return makeDictionary(sample.table, content.subarray(Math.max(0, content.length - size)));
}
