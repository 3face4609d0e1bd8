import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../agent/config.js';
import { findSyncTables } from '../agent/setup/find-databases.js';
import { findModems } from '../agent/setup/find-modems.js';
import { findSticks } from '../agent/setup/find-sticks.js';
import { LinePrompter } from '../agent/setup/prompter.js';
import { openSource } from '../agent/source/source-adapter.js';
import { isTamtamError } from '../protocol/errors.js';
import { AgentState } from '../agent/state/agent-state.js';
import { startSbdSimulator } from '../hardware/simulator/sbd-commands.js';
import { ModemSimulator } from '../hardware/simulator/modem-simulator.js';
import { hubPaths } from '../hub/hub-home.js';
import { fillCentreDatabase } from '../scripts/sample-acts.js';
import { LinkRig } from '../scripts/link-rig.js';
import { E2eRig, startServices, type Services } from './helpers/e2e-rig.js';
import { TAMTAM_BIN } from './helpers/logged-process.js';
import { makeTestPki } from './helpers/test-pki.js';

/*
 * `tamtam agent setup` as a technician runs it: the real CLI in its own
 * process, answers piped to its stdin, against a real hub on a real
 * PostgreSQL and Mosquitto, or a modem simulated on a pty. The tests share
 * the broker, so they run one after another.
 */
