import test from 'ava';
import Database from '../common/sqlite-database.js';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../agent/config.js';
import { Stick } from '../common/t2d-stick.js';
import type { StickImportReport } from '../hub/t2d/stick-import.js';
import { fillCentreDatabase, sharedData } from '../scripts/sample-acts.js';
import { freePort } from '../scripts/services/free-port.js';
import { startPostgres, type PostgresCluster } from '../scripts/services/postgres-cluster.js';
import { LoggedProcess } from './helpers/logged-process.js';
import { T2dRig } from './helpers/t2d-rig.js';
import { runTamtam } from './helpers/run-cli.js';

const tamtam = runTamtam;

let pg: PostgresCluster;
test.before(async () => {
  pg = await startPostgres();
});
test.after.always(async () => {
  await pg?.stop();
});

test('t2d export then t2d import beside a running embedded hub, then export again: every validated act exported', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tamtam-t2d-cli-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const hubDir = join(root, 'hub');
  const port = await freePort();
  const init = await tamtam(['hub', 'init', '--dir', hubDir, '--mqtt-port', String(port), '--http-port', '0', '--t2d-root', join(root, 'media')]);
  t.is(init.code, 0, init.err);
  t.regex(init.out, /USB sticks\s+imported when mounted under .*media/);
  t.deepEqual(JSON.parse(readFileSync(join(hubDir, 'hub.json'), 'utf8')).t2dRoots, [join(root, 'media')]);
  t.is((await tamtam(['hub', 'table', 'create', 'births', '--like', `${sharedData}births-5k.jsonl`, '--dir', hubDir])).code, 0);
  const added = await tamtam(['hub', 'centre', 'add', '--name', 'Bertoua', '--matricule', 'CM-ES-BTA-0007', '--dir', hubDir, '--json']);
  const { token, matricule } = JSON.parse(added.out) as { token: string; matricule: string };

  const hub = LoggedProcess.tamtam('hub', ['hub', 'start', '--dir', hubDir]);
  t.teardown(() => hub.stop());
  await hub.waitFor((e) => e.event === 'hub_started', 'hub_started');

  const dbPath = join(root, 'centre.db');
  fillCentreDatabase(dbPath, [{ table: 'births', count: 90, seed: 9, centre: matricule }]);
  const centreDb = new Database(dbPath);
  t.teardown(() => centreDb.close());
  centreDb.prepare('UPDATE births SET status = 1 WHERE numero > 80').run();
  const config = join(root, 'agent.json');
  t.is((await tamtam(['agent', 'init', '--config', config, '--centre', matricule, '--sqlite', dbPath, '--table', 'births', '--broker', `mqtt://127.0.0.1:${port}`, '--data-dir', join(root, 'agent')])).code, 0);
  const enrol = await tamtam(['agent', 'enrol', '--config', config, '--token', token]);
  t.is(enrol.code, 0, enrol.err);

  const stick = join(root, 'stick');
  mkdirSync(stick);
  const exported = await tamtam(['t2d', 'export', stick, '--config', config]);
  t.is(exported.code, 0, exported.err);
  t.regex(exported.out, /validated records packed\s+80/);
  t.regex(exported.out, /SDCs written for the hub\s+[1-9]/);
  t.regex(exported.out, /you can remove the stick now/);

  // Given the tamtam/ folder itself, as a technician browsing the stick might.
  const imported = await tamtam(['t2d', 'import', join(stick, 'tamtam'), '--dir', hubDir]);
  t.is(imported.code, 0, imported.err);
  t.regex(imported.out, new RegExp(`${matricule}: read \\d+, merged \\d+ SDC\\(s\\) \\(80 records, 0 already there\\).*receipts written \\d+`));
  t.regex(imported.out.trimEnd(), /you can remove the stick now$/);
  t.regex(imported.err, new RegExp(`up/${matricule}/\\d+\\.sdc: merged .*-> down/${matricule}/\\d+-[0-9a-f]{8}\\.sdc`));

  const back = await tamtam(['t2d', 'export', stick, '--config', config, '--json']);
  t.is(back.code, 0, back.err);
  t.like(JSON.parse(back.out), { written: 0, errors: [], pullable: true });
  t.true((JSON.parse(back.out) as { receiptsApplied: number }).receiptsApplied > 0);
  const status = JSON.parse((await tamtam(['agent', 'status', '--config', config, '--json'])).out) as { tables: { counts: { exported: number; new: number } }[] };
  t.like(status.tables[0], { counts: { exported: 80, new: 10 } });
  const tables = await tamtam(['hub', 'tables', '--dir', hubDir, '--json']);
  t.like(JSON.parse(tables.out)[0], { table: 'births', centre: matricule, records: 80, versions: 80 });
});

test('t2d import --json reports each centre with reasons; bad input and a busy agent get clear errors', async (t) => {
  const r = await T2dRig.create(pg, 'cli_report');
  t.teardown(() => r.close());
  const a = await r.addCentre('CM-T2D-CLI-01', { count: 30 });
  const stick = join(r.dir, 'stick');
  mkdirSync(stick);
  const out = await r.exchange(a, stick);
  Stick.open(stick).write('up', a.matricule, 'garbage.sdc', new TextEncoder().encode('not an SDC at all'));

  const json = await tamtam(['t2d', 'import', stick, '--dir', r.home.dir, '--json']);
  t.is(json.code, 0, json.err);
  const report = JSON.parse(json.out) as StickImportReport;
  t.like(report.centres[0], { centre: a.matricule, read: out.written + 1, quarantined: 1, receiptsWritten: out.written });
  t.like(report.centres[0]!.problems[0], { file: `up/${a.matricule}/garbage.sdc`, outcome: 'quarantined', code: 'E_BAD_MAGIC' });
  const human = await tamtam(['t2d', 'import', stick, '--dir', r.home.dir]);
  t.is(human.code, 0);
  t.regex(human.out, /: 0 SDC file\(s\) read/, 'nothing left to read: every file was answered or quarantined');

  const missing = await tamtam(['t2d', 'import', join(r.dir, 'no-such-stick'), '--dir', r.home.dir]);
  t.is(missing.code, 1);
  t.regex(missing.err, /cannot read the USB stick at .*no-such-stick .*mounted.*\[E_IO\]/);
  t.is((await tamtam(['t2d', 'import'])).code, 2, 'usage error without a folder');

  // The agent daemon holds the data folder.
  const lock = join(loadAgentConfig(a.configPath).dataDir, 'agent.lock');
  writeFileSync(lock, `${process.pid}\n`);
  t.teardown(() => rmSync(lock, { force: true }));
  const busy = await tamtam(['t2d', 'export', stick, '--config', a.configPath]);
  t.is(busy.code, 1);
  t.regex(busy.err, /in use by process \d+.*daemon.*'t2d'.*by itself/);
});
