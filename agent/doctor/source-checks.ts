import { isTamtamError } from '../../protocol/errors.js';
import type { AgentConfig } from '../config.js';
import { openSource, type SourceAdapter } from '../source/source-adapter.js';
import { fail, beforeDeadline, messageOf, ok, type DoctorCheck } from './doctor-check.js';

const STATUS_NAMES: Record<string, string> = { 0: 'cancelled', 1: 'new', 2: 'validated', 3: 'in an SDC', 4: 'exported' };

const where = (config: AgentConfig) => (config.source.kind === 'sqlite' ? `SQLite file ${config.source.path}` : `PostgreSQL ${config.source.url.replace(/:[^:@/]*@/, ':***@')}`);

function openFix(config: AgentConfig): string {
  return config.source.kind === 'sqlite'
    ? "check that source.path in the agent config is the centre application's database file, that it exists and that the agent's user may read and write it"
    : 'check that the PostgreSQL server of the centre runs, that source.url in the agent config has the right host, port, database, user and password, and that this computer reaches it';
}

export function describeCounts(counts: Record<number, number>): string {
  const parts = Object.entries(counts).sort(([a], [b]) => Number(a) - Number(b)).map(([s, n]) => `${n} ${STATUS_NAMES[s] ?? `status ${s}`}`);
  return parts.length ? parts.join(', ') : 'no records';
}

/**
 * The centre's database opens, and each configured table exists with its
 * `numero` and `status` columns; the counts by status say how much waits.
 * `source` is the running agent's connection when there is one.
 */
export async function sourceChecks(config: AgentConfig, o: { source?: SourceAdapter; timeoutMs: number }): Promise<{ checks: DoctorCheck[]; backlog: Record<string, Record<number, number>> }> {
  const checks: DoctorCheck[] = [];
  const backlog: Record<string, Record<number, number>> = {};
  const result = await beforeDeadline(o.timeoutMs, async () => {
    let source = o.source;
    if (!source) {
      try {
        source = await openSource(config.source);
      } catch (e) {
        checks.push({ id: 'database', title: "Centre's database", ...fail(`cannot open the ${where(config)}: ${messageOf(e)}`, openFix(config), isTamtamError(e) ? e.code : 'E_CONFIG') });
        return;
      }
    }
    checks.push({ id: 'database', title: "Centre's database", ...ok(`the ${where(config)} opens`) });
    try {
      for (const t of config.tables) {
        const id = `table:${t.name}`;
        const title = `Table ${t.name}`;
        try {
          await source.describe(t.name);
        } catch (e) {
          checks.push({ id, title, ...fail(messageOf(e), `correct the name under "tables" in the agent config, or create the table in the centre's database`, 'E_CONFIG') });
          continue;
        }
        try {
          const counts = await source.countByStatus(t.name);
          backlog[t.name] = counts;
          checks.push({ id, title, ...ok(`numero and status present; ${describeCounts(counts)}`) });
        } catch (e) {
          const missing = isTamtamError(e) ? (e.details?.missing as string[] | undefined) : undefined;
          const detail = missing ? `table ${t.name} has no ${missing.map((c) => `"${c}"`).join(' and no ')} column` : messageOf(e);
          checks.push({ id, title, ...fail(detail, missing ? messageOf(e) : openFix(config), isTamtamError(e) ? e.code : 'E_IO') });
        }
      }
    } finally {
      if (!o.source) await source.close().catch(() => undefined);
    }
  });
  if (result === 'timeout') {
    const done = new Set(checks.map((c) => c.id));
    if (!done.has('database')) checks.push({ id: 'database', title: "Centre's database", ...fail(`the ${where(config)} did not answer in time`, openFix(config), 'E_TIMEOUT') });
    for (const t of config.tables) {
      if (!done.has(`table:${t.name}`) && done.has('database')) checks.push({ id: `table:${t.name}`, title: `Table ${t.name}`, ...fail(`reading table ${t.name} did not finish in time`, 'the database may be locked by a long operation of the centre application: try again in a few minutes', 'E_TIMEOUT') });
    }
  }
  return { checks, backlog };
}
