import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { seededRandom } from './helpers/acts.js';
import { AgentRig } from './helpers/agent-rig.js';

const CHILD = fileURLToPath(new URL('./helpers/pack-loop-child.js', import.meta.url));
const ROUNDS = 20;

/** Resolves with the child's first stdout line starting with `ready`, or undefined if it exits first. */
function readyLine(child: ChildProcess): Promise<string | undefined> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (l) => l.startsWith('ready') && resolve(l));
    lines.on('close', () => resolve(undefined));
  });
}

test('kill -9 at random moments, 20 rounds: after recovery every validated act is exported exactly once', async (t) => {
  const seed = Number(process.env.TAMTAM_KILL_SEED ?? Date.now() % 100_000);
  t.log(`seed ${seed} (TAMTAM_KILL_SEED=${seed} replays it)`);
  const rand = seededRandom(seed);
  const rig = await AgentRig.create({ count: 1200, maxRecords: 25, status: 1, dictionary: true });
  t.teardown(() => rig.close());
  // The agent runs in the child from now on; this process is the centre application and the hub.
  await rig.stop();

  const validated: number[] = [];
  let next = 1;
  const validate = (n: number): void => {
    const upTo = Math.min(next + n, 1201);
    const set = rig.centre.prepare('UPDATE births SET status = 2 WHERE numero = ? AND status = 1');
    for (; next < upTo; next++) if (set.run(next).changes > 0) validated.push(next);
  };
  validate(200);

  const stats = { killedBeforeReady: 0, killedWorking: 0, finished: 0, receiptsDelivered: 0, receiptsLost: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const child = spawn(process.execPath, [CHILD, rig.configPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = once(child, 'exit');
    const early = rand() < 0.25;
    if (early) {
      // Kill while it starts or recovers.
      await Promise.race([delay(Math.floor(rand() * 400)), exited]);
    } else {
      const ready = await readyLine(child);
      if (ready) t.log(`round ${round}: ${ready}`);
      validate(Math.floor(rand() * 60));
      await Promise.race([delay(Math.floor(rand() * 150)), exited]);
    }
    const running = child.exitCode === null && child.signalCode === null;
    if (running) child.kill('SIGKILL');
    const [code, signal] = await exited;
    if (!running) t.is(code, 0, `round ${round}: the child failed on its own`);
    if (signal === 'SIGKILL') stats[early ? 'killedBeforeReady' : 'killedWorking']++;
    else stats.finished++;

    const merged = new Set([...rig.hub.merged.values()].map((m) => m.numero));
    const status = rig.statuses();
    t.deepEqual(rig.at(4).filter((n) => !merged.has(n)), [], `round ${round}: at 4 without a merged receipt`);
    t.deepEqual(validated.filter((n) => ![2, 3, 4].includes(status.get(n)!)), [], `round ${round}: a validated act left the 2-3-4 path`);

    // The hub takes whatever the outbox holds; some receipts are lost on the way back.
    const spool = rig.spool;
    for (const receipt of rig.hub.drain(spool)) {
      if (rand() < 0.2) stats.receiptsLost++;
      else {
        spool.writeInbox(receipt);
        stats.receiptsDelivered++;
      }
      rig.now += 1;
    }
  }

  validate(1200);
  await rig.start();
  await rig.recover();
  for (let i = 0; i < 20 && (rig.at(2).length > 0 || rig.at(3).length > 0); i++) {
    await rig.exporter.pack();
    await rig.exchange();
    await rig.applier.processInbox();
  }
  t.log(JSON.stringify({ ...stats, sdcsIngested: rig.hub.sdcsIngested, replays: rig.hub.replays, acts: validated.length }));
  t.is(validated.length, 1200);
  t.deepEqual(rig.at(4), validated, 'every validated act is exported');
  t.deepEqual([...rig.hub.merged.keys()].sort(), validated.map((n) => `births|${n}|1`).sort(), 'the hub merged each act at version 1');
  t.deepEqual([...rig.hub.mergeCounts.entries()].filter(([, c]) => c !== 1), [], 'and each exactly once');
  const sample = rig.centre.prepare('SELECT * FROM births WHERE numero IN (1, 600, 1200)').all() as Record<string, unknown>[];
  for (const row of sample) {
    const got = rig.hub.merged.get(`births|${String(row.numero)}|1`)!.values;
    t.deepEqual({ ...got, status: 4, __version: undefined }, { ...row, __version: undefined }, 'the hub got the act as the centre holds it');
  }
  t.deepEqual(rig.spool.listOutbox(), []);
  t.deepEqual(rig.spool.listQuarantine(), []);
});
