import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dialer } from '../common/byte-stream.js';
import { builtInProfile, sessionCost, type LinkProfile } from '../agent/link/link-profile.js';
import type { LinkState } from '../agent/link/link.js';
import { StreamLink } from '../agent/link/stream-link.js';
import type { StreamTimeouts } from '../agent/link/stream-timeouts.js';
import { TcpDialer } from '../agent/link/tcp-dialer.js';
import { MemoryOutboundStore } from '../hub/receivers/outbound-store.js';
import { StreamReceiver, type CentreStatus, type StreamReceiverOptions } from '../hub/receivers/stream-receiver.js';
import { encodeFrame, FrameType } from '../protocol/chunk/index.js';
import { isTamtamError, TamtamError } from '../protocol/errors.js';
import { helloFrame } from '../protocol/session/index.js';
import { freePort } from '../scripts/services/free-port.js';
import { TcpCutProxy, type ProxyPlan } from './helpers/tcp-cut-proxy.js';
import { Collector } from './helpers/collector.js';

const HOST = '127.0.0.1';
const PROFILE: LinkProfile = { ...(builtInProfile('internet') as LinkProfile), name: 'test', rttMs: 20, chunkBytes: 1024, maxSessionSeconds: 600 };
const TIMEOUTS: Partial<StreamTimeouts> = { rtoMs: 150, maxRtoMs: 600, idleMs: 5000, closeGraceMs: 1500, welcomeMs: 3000 };
const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

interface Hub {
  rx: StreamReceiver;
  got: Collector<{ centre: string; sdc: Uint8Array }>;
  errors: Collector<TamtamError>;
  outbound: MemoryOutboundStore;
}

async function startHub(t: ExecutionContext, o: Partial<StreamReceiverOptions> = {}): Promise<Hub> {
  const got = new Collector<{ centre: string; sdc: Uint8Array }>();
  const errors = new Collector<TamtamError>();
  const outbound = (o.outbound as MemoryOutboundStore | undefined) ?? new MemoryOutboundStore();
  const rx = new StreamReceiver({
    port: 0, rttMs: 20, centreStatus: async () => 'ok', outbound, onError: (e) => errors.push(e),
    onUp: async (centre, sdc) => {
      got.push({ centre, sdc });
      return { reply: new TextEncoder().encode(`receipt:${digest(sdc)}`) };
    },
    ...o,
  });
  await rx.start();
  t.teardown(() => rx.stop());
  return { rx, got, errors, outbound };
}

interface Agent {
  link: StreamLink;
  replies: Collector<string>;
  states: Collector<LinkState>;
  errors: Collector<TamtamError>;
}

function agent(t: ExecutionContext, dialer: Dialer | number, o: { centre?: string; profile?: Partial<LinkProfile>; timeouts?: Partial<StreamTimeouts>; handler?: (p: Uint8Array) => Promise<void> | void } = {}): Agent {
  const replies = new Collector<string>();
  const states = new Collector<LinkState>();
  const errors = new Collector<TamtamError>();
  const link = new StreamLink({
    centre: o.centre ?? 'CM-CE-TEST-0001',
    dialer: typeof dialer === 'number' ? new TcpDialer({ host: HOST, port: dialer }) : dialer,
    profile: { ...PROFILE, ...o.profile },
    timeouts: { ...TIMEOUTS, ...o.timeouts },
  });
  link.onMessage(o.handler ?? ((p) => replies.push(text(p))));
  link.onStateChange((s) => states.push(s));
  link.onError((e) => errors.push(e));
  t.teardown(() => link.close());
  return { link, replies, states, errors };
}

async function proxy(t: ExecutionContext, port: number, plan: (i: number) => ProxyPlan = () => ({}), seed = 1): Promise<TcpCutProxy> {
  const p = new TcpCutProxy({ host: HOST, port }, plan, seed);
  await p.start();
  t.teardown(() => p.stop());
  return p;
}

