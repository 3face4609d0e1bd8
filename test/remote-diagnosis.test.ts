import test from 'ava';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import type { AgentRuntime } from '../agent/agent-runtime.js';
import type { DiagnosticReportBody } from '../agent/diagnostics/diagnostic-responder.js';
import { Spool } from '../agent/spool/spool.js';
import { Stick } from '../common/t2d-stick.js';
import { readCertificate } from '../common/read-input.js';
import type { DiagnosticRequestView } from '../hub/dashboard/dashboard-types.js';
import { PgOutboundStore } from '../hub/db/pg-outbound-store.js';
import { DiagnosticRequests } from '../hub/diagnostics/diagnostic-requests.js';
import { hubPaths, loadHubHome } from '../hub/hub-home.js';
import { quietLog, type RunningHub } from '../hub/hub-runtime.js';
import { MqttReceiver } from '../hub/receivers/mqtt-receiver.js';
import { importStick } from '../hub/t2d/stick-import.js';
import { loadCompressor } from '../protocol/compressor.js';
import { isTamtamError } from '../protocol/errors.js';
import { encodeJsonBody } from '../protocol/sdc/json-body.js';
import { SdcKind } from '../protocol/sdc/sdc-header.js';
import { sealSdc } from '../protocol/sdc/sdc.js';
import { downTopic } from '../protocol/topics.js';
import { E2eRig, pollUntil, startServices, type RigCentre, type Services } from './helpers/e2e-rig.js';
import { makeTestPki } from './helpers/test-pki.js';
import { T2dRig } from './helpers/t2d-rig.js';

/**
 * The hub asks centres for a diagnostic report over their own links (no port
 * open at the centre): an MQTT centre gets the request at once, a centre that
 * calls in (TCP stream, as a modem's call) at its next call; the answer is an
 * SDC like any other, and the request row says so.
 */

let services: Services;
let rig: E2eRig;
let hub: RunningHub;

test.before(async () => {
  services = await startServices();
  rig = await E2eRig.create(services, 'diagnosis', ['births', 'deaths']);
  const configPath = hubPaths(rig.hubDir).config;
  writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), streamPort: 0 }));
  hub = await rig.startHub();
});

test.after.always(async () => {
  await rig?.close();
  await services?.stop();
});

interface Diagnosis {
  requests: DiagnosticRequests;
  /** What the hub published to each centre, in order. */
  published: { centre: string; payload: Uint8Array }[];
  receiver: MqttReceiver;
}

/** DiagnosticRequests as the hub runtime wires them: an MQTT receiver of the hub's shared group publishes, the database keeps what waits. */
async function diagnosis(): Promise<Diagnosis> {
  const home = loadHubHome(rig.hubDir);
  const published: Diagnosis['published'] = [];
  const receiver = new MqttReceiver({
    url: rig.brokerUrl, clientId: 'diagnosis-test-hub', shared: true,
    onUp: async (_centre, payload) => ({ reply: (await hub.pipeline.ingest(payload, { via: 'mqtt' })).receipt }),
  });
  await receiver.start();
  const requests = new DiagnosticRequests({
    db: rig.db, compressor: await loadCompressor(), hubKey: home.hubKey, hubCert: home.hubCert, hubId: 'hub', outbound: new PgOutboundStore(rig.db),
    publish: async (centre, payload) => {
      published.push({ centre, payload });
      await receiver.publishDown(centre, payload);
    },
  });
  return { requests, published, receiver };
}

async function reportsOfKind7(centre: RigCentre): Promise<DiagnosticReportBody[]> {
  const { rows } = await rig.db.query<{ body: DiagnosticReportBody }>(
    'SELECT r.body FROM centre_reports r JOIN centres c ON c.id = r.centre_id WHERE c.matricule = $1 AND r.kind = 7 ORDER BY r.id', [centre.matricule]);
  return rows.map((r) => r.body);
}

const answered = (d: Diagnosis, centre: RigCentre, id: string) =>
  pollUntil(() => d.requests.list(centre.matricule), (l) => l.some((r) => r.id === id && r.answeredAt !== null), `the answer of request ${id}`, 90_000)
    .then((l) => l.find((r) => r.id === id) as DiagnosticRequestView);

