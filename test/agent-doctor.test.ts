import test, { type ExecutionContext } from 'ava';
import Database from '../common/sqlite-database.js';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { loadAgentConfig, writeAgentConfig, type AgentConfigInput } from '../agent/config.js';
import { recordHubClock } from '../agent/doctor/clock-check.js';
import { withDeadline, type DoctorCheck } from '../agent/doctor/doctor-check.js';
import { runDoctor, type DoctorOptions } from '../agent/doctor/run-doctor.js';
import { generateKeyPair, createCsr } from '../agent/enrolment/key-pair.js';
import { AgentState } from '../agent/state/agent-state.js';
import { takePidLock } from '../common/pid-lock.js';
import { ModemSimulator } from '../hardware/simulator/modem-simulator.js';
import { startSbdSimulator } from '../hardware/simulator/sbd-commands.js';
import { createCertificateAuthority, issueCertificate } from '../hub/pki/certificate-authority.js';
import { freePort } from '../scripts/services/free-port.js';
import { startMosquitto } from '../scripts/services/mosquitto-broker.js';
import { startPostgres, type PostgresCluster } from '../scripts/services/postgres-cluster.js';
import { prepareAgentDir } from './helpers/agent-rig.js';
import { MemorySbdGateway } from './helpers/memory-sbd-gateway.js';
import { runTamtam } from './helpers/run-cli.js';

interface Centre {
  dir: string;
  configPath: string;
  centrePath: string;
  /** Rewrites the config with some fields changed. */
  set(change: Partial<AgentConfigInput>): void;
}

async function centre(t: ExecutionContext): Promise<Centre> {
  const { dir, configPath, centrePath } = await prepareAgentDir({ count: 20, status: 2 });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const base = JSON.parse(readFileSync(configPath, 'utf8')) as AgentConfigInput;
  return { dir, configPath, centrePath, set: (change) => writeAgentConfig(configPath, { ...base, ...change }) };
}

const doctor = (c: Centre, o: DoctorOptions = {}) => runDoctor({ configPath: c.configPath, offline: true, ...o });
const check = (checks: DoctorCheck[], id: string): DoctorCheck => {
  const found = checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id} among ${checks.map((c) => c.id).join(', ')}`);
  return found;
};

let cluster: PostgresCluster | undefined;
test.after.always(() => cluster?.stop());

test('a sound SQLite centre: every check passes, records counted by status, the link skipped offline', async (t) => {
  const c = await centre(t);
  const report = await doctor(c);
  t.true(report.ok, JSON.stringify(report.checks, null, 1));
  t.like(check(report.checks, 'database'), { status: 'ok' });
  t.like(check(report.checks, 'table:births'), { status: 'ok', detail: 'numero and status present; 20 validated' });
  t.deepEqual(report.backlog, { births: { 2: 20 } });
  for (const id of ['config', 'spool', 'disk', 'certificate', 'hub-certificate', 'clock']) t.not(check(report.checks, id).status, 'fail', id);
  t.regex(check(report.checks, 'certificate').detail, /matches the private key, \d+ days to expiry/);
  t.like(check(report.checks, 'link'), { status: 'warn', detail: 'the mqtt link was not tested: offline (--offline)' });
  t.like(check(report.checks, 'agent'), { status: 'warn' });
});

test('a missing table and a table without status fail, each with what to do', async (t) => {
  const c = await centre(t);
  const db = new Database(c.centrePath);
  db.exec('CREATE TABLE deaths (numero INTEGER PRIMARY KEY, name TEXT)');
  db.close();
  c.set({ tables: [{ name: 'births' }, { name: 'marriages' }, { name: 'deaths' }] });
  const report = await doctor(c);
  t.false(report.ok);
  t.like(check(report.checks, 'table:births'), { status: 'ok' });
  const missing = check(report.checks, 'table:marriages');
  t.like(missing, { status: 'fail', code: 'E_CONFIG' });
  t.regex(missing.detail, /table "marriages" not found .*use one of births, deaths/);
  t.regex(missing.fix!, /correct the name under "tables"/);
  const noStatus = check(report.checks, 'table:deaths');
  t.like(noStatus, { status: 'fail', detail: 'table deaths has no "status" column' });
  t.regex(noStatus.fix!, /ALTER TABLE "deaths" ADD COLUMN status INTEGER/);
});

test('a PostgreSQL source: tables checked the same way; a server that does not answer fails with what to check', async (t) => {
  cluster ??= await startPostgres();
  const url = await cluster.createDatabase('doctor_src');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query("CREATE TABLE births (numero bigserial PRIMARY KEY, status smallint NOT NULL, name text); INSERT INTO births (status, name) VALUES (2, 'a'), (2, 'b'), (4, 'c')");
  await client.query('CREATE TABLE deaths (status smallint, name text)');
  await client.end();
  const c = await centre(t);
  c.set({ source: { kind: 'postgres', url }, tables: [{ name: 'births' }, { name: 'deaths' }] });
  const report = await doctor(c);
  t.like(check(report.checks, 'database'), { status: 'ok' });
  t.like(check(report.checks, 'table:births'), { status: 'ok', detail: 'numero and status present; 2 validated, 1 exported' });
  const noNumero = check(report.checks, 'table:deaths');
  t.like(noNumero, { status: 'fail', detail: 'table deaths has no "numero" column' });
  t.regex(noNumero.fix!, /ADD COLUMN numero bigint GENERATED BY DEFAULT AS IDENTITY/);

  c.set({ source: { kind: 'postgres', url: `postgres://nobody@127.0.0.1:${await freePort()}/none` } });
  const down = await doctor(c);
  const db = check(down.checks, 'database');
  t.like(db, { status: 'fail' });
  t.regex(db.detail, /cannot open the PostgreSQL postgres:\/\/nobody@127\.0\.0\.1:\d+\/none/);
  t.regex(db.fix!, /the PostgreSQL server of the centre runs/);
  t.false(down.checks.some((x) => x.id.startsWith('table:')), 'no table is checked on a database that did not open');
});

