import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeAgentConfig, type AgentConfigInput } from '../agent/config.js';
import { LinkRig } from '../scripts/link-rig.js';
import type { ActTable } from '../scripts/sample-acts.js';
import { E2eRig, LoggedProcess, pollUntil, startServices, type CentreSpec, type LogEvent, type RigCentre, type Services } from './helpers/e2e-rig.js';

/*
 * `agent run` leaves packing, receipts and diagnostics to a worker process
 * it forks for each pass (agent/worker/). A real daemon, hub, Mosquitto and
 * PostgreSQL; the processes are read from /proc.
 */
let services: Services;
test.before(async () => {
  services = await startServices();
});
test.after.always(async () => {
  await services?.stop();
});

const TABLES: ActTable[] = ['births', 'deaths'];

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The daemon's children once they have exec'd: between fork and exec a child
 * still shows its parent's command line.
 */
function execdChildrenOf(pid: number): number[] {
  const own = cmdline(pid);
  return childrenOf(pid).filter((child) => {
    const line = cmdline(child);
    return line !== '' && line !== own;
  });
}

/** A zombie (dead, not yet reaped by whoever adopted it) counts as gone. */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** A rig with its hub started and one enrolled centre (of births and deaths unless `spec` says). */
async function hubAndCentre(t: ExecutionContext, name: string, spec: CentreSpec): Promise<{ rig: E2eRig; centre: RigCentre }> {
  const rig = await E2eRig.create(services, name, TABLES);
  t.teardown(() => rig.close());
  await rig.startHub();
  const added = await rig.addCentre(spec);
  await added.enrol();
  return { rig, centre: added };
}

async function everyActOnce(t: { deepEqual(a: unknown, b: unknown, m?: string): void }, rig: E2eRig, centre: RigCentre, validated: Map<ActTable, number[]>): Promise<void> {
  for (const table of TABLES) {
    const sent = validated.get(table)!;
    await rig.waitForCentral(table, centre, sent.length, 120_000);
    t.deepEqual((await rig.centralRows(table, centre)).map((r) => r.source_numero), sent, `${table}: every validated act once`);
    await pollUntil(() => centre.at(table, 4).length, (n) => n === sent.length, `${table} all exported at the centre`);
  }
}

test.serial('the daemon packs in a worker process that ends with each pass; killed -9 mid-pass, it leaves no worker behind, and the next daemon finishes the work', async (t) => {
  const { rig, centre } = await hubAndCentre(t, 'worker_kill', { matricule: 'CM-WRK-YDE-01', count: 8000 });
  const validated = new Map(TABLES.map((table) => [table, centre.at(table, 2)] as const));

  const first = rig.spawnAgent(centre);
  const [worker] = await pollUntil(() => execdChildrenOf(first.child.pid!), (c) => c.length > 0, 'worker process of the first daemon', 30_000, 10);
  t.true(cmdline(worker!).includes('worker-main.js'), 'the child is the worker');
  await first.kill9();
  await pollUntil(() => alive(worker!), (a) => !a, 'end of the worker after its daemon was killed', 10_000, 20);

  const second = rig.spawnAgent(centre);
  await everyActOnce(t, rig, centre, validated);
  t.true(second.count((e) => e.event === 'packed') > 0 || first.count((e) => e.event === 'packed') > 0, "the worker's log lines come out of the daemon");
  await pollUntil(() => childrenOf(second.child.pid!), (c) => c.length === 0, 'the daemon idle with no worker', 30_000);
  t.true(second.running, 'the daemon keeps running');
});

test.serial('stopped during a pass (SIGTERM to daemon and worker, as systemd sends), the daemon lets the pass finish and exits cleanly', async (t) => {
  const { rig, centre } = await hubAndCentre(t, 'worker_stop', { matricule: 'CM-WRK-GAR-03', count: 8000 });
  const validated = TABLES.map((table) => centre.at(table, 2).length);
  const daemon = rig.spawnAgent(centre);
  const [worker] = await pollUntil(() => execdChildrenOf(daemon.child.pid!), (c) => c.length > 0, 'worker process', 30_000, 10);
  // Once it holds work.lock its handlers are in place: before that, a signal ends it as it would any process.
  await pollUntil(() => existsSync(join(centre.config.dataDir, 'work.lock')), (held) => held, 'the worker at work', 10_000, 10);
  process.kill(worker!, 'SIGTERM');
  const exit = await daemon.stop(60_000);
  t.is(exit.code, 0, daemon.tail());
  t.is(daemon.count((e) => e.event === 'error'), 0, daemon.tail());
  t.false(alive(worker!));
  t.deepEqual(TABLES.map((table) => centre.count(table, 2)), [0, 0], 'the pass packed everything validated');
  t.deepEqual(TABLES.map((table) => centre.count(table, 3, 4)), validated);
});

