import test, { type ExecutionContext } from 'ava';
import { connectAsync } from 'mqtt';
import { MqttLink, type MqttLinkOptions } from '../agent/link/mqtt-link.js';
import type { LinkState } from '../agent/link/link.js';
import { backoffDelay } from '../common/mqtt-session.js';
import { MqttReceiver, type MqttReceiverOptions } from '../hub/receivers/mqtt-receiver.js';
import { isTamtamError, type TamtamError } from '../protocol/errors.js';
import { downTopic } from '../protocol/topics.js';
import { freePort } from '../scripts/services/free-port.js';
import { startMosquitto, type MosquittoBroker } from '../scripts/services/mosquitto-broker.js';
import { Collector } from './helpers/collector.js';
import { pollUntil } from './helpers/e2e-rig.js';

const FAST = { initialMs: 50, maxMs: 400 };
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

async function broker(t: ExecutionContext, users?: Record<string, string>): Promise<MosquittoBroker> {
  const b = await startMosquitto(users ? { users } : {});
  t.teardown(() => b.stop());
  return b;
}

function link(t: ExecutionContext, opts: Partial<MqttLinkOptions> & { url: string; centre: string }): { link: MqttLink; states: Collector<LinkState>; received: Collector<string>; errors: Collector<TamtamError> } {
  const l = new MqttLink({ backoff: FAST, openTimeoutMs: 20_000, ...opts });
  const states = new Collector<LinkState>();
  const received = new Collector<string>();
  const errors = new Collector<TamtamError>();
  l.onStateChange((s) => states.push(s));
  l.onError((e) => errors.push(e));
  l.onMessage((p) => received.push(text(p)));
  t.teardown(() => l.close());
  return { link: l, states, received, errors };
}

function receiver(t: ExecutionContext, opts: Partial<MqttReceiverOptions> & { url: string; clientId: string }, all?: Collector<string>) {
  const got = new Collector<string>();
  const r = new MqttReceiver({
    shared: false,
    backoff: FAST,
    onUp: async (centre, payload) => {
      got.push(`${centre}:${text(payload)}`);
      all?.push(text(payload));
      return { reply: bytes(`receipt:${text(payload)}`) };
    },
    ...opts,
  });
  t.teardown(() => r.stop());
  return { receiver: r, got };
}

test('backoff doubles up to its bound, with injected jitter', (t) => {
  const b = { initialMs: 100, maxMs: 1000 };
  t.deepEqual([0, 1, 2, 3, 4, 9].map((n) => backoffDelay(n, b, () => 0)), [50, 100, 200, 400, 500, 500]);
  t.deepEqual([0, 1, 5].map((n) => backoffDelay(n, b, () => 1)), [100, 200, 1000]);
});