let services: Services;
test.before(async () => {
  services = await startServices();
});
test.after.always(async () => {
  await services?.stop();
});

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** `tamtam agent setup ARGS` in `cwd`, with `input` as its whole stdin (a pipe, not a terminal). */
async function setup(cwd: string, args: string[], input = ''): Promise<Run> {
  const child = spawn(process.execPath, [TAMTAM_BIN, 'agent', 'setup', ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  child.stdin.end(input);
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, out, err };
}

/** A centre's folder as its application leaves it: its SQLite database with births and deaths, nothing of Tamtam's. */
function centreFolder(root: string, matricule: string, count = 60): string {
  const dir = join(root, matricule);
  mkdirSync(dir, { recursive: true });
  fillCentreDatabase(join(dir, 'centre.db'), [{ table: 'births', count, seed: 3, centre: matricule }, { table: 'deaths', count, seed: 4, centre: matricule }]);
  // Not a centre database: the detection must pass it by.
  writeFileSync(join(dir, 'notes.db'), 'not an SQLite file');
  return dir;
}

test.serial('interactive set-up with piped answers: database found, token enrolment checked against the CA, test SDC receipted, config ready to sync', async (t) => {
  const rig = await E2eRig.create(services, 'setup_ok', ['births', 'deaths']);
  t.teardown(() => rig.close());
  await rig.startHub();
  const matricule = 'CM-SET-YDE-01';
  const { token } = await rig.registry.add({ matricule, name: 'set-up centre' });
  const dir = centreFolder(rig.dir, matricule);
  const ca = hubPaths(rig.hubDir).caCert;

  const run = await setup(dir, [], [matricule, '', rig.brokerUrl, token, ca].map((a) => `${a}\n`).join(''));
  t.is(run.code, 0, `${run.out}\n${run.err}`);
  t.true(run.out.includes(`Found the centre's database: ${join(dir, 'centre.db')}`), run.out);
  t.true(run.out.includes(`The centre's matricule, as the hub operator gave it (e.g. CM-CE-YDE-0001): ${matricule}`), 'each question has an example, the piped answer is echoed');
  t.regex(run.out, /1\) births \(\d+ validated/);
  t.true(run.out.includes('Tables to sync: numbers separated by commas, or all (e.g. 1,2) [all]: '), 'a default in brackets');
  t.regex(run.out, /The enrolment token from the hub operator \(e\.g\. tt_\w+\): tt_/);
  t.true(run.out.includes(`checking its answer against ${ca}`));
  t.regex(run.out, /Test SDC \d+ receipted by the hub: round trip \d+\.\d s/);
  const configPath = join(dir, 'tamtam-agent.json');
  t.true(run.out.includes(`Next: tamtam agent run --config ${configPath}`));
  t.regex(run.out, /ExecStart=\S+node\S* \S+bin\/tamtam\.js agent run --config /);

  const config = loadAgentConfig(configPath);
  t.like(config, { centre: matricule, source: { kind: 'sqlite', path: join(dir, 'centre.db') }, link: { kind: 'mqtt', url: rig.brokerUrl } });
  t.deepEqual(config.tables.map((x) => x.name), ['births', 'deaths']);
  t.true(existsSync(config.certificate) && existsSync(config.privateKey) && existsSync(config.hubCertificate));
  t.truthy((await rig.registry.get(matricule))?.certPem, 'the hub holds the enrolled certificate');
  const state = AgentState.open(join(config.dataDir, 'state.db'));
  const reports = state.sdcs(['done']).filter((s) => s.kind === 'usageReport');
  state.close();
  t.is(reports.length, 1, 'the test SDC got its receipt');
  t.is(reports[0]!.outcome, 'accepted');

  // The config it wrote is complete: one sync sends every validated act.
  const sync = spawn(process.execPath, [TAMTAM_BIN, 'agent', 'sync', '--once', '--json', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let summary = '';
  sync.stdout.setEncoding('utf8').on('data', (s: string) => (summary += s));
  const [code] = (await once(sync, 'close')) as [number];
  t.is(code, 0, summary);
  const births = await rig.central('births');
  t.true(births.rows > 0 && (JSON.parse(summary) as { waiting: number }).waiting === 0, summary);
});

test.serial('--yes takes defaults and stops with E_USAGE naming the option it lacks, writing nothing', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tamtam-setup-yes-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = centreFolder(root, 'CM-SET-YES-02', 10);
  const configPath = join(dir, 'tamtam-agent.json');

  const noCentre = await setup(dir, ['--yes', '--no-scan', '--broker', services.broker.url]);
  t.is(noCentre.code, 2, noCentre.err);
  t.regex(noCentre.err, /missing --centre: The centre's matricule.*\(e\.g\. CM-CE-YDE-0001\); with --yes the set-up takes defaults and cannot ask \[E_USAGE\]/);

  const noToken = await setup(dir, ['--yes', '--no-scan', '--centre', 'CM-SET-YES-02', '--broker', services.broker.url]);
  t.is(noToken.code, 2, noToken.err);
  t.regex(noToken.err, /missing --token: The enrolment token .*\[E_USAGE\]/);
  t.regex(noToken.out, /Tables to sync: .*\[all\]: all/, 'the defaults taken are printed');
  t.false(existsSync(configPath), 'nothing written before every answer is there');

  const json = await setup(dir, ['--yes', '--no-scan', '--json', '--centre', 'CM-SET-YES-02']);
  t.is(json.code, 2);
  t.like(JSON.parse(json.out), { error: { code: 'E_USAGE', details: { option: 'broker' } } });
});

test.serial('modems on simulated ports are probed and told apart: a 9603 proposes SBD, an Iridium handset a data call, a Thuraya PPP', async (t) => {
  const gateway = { mo: async () => undefined, mt: async () => undefined };
  const sbd = await startSbdSimulator({ gateway, imei: '300234010753370', latencyMs: 10 });
  const iridium = await ModemSimulator.start({ target: () => undefined, rttMs: 10, guardTimeMs: 100, imei: '300534012345678', signal: 4 });
  const thuraya = await ModemSimulator.start({ target: () => undefined, rttMs: 10, guardTimeMs: 100, model: 'thuraya' });
  const silent = await ModemSimulator.start({ target: () => undefined, rttMs: 10, silent: true });
  t.teardown(async () => {
    await Promise.all([sbd.close(), iridium.close(), thuraya.close(), silent.close()]);
  });
  const search = await findModems([sbd.path, iridium.path, thuraya.path, silent.path, '/dev/tamtam-no-such-port'], { answerTimeoutMs: 300 });
  t.deepEqual(search.modems.map((m) => [m.port, m.link, m.driver]), [[sbd.path, 'sbd', undefined], [iridium.path, 'modem', 'iridium-csd'], [thuraya.path, 'ppp', 'thuraya-gmprs']]);
  t.like(search.modems[0]!.report, { identity: { imei: '300234010753370' } });
  t.like(search.modems[1]!.report, { baudRate: 19_200, signal: { bars: 4 } });
});

test.serial('set-up over a simulated Iridium modem: found by probing, keys already installed, test SDC receipted through the call', async (t) => {
  const rig = await LinkRig.start({ upKbps: 64, rttMs: 100, connectDelayMs: 100, guardTimeMs: 100, acts: 20 });
  t.teardown(() => rig.stop());
  const run = await setup(rig.dir, ['--no-scan', '--probe', rig.modem.path, '--data-dir', 'agent'], 'CM-CE-YDE-0001\n\n');
  t.is(run.code, 0, `${run.out}\n${run.err}`);
  t.regex(run.out, /1\) Iridium data modem \(circuit-switched call\): Iridium IRIDIUM 9500 Family on \S+ \(IMEI \d{15}, signal 5\/5\)/);
  t.regex(run.out, /2\) MQTT over the Internet/);
  t.regex(run.out, /Number, 1 to 2 \[1\]: \n/, 'Enter takes the modem');
  t.regex(run.out, /ok\s+signal\s+signal 5\/5 bars/);
  t.regex(run.out, /Already enrolled: certificate for CM-CE-YDE-0001/);
  t.regex(run.out, /Test SDC \d+ receipted by the hub/);
  t.notRegex(run.out, /enrolment token/, 'keys installed: no token asked');
  const config = loadAgentConfig(join(rig.dir, 'tamtam-agent.json'));
  t.like(config.link, { kind: 'modem', modem: { port: rig.modem.path, driver: 'iridium-csd' }, profile: { name: 'iridium-csd' } });
  t.true(rig.modem.stats().calls >= 1, 'the test went through a call');
});

test.serial('a wrong token keeps the config, installs no key, and prints the exact command that finishes the set-up', async (t) => {
  const rig = await E2eRig.create(services, 'setup_bad_token', ['births', 'deaths']);
  t.teardown(() => rig.close());
  await rig.startHub();
  const matricule = 'CM-SET-TOK-03';
  const { token } = await rig.registry.add({ matricule, name: 'set-up centre' });
  const dir = centreFolder(rig.dir, matricule, 20);
  const configPath = join(dir, 'tamtam-agent.json');

  const run = await setup(dir, ['--no-scan'], [matricule, '1', rig.brokerUrl, 'tt_ThisIsNotTheTokenTheOperatorGave', ''].map((a) => `${a}\n`).join(''));
  t.is(run.code, 1, run.err);
  const next = `tamtam agent setup --config ${configPath} --token NEW_TOKEN`;
  t.true(run.err.includes(`enrolment failed: the hub refused to enrol ${matricule}`), run.err);
  t.regex(run.err, /ask the hub operator for a new one/);
  t.true(run.err.includes(`Your answers are saved in ${configPath}; once this is fixed, run: ${next} [E_BAD_TOKEN]`), run.err);
  const config = loadAgentConfig(configPath);
  t.deepEqual(config.tables.map((x) => x.name), ['births'], 'the answers are in the config');
  t.false(existsSync(config.privateKey) || existsSync(config.certificate), 'no key without its certificate');

  // The printed command, with the right token: it asks only the optional CA file.
  const again = await setup(dir, next.split(' ').slice(3).map((a) => (a === 'NEW_TOKEN' ? token : a)), '\n');
  t.is(again.code, 0, `${again.out}\n${again.err}`);
  t.is([...again.out.matchAll(/\]: /g)].length, 1, 'one question: the CA file, skipped with Enter');
  t.regex(again.out, /Test SDC \d+ receipted/);
});