test('free disk space under the thresholds warns, then fails', async (t) => {
  const c = await centre(t);
  const warned = check((await doctor(c, { disk: { warnBytes: Number.MAX_SAFE_INTEGER } })).checks, 'disk');
  t.like(warned, { status: 'warn', code: 'E_NO_SPACE' });
  t.regex(warned.detail, /free on the disk of .*, under/);
  const failed = await doctor(c, { disk: { warnBytes: Number.MAX_SAFE_INTEGER, failBytes: Number.MAX_SAFE_INTEGER } });
  t.like(check(failed.checks, 'disk'), { status: 'fail', code: 'E_NO_SPACE' });
  t.regex(check(failed.checks, 'disk').fix!, /free disk space/);
  t.false(failed.ok);
});

test('certificates: expired, expiring soon, not the key, not from the hub CA', async (t) => {
  const c = await centre(t);
  const cfg = loadAgentConfig(c.configPath);
  const day = 86_400_000;
  const ca = createCertificateAuthority({ commonName: 'Doctor CA', keyBits: 2048, now: () => new Date(Date.now() - 1000 * day) });
  const keys = generateKeyPair();
  const issue = (daysAgo: number, days: number, from = ca) => issueCertificate(from, createCsr(keys.privateKeyPem, { commonName: cfg.centre }), { role: 'centre', days, now: () => new Date(Date.now() - daysAgo * day) });
  writeFileSync(cfg.privateKey, keys.privateKeyPem);
  writeFileSync(join(cfg.dataDir, 'keys', 'ca.crt'), ca.certPem);
  writeFileSync(cfg.certificate, issue(400, 30));
  const expired = check((await doctor(c)).checks, 'certificate');
  t.like(expired, { status: 'fail', code: 'E_CERT_EXPIRED' });
  t.regex(expired.detail, /expired on \d{4}-\d\d-\d\d/);
  t.regex(expired.fix!, /new enrolment token/);

  writeFileSync(cfg.certificate, issue(20, 30));
  t.like(check((await doctor(c)).checks, 'certificate'), { status: 'warn', code: 'E_CERT_EXPIRED' });

  writeFileSync(cfg.certificate, issue(1, 400));
  const sound = check((await doctor(c)).checks, 'certificate');
  t.like(sound, { status: 'ok' });
  t.regex(sound.detail, /issued by the hub's CA, 398 days to expiry/);

  writeFileSync(cfg.privateKey, generateKeyPair().privateKeyPem);
  t.like(check((await doctor(c)).checks, 'certificate'), { status: 'fail', code: 'E_BAD_KEY' });

  writeFileSync(cfg.privateKey, keys.privateKeyPem);
  const other = createCertificateAuthority({ commonName: 'Another CA', keyBits: 2048 });
  writeFileSync(cfg.certificate, issue(0, 400, other));
  t.like(check((await doctor(c)).checks, 'certificate'), { status: 'fail', code: 'E_UNTRUSTED_CERT' });

  rmSync(cfg.certificate);
  const none = check((await doctor(c)).checks, 'certificate');
  t.like(none, { status: 'fail' });
  t.regex(none.fix!, /tamtam agent enrol --token TOKEN/);
});

test('the clock: before the build year, before the certificate or the agent\'s last activity fails; behind the hub by minutes warns', async (t) => {
  const c = await centre(t);
  const old = await doctor(c, { now: () => Date.UTC(2001, 0, 1) });
  t.like(check(old.checks, 'clock'), { status: 'fail' });
  t.regex(check(old.checks, 'clock').fix!, /set this computer's date, time and time zone right/);

  const early = await doctor(c, { now: () => Date.now() - 2 * 86_400_000 });
  t.regex(check(early.checks, 'clock').detail, /before the centre's certificate was issued/);
  t.like(check(early.checks, 'certificate'), { status: 'fail', code: 'E_CERT_EXPIRED' });
  t.like(check(await doctor(c, { now: () => Date.now() - 60_000 }).then((r) => r.checks), 'clock'), { status: 'ok' }, 'a minute behind the hub that issued it is no failure');

  const cfg = loadAgentConfig(c.configPath);
  const ahead = AgentState.open(join(cfg.dataDir, 'state.db'), { clock: () => Date.now() + 86_400_000 });
  ahead.beginReport('usageReport');
  ahead.close();
  const back = check((await doctor(c)).checks, 'clock');
  t.like(back, { status: 'fail' });
  t.regex(back.detail, /earlier than the agent's own last activity .*: the clock went back/);
  rmSync(join(cfg.dataDir, 'state.db'));
  rmSync(join(cfg.dataDir, 'state.db-wal'), { force: true });
  rmSync(join(cfg.dataDir, 'state.db-shm'), { force: true });

  const state = AgentState.open(join(cfg.dataDir, 'state.db'));
  const now = Date.now();
  recordHubClock(state, Math.floor((now + 10 * 60_000) / 1000), now);
  recordHubClock(state, Math.floor((now + 12 * 60_000) / 1000), now + 1000);
  state.close();
  const behind = check((await doctor(c)).checks, 'clock');
  t.like(behind, { status: 'warn' });
  // The message that waited least on the way tells the clocks' difference best.
  t.regex(behind.detail, /about 12 minutes behind the hub's/);
});

test('a modem link: the simulator gives its model and signal; a weak one warns; a port that does not exist fails with what to do', async (t) => {
  const c = await centre(t);
  const sim = await ModemSimulator.start({ target: () => undefined, rttMs: 10, guardTimeMs: 100, imei: '300534012345678', signal: 4 });
  t.teardown(() => sim.close());
  c.set({ link: { kind: 'modem', modem: { port: sim.path } } });
  const good = check((await doctor(c, { offline: false })).checks, 'link');
  t.like(good, { status: 'ok' });
  t.regex(good.detail, /at 19200 bit\/s: Iridium .*IMEI 300534012345678.*signal 4\/5 bars \(good\); registered on the network/);

  const weak = await ModemSimulator.start({ target: () => undefined, rttMs: 10, guardTimeMs: 100, signal: 1 });
  t.teardown(() => weak.close());
  c.set({ link: { kind: 'modem', modem: { port: weak.path } } });
  const warned = check((await doctor(c, { offline: false })).checks, 'link');
  t.like(warned, { status: 'warn' });
  t.regex(warned.fix!, /antenna outside/);

  c.set({ link: { kind: 'modem', modem: { port: '/dev/tamtam-no-such-modem' } } });
  const missing = check((await doctor(c, { offline: false })).checks, 'link');
  t.like(missing, { status: 'fail', code: 'E_PORT_NOT_FOUND' });
  t.regex(missing.detail, /serial port \/dev\/tamtam-no-such-modem does not exist/);
  t.regex(missing.fix!, /plug in the modem's cable .* set that port in the agent config/);
});

test('an SBD link: the 9603 reports its signal', async (t) => {
  const c = await centre(t);
  const sim = await startSbdSimulator({ gateway: new MemorySbdGateway(), imei: '300234010753370', signal: 3, latencyMs: 10 });
  t.teardown(() => sim.close());
  c.set({ link: { kind: 'sbd', port: sim.path } });
  const link = check((await doctor(c, { offline: false })).checks, 'link');
  t.like(link, { status: 'ok' });
  t.regex(link.detail, /IMEI 300234010753370\): signal 3\/5 bars/);
});

test('MQTT: a broker that is down fails with E_LINK_DOWN and what to check; one that runs connects', async (t) => {
  const c = await centre(t);
  c.set({ link: { kind: 'mqtt', url: `mqtt://127.0.0.1:${await freePort()}` } });
  const down = check((await doctor(c, { offline: false, linkTimeoutMs: 5000 })).checks, 'link');
  t.like(down, { status: 'fail', code: 'E_LINK_DOWN' });
  t.regex(down.detail, /cannot connect to the MQTT broker .*ECONNREFUSED/);
  t.regex(down.fix!, /reaches the Internet/);

  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  c.set({ link: { kind: 'mqtt', url: broker.url } });
  const up = check((await doctor(c, { offline: false })).checks, 'link');
  t.like(up, { status: 'ok' });
  t.regex(up.detail, /connected to the MQTT broker mqtt:\/\/127\.0\.0\.1:\d+ in \d+ ms/);
});

test('no check hangs: past its deadline a check fails with what it was doing, and what it ran is told to stop', async (t) => {
  let aborted = false;
  const stuck = await withDeadline('x', 'Stuck', 50, (signal) => new Promise(() => signal.addEventListener('abort', () => (aborted = true))), { detail: 'the thing did not answer', fix: 'look at the thing' });
  t.like(stuck, { id: 'x', status: 'fail', code: 'E_TIMEOUT', detail: 'the thing did not answer (no answer within 0 s)', fix: 'look at the thing' });
  t.true(aborted);

  // A "broker" that takes the connection and never answers: the MQTT check gives up on time.
  const c = await centre(t);
  const sockets: Socket[] = [];
  const silent = createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    sockets.forEach((s) => s.destroy());
    silent.close(() => resolve());
  }));
  c.set({ link: { kind: 'mqtt', url: `mqtt://127.0.0.1:${(silent.address() as { port: number }).port}` } });
  const started = Date.now();
  const link = check((await doctor(c, { offline: false, linkTimeoutMs: 1000 })).checks, 'link');
  t.like(link, { status: 'fail' });
  t.true(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
});

test('TCP: the stream endpoint accepts or refuses', async (t) => {
  const c = await centre(t);
  const server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  c.set({ link: { kind: 'tcp', host: '127.0.0.1', port } });
  t.like(check((await doctor(c, { offline: false })).checks, 'link'), { status: 'ok' });
  c.set({ link: { kind: 'tcp', host: '127.0.0.1', port: await freePort() } });
  t.like(check((await doctor(c, { offline: false })).checks, 'link'), { status: 'fail', code: 'E_LINK_DOWN' });
});

test('while the agent runs, its link is not touched and the doctor says why', async (t) => {
  const c = await centre(t);
  const cfg = loadAgentConfig(c.configPath);
  const release = takePidLock(join(cfg.dataDir, 'agent.lock'), 'test');
  t.teardown(release);
  const report = await doctor(c, { offline: false });
  t.like(check(report.checks, 'agent'), { status: 'ok', detail: `the agent runs (process ${process.pid})` });
  const link = check(report.checks, 'link');
  t.like(link, { status: 'warn' });
  t.regex(link.detail, /in use by the running agent/);
});

test('tamtam agent doctor: exit 0 and one line a check when sound; exit 1 with the fixes when not; --json either way', async (t) => {
  const c = await centre(t);
  const sound = await runTamtam(['agent', 'doctor', '--config', c.configPath, '--offline']);
  t.is(sound.code, 0, sound.err);
  t.regex(sound.out, /ok\s+Table births\s+numero and status present; 20 validated/);
  t.regex(sound.out, /WARN\s+Link to the hub\s+the mqtt link was not tested/);
  t.regex(sound.out, /Nothing blocks the agent/);
  const json = await runTamtam(['agent', 'doctor', '--config', c.configPath, '--offline', '--json']);
  t.is(json.code, 0);
  const report = JSON.parse(json.out) as { ok: boolean; checks: DoctorCheck[] };
  t.true(report.ok);
  t.like(check(report.checks, 'table:births'), { status: 'ok' });

  c.set({ tables: [{ name: 'births' }, { name: 'marriages' }] });
  const failing = await runTamtam(['agent', 'doctor', '--config', c.configPath, '--offline']);
  t.is(failing.code, 1);
  t.regex(failing.out, /FAIL\s+Table marriages\s+table "marriages" not found/);
  t.regex(failing.out, /-> correct the name under "tables"/);
  t.regex(failing.out, /1 problem\(s\) to fix/);
  t.regex(failing.err, /1 check\(s\) failed: Table marriages.*\[E_CONFIG\]/);
  t.notRegex(failing.err, /at .*\.js:\d+/, 'no stack trace');
  const failingJson = await runTamtam(['agent', 'doctor', '--config', c.configPath, '--offline', '--json']);
  t.is(failingJson.code, 1);
  const { error } = JSON.parse(failingJson.out) as { error: { code: string; details: { report: { ok: boolean; checks: DoctorCheck[] } } } };
  t.is(error.code, 'E_CONFIG');
  t.false(error.details.report.ok);
  t.like(check(error.details.report.checks, 'table:marriages'), { status: 'fail' });
});
