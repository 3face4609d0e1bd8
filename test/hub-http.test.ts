import test from 'ava';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCsr, generateKeyPair } from '../agent/enrolment/key-pair.js';
import { createCentralTable, inferColumns } from '../hub/central-tables.js';
import { StaffStore } from '../hub/dashboard/staff-store.js';
import type { DiagnosticRequestView } from '../hub/dashboard/dashboard-types.js';
import { initHubHome, loadHubHome, type HubHttpConfig } from '../hub/hub-home.js';
import { startHub, type HubLog, type RunningHub, type StartHubOptions } from '../hub/hub-runtime.js';
import { issueCertificate } from '../hub/pki/certificate-authority.js';
import { SdcKind, batchFromObjects, encodeBatch, loadCompressor, parseCertificate, sealSdc } from '../protocol/index.js';
import { generateActs } from '../scripts/sample-acts.js';
import { startPostgres, type PostgresCluster } from '../scripts/services/postgres-cluster.js';
import { call, checkExposition } from './helpers/http-call.js';

/*
 * The hub's HTTP side on a real PostgreSQL: sessions, scoping by city,
 * roles, input checks, /metrics, static files and the access log.
 */
let cluster: PostgresCluster;
let hubs = 0;
const cleanups: (() => Promise<void>)[] = [];
test.before(async () => {
  cluster = await startPostgres();
});
test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await cluster?.stop();
});

const PASSWORD = 'correct horse battery';
const events: Record<string, unknown>[] = [];
const captureLog: HubLog = { info: (event, f = {}) => events.push({ event, ...f }), error: (event, f = {}) => events.push({ event, level: 'error', ...f }) };

interface TestHub {
  hub: RunningHub;
  base: string;
  home: ReturnType<typeof loadHubHome>;
}

