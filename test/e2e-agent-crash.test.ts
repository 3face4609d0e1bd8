import test from 'ava';
import { describeCrashReport, runCrashScenario } from '../scripts/crash-scenario.js';
import { startServices, type Services } from './helpers/e2e-rig.js';

/*
 * The agent daemon (`tamtam agent run`, a child process) killed with SIGKILL at
 * random moments while it packs, sends and applies receipts; the hub in this
 * process on a real PostgreSQL and Mosquitto. TAMTAM_CRASH_ROUNDS sets the
 * rounds (CI: 50), TAMTAM_CRASH_SEED replays a run; `npm run soak:crash` runs
 * the same scenario longer.
 */
let services: Services;
test.before(async () => {
  services = await startServices();
});
test.after.always(async () => {
  await services?.stop();
});

const ROUNDS = Number(process.env.TAMTAM_CRASH_ROUNDS ?? 50);
/** A round usually takes 1 to 2 s; slower ones are logged. */
const SLOW_ROUND_MS = 5_000;

test('agent killed -9 at random moments: every validated act reaches the central table exactly once, none lost', async (t) => {
  t.timeout(Math.max(120_000, ROUNDS * 4_000 + 60_000));
  const seed = Number(process.env.TAMTAM_CRASH_SEED ?? Date.now() % 1_000_000);
  t.log(`seed ${seed} (TAMTAM_CRASH_SEED=${seed} replays it)`);
  // Printed even when the test times out: where the time went.
  const log = (line: string, round?: { ms: number }) => {
    if (!round || round.ms > SLOW_ROUND_MS) t.log(line);
  };
  const r = await runCrashScenario({ services, rounds: ROUNDS, seed, log });
  t.log(describeCrashReport(r));

  t.deepEqual(r.invariantBreaks, [], 'after every kill: acts at 4 are in the central table, validated acts stay on the 2-3-4 path');
  t.is(r.exitedEarly, 0, 'the daemon never ended by itself');
  for (const tb of r.tables) {
    t.true(tb.validated > 0);
    t.deepEqual(tb.lost, [], `${tb.table}: validated acts missing from the central table`);
    t.deepEqual(tb.extra, [], `${tb.table}: acts in the central table that were never validated`);
    t.deepEqual(tb.garbled, [], `${tb.table}: acts whose content differs from the centre's`);
    t.is(tb.rows, tb.validated, `${tb.table}: one row per validated act (no second version, no duplicate)`);
    t.is(tb.records, tb.validated);
    t.is(tb.keys, tb.rows);
    t.is(tb.exported, tb.validated, `${tb.table}: every validated act at 4`);
    t.is(tb.stuck, 0);
  }
  // The kills must have hit the agent at work, not only while it started.
  t.true(r.packs > 0 && r.receiptsInRounds > 0 && r.killedWhile.busy > 0, 'kills cut the agent while it packed, sent and took receipts');
});
