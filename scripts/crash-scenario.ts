import Database from '../common/sqlite-database.js';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { seededRandom } from '../test/helpers/acts.js';
import { E2eRig, type LoggedProcess, type RigCentre, type Services } from '../test/helpers/e2e-rig.js';
import type { ActTable } from './sample-acts.js';

/**
 * The agent killed with SIGKILL at random moments while it packs, sends and
 * applies receipts: `tamtam agent run` as a child process, the hub in this
 * process, real PostgreSQL and Mosquitto. Shared by test/e2e-agent-crash and
 * scripts/soak-crash (the same scenario, longer).
 */
export interface CrashScenarioOptions {
  services: Services;
  rounds: number;
  seed: number;
  /** A line per round, with its number and the time it took, and one per final sync (with the sync's last lines when it failed). */
  log?: (line: string, round?: { round: number; ms: number }) => void;
  /** Most acts staff validate in a table between two rounds; default 400, less for long runs so the centre's database stays under 60,000 acts a table. */
  perRound?: number;
}

export interface CrashReport {
  seed: number;
  rounds: number;
  /** Rounds by what the kill cut: the agent's start, work in flight (SDCs waiting for a receipt, acts to pack), or an agent with nothing left to do. */
  killedWhile: { starting: number; busy: number; idle: number };
  /** The daemon ended by itself (it never should). */
  exitedEarly: number;
  packs: number;
  receiptsInRounds: number;
  /** SDCs the hub took: merged, and answered again from sdc_seen. */
  hubMerged: number;
  hubReplays: number;
  finalSyncs: number;
  /** Round numbers where an act was at 4 without being in the central table, or left the 2-3-4 path. */
  invariantBreaks: string[];
  tables: { table: ActTable; validated: number; exported: number; stuck: number; rows: number; records: number; keys: number; lost: number[]; extra: number[]; garbled: number[] }[];
  ms: number;
}

const TABLES: ActTable[] = ['births', 'deaths'];

/** Numeros of a central table of `centre`, with the act's NIU to compare contents. */
async function centralNius(rig: E2eRig, table: ActTable, centre: RigCentre): Promise<Map<number, string>> {
  return new Map((await rig.centralRows(table, centre, ['niu'])).map((r) => [r.source_numero, String(r.niu)]));
}

export async function runCrashScenario(o: CrashScenarioOptions): Promise<CrashReport> {
  const started = Date.now();
  const log = o.log ?? (() => {});
  const rand = seededRandom(o.seed);
  const rig = await E2eRig.create(o.services, `crash_${o.seed}_${process.pid}`, TABLES);
  const report: CrashReport = {
    seed: o.seed, rounds: o.rounds, killedWhile: { starting: 0, busy: 0, idle: 0 }, exitedEarly: 0, packs: 0, receiptsInRounds: 0,
    hubMerged: 0, hubReplays: 0, finalSyncs: 0, invariantBreaks: [], tables: [], ms: 0,
  };
  try {
    await rig.startHub({ onIngest: (_c, outcome) => (outcome.kind === 'replay' ? report.hubReplays++ : report.hubMerged++) });
    const perRound = o.perRound ?? Math.min(400, Math.floor(116_000 / (o.rounds + 1)));
    const centre = await rig.addCentre({
      matricule: 'CM-CRASH-0001', count: 200 + Math.ceil(((o.rounds + 1) * perRound) / 2), newEvery: 1,
      batching: { maxRecords: 50, minRecords: 1, maxAgeSeconds: 0 },
    });
    await centre.enrol();
    const validated = new Map<ActTable, Set<number>>(TABLES.map((t) => [t, new Set<number>()]));
    const validate = () => {
      for (const table of TABLES) for (const n of centre.validate(table, Math.floor(rand() * perRound))) validated.get(table)!.add(n);
    };
    validate();

    for (let round = 0; round < o.rounds; round++) {
      const roundStarted = Date.now();
      const agent = rig.spawnAgent(centre);
      // Most kills land once the agent runs; some during start-up and recovery.
      const fromSpawn = rand() < 0.2;
      const runMs = 50 + Math.floor(rand() * 1450);
      if (!fromSpawn) await agent.waitFor((e) => e.event === 'agent_opened', 'agent_opened', 30_000).catch(() => undefined);
      await Promise.race([delay(runMs), agent.exited]);
      if (!agent.running) report.exitedEarly++;
      await agent.kill9();
      const where = whereKilled(agent, centre);
      report.killedWhile[where]++;
      report.packs += agent.count((e) => e.event === 'packed');
      report.receiptsInRounds += agent.count((e) => e.event === 'receipt');
      await checkInvariants(rig, centre, validated, `round ${round}`, report.invariantBreaks);
      const ms = Date.now() - roundStarted;
      log(`round ${round}: ${fromSpawn ? 'from spawn' : 'after open'} ${runMs} ms, killed while ${where}; ${agent.count((e) => e.event === 'packed')} packs, ${agent.count((e) => e.event === 'receipt')} receipts; ${ms} ms in all`, { round, ms });
      validate();
    }

    for (;;) {
      report.finalSyncs++;
      const sync = await rig.syncChild(centre, 60);
      log(`final sync ${report.finalSyncs}: ${sync.ok ? 'done' : `${sync.waiting} SDCs still waiting; its last lines:\n${sync.child.tail(15)}`}`);
      if (sync.ok && TABLES.every((t) => centre.count(t, 2, 3) === 0)) break;
      if (report.finalSyncs >= 5) break;
    }
    await checkInvariants(rig, centre, validated, 'the end', report.invariantBreaks);
    for (const table of TABLES) {
      const sent = validated.get(table)!;
      const central = await centralNius(rig, table, centre);
      const atCentre = new Map(centre.db.prepare<[], { numero: number; niu: string }>(`SELECT numero, niu FROM ${table}`).all().map((r) => [r.numero, r.niu]));
      const count = await rig.central(table, centre);
      report.tables.push({
        table, validated: sent.size, exported: centre.count(table, 4), stuck: centre.count(table, 2, 3), ...count,
        lost: [...sent].filter((n) => !central.has(n)),
        extra: [...central.keys()].filter((n) => !sent.has(n)),
        garbled: [...central].filter(([n, niu]) => atCentre.get(n) !== niu).map(([n]) => n),
      });
    }
  } finally {
    await rig.close();
  }
  report.ms = Date.now() - started;
  return report;
}

