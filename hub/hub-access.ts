import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-write.js';
import { pidAlive } from '../common/pid-lock.js';
import { HubDatabase } from './db/hub-database.js';
import { migrate } from './db/migrations.js';
import { EMBEDDED_DB_OPTIONS, startEmbeddedPostgres } from './embedded/embedded-postgres.js';
import { hubPaths, type HubHome } from './hub-home.js';

/** Where a running hub says how to reach it: the embedded database has one owner process. */
export interface HubRunFile {
  pid: number;
  databaseUrl: string;
  brokerUrl: string;
  startedAt: string;
}

const runPath = (home: HubHome) => join(home.dir, 'run.json');

export function writeRunFile(home: HubHome, run: Omit<HubRunFile, 'pid' | 'startedAt'>): () => void {
  const path = runPath(home);
  writeFileAtomic(path, JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString(), ...run }, null, 2) + '\n', 0o600);
  return () => rmSync(path, { force: true });
}

/** The running hub of this folder, if one is up. */
export function readRunFile(home: HubHome): HubRunFile | undefined {
  const path = runPath(home);
  if (!existsSync(path)) return undefined;
  try {
    const run = JSON.parse(readFileSync(path, 'utf8')) as HubRunFile;
    return pidAlive(run.pid) ? run : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs `fn` against the hub's database, for commands run beside (or without)
 * a running hub: the configured server; else the running hub's embedded one;
 * else the embedded database opened for the time of the command.
 */
export async function withHubDatabase<T>(home: HubHome, fn: (db: HubDatabase) => Promise<T>): Promise<T> {
  const run = home.config.databaseUrl ? undefined : readRunFile(home);
  const embedded = !home.config.databaseUrl && !run ? await startEmbeddedPostgres({ dataDir: hubPaths(home.dir).pgdata }) : undefined;
  const url = home.config.databaseUrl ?? run?.databaseUrl ?? embedded!.url;
  try {
    const db = await HubDatabase.connect(url, home.config.databaseUrl ? { max: 2 } : EMBEDDED_DB_OPTIONS);
    try {
      await migrate(db);
      return await fn(db);
    } finally {
      await db.close();
    }
  } finally {
    await embedded?.close();
  }
}
