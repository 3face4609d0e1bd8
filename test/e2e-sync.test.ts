import test from 'ava';
import { connect, createServer, type Socket } from 'node:net';
import type { AgentStatusReport } from '../agent/agent-status.js';
import { MqttLink } from '../agent/link/mqtt-link.js';
import type { IngestOutcome } from '../hub/ingest/ingest-pipeline.js';
import type { ActTable } from '../scripts/sample-acts.js';
import { freePort } from '../scripts/services/free-port.js';
import { E2eRig, LoggedProcess, pollUntil, startServices, type RigCentre, type Services } from './helpers/e2e-rig.js';

/*
 * Issue 3, in full: centres' agents, a real Mosquitto, the hub, a real
 * PostgreSQL. The tests share the broker, so they run one after another.
 */
let services: Services;
test.before(async () => {
  services = await startServices();
});
test.after.always(async () => {
  await services?.stop();
});

const TABLES: ActTable[] = ['births', 'deaths'];

async function agentStatus(centre: RigCentre): Promise<AgentStatusReport> {
  const cli = LoggedProcess.tamtam(`status ${centre.matricule}`, ['agent', 'status', '--json', '--config', centre.configPath]);
  const exit = await cli.exited;
  if (exit.code !== 0) throw new Error(`agent status failed: ${cli.tail()}`);
  return JSON.parse(cli.stdout) as AgentStatusReport;
}

test.serial('two centres: every validated act reaches PostgreSQL once, new ones stay home, an amendment is kept as version 2', async (t) => {
  const rig = await E2eRig.create(services, 'two_centres', TABLES);
  t.teardown(() => rig.close());
  await rig.startHub();
  const centres = [await rig.addCentre({ matricule: 'CM-E2E-YDE-01', count: 300 }), await rig.addCentre({ matricule: 'SN-E2E-DKR-02', count: 250, newEvery: 7 })];
  for (const c of centres) await c.enrol();
  const validated = new Map(centres.map((c) => [c, Object.fromEntries(TABLES.map((tb) => [tb, c.at(tb, 2)]))]));
  const fresh = new Map(centres.map((c) => [c, Object.fromEntries(TABLES.map((tb) => [tb, c.at(tb, 1)]))]));

  const reports = await Promise.all(centres.map((c) => c.sync()));
  t.deepEqual(reports.map((r) => r.waiting), [0, 0]);

  for (const c of centres) {
    for (const table of TABLES) {
      const sent = validated.get(c)![table];
      t.true(sent.length > 100 && fresh.get(c)![table].length > 10, 'the fixture has both validated and new acts');
      const rows = await rig.centralRows(table, c);
      t.deepEqual(rows.map((r) => r.source_numero), sent, `${c.matricule} ${table}: exactly the validated acts, each once`);
      t.true(rows.every((r) => r.record_version === 1));
      t.deepEqual(c.at(table, 4), sent, `${c.matricule} ${table}: every act sent is exported`);
      t.deepEqual(c.at(table, 1), fresh.get(c)![table], `${c.matricule} ${table}: acts not validated stay home, untouched`);
    }
  }

  // Staff correct an exported birth and validate it again.
  const [a] = centres;
  const amended = validated.get(a)!.births[3];
  const before = a.db.prepare<[number], { child_firstnames: string }>('SELECT child_firstnames FROM births WHERE numero = ?').get(amended)!.child_firstnames;
  a.db.prepare("UPDATE births SET child_firstnames = 'Amended Name', status = 2 WHERE numero = ?").run(amended);
  const again = await a.sync();
  t.is(again.packed.records, 1);
  const versions = (await rig.centralRows('births', a, ['child_firstnames'])).filter((r) => r.source_numero === amended);
  t.deepEqual(versions.map((r) => [r.record_version, r.child_firstnames]), [[1, before], [2, 'Amended Name']], 'both versions are kept');
  t.is(a.at('births', 4).length, validated.get(a)!.births.length);
  const all = await rig.central('births', a);
  t.deepEqual(all, { rows: validated.get(a)!.births.length + 1, records: validated.get(a)!.births.length, keys: validated.get(a)!.births.length + 1 });
});

test.serial('a suspended centre gets a refused receipt and merges nothing; resumed, its acts flow again', async (t) => {
  const rig = await E2eRig.create(services, 'suspended', TABLES);
  t.teardown(() => rig.close());
  await rig.startHub();
  const c = await rig.addCentre({ matricule: 'CM-E2E-SUS-03', count: 120, tables: ['births'], newEvery: 2 });
  await c.enrol();
  await c.sync();
  const baseline = c.count('births', 4);
  t.is((await rig.central('births', c)).rows, baseline);

  await rig.registry.suspend(c.matricule);
  const refused = c.validate('births', 20);
  const report = await c.sync();
  t.is(report.receipts, 1, 'the refusal is a receipt');
  t.is(report.waiting, 0);
  t.is((await rig.central('births', c)).rows, baseline, 'nothing merged');
  t.deepEqual(c.at('births', 3), refused, 'refused acts stay at 3');
  const status = await agentStatus(c);
  t.is(status.lastReceipt?.outcome, 'refused');
  t.deepEqual(status.rejected.map((r) => r.numero).sort((x, y) => x - y), refused);
  t.true(status.rejected.every((r) => /suspended/.test(r.reason)), status.rejected[0]?.reason);

  await rig.registry.resume(c.matricule);
  // Staff send the refused acts again (back to new, validated again), with some new ones.
  c.setStatus('births', refused, 1);
  c.setStatus('births', refused, 2);
  const more = c.validate('births', 15);
  t.is((await c.sync()).waiting, 0);
  const rows = await rig.centralRows('births', c);
  t.is(rows.length, baseline + refused.length + more.length);
  t.is(new Set(rows.map((r) => r.source_numero)).size, rows.length, 'each act once');
  t.deepEqual(c.at('births', 3), []);
  t.is(c.count('births', 4), baseline + refused.length + more.length);
  t.deepEqual((await agentStatus(c)).rejected, [], 'nothing left rejected');
});

