import Database from '../../common/sqlite-database.js';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SourceAdapter } from '../source/source-adapter.js';

/** A table the agent can sync, with its records by status (2 validated, 3 in an SDC, 4 exported). */
export interface SyncTable {
  name: string;
  counts: Record<number, number>;
}

const DATABASE_FILE = /\.(db|sqlite|sqlite3|db3)$/i;

/** The tables of a source that have `numero` and `status` (DESIGN.md: what a synced table has), with their counts. */
export async function findSyncTables(source: SourceAdapter): Promise<SyncTable[]> {
  const out: SyncTable[] = [];
  for (const name of await source.listTables()) {
    const columns = new Set((await source.describe(name)).map((c) => c.name));
    if (columns.has('numero') && columns.has('status')) out.push({ name, counts: await source.countByStatus(name) });
  }
  return out;
}

/**
 * SQLite files in `dir` that hold at least one table with numero and status:
 * where a centre's application usually keeps its database. Opened read-only,
 * so a file that is someone else's is looked at and left exactly as it was.
 */
export function findSqliteDatabases(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => DATABASE_FILE.test(n)).sort();
  } catch {
    return [];
  }
  return names.map((n) => resolve(join(dir, n))).filter((path) => {
    try {
      return statSync(path).isFile() && hasSyncTable(path);
    } catch {
      return false;
    }
  });
}

function hasSyncTable(path: string): boolean {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const tables = db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").pluck().all();
    const columns = db.prepare<[string], string>('SELECT name FROM pragma_table_info(?)').pluck();
    return tables.some((t) => {
      const names = new Set(columns.all(t));
      return names.has('numero') && names.has('status');
    });
  } catch {
    // Not an SQLite file, or locked: not a candidate.
    return false;
  } finally {
    db?.close();
  }
}

/** "births (180 validated, 20 exported)": what a technician recognises a table by. */
export function describeTable(t: SyncTable): string {
  const words: [number, string][] = [[2, 'validated'], [3, 'in an SDC'], [4, 'exported'], [1, 'new']];
  const parts = words.filter(([s]) => (t.counts[s] ?? 0) > 0).map(([s, w]) => `${(t.counts[s] ?? 0).toLocaleString('en-US')} ${w}`);
  return `${t.name} (${parts.length > 0 ? parts.join(', ') : 'empty'})`;
}