for (const protocolVersion of [4, 5] as const) {
  test(`MQTT ${protocolVersion === 4 ? '3.1.1' : '5'}: send resolves on PUBACK, the hub gets it and its receipt comes back; bytes and sessions are metered`, async (t) => {
    const b = await broker(t);
    const { receiver: hub, got } = receiver(t, { url: b.url, clientId: `hub-${protocolVersion}`, protocolVersion });
    await hub.start();
    const { link: l, received } = link(t, { url: b.url, centre: 'CM-CE-0001', protocolVersion });
    t.is(l.state, 'down');
    await l.open();
    t.is(l.state, 'up');
    const payload = 'x'.repeat(1000);
    await l.send(bytes(payload));
    await got.until((g) => g.length === 1, 'the hub to get the SDC');
    t.deepEqual(got.items, [`CM-CE-0001:${payload}`]);
    await received.until((r) => r.length === 1, 'the receipt');
    t.is(received.items[0], `receipt:${payload}`);
    const u = l.usage();
    t.is(u.sessions, 1);
    t.is(u.messagesUp, 1);
    t.is(u.messagesDown, 1);
    t.true(u.bytesUp > 1000 && u.bytesUp < 1200, `bytesUp ${u.bytesUp}: payload, topic, CONNECT, SUBSCRIBE, PUBACK`);
    t.true(u.bytesDown > 1008 && u.bytesDown < 1100, `bytesDown ${u.bytesDown}: receipt, CONNACK, SUBACK, PUBACK`);
    t.true(hub.usage().bytesDown > 1000);
  });

  test(`MQTT ${protocolVersion === 4 ? '3.1.1' : '5'}: a receipt published while the agent is off is delivered when it comes back (persistent session)`, async (t) => {
    const b = await broker(t);
    const first = link(t, { url: b.url, centre: 'CM-CE-0002', protocolVersion });
    await first.link.open();
    await first.link.close();
    t.is(first.link.state, 'down');
    const hub = await connectAsync(b.url, { reconnectPeriod: 0 });
    await hub.publishAsync(downTopic('CM-CE-0002'), 'receipt while off', { qos: 1 });
    await hub.endAsync();
    const again = link(t, { url: b.url, centre: 'CM-CE-0002', protocolVersion });
    await again.link.open();
    await again.received.until((r) => r.length === 1, 'the queued receipt');
    t.deepEqual(again.received.items, ['receipt while off']);
  });
}

test('the broker restarts mid-stream: sends in the outage reject with E_LINK_DOWN, the link comes back by itself, nothing acknowledged is lost', async (t) => {
  const b = await broker(t);
  const { receiver: hub, got } = receiver(t, { url: b.url, clientId: 'hub-restart' });
  await hub.start();
  const { link: l, states } = link(t, { url: b.url, centre: 'CM-CE-0003' });
  await l.open();
  const acknowledged = new Set<string>();
  const rejections: TamtamError[] = [];
  const sendUntilAcknowledged = async (p: string) => {
    for (;;) {
      try {
        await l.send(bytes(p));
        acknowledged.add(p);
        return;
      } catch (e) {
        t.true(isTamtamError(e, 'E_LINK_DOWN') && e.retryable, String(e));
        rejections.push(e as TamtamError);
        const ups = states.items.filter((s) => s === 'up').length;
        await states.until((s) => s.filter((x) => x === 'up').length > ups, 'the link to come back');
      }
    }
  };
  for (let i = 0; i < 10; i++) await sendUntilAcknowledged(`before-${i}`);
  const restarting = b.restart();
  for (let i = 0; i < 30; i++) await sendUntilAcknowledged(`during-${i}`);
  await restarting;
  t.true(states.items.includes('connecting'), `states: ${states.items.join(' ')}`);
  t.is(l.state, 'up');
  t.true(l.usage().sessions >= 2);
  t.log(`${rejections.length} sends rejected during the outage, then sent again`);
  await got.until((g) => [...acknowledged].every((p) => g.includes(`CM-CE-0003:${p}`)), 'every acknowledged SDC at the hub');
  t.is(acknowledged.size, 40);
});

test('a send on a link that is down rejects at once (E_LINK_DOWN, retryable); an aborted send rejects with E_ABORTED', async (t) => {
  const b = await broker(t);
  const { link: l } = link(t, { url: b.url, centre: 'CM-CE-0004' });
  const down = await t.throwsAsync(l.send(bytes('x')));
  t.true(isTamtamError(down, 'E_LINK_DOWN') && down.retryable);
  await l.open();
  const abort = new AbortController();
  abort.abort();
  t.true(isTamtamError(await t.throwsAsync(l.send(bytes('x'), abort.signal)), 'E_ABORTED'));
});