async function rejection(t: ExecutionContext, p: Promise<unknown>): Promise<TamtamError> {
  const e = await t.throwsAsync(p);
  if (!(e instanceof TamtamError)) throw new Error(`expected a TamtamError, got ${String(e)}`);
  return e;
}

const KB300 = 300 * 1024;

test('1 B, 10 KB and 300 KB arrive intact and once; receipts come back; usage counts every byte', async (t) => {
  const hub = await startHub(t);
  const a = agent(t, hub.rx.port);
  await a.link.open();
  t.is(a.link.state, 'up');
  const sdcs = [1, 10_000, KB300].map((n) => new Uint8Array(randomBytes(n)));
  await Promise.all(sdcs.map((s) => a.link.send(s)));
  t.deepEqual(hub.got.items.map((g) => digest(g.sdc)).sort(), sdcs.map(digest).sort(), 'each once, intact');
  t.true(hub.got.items.every((g) => g.centre === 'CM-CE-TEST-0001'));
  await a.replies.until((r) => r.length === 3, 'three receipts');
  t.deepEqual(a.replies.items.sort(), sdcs.map((s) => `receipt:${digest(s)}`).sort());
  await a.link.close();
  t.is(a.link.state, 'down');
  t.deepEqual(a.states.items, ['connecting', 'up', 'down']);
  t.deepEqual(await hub.outbound.pending('CM-CE-TEST-0001'), [], 'every receipt confirmed');
  const u = a.link.usage();
  const h = hub.rx.stats();
  t.like(u, { messagesUp: 3, messagesDown: 3, sessions: 1, bytesUp: h.bytesIn, bytesDown: h.bytesOut });
  t.true(u.airtimeMs > 0);
  t.is(h.sdcsTaken, 3);
  t.is(h.repliesDelivered, 3);
});

test('link efficiency of a clean 300 KB SDC with 1024-byte chunks is at least 0.95', async (t) => {
  const hub = await startHub(t, { onUp: async () => ({}) });
  const a = agent(t, hub.rx.port);
  await a.link.open();
  await a.link.send(new Uint8Array(randomBytes(KB300)));
  await a.link.close();
  const u = a.link.usage();
  const efficiency = KB300 / (u.bytesUp + u.bytesDown);
  t.log(`300 KB SDC: ${u.bytesUp} B up, ${u.bytesDown} B down, whole session (Hello to Bye): efficiency ${efficiency.toFixed(4)}`);
  t.true(efficiency >= 0.95);
});

test('ten SDCs on a 200 ms round trip take one round trip, not ten', async (t) => {
  const hub = await startHub(t, { rttMs: 200 });
  const px = await proxy(t, hub.rx.port, () => ({ delayMs: 100 }));
  const a = agent(t, px.port, { profile: { rttMs: 200 }, timeouts: { rtoMs: 1000, maxRtoMs: 2000 } });
  await a.link.open();
  const sdcs = Array.from({ length: 10 }, () => new Uint8Array(randomBytes(2000)));
  const started = Date.now();
  await Promise.all(sdcs.map((s) => a.link.send(s)));
  const ms = Date.now() - started;
  t.log(`10 SDCs of 2000 B, 200 ms round trip: all taken in ${ms} ms`);
  t.true(ms < 4 * 200, `${ms} ms; one round trip each would be 2000 ms`);
  t.is(hub.got.items.length, 10);
});

