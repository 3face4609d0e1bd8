import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from '../common/sqlite-database.js';
import { parseJsonLines } from '../common/read-input.js';
import { TamtamError, type Value } from '../protocol/index.js';

export type ActTable = 'births' | 'deaths' | 'marriages';
export const ACT_TABLES: ActTable[] = ['births', 'deaths', 'marriages'];

/** ../shared/data beside the checkout (from dist/scripts). */
export const sharedData = fileURLToPath(new URL('../../../shared/data/', import.meta.url));

function generator(): string {
  const gen = `${sharedData}gen-acts.mjs`;
  if (!existsSync(gen)) throw new TamtamError('E_CONFIG', `the sample generator ${gen} is missing; the checkout expects ../shared/data beside it`);
  return gen;
}

export interface GenOptions {
  table: ActTable;
  count: number;
  seed: number;
  centre?: string;
  country?: 'cm' | 'sn';
}

function genArgs(o: GenOptions, format: 'jsonl' | 'sql'): string[] {
  return [generator(), '--table', o.table, '--count', String(o.count), '--seed', String(o.seed), '--format', format,
    ...(o.centre ? ['--centre', o.centre] : []), ...(o.country ? ['--country', o.country] : [])];
}

/** Acts from the shared generator, deterministic by seed. */
export function generateActs(o: GenOptions): Record<string, Value>[] {
  return parseJsonLines(execFileSync(process.execPath, genArgs(o, 'jsonl'), { encoding: 'utf8', maxBuffer: 256 << 20 }), `gen-acts ${o.table}`);
}

/** Creates (or fills) a centre's SQLite database the way its own application would have. */
export function fillCentreDatabase(path: string, tables: GenOptions[]): void {
  const db = new Database(path);
  try {
    for (const t of tables) db.exec(execFileSync(process.execPath, genArgs(t, 'sql'), { encoding: 'utf8', maxBuffer: 256 << 20 }));
  } finally {
    db.close();
  }
}
