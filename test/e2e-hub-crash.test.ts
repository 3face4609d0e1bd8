import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AgentRuntime } from '../agent/agent-runtime.js';
import type { IngestOutcome } from '../hub/ingest/ingest-pipeline.js';
import { E2eRig, pollUntil, startServices, type LoggedProcess, type RigCentre, type Services } from './helpers/e2e-rig.js';

/*
 * The hub side of issue 3: a hub process killed with SIGKILL while it merges,
 * the broker restarted while agents sync, two hub processes sharing the work.
 * Real PostgreSQL and Mosquitto; the tests share the broker, so one at a time.
 */
let services: Services;
test.before(async () => {
  services = await startServices();
});
test.after.always(async () => {
  await services?.stop();
});

/** PostgreSQL's own word that a client died inside a transaction. */
const CUT_TRANSACTION = 'unexpected EOF on client connection with an open transaction';
const pgLog = () => readFileSync(join(dirname(services.pg.dataDir), 'postgres.log'), 'utf8');
const cutTransactions = () => pgLog().split(CUT_TRANSACTION).length - 1;

/** Rows of each SDC of `centre` in central.births, by SDC sequence. */
async function rowsBySdc(rig: E2eRig, centre: RigCentre): Promise<Map<number, number>> {
  const by = new Map<number, number>();
  for (const r of await rig.centralRows('births', centre)) by.set(Number(r.sdc_sequence), (by.get(Number(r.sdc_sequence)) ?? 0) + 1);
  return by;
}

/** Hub connections inside a transaction that already wrote (the claim in sdc_seen, the rows). */
async function openMerges(rig: E2eRig): Promise<number> {
  const { rows } = await rig.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
        AND backend_xid IS NOT NULL AND (state LIKE 'idle in transaction%' OR query NOT ILIKE 'UPDATE centres%')`);
  return rows[0].n;
}

const merges = (hub: LoggedProcess) => hub.count((e) => e.event === 'sdc' && e.outcome === 'merged');

test.serial('hub killed -9 in the middle of merges: no partial SDC, every receipt comes, every act once', async (t) => {
  const rig = await E2eRig.create(services, 'hub_kill', ['births']);
  t.teardown(() => rig.close());
  const hubs = [await rig.spawnHub('hub #1')];
  const centres = [
    await rig.addCentre({ matricule: 'CM-HK-0001', tables: ['births'], count: 1000, newEvery: 1_000_000, batching: { maxRecords: 50 } }),
    await rig.addCentre({ matricule: 'CM-HK-0002', tables: ['births'], count: 1000, newEvery: 1_000_000, batching: { maxRecords: 50 } }),
  ];
  for (const c of centres) await c.enrol();
  const agents: AgentRuntime[] = [];
  t.teardown(() => Promise.all(agents.map((a) => a.close())));
  for (const c of centres) agents.push(await c.open());
  const syncs = agents.map((a) => a.syncOnce({ timeoutMs: 120_000 }));

  // Once a few SDCs are in, kill while PostgreSQL shows a merge transaction open; again until its log says one was cut.
  const cutBefore = cutTransactions();
  for (let kill = 0; kill < 4 && cutTransactions() === cutBefore; kill++) {
    const hub = hubs[hubs.length - 1];
    await hub.waitForCount((e) => e.event === 'sdc', 4, 'four sdc events');
    await pollUntil(() => openMerges(rig), (n) => n > 0, 'an open merge transaction', 30_000, 1);
    await hub.kill9();
    await pollUntil(() => cutTransactions(), (n) => n > cutBefore, 'a cut transaction in the PostgreSQL log', 2000).catch(() => undefined);
    hubs.push(await rig.spawnHub(`hub #${hubs.length + 1}`));
  }
  t.true(cutTransactions() > cutBefore, 'a kill landed inside a merge transaction');
  t.log(`${hubs.length - 1} kill(s) before one cut a merge transaction`);

  const reports = await Promise.all(syncs);
  t.deepEqual(reports.map((r) => [r.sent, r.receipts, r.waiting]), [[20, 20, 0], [20, 20, 0]], 'every SDC sent once, every receipt came');
  // A hub killed between its commit and its log line merged one SDC more than it said: the database is the judge.
  const seen = await rig.db.query<{ sdcs: string; merged: string }>("SELECT count(*) AS sdcs, sum(merged) AS merged FROM sdc_seen WHERE outcome = 'merged'");
  t.deepEqual([Number(seen.rows[0].sdcs), Number(seen.rows[0].merged)], [40, 2000], 'each SDC merged once, whole');
  t.true(hubs.reduce((n, h) => n + merges(h), 0) <= 40, 'no SDC merged twice');
  t.true(hubs.length > 1 && merges(hubs[hubs.length - 1]) > 0, 'the restarted hub took over');

  for (const [i, c] of centres.entries()) {
    const done = agents[i].state.sdcs(['done']);
    t.is(done.length, 20);
    const bySdc = await rowsBySdc(rig, c);
    t.deepEqual([...bySdc].sort(([a], [b]) => a - b), done.map((s) => [s.sequence, s.count]).sort(([a], [b]) => a - b), `${c.matricule}: each SDC whole in the central table`);
    t.deepEqual(await rig.central('births', c), { rows: 1000, records: 1000, keys: 1000 });
    t.is(c.count('births', 4), 1000);
  }
});

