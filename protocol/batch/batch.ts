/** A value as a centre's table holds it, after the source adapter normalised it. */
export type Value = null | boolean | number | string | Uint8Array;

/** Records of one table, column names once, rows in column order. */
export interface Batch {
  table: string;
  columns: string[];
  rows: Value[][];
}

/** How a column's values are laid out in the body; chosen per column and per batch. */
export const enum ColumnKind {
  AllNull = 0,
  Int = 1,
  Float = 2,
  String = 3,
  Date = 4,
  Timestamp = 5,
  Bool = 6,
  Bytes = 7,
  Mixed = 8,
  /** Few distinct strings: a table of them, then one index per value. */
  Enum = 9,
  /** Strings of recurring words (names, places): word indexes into the batch's word table. */
  Words = 10,
}

/** Tags of values in a Mixed column. */
export const enum MixedTag {
  UInt = 1,
  NegInt = 2,
  Float = 3,
  String = 4,
  False = 5,
  True = 6,
  Bytes = 7,
}

export const BATCH_BODY_VERSION = 1;

/** Builds a Batch from JSON-like objects, columns in order of first appearance. */
export function batchFromObjects(table: string, objects: Record<string, Value>[]): Batch {
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const o of objects) for (const k of Object.keys(o)) if (!seen.has(k)) { seen.add(k); columns.push(k); }
  return { table, columns, rows: objects.map((o) => columns.map((c) => (o[c] === undefined ? null : o[c]))) };
}

export function batchToObjects(batch: Batch): Record<string, Value>[] {
  return batch.rows.map((r) => Object.fromEntries(batch.columns.map((c, i) => [c, r[i]])));
}
