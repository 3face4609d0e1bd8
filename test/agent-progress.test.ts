import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { writeAgentConfig, type AgentConfigInput } from '../agent/config.js';
import { LinkRig } from '../scripts/link-rig.js';
import { E2eRig, LoggedProcess, startServices, type LogEvent, type Services } from './helpers/e2e-rig.js';

/*
 * `agent sync --once --progress` on a backlog, in its own process with stderr
 * not a terminal: JSON 'progress' lines, over MQTT to a real hub and over a
 * call through the modem simulator. The reporter reads only the agent's state,
 * its source and the link's meter, so both links give the same lines.
 */
let services: Services;
test.before(async () => {
  services = await startServices();
});
test.after.always(async () => {
  await services?.stop();
});

type Progress = LogEvent & { percent: number; actsDone: number; actsTotal: number; bytesSent: number; bytesTotal: number; final?: boolean };

async function syncWithProgress(configPath: string, extra: string[] = ['--progress', '--progress-every', '0.2']): Promise<{ code: number | null; progress: Progress[]; child: LoggedProcess }> {
  const child = LoggedProcess.tamtam('sync', ['agent', 'sync', '--once', '--timeout', '120', '--config', configPath, ...extra]);
  const { code } = await child.exited;
  return { code, progress: child.events.filter((e) => e.event === 'progress') as Progress[], child };
}

function checkProgress(t: ExecutionContext, progress: Progress[], acts: number): void {
  t.true(progress.length >= 2, `progress lines: ${progress.length}`);
  t.like(progress[0], { percent: 0, actsDone: 0, actsTotal: acts });
  t.like(progress.at(-1), { percent: 100, actsDone: acts, actsTotal: acts, finished: true, final: true });
  const last = progress.at(-1)!;
  t.true(last.bytesSent > acts * 50 && last.bytesSent === last.bytesTotal, JSON.stringify(last));
  for (let i = 1; i < progress.length; i++) {
    t.true(progress[i]!.actsDone >= progress[i - 1]!.actsDone && progress[i]!.bytesSent >= progress[i - 1]!.bytesSent, 'never goes back');
    t.is(progress[i]!.actsTotal, acts, 'the backlog is known from the start');
  }
  t.is(progress.filter((p) => p.final).length, 1);
}

test.serial('over MQTT to a real hub: progress lines from 0 to 100 %, acts and bytes only ever growing', async (t) => {
  const rig = await E2eRig.create(services, 'progress_mqtt', ['births']);
  t.teardown(() => rig.close());
  await rig.startHub();
  const centre = await rig.addCentre({ matricule: 'CM-PRG-YDE-01', tables: ['births'], count: 1500, newEvery: 100_000, batching: { maxRecords: 100 } });
  await centre.enrol();
  const acts = centre.count('births', 2);

  const { code, progress, child } = await syncWithProgress(centre.configPath);
  t.is(code, 0, child.tail());
  checkProgress(t, progress, acts);
  t.is((await rig.central('births', centre)).rows, acts);

  // Not a terminal and not asked for: no progress lines.
  const quiet = await syncWithProgress(centre.configPath, []);
  t.is(quiet.code, 0);
  t.deepEqual(quiet.progress, []);
});

test.serial('the daemon shows a backlog going out, from 0 to its last line at 100 %, and keeps running', async (t) => {
  const rig = await E2eRig.create(services, 'progress_daemon', ['births']);
  t.teardown(() => rig.close());
  await rig.startHub();
  const centre = await rig.addCentre({ matricule: 'CM-PRG-DLA-02', tables: ['births'], count: 1200, newEvery: 100_000, batching: { maxRecords: 100, minRecords: 1, maxAgeSeconds: 0 } });
  await centre.enrol();
  const acts = centre.count('births', 2);

  const daemon = LoggedProcess.tamtam('daemon', ['agent', 'run', '--config', centre.configPath, '--progress', '--progress-every', '0.2', '--progress-min', '100']);
  t.teardown(() => daemon.kill9());
  await daemon.waitFor((e) => e.event === 'progress' && e.final === true, 'the last progress line');
  const progress = daemon.events.filter((e) => e.event === 'progress') as Progress[];
  checkProgress(t, progress, acts);
  t.true(daemon.running, 'the daemon goes on after the backlog');
  t.is(centre.count('births', 4), acts);
  await daemon.stop();
  t.is(daemon.count((e) => e.event === 'progress' && e.final === true), 1, 'stopping with no backlog showing adds no line');
});

test.serial('over a call through the modem simulator: the same lines, ending at 100 %', async (t) => {
  const rig = await LinkRig.start({ upKbps: 64, rttMs: 100, connectDelayMs: 100, guardTimeMs: 100, acts: 300, batching: { maxRecords: 50 } });
  t.teardown(() => rig.stop());
  const configPath = join(rig.dir, 'tamtam-agent.json');
  writeAgentConfig(configPath, rig.config as unknown as AgentConfigInput);

  const { code, progress, child } = await syncWithProgress(configPath);
  t.is(code, 0, child.tail());
  checkProgress(t, progress, 300);
  t.true(progress.some((p) => p.percent > 0 && p.percent < 100 && p.bytesSent > 0), 'a call at 64 kbit/s lasts a few seconds: lines in between');
  t.is(await rig.centralCount(), 300);
});