async function testHub(http: Partial<HubHttpConfig> = {}, o: StartHubOptions = {}): Promise<TestHub> {
  const n = ++hubs;
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-http-'));
  const databaseUrl = await cluster.createDatabase(`http_${n}`);
  initHubHome(join(dir, 'hub'), { hubId: 'hub', databaseUrl, mqttPort: 0, http: { port: 0, ...http } });
  const home = loadHubHome(join(dir, 'hub'));
  const hub = await startHub(home, { log: captureLog, receive: false, ...o });
  cleanups.push(async () => {
    await hub.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const staff = new StaffStore(hub.db);
  await staff.add({ username: 'ada', password: PASSWORD, role: 'admin', cities: null });
  await staff.add({ username: 'dla', password: PASSWORD, role: 'viewer', cities: ['Douala'] });
  await hub.registry.add({ matricule: 'CM-DLA-001', name: 'Douala Akwa', city: 'Douala' });
  await hub.registry.add({ matricule: 'CM-DLA-002', name: 'Douala Bonanjo', city: 'Douala' });
  await hub.registry.add({ matricule: 'CM-YDE-001', name: 'Yaoundé Centre', city: 'Yaoundé' });
  return { hub, home, base: `http://127.0.0.1:${hub.httpPort}` };
}

let shared: Promise<TestHub> | undefined;
const sharedHub = () => (shared ??= testHub());

async function login(base: string, username: string, password = PASSWORD): Promise<string> {
  const r = await call(base, 'POST', '/api/login', { body: { username, password } });
  if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${r.text}`);
  return String(r.headers['set-cookie']![0]).split(';')[0];
}

test('every API route but login wants a session; log in, who am I, log out, and the cookie stops working', async (t) => {
  const { base } = await sharedHub();
  for (const [method, path] of [['GET', '/api/me'], ['GET', '/api/overview'], ['GET', '/api/centres'], ['GET', '/api/centres/CM-DLA-001'], ['POST', '/api/logout'], ['POST', '/api/centres/CM-DLA-001/diagnostics']]) {
    const r = await call(base, method, path, method === 'POST' ? { body: {} } : {});
    t.is(r.status, 401, `${method} ${path}`);
    t.is(r.json.error.code, 'E_AUTH');
  }
  const r = await call(base, 'POST', '/api/login', { body: { username: 'ada', password: PASSWORD } });
  t.is(r.status, 200);
  t.deepEqual(r.json.user, { username: 'ada', role: 'admin', cities: null });
  const cookie = String(r.headers['set-cookie']![0]);
  t.regex(cookie, /^tamtam_session=[A-Za-z0-9_-]{20,}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict$/);
  const session = cookie.split(';')[0];
  t.deepEqual((await call(base, 'GET', '/api/me', { cookie: session })).json.user.username, 'ada');
  const out = await call(base, 'POST', '/api/logout', { cookie: session, body: {} });
  t.is(out.status, 200);
  t.regex(String(out.headers['set-cookie']![0]), /^tamtam_session=; Path=\/; Max-Age=0;/);
  t.is((await call(base, 'GET', '/api/me', { cookie: session })).status, 401, 'the session ended at the hub, not only in the browser');
  t.is((await call(base, 'GET', '/api/me', { cookie: 'tamtam_session=forged-token-value-that-is-long-enough' })).status, 401);
});

test('a wrong password and an unknown name get the same 401; over https the cookie is Secure', async (t) => {
  const { base } = await sharedHub();
  const wrong = await call(base, 'POST', '/api/login', { body: { username: 'ada', password: 'not the password' } });
  const unknown = await call(base, 'POST', '/api/login', { body: { username: 'nobody', password: 'not the password' } });
  t.is(wrong.status, 401);
  t.deepEqual(wrong.json, unknown.json);
  t.deepEqual(wrong.json.error, { code: 'E_AUTH', message: 'wrong name or password' });
  t.is(wrong.headers['set-cookie'], undefined);
  const missing = await call(base, 'POST', '/api/login', { body: { username: 'ada' } });
  t.is(missing.status, 400);
  t.regex(missing.json.error.message, /'password'/);
  const proxied = await call(base, 'POST', '/api/login', { body: { username: 'ada', password: PASSWORD }, headers: { 'X-Forwarded-Proto': 'https' } });
  t.regex(String(proxied.headers['set-cookie']![0]), /; Secure$/);
});

test('a viewer scoped to Douala sees only Douala: list, overview, a centre page, and no diagnostics', async (t) => {
  const { base } = await sharedHub();
  const viewer = await login(base, 'dla');
  const admin = await login(base, 'ada');
  const list = await call(base, 'GET', '/api/centres?sort=matricule&order=asc', { cookie: viewer });
  t.is(list.status, 200);
  t.deepEqual(list.json.rows.map((r: { matricule: string }) => r.matricule), ['CM-DLA-001', 'CM-DLA-002']);
  t.is(list.json.total, 2);
  t.is((await call(base, 'GET', '/api/centres', { cookie: admin })).json.total, 3);
  t.is((await call(base, 'GET', '/api/overview', { cookie: viewer })).json.centres.total, 2);
  t.is((await call(base, 'GET', '/api/overview', { cookie: admin })).json.centres.total, 3);
  const own = await call(base, 'GET', '/api/centres/CM-DLA-001', { cookie: viewer });
  t.is(own.status, 200);
  t.is(own.json.centre.name, 'Douala Akwa');
  const other = await call(base, 'GET', '/api/centres/CM-YDE-001', { cookie: viewer });
  t.is(other.status, 404);
  t.is(other.json.error.code, 'E_NOT_FOUND');
  const unknown = await call(base, 'GET', '/api/centres/NO-SUCH-CENTRE', { cookie: viewer });
  t.is(unknown.status, 404);
  t.is(unknown.json.error.message.replace('NO-SUCH-CENTRE', 'CM-YDE-001'), other.json.error.message, "another city's centre looks like no centre at all");
  t.is((await call(base, 'GET', '/api/centres?q=Yaound', { cookie: viewer })).json.total, 0);
  const diag = await call(base, 'POST', '/api/centres/CM-DLA-001/diagnostics', { cookie: viewer, body: {} });
  t.is(diag.status, 403);
  t.is(diag.json.error.code, 'E_FORBIDDEN');
  const notEnrolled = await call(base, 'POST', '/api/centres/CM-DLA-001/diagnostics', { cookie: admin, body: {} });
  t.is(notEnrolled.status, 409, 'the hub has nothing to seal a request with for a centre that never enrolled');
  t.is(notEnrolled.json.error.code, 'E_CONFIG');
  t.regex(notEnrolled.json.error.message, /never enrolled/);
});

test('bad list parameters answer 400 naming the parameter; unknown routes 404, wrong methods 405', async (t) => {
  const { base } = await sharedHub();
  const cookie = await login(base, 'ada');
  for (const [query, name] of [['sort=password', 'sort'], ['pageSize=100000', 'pageSize'], ['status=9', 'status'], ['alert=fire', 'alert'], ['page=-1', 'page']]) {
    const r = await call(base, 'GET', `/api/centres?${query}`, { cookie });
    t.is(r.status, 400, query);
    t.is(r.json.error.code, 'E_BAD_INPUT');
    t.true(r.json.error.message.startsWith(name), r.json.error.message);
  }
  t.is((await call(base, 'GET', '/api/nothing', { cookie })).status, 404);
  const wrong = await call(base, 'DELETE', '/api/centres', { cookie });
  t.is(wrong.status, 405);
  t.is(wrong.headers.allow, 'GET');
  t.is((await call(base, 'POST', '/metrics', { body: {} })).status, 405);
});

test('POSTs want JSON, at most 16 KB, from this site; API answers are never cached', async (t) => {
  const { base } = await sharedHub();
  const form = await call(base, 'POST', '/api/login', { body: `username=ada&password=${encodeURIComponent(PASSWORD)}`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  t.is(form.status, 415, 'a cross-site HTML form cannot log in or post');
  t.is(form.json.error.code, 'E_BAD_INPUT');
  const big = await call(base, 'POST', '/api/login', { body: { username: 'ada', password: 'x'.repeat(17 * 1024) } });
  t.is(big.status, 413);
  t.is(big.json.error.code, 'E_TOO_LARGE');
  const cookie = await login(base, 'ada');
  const crossSite = await call(base, 'POST', '/api/logout', { cookie, body: {}, headers: { Origin: 'https://evil.example' } });
  t.is(crossSite.status, 403);
  t.is((await call(base, 'GET', '/api/me', { cookie })).status, 200, 'the refused request did not log out');
  const me = await call(base, 'GET', '/api/me', { cookie });
  t.is(me.headers['cache-control'], 'no-store');
  t.is(me.headers['x-content-type-options'], 'nosniff');
  t.is(me.headers['referrer-policy'], 'no-referrer');
  t.regex(String(me.headers['content-security-policy']), /^default-src 'self'/);
});

test('the page and its files are served with their types; nothing outside the folder is', async (t) => {
  const { base } = await sharedHub();
  const index = await call(base, 'GET', '/');
  t.is(index.status, 200);
  t.is(index.headers['content-type'], 'text/html; charset=utf-8');
  t.regex(index.text, /<script type="module" src="app.js"><\/script>/);
  t.regex(String(index.headers['content-security-policy']), /default-src 'self'/);
  t.is((await call(base, 'GET', '/app.js')).headers['content-type'], 'text/javascript; charset=utf-8');
  t.is((await call(base, 'GET', '/app.css')).headers['content-type'], 'text/css; charset=utf-8');
  t.is((await call(base, 'GET', '/missing.js')).status, 404);
  for (const path of ['/../../../package.json', '/..%2f..%2f..%2fpackage.json', '/%2e%2e/%2e%2e/%2e%2e/package.json', '/..\\..\\package.json', '/.hidden.js', '/static-files.ts', '//etc/passwd', '/%00.js']) {
    const r = await call(base, 'GET', path);
    t.is(r.status, 403, path);
    t.notRegex(r.text, /"name": "tamtam"/, path);
  }
  const health = await call(base, 'GET', '/healthz');
  t.is(health.status, 200);
  t.is(health.text, 'ok\n');
});

async function ingestOneSdc(h: TestHub, matricule: string): Promise<number> {
  const keys = generateKeyPair();
  const certPem = issueCertificate(h.home.ca, createCsr(keys.privateKeyPem, { commonName: matricule }), { role: 'centre', commonName: matricule });
  await h.hub.registry.setCertificate(matricule, certPem);
  const acts = generateActs({ table: 'births', count: 12, seed: 3 });
  await createCentralTable(h.hub.db, 'births', inferColumns(acts));
  const sdc = sealSdc(await loadCompressor(), encodeBatch(batchFromObjects('births', acts.map((a) => ({ ...a, __version: 1 })))), {
    kind: SdcKind.data, sender: matricule, sequence: 1n, count: acts.length,
    signerKey: createPrivateKey(keys.privateKeyPem), signerCert: parseCertificate(certPem), recipientCert: h.home.hubCert,
  });
  const outcome = await h.hub.pipeline.ingest(sdc, { via: 'mqtt' });
  if (outcome.kind !== 'merged' || outcome.merged !== acts.length) throw new Error(`the SDC was not merged: ${outcome.kind} ${outcome.error?.message}`);
  return sdc.length;
}

test('/metrics is valid exposition text, counts an ingested SDC and wants the token when one is set', async (t) => {
  const token = 'metrics-secret-0123456789';
  const h = await testHub({ metricsToken: token });
  await call(h.base, 'GET', '/healthz');
  t.is((await call(h.base, 'GET', '/metrics')).status, 401);
  t.is((await call(h.base, 'GET', '/metrics', { headers: { Authorization: 'Bearer wrong-token-0123456789' } })).status, 401);
  const auth = { Authorization: `Bearer ${token}` };
  const before = checkExposition((await call(h.base, 'GET', '/metrics', { headers: auth })).text);
  t.is(before.get('tamtam_sdcs_total{via="mqtt",outcome="merged"}'), undefined);
  t.is(before.get('tamtam_centres{status="3"}'), 3);
  const bytes = await ingestOneSdc(h, 'CM-DLA-002');
  const r = await call(h.base, 'GET', '/metrics', { headers: auth });
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const after = checkExposition(r.text);
  t.is(after.get('tamtam_sdcs_total{via="mqtt",outcome="merged"}'), 1);
  t.is(after.get('tamtam_acts_total{outcome="merged"}'), 12);
  t.is(after.get('tamtam_sdc_bytes_total{via="mqtt"}'), bytes);
  t.is(after.get('tamtam_ingest_seconds_count'), 1);
  t.is(after.get('tamtam_ingest_seconds_bucket{le="+Inf"}'), 1);
  t.is(after.get('tamtam_http_requests_total{route="/healthz",status="200"}'), 1);
  t.is(after.get('tamtam_http_requests_total{route="/metrics",status="401"}'), 2);
  t.true((after.get('process_resident_memory_bytes') ?? 0) > 1e6);
  t.false([...after.keys()].some((k) => k.includes('CM-DLA')), 'no per-centre series');
});

test('the access log has one JSON event per request, without query string, password, cookie or token', async (t) => {
  const { base } = await sharedHub();
  const cookie = await login(base, 'dla');
  await call(base, 'GET', '/api/centres?q=Akwa&sort=name', { cookie });
  const line = await (async () => {
    for (let i = 0; i < 100; i++) {
      const e = events.find((x) => x.event === 'http' && x.path === '/api/centres' && x.user === 'dla');
      if (e) return e;
      await new Promise((r) => setImmediate(r));
    }
    return undefined;
  })();
  t.truthy(line, 'an http event for the list');
  t.like(line, { method: 'GET', path: '/api/centres', status: 200, user: 'dla' });
  t.is(typeof line!.ms, 'number');
  const all = JSON.stringify(events);
  t.false(all.includes(PASSWORD), 'no password');
  t.false(all.includes(cookie.split('=')[1]), 'no session token');
  t.false(all.includes('Akwa'), 'no query string');
});

test('login attempts from one address are throttled after 10 failures', async (t) => {
  const { base } = await testHub();
  for (let i = 0; i < 10; i++) t.is((await call(base, 'POST', '/api/login', { body: { username: `guess${i}`, password: 'wrong password' } })).status, 401);
  const blocked = await call(base, 'POST', '/api/login', { body: { username: 'ada', password: PASSWORD } });
  t.is(blocked.status, 429);
  t.is(blocked.json.error.code, 'E_AUTH');
  t.regex(blocked.json.error.message, /try again in 15 minute/);
});

test('an admin asks for a diagnostic report through the wired service', async (t) => {
  const asked: [string, string][] = [];
  const view: DiagnosticRequestView = { id: '7', requestedAt: new Date().toISOString(), requestedBy: 'ada', deliveredVia: 'mqtt', answeredAt: null, report: null };
  const { base } = await testHub({}, { diagnostics: { request: async (m, by) => (asked.push([m, by]), view) } });
  const cookie = await login(base, 'ada');
  const r = await call(base, 'POST', '/api/centres/CM-YDE-001/diagnostics', { cookie, body: {} });
  t.is(r.status, 202);
  t.deepEqual(r.json.request, view);
  t.deepEqual(asked, [['CM-YDE-001', 'ada']]);
  t.is((await call(base, 'POST', '/api/centres/NOPE/diagnostics', { cookie, body: {} })).status, 404);
  t.is(asked.length, 1);
});
