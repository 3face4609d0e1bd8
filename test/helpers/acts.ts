import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseJsonLines } from '../../common/read-input.js';
import type { Value } from '../../protocol/batch/batch.js';
import { sharedData } from '../../scripts/sample-acts.js';

export { sharedData };
/** test/ in the source tree, from dist/test/helpers. */
export const testSource = fileURLToPath(new URL('../../../test/', import.meta.url));

const cache = new Map<string, Record<string, Value>[]>();

export function sampleActs(table: 'births' | 'deaths' | 'marriages', count = 5000): Record<string, Value>[] {
  let rows = cache.get(table);
  if (!rows) {
    rows = parseJsonLines(readFileSync(`${sharedData}${table}-5k.jsonl`, 'utf8'), table);
    cache.set(table, rows);
  }
  return rows.slice(0, count);
}

/** mulberry32: tests that draw random cases print their seed, so a failure can be replayed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
