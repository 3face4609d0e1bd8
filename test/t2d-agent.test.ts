import test, { type ExecutionContext } from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentRuntime } from '../agent/agent-runtime.js';
import { formatAgentStatus } from '../agent/agent-status.js';
import { DEFAULT_T2D, parseAgentConfig, type AgentConfig } from '../agent/config.js';
import { Stick } from '../common/t2d-stick.js';
import type { RunningHub } from '../hub/hub-runtime.js';
import { peekSdc } from '../protocol/sdc/sdc.js';
import { Collector } from './helpers/collector.js';
import { E2eRig, startServices, type RigCentre, type Services } from './helpers/e2e-rig.js';

/*
 * The centre's side of sync by USB stick, against a real hub: PostgreSQL and
 * Mosquitto from scripts/services, centres enrolled for real, their agents
 * on their own SQLite databases. The tests share the broker: one at a time.
 */
let services: Services;
test.before(async () => {
  services = await startServices();
});
test.after.always(async () => {
  await services?.stop();
});

type Event = { event: string } & Record<string, unknown>;

function stickRoot(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-agent-stick-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function rigWith(t: ExecutionContext, name: string, ...matricules: string[]): Promise<{ rig: E2eRig; hub: RunningHub; centres: RigCentre[] }> {
  const rig = await E2eRig.create(services, name, ['births']);
  t.teardown(() => rig.close());
  const hub = await rig.startHub();
  const centres: RigCentre[] = [];
  for (const matricule of matricules) {
    const c = await rig.addCentre({ matricule, count: 60, tables: ['births'], batching: { maxRecords: 20 } });
    await c.enrol();
    centres.push(c);
  }
  return { rig, hub, centres };
}

async function openAgent(t: ExecutionContext, c: RigCentre, config: AgentConfig = c.config): Promise<{ agent: AgentRuntime; events: Collector<Event> }> {
  const events = new Collector<Event>();
  const agent = await AgentRuntime.open(config, { log: (event, fields) => events.push({ event, ...fields }), pollMs: 100 });
  t.teardown(() => agent.close());
  return { agent, events };
}

/** What the hub's stick import does, with the hub's own pipeline: each SDC merged, its receipt written in its centre's place. */
async function hubTakes(hub: RunningHub, root: string): Promise<Uint8Array[]> {
  const stick = Stick.open(root);
  const receipts: Uint8Array[] = [];
  for (const f of stick.list('up')) {
    const sdc = stick.read(f);
    const outcome = await hub.pipeline.ingest(sdc, { via: 't2d' });
    stick.write('down', outcome.centre!, `${peekSdc(sdc).header.sequence}-hub.sdc`, outcome.receipt!);
    stick.remove(f);
    receipts.push(outcome.receipt!);
  }
  return receipts;
}

test('config: t2d is optional; its defaults; a bad field says which', (t) => {
  const base = { centre: 'C1', dataDir: 'data', source: { kind: 'sqlite', path: 'c.db' }, tables: [{ name: 'births' }], link: { kind: 'mqtt', url: 'mqtt://127.0.0.1:1883' } };
  t.is(parseAgentConfig(base, '/srv').t2d, undefined);
  t.deepEqual(parseAgentConfig({ ...base, t2d: {} }, '/srv').t2d, DEFAULT_T2D);
  t.deepEqual(parseAgentConfig({ ...base, t2d: { roots: ['sticks', '/mnt'], usb: false, relay: false } }, '/srv').t2d, { roots: ['/srv/sticks', '/mnt'], usb: false, relay: false, mountsOnly: true });
  t.throws(() => parseAgentConfig({ ...base, t2d: { usb: 'yes' } }, '/srv'), { code: 'E_CONFIG', message: /field "t2d.usb" must be true or false/ } as never);
  t.throws(() => parseAgentConfig({ ...base, t2d: { roots: [] } }, '/srv'), { code: 'E_CONFIG', message: /t2d.roots/ } as never);
});

test.serial('the outbox goes onto the stick once; the hub\'s receipts on it are applied (records reach 4); a tampered one is quarantined', async (t) => {
  const { hub, centres: [a] } = await rigWith(t, 't2d_outbox', 'CM-T2D-A01');
  const validated = a!.at('births', 2);
  const { agent, events } = await openAgent(t, a!);
  await agent.pack(true);
  const outbox = agent.spool.listOutbox().map((f) => f.name);
  t.true(outbox.length >= 3, `${outbox.length} SDCs`);
  const root = stickRoot(t);

  const first = await agent.exchangeWithStick(root);
  t.like(first, { written: outbox.length, alreadyThere: 0, receiptsApplied: 0, errors: [], pullable: true });
  t.deepEqual(Stick.open(root).list('up', a!.matricule).map((f) => f.name), outbox);
  const done = events.items.filter((e) => e.event === 'stick_done');
  t.is(done.length, 1);
  t.like(done[0], { written: outbox.length, message: 'you can remove the stick' });
  t.deepEqual(agent.spool.listOutbox().map((f) => f.name), outbox, 'nothing leaves the outbox for being on a stick');
  t.deepEqual(a!.at('births', 3), validated);

  const second = await agent.exchangeWithStick(root);
  t.like(second, { written: 0, alreadyThere: outbox.length, pullable: true });

  const kept = Stick.open(root).list('up', a!.matricule)[0]!;
  const keptBytes = Stick.open(root).read(kept);
  const receipts = await hubTakes(hub, root);
  t.is(receipts.length, outbox.length);
  // A copy of an SDC the hub has answered (as if its receipt had come by another link): it leaves the stick too.
  Stick.open(root).write('up', a!.matricule, kept.name, keptBytes);
  const tampered = Uint8Array.from(receipts[0]!);
  tampered[Math.floor(tampered.length / 2)]! ^= 0x01;
  Stick.open(root).write('down', a!.matricule, '1-tampered.sdc', tampered);
  // And one damaged on the stick after it was written: its bytes no longer match the manifest.
  const damaged = Stick.open(root).write('down', a!.matricule, '2-damaged.sdc', receipts[1]!);
  const bad = Uint8Array.from(receipts[1]!);
  bad[10]! ^= 0xff;
  writeFileSync(damaged.path, bad);

  const third = await agent.exchangeWithStick(root);
  t.like(third, { written: 0, withdrawn: 1, receiptsApplied: outbox.length, receiptsQuarantined: 1, pullable: true });
  t.deepEqual(Stick.open(root).list('up'), []);
  t.deepEqual(third.errors.map((e) => e.code), ['E_BAD_HASH'], 'the damaged file is reported and left alone');
  t.deepEqual(a!.at('births', 4), validated, 'every validated record is exported');
  t.deepEqual(agent.spool.listOutbox(), [], 'the receipts emptied the outbox');
  t.deepEqual(Stick.open(root).list('down').map((f) => f.name), ['2-damaged.sdc'], 'what was read left the stick');
  const q = agent.spool.listQuarantine();
  t.is(q.length, 1);
  t.regex(q[0]!.reason, /could not be applied as a receipt: E_[A-Z_]+: /);
  t.true(events.items.some((e) => e.event === 'receipt_quarantined'));

  const status = await agent.status();
  t.like(status.lastStick, { root, receiptsApplied: outbox.length, receiptsQuarantined: 1, pullable: true });
  t.regex(formatAgentStatus(status), /Last USB stick: .* done with 1 problem\(s\); it could be removed from .*\n {2}written: 0 SDCs, 1 taken off \(receipted meanwhile\)\n {2}read: \d+ receipts applied, 1 quarantined\n {2}problem: E_BAD_HASH: /);
  t.true(status.link.usage.some((u) => u.link === 'usb-stick' && u.sessions === 3 && u.messagesUp === outbox.length));
});

test.serial('relay: a centre with a link forwards another centre\'s SDCs from the stick to the hub, and puts their receipts back on the next stick', async (t) => {
  const { rig, centres: [far, relay] } = await rigWith(t, 't2d_relay', 'CM-T2D-FAR', 'CM-T2D-RLY');
  const validated = far!.at('births', 2);
  const root = stickRoot(t);
  const farAgent = await openAgent(t, far!);
  await farAgent.agent.pack(true);
  const sdcs = farAgent.agent.spool.listOutbox().length;
  t.like(await farAgent.agent.exchangeWithStick(root), { written: sdcs });

  const { agent, events } = await openAgent(t, relay!);
  const linkDown = await agent.exchangeWithStick(root);
  t.like(linkDown, { relayedUp: 0, errors: [], pullable: true });
  t.true(linkDown.notices.some((n) => /SDC\(s\) of other centres stay on the stick for the hub: this centre's mqtt link is down/.test(n)), linkDown.notices.join('\n'));
  t.is(Stick.open(root).list('up', far!.matricule).length, sdcs);
  await agent.link.open();
  const up = await agent.exchangeWithStick(root);
  t.like(up, { written: 0, relayedUp: sdcs, relayedDown: 0, errors: [], pullable: true });
  t.deepEqual(Stick.open(root).list('up'), [], 'each relayed SDC left the stick once the link took it');
  t.is(events.items.filter((e) => e.event === 'stick_relayed_up').length, sdcs);

  await events.until((items) => items.filter((e) => e.event === 'relay_kept').length === sdcs, `${sdcs} relayed receipts`);
  t.true(events.items.filter((e) => e.event === 'relay_kept').every((e) => e.centre === far!.matricule));
  t.is(agent.relayStore.list().length, sdcs);
  t.is((await rig.central('births', far)).rows, validated.length, 'the hub merged the far centre\'s records');
  t.deepEqual(agent.spool.listQuarantine(), [], 'the relay did not take them for its own receipts');

  const down = await agent.exchangeWithStick(root);
  t.like(down, { relayedUp: 0, relayedDown: sdcs, pullable: true });
  t.deepEqual(agent.relayStore.list(), []);
  t.is(Stick.open(root).list('down', far!.matricule).length, sdcs);
  t.deepEqual(readdirSync(join(relay!.config.dataDir, 'relay', far!.matricule)), []);

  const back = await farAgent.agent.exchangeWithStick(root);
  t.like(back, { receiptsApplied: sdcs, receiptsQuarantined: 0, errors: [] });
  t.deepEqual(far!.at('births', 4), validated, 'the far centre\'s records reach 4 through the relay');
});

test.serial('the daemon with t2d set reacts to a stick appearing under its root and says when it can be pulled', async (t) => {
  const { centres: [c] } = await rigWith(t, 't2d_daemon', 'CM-T2D-DMN');
  const root = stickRoot(t);
  const raw = JSON.parse(readFileSync(c!.configPath, 'utf8'));
  // No link at all: a broker nobody listens on, as at a centre that has only sticks.
  raw.link.url = 'mqtt://127.0.0.1:9';
  raw.t2d = { roots: [root], usb: false, relay: false, mountsOnly: false };
  const { agent, events } = await openAgent(t, c!, parseAgentConfig(raw, c!.dir));
  await agent.pack(true);
  const outbox = agent.spool.listOutbox().map((f) => f.name);
  const stop = new AbortController();
  const running = agent.run(stop.signal);
  await events.until((items) => items.some((e) => e.event === 'stick_watch'), 'the stick watcher');

  const stick = join(root, 'usb0');
  mkdirSync(stick);
  await events.until((items) => items.some((e) => e.event === 'stick_done'), 'stick_done');
  stop.abort();
  await running;
  const seq = events.items.map((e) => e.event).filter((e) => e.startsWith('stick_'));
  t.deepEqual(seq.slice(0, 5), ['stick_watch', 'stick_inserted', 'stick_exchange', 'stick_written', 'stick_done']);
  t.deepEqual(events.items.find((e) => e.event === 'stick_written')!.files, outbox.map((n) => `up/${c!.matricule}/${n}`));
  t.like(events.items.find((e) => e.event === 'stick_inserted'), { root: stick });
  t.like(events.items.find((e) => e.event === 'stick_done'), { root: stick, written: outbox.length, message: 'you can remove the stick' });
  t.deepEqual(Stick.open(stick).list('up', c!.matricule).map((f) => f.name), outbox);
});