test.serial('broker restarted while agents sync: nothing lost, each act once', async (t) => {
  const rig = await E2eRig.create(services, 'broker_restart', ['births', 'deaths']);
  t.teardown(() => rig.close());
  const outcomes: IngestOutcome[] = [];
  await rig.startHub({ onIngest: (_c, o) => outcomes.push(o) });
  // Mosquitto 2.0.11 does not restore `$share/` subscriptions from its persistence file: an SDC published after a
  // restart, before the hub subscribed again, is acknowledged and dropped. The agent sends it again when no
  // receipt came in time, which is what this short timeout lets the test see.
  const batching = { maxRecords: 40, minRecords: 1, maxAgeSeconds: 0, receiptTimeoutSeconds: 5 };
  const centres = [
    await rig.addCentre({ matricule: 'SN-BR-0001', count: 600, newEvery: 2, batching }),
    await rig.addCentre({ matricule: 'SN-BR-0002', count: 600, newEvery: 2, batching }),
  ];
  for (const c of centres) await c.enrol();
  const stop = new AbortController();
  const agents = await Promise.all(centres.map((c) => c.open()));
  const daemons = agents.map((a) => a.run(stop.signal));
  t.teardown(async () => {
    stop.abort();
    await Promise.allSettled(daemons);
    await Promise.all(agents.map((a) => a.close()));
  });

  await pollUntil(() => outcomes.length, (n) => n >= 3, 'the first SDCs merged');
  await services.broker.restart();
  // Staff keep validating; the rest goes after a second restart.
  for (const c of centres) for (const tb of c.tables) c.validate(tb, 150);
  await pollUntil(() => outcomes.length, (n) => n >= 12, 'more SDCs merged after the restart');
  await services.broker.restart();
  for (const c of centres) for (const tb of c.tables) c.validate(tb, 1000);

  const want = new Map(centres.map((c) => [c, c.tables.map((tb) => c.at(tb, 2, 3, 4))]));
  for (const c of centres) {
    for (const [i, tb] of c.tables.entries()) {
      await pollUntil(() => c.count(tb, 4), (n) => n === want.get(c)![i].length, `every ${tb} act of ${c.matricule} exported`, 90_000);
      const rows = await rig.centralRows(tb, c);
      t.deepEqual(rows.map((r) => r.source_numero), want.get(c)![i], `${c.matricule} ${tb}: every validated act, each once`);
      t.true(rows.every((r) => r.record_version === 1));
    }
  }
  t.true(outcomes.every((o) => o.kind === 'merged' || o.kind === 'replay'), 'nothing refused or quarantined');
  t.log(`${outcomes.length} SDCs ingested, ${outcomes.filter((o) => o.kind === 'replay').length} of them answered again`);
});

test.serial('two hub processes on one broker share the SDCs of three centres: none merged twice, none missed', async (t) => {
  const rig = await E2eRig.create(services, 'two_hubs', ['births', 'deaths']);
  t.teardown(() => rig.close());
  const hubs = await Promise.all([rig.spawnHub('hub A'), rig.spawnHub('hub B', rig.hubFolder('hub-b'))]);
  const centres = [];
  for (const m of ['CM-2H-0001', 'CM-2H-0002', 'SN-2H-0003']) centres.push(await rig.addCentre({ matricule: m, count: 400, batching: { maxRecords: 40 } }));
  for (const c of centres) await c.enrol();
  const want = new Map(centres.map((c) => [c, c.tables.map((tb) => c.at(tb, 2))]));

  const reports = await Promise.all(centres.map((c) => c.sync(120_000)));
  t.true(reports.every((r) => r.waiting === 0 && r.receipts === r.sent));
  for (const c of centres) {
    for (const [i, tb] of c.tables.entries()) {
      const rows = await rig.centralRows(tb, c);
      t.deepEqual(rows.map((r) => r.source_numero), want.get(c)![i], `${c.matricule} ${tb}: every validated act, each once`);
      t.true(rows.every((r) => r.record_version === 1));
      t.deepEqual(c.at(tb, 4), want.get(c)![i]);
    }
  }
  const sdcs = reports.reduce((n, r) => n + r.sent, 0);
  // A hub logs an SDC before it publishes the receipt, but its stderr may reach us after the receipt did.
  await pollUntil(() => hubs.reduce((n, h) => n + merges(h), 0), (n) => n >= sdcs, 'a merged sdc event for every SDC', 10_000).catch(() => undefined);
  const byHub = hubs.map(merges);
  t.log(`SDCs merged: hub A ${byHub[0]}, hub B ${byHub[1]} of ${sdcs}`);
  t.is(byHub[0] + byHub[1], sdcs, 'each SDC merged by one hub');
  t.is(hubs.reduce((n, h) => n + h.count((e) => e.event === 'sdc'), 0), sdcs, 'each SDC delivered to one hub only, once (no answer given twice)');
  t.true(byHub.every((n) => n > 0), 'both hubs did some of the work');
  t.true(hubs.every((h) => h.running && h.count((e) => e.level === 'error') === 0), hubs.map((h) => h.tail(5)).join('\n'));
});