test.serial('Ctrl-C during a pass: the daemon says it stops once the pass ends; a second Ctrl-C ends it at once, its worker follows, and the next daemon finishes', async (t) => {
  const { rig, centre } = await hubAndCentre(t, 'worker_int', { matricule: 'CM-WRK-BFM-04', count: 300 });
  const config = JSON.parse(readFileSync(centre.configPath, 'utf8')) as { source: Record<string, unknown> };
  config.source.busyTimeoutMs = 5_000;
  writeFileSync(centre.configPath, JSON.stringify(config));
  const validated = new Map(TABLES.map((table) => [table, centre.at(table, 2)] as const));
  // The centre's application holds its database's write lock (WAL, as the agent leaves it, lets the daemon open it and read):
  // the only worker there is waits on the lock to claim records, surely under way when Ctrl-C comes.
  centre.db.pragma('journal_mode = WAL');
  centre.db.exec('BEGIN IMMEDIATE');
  const daemon = rig.spawnAgent(centre);
  const [worker] = await pollUntil(() => execdChildrenOf(daemon.child.pid!), (c) => c.length > 0, 'worker process', 30_000, 10);
  await pollUntil(() => existsSync(join(centre.config.dataDir, 'work.lock')), (held) => held, 'the worker at work', 10_000, 10);
  // What a terminal's Ctrl-C does: SIGINT to its foreground process group, the daemon and its worker.
  const ctrlC = () => {
    for (const pid of [daemon.child.pid!, worker!]) process.kill(pid, 'SIGINT');
  };
  ctrlC();
  await daemon.waitFor((e) => e.event === 'stopping' && e.signal === 'SIGINT', 'the daemon saying it stops');
  t.true(daemon.running && alive(worker!), 'both wait for the pass under way');
  ctrlC();
  t.is((await daemon.exited).signal, 'SIGINT', 'the second Ctrl-C ended the daemon at once');
  await pollUntil(() => alive(worker!), (a) => !a, 'the end of the worker after its daemon', 15_000, 20);
  t.deepEqual(TABLES.map((table) => centre.at(table, 3).length), [0, 0], 'nothing half-claimed');

  centre.db.exec('COMMIT');
  rig.spawnAgent(centre);
  await everyActOnce(t, rig, centre, validated);
});

test.serial('a worker that cannot do its work says why; the daemon keeps running, waits longer between tries, and finishes once the cause is gone', async (t) => {
  const { rig, centre } = await hubAndCentre(t, 'worker_fail', { matricule: 'CM-WRK-DLA-02', count: 300, batching: { minRecords: 1 } });
  const config = JSON.parse(readFileSync(centre.configPath, 'utf8')) as { source: Record<string, unknown> };
  config.source.busyTimeoutMs = 200;
  writeFileSync(centre.configPath, JSON.stringify(config));
  const waiting = new Map(TABLES.map((table) => [table, centre.at(table, 2)] as const));
  for (const table of TABLES) centre.setStatus(table, waiting.get(table)!, 1);
  const daemon = rig.spawnAgent(centre);
  await daemon.waitFor((e) => e.event === 'agent_opened', 'the daemon up');

  // Staff validate the acts; then the centre's application holds its database's write lock: the worker cannot open it or claim records.
  for (const table of TABLES) centre.setStatus(table, waiting.get(table)!, 2);
  centre.db.exec('BEGIN IMMEDIATE');
  const validated = new Map(TABLES.map((table) => [table, centre.at(table, 2)] as const));
  const locked = (e: LogEvent) => e.event === 'error' && e.code === 'E_IO' && /locked/.test(String(e.message));
  await daemon.waitForCount(locked, 3, 'three failed passes', 60_000);
  const at = daemon.events.filter(locked).map((e) => Date.parse(e.t!));
  t.true(at[2]! - at[1]! >= 3_500, `the second wait (${at[2]! - at[1]!} ms) is longer than a poll: a broken setup does not start a process every 2 s`);
  t.true(daemon.running);
  t.deepEqual(TABLES.map((table) => centre.at(table, 3).length), [0, 0], 'nothing half-claimed');
  t.false(existsSync(`${centre.config.dataDir}/work.lock`), 'no worker lock left');

  centre.db.exec('COMMIT');
  await everyActOnce(t, rig, centre, validated);
  t.true(daemon.running);
});

test.serial('over a call through the modem simulator, the daemon applies the receipts its worker gets during the call, then hangs up', async (t) => {
  const rig = await LinkRig.start({ upKbps: 64, rttMs: 100, connectDelayMs: 100, guardTimeMs: 100, acts: 300, batching: { maxRecords: 50, minRecords: 1 } });
  t.teardown(() => rig.stop());
  const configPath = join(rig.dir, 'tamtam-agent.json');
  writeAgentConfig(configPath, rig.config as unknown as AgentConfigInput);
  const daemon = LoggedProcess.tamtam('daemon', ['agent', 'run', '--config', configPath]);
  t.teardown(() => daemon.kill9());
  await daemon.waitFor((e) => e.event === 'call_done' && e.waiting === 0, 'a call that ends with every receipt applied', 120_000);
  t.is(await rig.centralCount(), 300);
  t.is(daemon.count((e) => e.event === 'receipt'), 6, 'one receipt an SDC of 50, each logged once');
  t.true(daemon.running);
});