test('a call cut mid-transfer resumes next session; the bytes sent are far less than twice the SDC', async (t) => {
  const hub = await startHub(t);
  const px = await proxy(t, hub.rx.port, (i) => (i === 0 ? { cutAfterUp: 150_000 } : {}));
  const a = agent(t, px.port);
  const sdc = new Uint8Array(randomBytes(KB300));
  await a.link.open();
  const e = await rejection(t, a.link.send(sdc));
  t.is(e.code, 'E_LINK_DOWN');
  t.true(e.retryable);
  t.is(a.link.state, 'down');
  await a.link.open();
  await a.link.send(sdc);
  await a.replies.until((r) => r.length === 1, 'the receipt');
  await a.link.close();
  t.deepEqual(hub.got.items.map((g) => digest(g.sdc)), [digest(sdc)], 'taken once');
  const u = a.link.usage();
  // What crossed the line (the proxy's count): bytes the agent's kernel held when the call dropped never left.
  const line = px.stats.up;
  t.log(`300 KB cut at 150,000 B: ${line} B crossed the link up over ${u.sessions} calls (${(line / KB300).toFixed(3)} × the SDC); the agent wrote ${u.bytesUp} B`);
  t.is(u.sessions, 2);
  t.true(line < 1.1 * KB300);
  t.true(u.bytesUp < 2 * KB300);
});

test('a hub restart with a state folder resumes the partial transfer; damaged files are skipped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-stream-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const first = await startHub(t, { stateDir: dir });
  let port = first.rx.port;
  const px = await proxy(t, port, (i) => (i === 0 ? { cutAfterUp: 120_000 } : {}));
  const a = agent(t, px.port);
  const sdc = new Uint8Array(randomBytes(KB300));
  await a.link.open();
  await rejection(t, a.link.send(sdc));
  await first.rx.stop();
  const folder = join(dir, 'c-CM-CE-TEST-0001');
  t.is(readdirSync(folder).filter((n) => n.endsWith('.tpart')).length, 1);
  writeFileSync(join(folder, '00000001.tpart'), 'not a transfer');
  writeFileSync(join(folder, 'notes.txt'), 'ignored');
  const second = await startHub(t, { stateDir: dir });
  port = second.rx.port;
  t.is(second.errors.items.length, 1, 'the damaged file is reported');
  t.is(second.errors.items[0].code, 'E_BAD_MAGIC');
  const px2 = await proxy(t, port);
  const b = agent(t, px2.port);
  await b.link.open();
  await b.link.send(sdc);
  await b.link.close();
  t.deepEqual(second.got.items.map((g) => digest(g.sdc)), [digest(sdc)]);
  const resumed = b.link.usage().bytesUp;
  t.log(`after the restart: ${resumed} B up for a 300 KB SDC cut at 120,000 B`);
  t.true(resumed < KB300 - 100_000);
  t.deepEqual(readdirSync(folder).filter((n) => n.endsWith('.tpart')), [], 'nothing partial left on disk');
});

test('a reply whose confirmation was lost to a dropped call is delivered next session, and handled once', async (t) => {
  const hub = await startHub(t);
  const px = await proxy(t, hub.rx.port);
  const handled: string[] = [];
  const a = agent(t, px.port, {
    handler: (p) => {
      handled.push(text(p));
      // The call drops while the agent applies the receipt: the hub never hears it was taken.
      if (handled.length === 1) px.cutAll();
    },
  });
  const sdc = new Uint8Array(randomBytes(5000));
  await a.link.open();
  await a.link.send(sdc);
  await a.states.until((s) => s.at(-1) === 'down', 'the call to drop');
  t.is((await hub.outbound.pending('CM-CE-TEST-0001')).length, 1, 'still waiting at the hub');
  await a.link.open();
  await a.link.close();
  t.deepEqual(await hub.outbound.pending('CM-CE-TEST-0001'), [], 'confirmed on the second call');
  t.deepEqual(handled, [`receipt:${digest(sdc)}`], 'the same process does not apply it twice');
  // An agent that restarted before confirming gets it again.
  await hub.outbound.put('CM-CE-TEST-0001', new TextEncoder().encode('late receipt'));
  const b = agent(t, px.port);
  await b.link.open();
  await b.replies.until((r) => r.length === 1, 'the waiting receipt');
  await b.link.close();
  t.deepEqual(b.replies.items, ['late receipt']);
  t.deepEqual(await hub.outbound.pending('CM-CE-TEST-0001'), []);
});