function whereKilled(agent: LoggedProcess, centre: RigCentre): keyof CrashReport['killedWhile'] {
  if (agent.count((e) => e.event === 'agent_opened') === 0) return 'starting';
  const state = new Database(join(centre.config.dataDir, 'state.db'), { readonly: true });
  try {
    const open = state.prepare<[], { n: number }>("SELECT count(*) AS n FROM sdcs WHERE state IN ('packing', 'packed')").get()!.n;
    return open > 0 || TABLES.some((t) => centre.count(t, 2) > 0) ? 'busy' : 'idle';
  } finally {
    state.close();
  }
}

/** At any moment: an act at 4 is in the central table, and a validated act is at 2, 3 or 4. */
async function checkInvariants(rig: E2eRig, centre: RigCentre, validated: Map<ActTable, Set<number>>, when: string, breaks: string[]): Promise<void> {
  for (const table of TABLES) {
    const central = new Set((await rig.centralRows(table, centre)).map((r) => r.source_numero));
    const early = centre.at(table, 4).filter((n) => !central.has(n));
    if (early.length) breaks.push(`${when}: ${table} ${early.slice(0, 5).join(', ')} at 4 but not in the central table`);
    const off = new Set(centre.at(table, 2, 3, 4));
    const strayed = [...validated.get(table)!].filter((n) => !off.has(n));
    if (strayed.length) breaks.push(`${when}: ${table} ${strayed.slice(0, 5).join(', ')} validated but no longer at 2, 3 or 4`);
  }
}

/** Summary lines of a report, for people. */
export function describeCrashReport(r: CrashReport): string {
  const k = r.killedWhile;
  return [
    `seed ${r.seed} (TAMTAM_CRASH_SEED=${r.seed} replays it), ${r.rounds} rounds in ${(r.ms / 1000).toFixed(1)} s`,
    `kills: ${k.starting} while starting, ${k.busy} with work in flight, ${k.idle} idle; ${r.exitedEarly} exited on their own`,
    `in the rounds: ${r.packs} packs, ${r.receiptsInRounds} receipts applied; hub: ${r.hubMerged} SDCs merged, ${r.hubReplays} answered again; ${r.finalSyncs} final sync(s)`,
    ...r.tables.map((t) => `${t.table}: ${t.validated} validated, ${t.exported} exported, ${t.stuck} stuck; central ${t.rows} rows, ${t.records} acts; lost ${t.lost.length}, extra ${t.extra.length}, garbled ${t.garbled.length}`),
    r.invariantBreaks.length ? `INVARIANT BREAKS:\n  ${r.invariantBreaks.join('\n  ')}` : 'invariants held after every kill',
  ].join('\n');
}
