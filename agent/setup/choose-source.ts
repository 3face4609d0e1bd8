import { isAbsolute, resolve } from 'node:path';
import { TamtamError } from '../../protocol/errors.js';
import type { TableConfig } from '../config.js';
import { openSource, type SourceAdapter, type SourceConfig } from '../source/source-adapter.js';
import { describeTable, findSqliteDatabases, findSyncTables, type SyncTable } from './find-databases.js';
import type { Prompter } from './prompter.js';
import { withoutPassword, type ExistingConfig, type SetupOptions } from './setup-options.js';

export interface ChosenSource {
  source: SourceConfig;
  label: string;
  tables: TableConfig[];
  /** Records validated (status 2) in the chosen tables. */
  backlog: number;
}

const sourceLabel = (s: SourceConfig) => (s.kind === 'sqlite' ? `SQLite ${s.path}` : `PostgreSQL ${withoutPassword(s.url)}`);

function sourceOf(answer: string, cwd: string): SourceConfig {
  return /^postgres(ql)?:\/\//.test(answer) ? { kind: 'postgres', url: answer } : { kind: 'sqlite', path: isAbsolute(answer) ? answer : resolve(cwd, answer) };
}

async function withSource<T>(config: SourceConfig, fn: (s: SourceAdapter) => Promise<T>): Promise<T> {
  const source = await openSource(config);
  try {
    return await fn(source);
  } finally {
    await source.close();
  }
}

/** Why a database cannot be the centre's, or undefined when it has a table to sync. */
async function problemWith(config: SourceConfig): Promise<string | undefined> {
  try {
    const tables = await withSource(config, findSyncTables);
    return tables.length > 0 ? undefined : `${sourceLabel(config)} has no table with both a "numero" and a "status" column: give the database of the centre's application`;
  } catch (e) {
    return (e as Error).message;
  }
}

async function chooseDatabase(o: SetupOptions, existing: ExistingConfig | undefined, p: Prompter): Promise<SourceConfig> {
  if (o.sqlite && o.postgres) throw new TamtamError('E_USAGE', "give the centre's database as --sqlite FILE or --postgres URL, not both");
  if (o.sqlite) return sourceOf(o.sqlite, o.cwd);
  if (o.postgres) return { kind: 'postgres', url: o.postgres };
  if (existing) return existing.config.source;
  const found = findSqliteDatabases(o.cwd);
  if (found.length === 1) {
    p.say(`Found the centre's database: ${found[0]}`);
    return { kind: 'sqlite', path: found[0]! };
  }
  if (found.length > 1) {
    return p.choose({ text: `Several databases in ${o.cwd} have tables to sync. Which one is the centre's?`, option: 'sqlite', choices: found.map((f) => ({ label: f, value: { kind: 'sqlite', path: f } as SourceConfig })) });
  }
  p.say(`No database with tables to sync in ${o.cwd} (files *.db, *.sqlite).`);
  const answer = await p.ask({
    text: "The centre's database: its SQLite file, or a postgres:// URL", example: '/var/lib/etatcivil/centre.db or postgres://tamtam@localhost/etatcivil', option: 'sqlite',
    validate: (a) => problemWith(sourceOf(a, o.cwd)),
  });
  return sourceOf(answer, o.cwd);
}

/** Each named table must exist and have numero and status; the adapter's error says how to add what is missing. */
async function checkTables(source: SourceAdapter, names: string[]): Promise<SyncTable[]> {
  const out: SyncTable[] = [];
  for (const name of names) out.push({ name, counts: await source.countByStatus(name) });
  return out;
}

function pickTables(answer: string, all: SyncTable[]): SyncTable[] | string {
  if (/^all$/i.test(answer)) return all;
  const picked = answer.split(/[\s,]+/).filter(Boolean).map((a) => (/^\d+$/.test(a) ? all[Number(a) - 1] : all.find((t) => t.name === a)));
  if (picked.length === 0 || picked.some((t) => t === undefined)) return `type numbers from 1 to ${all.length} separated by commas (e.g. 1,3), or Enter for all`;
  return [...new Set(picked as SyncTable[])];
}

/** The tables of `source` to sync: those given, those of the config, or those found, asked only when there are several. */
async function chooseTables(source: SourceAdapter, o: SetupOptions, existing: ExistingConfig | undefined, p: Prompter, sameSource: boolean): Promise<SyncTable[]> {
  if (o.tables.length > 0) return checkTables(source, o.tables);
  if (existing && sameSource) return checkTables(source, existing.config.tables.map((t) => t.name));
  const all = await findSyncTables(source);
  if (all.length === 0) throw new TamtamError('E_CONFIG', "no table of the centre's database has both a \"numero\" and a \"status\" column: give the database of the centre's application, or add the columns (see 'tamtam agent init --help')");
  if (all.length === 1) {
    p.say(`Table to sync: ${describeTable(all[0]!)}`);
    return all;
  }
  p.say('Tables with numero and status (records by status):');
  all.forEach((t, i) => p.say(`  ${i + 1}) ${describeTable(t)}`));
  const answer = await p.ask({ text: 'Tables to sync: numbers separated by commas, or all', example: '1,2', default: 'all', option: 'table', validate: (a) => {
    const r = pickTables(a, all);
    return typeof r === 'string' ? r : undefined;
  } });
  return pickTables(answer, all) as SyncTable[];
}

export async function chooseSource(o: SetupOptions, existing: ExistingConfig | undefined, p: Prompter): Promise<ChosenSource> {
  const config = await chooseDatabase(o, existing, p);
  const sameSource = existing !== undefined && JSON.stringify(existing.config.source) === JSON.stringify(config);
  const tables = await withSource(config, (s) => chooseTables(s, o, existing, p, sameSource));
  // A table's dictionary from the config stays: it came from the hub operator and cannot be found out.
  const dictionaries = new Map((sameSource ? existing!.input.tables : []).filter((t) => t.dictionary).map((t) => [t.name, t.dictionary!]));
  return {
    source: config, label: sourceLabel(config),
    tables: tables.map((t) => (dictionaries.has(t.name) ? { name: t.name, dictionary: dictionaries.get(t.name)! } : { name: t.name })),
    backlog: tables.reduce((n, t) => n + (t.counts[2] ?? 0), 0),
  };
}