test('an agent handler failure: the receipt is declined for the call and handled again on the next one', async (t) => {
  const hub = await startHub(t);
  const seen: string[] = [];
  const a = agent(t, hub.rx.port, {
    handler: (p) => {
      seen.push(text(p));
      if (seen.length === 1) throw new Error('journal locked');
    },
  });
  const sdc = new Uint8Array(randomBytes(3000));
  await a.link.open();
  await a.link.send(sdc);
  await a.errors.until((e) => e.length === 1, 'the handler failure report');
  await a.link.close();
  t.is((await hub.outbound.pending('CM-CE-TEST-0001')).length, 1, 'not confirmed, still waiting at the hub');
  await hub.errors.until((e) => e.some((x) => /did not take reply/.test(x.message)), 'the hub hearing the decline');
  await a.link.open();
  await a.link.close();
  t.deepEqual(seen, [`receipt:${digest(sdc)}`, `receipt:${digest(sdc)}`]);
  t.deepEqual(await hub.outbound.pending('CM-CE-TEST-0001'), []);
});

test('a hub handler failure declines the SDC; sent again, it is taken without its chunks travelling twice', async (t) => {
  let calls = 0;
  const hub = await startHub(t, {
    onUp: async (_c, sdc) => {
      if (++calls === 1) throw new Error('database unavailable');
      return { reply: new TextEncoder().encode(`receipt:${digest(sdc)}`) };
    },
  });
  const a = agent(t, hub.rx.port);
  const sdc = new Uint8Array(randomBytes(50_000));
  await a.link.open();
  const e = await rejection(t, a.link.send(sdc));
  t.true(e.retryable);
  t.is(e.code, 'E_INTERNAL');
  await hub.errors.until((x) => x.length === 1, 'the handler failure report');
  t.regex(hub.errors.items[0].message, /database unavailable/);
  const before = a.link.usage().bytesUp;
  await a.link.send(sdc);
  t.true(a.link.usage().bytesUp - before < 100, 'a StatusRequest, no chunk');
  await a.replies.until((r) => r.length === 1, 'the receipt');
  t.is(calls, 2);
  await a.link.close();
});

test('an unknown or suspended centre is refused with its code; a hub that cannot check says busy', async (t) => {
  const status: Record<string, CentreStatus> = { 'CM-UNKNOWN': 'unknown', 'CM-SUSPENDED': 'suspended' };
  const hub = await startHub(t, {
    centreStatus: async (m) => {
      if (m === 'CM-BROKEN') throw new Error('registry down');
      return status[m] ?? 'ok';
    },
  });
  const unknown = agent(t, hub.rx.port, { centre: 'CM-UNKNOWN' });
  const e1 = await rejection(t, unknown.link.open());
  t.is(e1.code, 'E_UNKNOWN_SIGNER');
  t.false(e1.retryable);
  t.is(unknown.link.state, 'down');
  const suspended = agent(t, hub.rx.port, { centre: 'CM-SUSPENDED' });
  const e2 = await rejection(t, suspended.link.open());
  t.is(e2.code, 'E_SUSPENDED');
  t.false(e2.retryable);
  const broken = agent(t, hub.rx.port, { centre: 'CM-BROKEN' });
  const e3 = await rejection(t, broken.link.open());
  t.is(e3.code, 'E_LINK_DOWN');
  t.true(e3.retryable);
  t.is(hub.rx.stats().refused, 3);
  const small = await startHub(t, { maxCalls: 1 });
  const first = agent(t, small.rx.port);
  await first.link.open();
  const e4 = await rejection(t, agent(t, small.rx.port, { centre: 'CM-OTHER' }).link.open());
  t.is(e4.code, 'E_LINK_DOWN');
  t.true(e4.retryable, 'a busy hub is called again later');
});