test.serial('an MQTT centre running its daemon answers at once with its checks, backlog and recent errors; a replay is answered once; a forgery is quarantined', async (t) => {
  const d = await diagnosis();
  t.teardown(async () => {
    await d.receiver.stop();
    const client = await connectAsync(rig.brokerUrl, { clientId: 'diagnosis-test-hub', clean: true, reconnectPeriod: 0 });
    await client.endAsync();
  });
  const centre = await rig.addCentre({ matricule: 'CM-DIAG-MQTT', tables: ['births'], count: 50, batching: { minRecords: 1, maxAgeSeconds: 0 } });
  await centre.enrol();
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  const agent: AgentRuntime = await centre.open({ pollMs: 200, log: (event, fields = {}) => events.push({ event, fields }) });
  const stop = new AbortController();
  const running = agent.run(stop.signal);
  t.teardown(async () => {
    stop.abort();
    await running;
    await agent.close();
  });
  const validated = centre.count('births', 2, 3, 4);
  await rig.waitForCentral('births', centre, validated);
  await pollUntil(() => centre.count('births', 4), (n) => n === validated, 'every validated act receipted', 30_000);

  // Two bad things reach the centre first: bytes that are no SDC, and a request signed by someone who is not the hub.
  const client = await connectAsync(rig.brokerUrl, { clientId: 'diagnosis-test-intruder', clean: true, reconnectPeriod: 0 });
  t.teardown(() => client.endAsync());
  await client.publishAsync(downTopic(centre.matricule), Buffer.from('not an SDC at all'), { qos: 1 });
  const stranger = makeTestPki().hub;
  const forged = sealSdc(await loadCompressor(), encodeJsonBody({ request: 'diagnostic', version: 1, id: '999999', requestedBy: 'intruder', at: new Date().toISOString() }), {
    kind: SdcKind.diagnosticRequest, sender: 'hub', sequence: 1n, count: 0, signerKey: stranger.key, signerCert: stranger.cert,
    recipientCert: readCertificate(centre.config.certificate, 'centre certificate'),
  });
  await client.publishAsync(downTopic(centre.matricule), Buffer.from(forged), { qos: 1 });
  const spool = Spool.open(centre.config.dataDir);
  const quarantined = await pollUntil(() => spool.listQuarantine(), (q) => q.length >= 2, 'both bad messages in quarantine', 30_000);
  t.true(quarantined.some((q) => /not a diagnostic request this agent answers: E_UNKNOWN_SIGNER/.test(q.reason)), JSON.stringify(quarantined));

  const view = await d.requests.request(centre.matricule, 'ops@hub');
  t.like(view, { requestedBy: 'ops@hub', deliveredVia: 'mqtt', answeredAt: null, report: null });
  const done = await answered(d, centre, view.id);
  const report = done.report as unknown as DiagnosticReportBody;
  t.like(report, { report: 'diagnostic', version: 1, requestId: view.id, node: process.version });
  t.regex(report.agentVersion, /^\d+\.\d+\.\d+/);
  const checks = new Map(report.checks.map((c) => [c.id, c]));
  t.like(checks.get('database'), { status: 'ok' });
  t.like(checks.get('table:births'), { status: 'ok' });
  t.like(checks.get('certificate'), { status: 'ok' });
  t.like(checks.get('link'), { status: 'ok' });
  t.regex(checks.get('link')!.detail, /^mqtt link up \(in use by the running agent\); .* since the agent started$/);
  t.false(checks.has('agent'), 'the agent answering is the one running');
  t.is(report.backlog.births![4], centre.count('births', 4));
  t.is(report.backlog.births![1], centre.count('births', 1));
  t.true(report.uptimeSeconds >= 0);
  t.true(report.recentErrors.some((e) => e.code === 'E_UNKNOWN_SIGNER'), JSON.stringify(report.recentErrors));
  t.true(report.recentErrors.some((e) => e.code === 'E_BAD_MAGIC'), JSON.stringify(report.recentErrors));
  t.false(report.recentErrors.some((e) => e.code === 'E_INTERNAL'));

  // The same request delivered again (a broker redelivery, a replay): the agent does not answer twice.
  t.is(d.published.length, 1);
  await d.receiver.publishDown(centre.matricule, d.published[0]!.payload);
  await pollUntil(() => events.filter((e) => e.event === 'diagnostic_repeated').length, (n) => n === 1, 'the replay noticed', 30_000);
  t.is(agent.state.sdcs(['packing', 'packed', 'receipted', 'done']).filter((s) => s.kind === 'diagnosticReport').length, 1);
  await pollUntil(() => agent.waitingForReceipts(), (n) => n === 0, 'the outbox empty', 30_000);
  const reports = await reportsOfKind7(centre);
  t.is(reports.length, 1, 'one report: the forgery and the replay were not answered');
  t.is(reports[0]!.requestId, view.id);
});