test('a handler that throws leaves the receipt unacknowledged; the link reconnects and gets it again', async (t) => {
  const b = await broker(t);
  const l = new MqttLink({ url: b.url, centre: 'CM-CE-0005', backoff: FAST });
  t.teardown(() => l.close());
  const calls = new Collector<string>();
  const errors = new Collector<TamtamError>();
  l.onError((e) => errors.push(e));
  l.onMessage((p) => {
    calls.push(text(p));
    if (calls.items.length === 1) throw new Error('disk full');
  });
  await l.open();
  const hub = await connectAsync(b.url, { reconnectPeriod: 0 });
  t.teardown(() => hub.endAsync());
  await hub.publishAsync(downTopic('CM-CE-0005'), 'receipt-1', { qos: 1 });
  await calls.until((c) => c.length === 2, 'the receipt a second time');
  t.deepEqual(calls.items, ['receipt-1', 'receipt-1']);
  t.regex(errors.items[0].message, /disk full.*not acknowledged/);
  t.true(l.usage().sessions >= 2);
  // Acknowledged the second time: after a new session the next message is the next receipt, not this one again.
  await l.close();
  await hub.publishAsync(downTopic('CM-CE-0005'), 'receipt-2', { qos: 1 });
  await l.open();
  await calls.until((c) => c.length === 3, 'the next receipt');
  t.is(calls.items[2], 'receipt-2');
});

test('a hub handler that throws (database down) does not acknowledge; the SDC comes again and its receipt reaches the centre', async (t) => {
  const b = await broker(t);
  let failures = 1;
  const seen = new Collector<string>();
  const errors = new Collector<TamtamError>();
  const hub = new MqttReceiver({
    url: b.url,
    clientId: 'hub-dbdown',
    shared: false,
    backoff: FAST,
    onError: (e) => errors.push(e),
    onUp: async (_centre, payload) => {
      seen.push(text(payload));
      if (failures-- > 0) throw new Error('database is down');
      return { reply: bytes(`receipt:${text(payload)}`) };
    },
  });
  t.teardown(() => hub.stop());
  await hub.start();
  const { link: l, received } = link(t, { url: b.url, centre: 'CM-CE-0006' });
  await l.open();
  await l.send(bytes('sdc-1'));
  await received.until((r) => r.length === 1, 'the receipt');
  t.deepEqual(seen.items, ['sdc-1', 'sdc-1']);
  t.regex(errors.items[0].message, /database is down/);
  // The receipt can reach the centre before the broker's PUBACK for it reaches the hub, which acknowledges the SDC only then.
  await pollUntil(() => hub.acknowledged, (n) => n === 1, 'the SDC acknowledged once', 10_000, 20);
  t.is(hub.acknowledged, 1);
});

test('two hubs on a shared subscription split the SDCs and together get every one', async (t) => {
  const b = await broker(t);
  const all = new Collector<string>();
  const one = receiver(t, { url: b.url, clientId: 'hub-a', shared: true, protocolVersion: 5 }, all);
  const two = receiver(t, { url: b.url, clientId: 'hub-b', shared: true, protocolVersion: 5 }, all);
  await Promise.all([one.receiver.start(), two.receiver.start()]);
  const { link: l, received } = link(t, { url: b.url, centre: 'CM-CE-0007' });
  await l.open();
  const n = 40;
  for (let i = 0; i < n; i++) await l.send(bytes(`sdc-${i}`));
  await all.until((a) => new Set(a).size === n, 'every SDC at one hub or the other');
  t.true(one.got.items.length > 0 && two.got.items.length > 0, `shares: ${one.got.items.length} + ${two.got.items.length}`);
  await received.until((r) => new Set(r).size === n, 'every receipt');
});

test('per-centre credentials: a wrong password fails open() at once with a clear message', async (t) => {
  const b = await broker(t, { 'CM-CE-0008': 'right' });
  const { link: bad } = link(t, { url: b.url, centre: 'CM-CE-0008', username: 'CM-CE-0008', password: 'wrong' });
  const e = await t.throwsAsync(bad.open());
  t.true(isTamtamError(e, 'E_LINK_DOWN'));
  t.false((e as TamtamError).retryable);
  t.regex(String(e?.message), /refused the credentials of 'CM-CE-0008'.*check the user name and password/);
  t.is(bad.state, 'down');
  const { link: good } = link(t, { url: b.url, centre: 'CM-CE-0008', username: 'CM-CE-0008', password: 'right' });
  await good.open();
  t.is(good.state, 'up');
});