test('bit errors (BER 1e-4) and noise both ways: every payload and receipt arrives intact', async (t) => {
  const hub = await startHub(t);
  const px = await proxy(t, hub.rx.port, () => ({ ber: 1e-4, noise: 0.05 }), 42);
  const a = agent(t, px.port, { profile: { chunkBytes: 256 } });
  await a.link.open();
  const sdcs = [1, 3000, 20_000, 60_000].map((n) => new Uint8Array(randomBytes(n)));
  await Promise.all(sdcs.map((s) => a.link.send(s)));
  await a.replies.until((r) => r.length === sdcs.length, 'every receipt');
  await a.link.close();
  t.deepEqual(hub.got.items.map((g) => digest(g.sdc)).sort(), sdcs.map(digest).sort());
  t.deepEqual(a.replies.items.sort(), sdcs.map((s) => `receipt:${digest(s)}`).sort());
  const line = a.link.lineStats();
  t.log(`${px.stats.flippedBits} bits flipped, ${px.stats.noiseBytes} noise bytes; agent skipped ${line.bytesDropped} B (${line.crcErrors} CRC errors), resent ${line.resent} frames; hub skipped ${hub.rx.stats().bytesDropped} B`);
  t.true(px.stats.flippedBits > 0);
  t.true(hub.rx.stats().bytesDropped > 0);
});

test('garbage, an HTTP client, a huge length and half-open sockets do not crash the server', async (t) => {
  const hub = await startHub(t, { helloTimeoutMs: 300 });
  const port = hub.rx.port;
  const closed = (s: Socket) => new Promise<void>((resolve) => s.once('close', () => resolve()));
  const raw = async (bytes: Uint8Array | string, end = false) => {
    const s = connect(port, HOST);
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    s.write(bytes);
    if (end) s.end();
    return s;
  };
  const sockets = await Promise.all([
    raw('GET / HTTP/1.1\r\nHost: hub\r\n\r\n'),
    raw(new Uint8Array(randomBytes(100_000))),
    raw(Uint8Array.of(0x54, 0x46, 0x01, 0x01, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, ...randomBytes(200))),
    raw(encodeFrame({ type: FrameType.Chunk, transferId: 7, index: 0, payload: new Uint8Array(64) })),
    raw(helloFrame({ centre: 'CM-CE-TEST-0002', chunkSize: 256, maxPayload: 256 }).subarray(0, 10), true),
    raw(''),
  ]);
  // A good Hello, then garbage where frames should be, then silence.
  const noisy = await raw(helloFrame({ centre: 'CM-CE-TEST-0003', chunkSize: 256, maxPayload: 256 }));
  noisy.write(new Uint8Array(randomBytes(5000)));
  await Promise.all(sockets.map(closed));
  t.pass('the server hung up on every silent or garbled caller');
  const a = agent(t, port);
  await a.link.open();
  const sdc = new Uint8Array(randomBytes(4000));
  await a.link.send(sdc);
  await a.link.close();
  t.is(hub.got.items.at(-1)?.sdc.length, 4000);
  noisy.destroy();
});

test('abort signals: before dialling, while waiting for the Welcome, and while sending', async (t) => {
  let release = () => {};
  const hub = await startHub(t, {
    centreStatus: (m) => (m === 'CM-SLOW' ? new Promise<CentreStatus>((resolve) => (release = () => resolve('ok'))) : Promise.resolve('ok')),
  });
  const a = agent(t, hub.rx.port);
  const early = new AbortController();
  early.abort();
  t.is((await rejection(t, a.link.open(early.signal))).code, 'E_ABORTED');
  t.is(a.link.state, 'down');
  const slow = agent(t, hub.rx.port, { centre: 'CM-SLOW' });
  const mid = new AbortController();
  const opening = slow.link.open(mid.signal);
  await slow.states.until((s) => s.includes('connecting'), 'dialling');
  mid.abort();
  t.is((await rejection(t, opening)).code, 'E_ABORTED');
  t.is(slow.link.state, 'down');
  release();
  const px = await proxy(t, hub.rx.port, () => ({ bytesPerSecond: 100_000 }));
  const b = agent(t, px.port);
  await b.link.open();
  const gone = new AbortController();
  gone.abort();
  t.is((await rejection(t, b.link.send(new Uint8Array(10), gone.signal))).code, 'E_ABORTED');
  const cancel = new AbortController();
  const big = b.link.send(new Uint8Array(randomBytes(200_000)), cancel.signal);
  const small = b.link.send(new Uint8Array(randomBytes(1000)));
  setTimeout(() => cancel.abort(), 100);
  t.is((await rejection(t, big)).code, 'E_ABORTED');
  await small;
  t.is(b.link.state, 'up', 'an aborted send leaves the call up');
  await b.link.close();
});

