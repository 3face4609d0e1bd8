import { startServices } from '../test/helpers/e2e-rig.js';
import { describeCrashReport, runCrashScenario } from './crash-scenario.js';

/**
 * The agent crash test, longer: `npm run soak:crash [-- ROUNDS [SEED]]`, or
 * TAMTAM_CRASH_ROUNDS / TAMTAM_CRASH_SEED. Default 500 rounds. Exits 1 when an
 * act was lost, duplicated, garbled or left stuck.
 */
async function main(): Promise<number> {
  const rounds = Number(process.argv[2] ?? process.env.TAMTAM_CRASH_ROUNDS ?? 500);
  const seed = Number(process.argv[3] ?? process.env.TAMTAM_CRASH_SEED ?? Date.now() % 1_000_000);
  if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(seed)) {
    process.stderr.write('usage: soak-crash [ROUNDS [SEED]]: whole numbers\n');
    return 2;
  }
  process.stdout.write(`soak: ${rounds} rounds, seed ${seed}\n`);
  const services = await startServices();
  try {
    const every = Math.max(1, Math.floor(rounds / 20));
    const report = await runCrashScenario({
      services, rounds, seed,
      log: (line, at) => {
        if (!at || at.round % every === 0) process.stdout.write(`${line}\n`);
      },
    });
    process.stdout.write(`\n${describeCrashReport(report)}\n`);
    const bad = report.invariantBreaks.length > 0 || report.exitedEarly > 0
      || report.tables.some((t) => t.lost.length || t.extra.length || t.garbled.length || t.stuck || t.rows !== t.validated || t.exported !== t.validated);
    process.stdout.write(bad ? 'SOAK FAILED\n' : 'soak passed: every validated act merged exactly once\n');
    return bad ? 1 : 0;
  } finally {
    await services.stop();
  }
}

main().then((code) => {
  process.exitCode = code;
}, (e) => {
  process.stderr.write(`soak-crash failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