test.serial('an enrolment answer from another CA than the operator gave is refused and nothing is installed', async (t) => {
  const rig = await E2eRig.create(services, 'setup_bad_ca', ['births']);
  t.teardown(() => rig.close());
  await rig.startHub();
  const matricule = 'CM-SET-CA-04';
  const { token } = await rig.registry.add({ matricule, name: 'set-up centre' });
  const dir = centreFolder(rig.dir, matricule, 10);
  const otherCa = join(rig.dir, 'other-ca.crt');
  writeFileSync(otherCa, makeTestPki().caCertPem);

  const run = await setup(dir, ['--yes', '--no-scan', '--centre', matricule, '--token', token, '--broker', rig.brokerUrl, '--ca', otherCa]);
  t.is(run.code, 1, run.err);
  t.regex(run.err, /is not from the hub's CA in .*other-ca\.crt .*nothing was installed.*\[E_UNTRUSTED_CERT\]/);
  const config = loadAgentConfig(join(dir, 'tamtam-agent.json'));
  t.false(existsSync(config.privateKey) || existsSync(config.certificate) || existsSync(config.hubCertificate));
});

test.serial('the prompter explains a bad answer and asks again, and names the option when the input ends', async (t) => {
  const input = new PassThrough();
  let shown = '';
  const prompter = new LinePrompter(input, { write: (s: string) => (shown += s) });
  input.write('fast\n5\n2\n');
  const picked = await prompter.choose({ text: 'Which link?', option: 'modem', choices: [{ label: 'modem', value: 'm' }, { label: 'MQTT', value: 'q' }] });
  t.is(picked, 'q');
  t.is(shown.match(/-> type a number from 1 to 2, or Enter for 1/g)?.length, 2, shown);
  input.end();
  const ended = await prompter.ask({ text: "The hub's MQTT broker", option: 'broker' }).catch((e: unknown) => e);
  t.true(isTamtamError(ended, 'E_USAGE') && /give it with --broker/.test(ended.message), String(ended));
  prompter.close();
});

test.serial("tables with numero and status are found in a centre's PostgreSQL too, schema-qualified off the search path", async (t) => {
  const url = await services.pg.createDatabase('setup_pg_tables');
  const admin = await openSource({ kind: 'postgres', url });
  t.teardown(() => admin.close());
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`CREATE TABLE births (numero bigint PRIMARY KEY, status smallint NOT NULL, name text);
    INSERT INTO births VALUES (1, 2, 'a'), (2, 2, 'b'), (3, 4, 'c');
    CREATE TABLE staff (id int, name text);
    CREATE SCHEMA etatcivil; CREATE TABLE etatcivil.deaths (numero bigint, status smallint);
    CREATE VIEW births_view AS SELECT * FROM births;`);
  await client.end();
  t.deepEqual(await admin.listTables(), ['births', 'etatcivil.deaths', 'staff']);
  t.deepEqual(await findSyncTables(admin), [{ name: 'births', counts: { 2: 2, 4: 1 } }, { name: 'etatcivil.deaths', counts: {} }]);
});

test.serial('USB stick mount points are told from plain folders by their device', (t) => {
  // /dev holds real mounts (pts, shm, mqueue...) beside plain folders: what a mount root of sticks looks like.
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => m !== undefined && /^\/dev\/[^/]+$/.test(m));
  t.true(mounts.includes('/dev/pts'), 'a Linux /dev has the pty mount');
  const found = findSticks(['/dev', '/tamtam-no-such-root']);
  t.deepEqual(found.roots, ['/dev']);
  t.deepEqual([...new Set(found.mounted)].sort(), [...new Set(mounts)].sort(), 'the mount points, and no plain folder (/dev/net, /dev/fd...)');
});