test.serial('a centre that calls in over a TCP stream gets the request from the outbound store at its next call, and answers', async (t) => {
  const d = await diagnosis();
  t.teardown(async () => {
    await d.receiver.stop();
    const client = await connectAsync(rig.brokerUrl, { clientId: 'diagnosis-test-hub', clean: true, reconnectPeriod: 0 });
    await client.endAsync();
  });
  const centre = await rig.addCentre({ matricule: 'CM-DIAG-TCP', tables: ['births'], count: 30 });
  await centre.enrol();
  const cfgPath = centre.configPath;
  writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), link: { kind: 'tcp', host: '127.0.0.1', port: hub.streamPort } }));
  t.is((await centre.sync()).waiting, 0);

  const view = await d.requests.request(centre.matricule, 'ops@hub');
  t.like(view, { deliveredVia: 'outbound', answeredAt: null });
  t.is(d.published.length, 0, 'nothing published for a centre that calls in');
  const queued = await rig.db.query<{ outbound_id: string }>('SELECT outbound_id::text FROM diagnostic_requests WHERE id = $1', [view.id]);
  t.truthy(queued.rows[0]?.outbound_id);

  // The next call brings the request; the report goes on the call after, as any SDC packed while a call is up.
  centre.validate('births', 3);
  const done = await pollUntil(async () => {
    await centre.sync(5_000);
    return (await d.requests.list(centre.matricule)).find((r) => r.id === view.id)!;
  }, (r) => r.answeredAt !== null, 'the answer over the stream', 90_000, 0);
  const report = done.report as unknown as DiagnosticReportBody;
  t.is(report.requestId, view.id);
  t.regex(report.checks.find((c) => c.id === 'link')!.detail, /^stream \(tcp\) link up \(in use by the running agent\)/);
  const left = await rig.db.query('SELECT 1 FROM outbound WHERE id = $1', [queued.rows[0]!.outbound_id]);
  t.is(left.rowCount, 0, 'the request left the outbound store');
  t.is((await reportsOfKind7(centre)).length, 1);
});

test.serial('a centre that only meets the hub by USB stick gets the request on the stick and answers on the same stick', async (t) => {
  const r = await T2dRig.create(services.pg, 'diagnosis_t2d');
  t.teardown(() => r.close());
  const centre = await r.addCentre('CM-DIAG-T2D', { count: 30 });
  const root = join(r.dir, 'stick');
  mkdirSync(root);
  const outbound = new PgOutboundStore(r.db);
  const requests = new DiagnosticRequests({ db: r.db, compressor: await loadCompressor(), hubKey: r.home.hubKey, hubCert: r.home.hubCert, hubId: 'hub', outbound });
  const hubImport = () => importStick(Stick.open(root), { pipeline: r.pipeline, log: quietLog, outbound });

  const out = await r.exchange(centre, root);
  const view = await requests.request(centre.matricule, 'ops@hub');
  t.is(view.deliveredVia, 'outbound');
  const first = await hubImport();
  t.is(first.files.length, out.written);
  const back = await r.exchange(centre, root);
  t.is(back.errors.length, 0, JSON.stringify(back.errors));
  t.is(back.receiptsApplied, out.written + 1, "the centre's receipts, and the request answered");
  t.is(back.written, 1, 'the report goes up on the same stick');
  await hubImport();
  const [done] = await requests.list(centre.matricule);
  t.like(done, { id: view.id, deliveredVia: 'outbound' });
  t.truthy(done!.answeredAt);
  t.is((done!.report as unknown as DiagnosticReportBody).requestId, view.id);
  t.is((await outbound.pending(centre.matricule)).length, 0, 'answered: no stick carries the request again');
});

test.serial('asking an unknown centre, or one that never enrolled, says why', async (t) => {
  const d = await diagnosis();
  t.teardown(() => d.receiver.stop());
  const unknown = await t.throwsAsync(() => d.requests.request('CM-NOBODY', 'ops'));
  t.true(isTamtamError(unknown, 'E_NOT_FOUND'));
  await rig.registry.add({ matricule: 'CM-DIAG-NEW', name: 'Not enrolled' });
  const never = await t.throwsAsync(() => d.requests.request('CM-DIAG-NEW', 'ops'));
  t.true(isTamtamError(never, 'E_CONFIG'));
  t.regex(never!.message, /never enrolled/);
  t.deepEqual(await d.requests.list('CM-DIAG-NEW'), []);
});