test.serial('a column the central table lacks: refused receipt naming it; the hub process keeps running and other centres sync', async (t) => {
  const rig = await E2eRig.create(services, 'extra_column', TABLES);
  t.teardown(() => rig.close());
  const hub = await rig.spawnHub();
  const odd = await rig.addCentre({
    matricule: 'CM-E2E-ODD-04', count: 80,
    prepare: (db) => db.exec("ALTER TABLE births ADD COLUMN child_nickname TEXT; UPDATE births SET child_nickname = 'Bébé' WHERE numero % 3 = 0"),
  });
  const plain = await rig.addCentre({ matricule: 'CM-E2E-STD-05', count: 80 });
  await odd.enrol();
  await plain.enrol();

  const oddBirths = odd.at('births', 2);
  t.is((await odd.sync()).waiting, 0);
  t.is((await rig.central('births', odd)).rows, 0, 'no birth of that centre merged');
  t.is((await rig.central('deaths', odd)).rows, odd.count('deaths', 4), 'its deaths, whose columns match, are merged');
  t.deepEqual(odd.at('births', 3), oddBirths);
  const status = await agentStatus(odd);
  t.is(status.rejected.length, oddBirths.length);
  t.true(status.rejected.every((r) => r.table === 'births' && /child_nickname/.test(r.reason)), status.rejected[0]?.reason);
  const logged = await hub.waitFor((e) => e.event === 'sdc' && e.outcome === 'refused', 'a refused sdc event');
  t.regex(String(logged.reason), /child_nickname/);

  t.true(hub.running, 'the hub kept running');
  const sent = TABLES.map((tb) => plain.at(tb, 2).length);
  t.is((await plain.sync()).waiting, 0);
  t.deepEqual(await Promise.all(TABLES.map(async (tb) => (await rig.central(tb, plain)).records)), sent);
  t.deepEqual(TABLES.map((tb) => plain.count(tb, 4)), sent);
  t.true(hub.running);
  t.is(hub.count((e) => e.level === 'error'), 0, hub.tail());
});

test.serial('a receipt published while the agent is offline reaches it on its next sync', async (t) => {
  const rig = await E2eRig.create(services, 'offline_receipt', TABLES);
  t.teardown(() => rig.close());
  let hub = await rig.startHub();
  const c = await rig.addCentre({ matricule: 'CM-E2E-OFF-06', count: 150, tables: ['births'], batching: { maxRecords: 40 } });
  await c.enrol();
  await hub.stop();

  // The hub is down: the broker takes the SDCs; the agent hangs up without waiting.
  const sent = c.at('births', 2);
  const first = await c.sync(0);
  t.is(first.sent, 4);
  t.is(first.waiting, 4);

  const outcomes: IngestOutcome[] = [];
  hub = await rig.startHub({ onIngest: (_centre, o) => outcomes.push(o) });
  await pollUntil(() => outcomes.length, (n) => n >= 4, 'the hub to take the 4 SDCs kept for it');
  t.deepEqual(outcomes.map((o) => o.kind), ['merged', 'merged', 'merged', 'merged']);
  t.is((await rig.central('births', c)).records, sent.length);
  t.deepEqual(c.at('births', 3), sent, 'the agent is offline: nothing applied yet');

  const second = await c.sync(30_000);
  t.is(second.sent, 0, 'nothing sent again');
  t.is(second.receipts, 4, 'the receipts waited at the broker');
  t.is(second.waiting, 0);
  t.deepEqual(c.at('births', 4), sent);
  t.is(outcomes.length, 4, 'the hub saw each SDC once');
});

test.serial('an agent daemon started while the broker is unreachable sends once it can reach it', async (t) => {
  const rig = await E2eRig.create(services, 'late_link', TABLES);
  t.teardown(() => rig.close());
  await rig.startHub();
  const c = await rig.addCentre({ matricule: 'CM-E2E-LATE-07', count: 60, tables: ['births'], batching: { minRecords: 1, maxAgeSeconds: 0 } });
  await c.enrol();
  // The centre reaches the broker through a relay that is not there yet, like a satellite terminal still searching.
  const port = await freePort();
  const link = new MqttLink({ url: `mqtt://127.0.0.1:${port}`, centre: c.matricule, openTimeoutMs: 500, backoff: { initialMs: 100, maxMs: 200 } });
  const events: string[] = [];
  const agent = await c.open({ link, log: (event) => events.push(event) });
  const stop = new AbortController();
  const daemon = agent.run(stop.signal);
  const sockets = new Set<Socket>();
  const relay = createServer((inbound) => {
    const outbound = connect(services.broker.port, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  t.teardown(async () => {
    stop.abort();
    await daemon;
    await agent.close();
    sockets.forEach((s) => s.destroy());
    relay.close();
  });

  await pollUntil(() => events.filter((e) => e === 'link_down').length, (n) => n >= 1, 'a first open that failed');
  const sent = c.at('births', 2, 3);
  t.true(sent.length > 0);
  t.is((await rig.central('births', c)).rows, 0);
  relay.listen(port, '127.0.0.1');
  await pollUntil(() => c.count('births', 4), (n) => n === sent.length, 'every act exported once the relay is up', 30_000);
  t.deepEqual((await rig.centralRows('births', c)).map((r) => r.source_numero), sent);
});
