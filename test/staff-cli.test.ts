import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../cli/main.js';
import { isTamtamError } from '../protocol/index.js';
import { HubDatabase } from '../hub/db/hub-database.js';
import { StaffStore } from '../hub/dashboard/staff-store.js';
import { hubPaths, loadHubHome } from '../hub/hub-home.js';
import { startPostgres, type PostgresCluster } from '../scripts/services/postgres-cluster.js';
import { TAMTAM_BIN } from './helpers/logged-process.js';

let cluster: PostgresCluster;
let root: string;

test.before(async () => {
  cluster = await startPostgres();
  root = mkdtempSync(join(tmpdir(), 'tamtam-staff-cli-'));
});
test.after.always(async () => {
  await cluster?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The built CLI as a child with `input` piped to its standard input, as `echo pw | tamtam ...` runs it. */
async function piped(args: string[], input: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [TAMTAM_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  child.stdin.end(input);
  const [code] = await once(child, 'close') as [number | null];
  return { code, out, err };
}

let hubs = 0;
async function hubFolder(initArgs: string[] = []): Promise<{ dir: string; url: string }> {
  const n = ++hubs;
  const url = await cluster.createDatabase(`staff_cli_${n}`);
  const dir = join(root, `hub${n}`);
  const init = await cli(['hub', 'init', '--dir', dir, '--database-url', url, ...initArgs]);
  if (init.code !== 0) throw new Error(`hub init failed: ${init.err}`);
  return { dir, url };
}

test('hub init serves the dashboard on 8080 by default, on --http-port/--http-host, or not with --no-http', async (t) => {
  const byDefault = await hubFolder();
  t.deepEqual(loadHubHome(byDefault.dir).config.http, { port: 8080 });
  const chosen = await hubFolder(['--http-port', '9090', '--http-host', '0.0.0.0']);
  t.deepEqual(loadHubHome(chosen.dir).config.http, { port: 9090, host: '0.0.0.0' });
  const none = await hubFolder(['--no-http']);
  t.is(loadHubHome(none.dir).config.http, undefined);
  const bad = await cli(['hub', 'init', '--dir', join(root, 'bad'), '--http-port', '70000']);
  t.is(bad.code, 2);
  t.regex(bad.err, /--http-port takes a port number/);
  t.is((await cli(['hub', 'init', '--dir', join(root, 'bad'), '--no-http', '--http-port', '80'])).code, 2);
});

test('a bad http or alerts section in hub.json is E_CONFIG naming the field', async (t) => {
  const { dir } = await hubFolder();
  const path = hubPaths(dir).config;
  const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  for (const [patch, field] of [
    [{ http: { port: 'x' } }, 'http.port'], [{ http: { port: 80, host: '' } }, 'http.host'], [{ http: { port: 80, sessionHours: 0 } }, 'http.sessionHours'],
    [{ http: { port: 80, metricsToken: 'short' } }, 'http.metricsToken'], [{ http: 8080 }, 'http'], [{ alerts: { silentDays: -1 } }, 'alerts.silentDays'],
    [{ alerts: { quarantineDays: 'x' } }, 'alerts.quarantineDays'],
  ] as const) {
    writeFileSync(path, JSON.stringify({ ...config, ...patch }));
    const e = t.throws(() => loadHubHome(dir));
    t.true(isTamtamError(e, 'E_CONFIG'), String(e));
    t.true(e!.message.includes(`'${field}'`), e!.message);
  }
  writeFileSync(path, JSON.stringify({ ...config, http: { port: 8081, sessionHours: 8, metricsToken: 'a'.repeat(32) }, alerts: { silentDays: 5 } }));
  t.deepEqual(loadHubHome(dir).config.alerts, { silentDays: 5 });
});

test('hub staff add (password from a file or a pipe), list, password, remove', async (t) => {
  const { dir, url } = await hubFolder(['--no-http']);
  const db = await HubDatabase.connect(url);
  t.teardown(() => db.close());
  const staff = new StaffStore(db);
  const pwFile = join(root, 'pw.txt');
  writeFileSync(pwFile, 'from a file 123\nignored second line\n');
  const added = await cli(['hub', 'staff', 'add', 'alice', '--role', 'admin', '--password-file', pwFile, '--dir', dir]);
  t.is(added.code, 0, added.err);
  t.regex(added.out, /alice added: admin, sees every centre/);
  t.truthy(await staff.authenticate('alice', 'from a file 123'));

  const viaPipe = await piped(['hub', 'staff', 'add', 'bob', '--role', 'viewer', '--city', 'Douala', '--city', 'Garoua', '--dir', dir, '--json'], 'piped password!\n');
  t.is(viaPipe.code, 0, viaPipe.err);
  t.deepEqual(JSON.parse(viaPipe.out), { username: 'bob', role: 'viewer', cities: ['Douala', 'Garoua'] });
  t.truthy(await staff.authenticate('bob', 'piped password!'));

  const short = await piped(['hub', 'staff', 'add', 'carol', '--role', 'viewer', '--dir', dir], 'short\n');
  t.is(short.code, 1);
  t.regex(short.err, /at least 10 characters \[E_BAD_INPUT\]/);
  t.is((await cli(['hub', 'staff', 'add', 'carol', '--role', 'root', '--password-file', pwFile, '--dir', dir])).code, 2);

  const listed = await cli(['hub', 'staff', 'list', '--json', '--dir', dir]);
  t.deepEqual((JSON.parse(listed.out) as { username: string }[]).map((u) => u.username), ['alice', 'bob']);
  const text = await cli(['hub', 'staff', 'list', '--dir', dir]);
  t.regex(text.out, /bob\s+viewer\s+centres of Douala, Garoua/);

  const changed = await piped(['hub', 'staff', 'password', 'bob', '--dir', dir], 'another password\r\n');
  t.is(changed.code, 0, changed.err);
  t.truthy(await staff.authenticate('bob', 'another password'));
  t.is(await staff.authenticate('bob', 'piped password!'), undefined);

  t.is((await cli(['hub', 'staff', 'remove', 'bob', '--dir', dir])).code, 0);
  const again = await cli(['hub', 'staff', 'remove', 'bob', '--dir', dir]);
  t.is(again.code, 1);
  t.regex(again.err, /no staff user 'bob'/);
});

test('hub centre add --budget and hub centre budget set and clear the monthly budget', async (t) => {
  const { dir, url } = await hubFolder(['--no-http']);
  const db = await HubDatabase.connect(url);
  t.teardown(() => db.close());
  const budget = async () => (await db.query("SELECT monthly_budget_usd::text AS b FROM centres WHERE matricule = 'CM-1'")).rows[0].b;
  t.is((await cli(['hub', 'centre', 'add', '--name', 'One', '--matricule', 'CM-1', '--budget', '25.5', '--dir', dir])).code, 0);
  t.is(await budget(), '25.50');
  const set = await cli(['hub', 'centre', 'budget', 'CM-1', '100', '--dir', dir]);
  t.is(set.code, 0, set.err);
  t.regex(set.out, /monthly link budget 100\.00 USD/);
  t.is(await budget(), '100.00');
  t.deepEqual(JSON.parse((await cli(['hub', 'centre', 'budget', 'CM-1', 'none', '--json', '--dir', dir])).out), { matricule: 'CM-1', monthlyBudgetUsd: null });
  t.is(await budget(), null);
  t.is((await cli(['hub', 'centre', 'budget', 'CM-1', '-5', '--dir', dir])).code, 2);
  t.is((await cli(['hub', 'centre', 'budget', 'CM-1', 'lots', '--dir', dir])).code, 2);
  t.is((await cli(['hub', 'centre', 'add', '--name', 'Two', '--budget', '1e3', '--dir', dir])).code, 2, 'a bad budget registers nothing');
  t.is((await db.query('SELECT count(*)::int AS n FROM centres')).rows[0].n, 1);
  t.regex((await cli(['hub', 'centre', 'budget', 'CM-NOPE', '5', '--dir', dir])).err, /no centre 'CM-NOPE'/);
});