test('the call is hung up at the profile session limit; pending sends reject E_LINK_DOWN, retryable', async (t) => {
  const hub = await startHub(t);
  const px = await proxy(t, hub.rx.port, () => ({ bytesPerSecond: 50_000 }));
  const a = agent(t, px.port, { profile: { maxSessionSeconds: 0.6 } });
  await a.link.open();
  const e = await rejection(t, a.link.send(new Uint8Array(randomBytes(200_000))));
  t.is(e.code, 'E_LINK_DOWN');
  t.true(e.retryable);
  t.regex(e.message, /limit/);
  t.deepEqual(a.states.items, ['connecting', 'up', 'down']);
  const u = a.link.usage();
  // The 200 KB would take 4 s at the proxy's rate: a call that ends sooner was hung up at the limit (plus the grace to say Bye).
  t.true(u.airtimeMs >= 600 && u.airtimeMs < 4000, `${u.airtimeMs} ms`);
});

test('a dead call (nothing heard while waiting) is hung up by the idle watchdog', async (t) => {
  const hub = await startHub(t);
  const plan: ProxyPlan = {};
  const px = await proxy(t, hub.rx.port, () => plan);
  const a = agent(t, px.port, { timeouts: { idleMs: 600 } });
  await a.link.open();
  plan.blackhole = true;
  const e = await rejection(t, a.link.send(new Uint8Array(randomBytes(3000))));
  t.is(e.code, 'E_LINK_DOWN');
  t.true(e.retryable);
  t.regex(e.message, /nothing heard/);
  t.is(a.link.state, 'down');
});

test('a redial while the hub still holds the old call: the new call takes over', async (t) => {
  const hub = await startHub(t);
  const a = agent(t, hub.rx.port);
  const b = agent(t, hub.rx.port);
  await a.link.open();
  await b.link.open();
  await a.states.until((s) => s.at(-1) === 'down', 'the old call to end');
  await b.link.send(new Uint8Array(randomBytes(2000)));
  await b.link.close();
  t.is(hub.got.items.length, 1);
});

test('usage: cost per call under a priced profile, and the TCP dialer names a refused address', async (t) => {
  const hub = await startHub(t);
  const certus = builtInProfile('iridium-certus-100') as LinkProfile;
  const priced = { perKbUsd: certus.perKbUsd, incrementBytes: certus.incrementBytes, minBytesPerSession: certus.minBytesPerSession };
  const a = agent(t, hub.rx.port, { profile: priced });
  for (let i = 0; i < 2; i++) {
    await a.link.open();
    await a.link.send(new Uint8Array(randomBytes(3000)));
    await a.link.close();
  }
  const u = a.link.usage();
  t.is(u.sessions, 2);
  // Each call is billed at least 5 KB; two calls of ~3.2 KB each cost two minimums, not one.
  const minimum = sessionCost({ ...PROFILE, ...priced }, { bytesUp: 1, bytesDown: 0, seconds: 0 });
  t.is(Math.round(u.costUsd * 1e6), Math.round(2 * minimum * 1e6));
  const closedPort = await freePort();
  const e = await rejection(t, new TcpDialer({ host: HOST, port: closedPort }).dial());
  t.is(e.code, 'E_LINK_DOWN');
  t.true(e.retryable);
  t.true(e.message.includes(`${HOST}:${closedPort}`));
  t.true(isTamtamError(e));
});