test('the hub handles at most `concurrency` messages at once, one at a time per centre; stop() lets those in hand finish, queued ones come again', async (t) => {
  const b = await broker(t);
  const started = new Collector<string>();
  const releases = new Map<string, () => void>();
  const release = (p: string) => releases.get(p)?.();
  let inFlight = 0;
  let most = 0;
  const busy = new Set<string>();
  let overlapSameCentre = false;
  const hub = new MqttReceiver({
    url: b.url,
    clientId: 'hub-limit',
    shared: false,
    concurrency: 2,
    onUp: async (centre, payload) => {
      if (busy.has(centre)) overlapSameCentre = true;
      busy.add(centre);
      most = Math.max(most, ++inFlight);
      started.push(text(payload));
      await new Promise<void>((resolve) => releases.set(text(payload), resolve));
      inFlight--;
      busy.delete(centre);
      return {};
    },
  });
  t.teardown(async () => {
    for (const r of releases.values()) r();
    await hub.stop();
  });
  await hub.start();
  const links = ['CM-CE-0010', 'CM-CE-0011', 'CM-CE-0012'].map((centre) => link(t, { url: b.url, centre }).link);
  await Promise.all(links.map((l) => l.open()));
  for (const [i, l] of links.entries()) for (const n of [1, 2]) await l.send(bytes(`c${i}-${n}`));

  await started.until((s) => s.length === 2, 'two messages in hand');
  t.deepEqual(started.items, ['c0-1', 'c1-1'], "the third waits, and c0-2 waits for c0-1 (its centre's turn)");
  // Each release frees a slot for the oldest message whose centre is free.
  for (const [done, next] of [['c0-1', 'c0-2'], ['c1-1', 'c1-2'], ['c0-2', 'c2-1']]) {
    release(done);
    await started.until((s) => s.includes(next), `${next} to start`);
  }
  t.is(most, 2);
  t.false(overlapSameCentre, 'two messages of one centre were never handled at once');

  // c1-2 and c2-1 in hand, c2-2 queued behind c2-1: stop() waits for the two, which are acknowledged.
  const stopping = hub.stop();
  release('c1-2');
  release('c2-1');
  await stopping;
  t.is(hub.acknowledged, 5);
  t.is(hub.state, 'down');

  // The same hub identity gets again only what was not acknowledged.
  const again = new Collector<string>();
  const after = new MqttReceiver({ url: b.url, clientId: 'hub-limit', shared: false, onUp: async (_c, p) => (again.push(text(p)), {}) });
  t.teardown(() => after.stop());
  await after.start();
  await links[0].send(bytes('marker'));
  await again.until((a) => a.includes('marker'), 'the marker');
  t.deepEqual(again.items, ['c2-2', 'marker']);
});

test('open() gives up after openTimeoutMs when no broker answers, with E_LINK_DOWN (retryable) saying what to check', async (t) => {
  const url = `mqtt://127.0.0.1:${await freePort()}`;
  const { link: l, states } = link(t, { url, centre: 'CM-CE-0013', openTimeoutMs: 600 });
  const e = await t.throwsAsync(l.open());
  t.true(isTamtamError(e, 'E_LINK_DOWN') && e.retryable);
  t.regex(String(e?.message), /could not connect to the MQTT broker at mqtt:\/\/127\.0\.0\.1:\d+ within 600 ms \(last error: cannot connect.*ECONNREFUSED.*\); check the URL/);
  t.is(l.state, 'down');
  t.deepEqual(states.items, ['connecting', 'down']);
});
