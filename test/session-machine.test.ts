import test from 'ava';
import { createHash } from 'node:crypto';
import { Chunker, decodeFrame, encodeFrame, FrameType, Reassembler, type ChunkStatus } from '../protocol/chunk/index.js';
import { encodeChunkStatus } from '../protocol/chunk/chunk-status.js';
import { helloFrame, reasonError, SessionMachine, TransferReceiver, welcomeFrame } from '../protocol/session/index.js';
import { TamtamError } from '../protocol/errors.js';
import { seededRandom as prng } from './helpers/acts.js';
import { simulate, TIMING, TRACE } from './helpers/session-sim.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const randomBytes = (rng: () => number, n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rng() * 256));
const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const idOf = (sdc: Uint8Array): number => new Chunker(sdc, { chunkSize: 256 }).transferId;
const SIZES = [1, 255, 256, 257, 10_000, 100_000];

test('clean link: every SDC arrives intact and once, with no resend', (t) => {
  const rng = prng(7);
  const sdcs = SIZES.map((n) => randomBytes(rng, n));
  const r = simulate(sdcs);
  t.is(r.failed.length, 0);
  t.is(r.sent.length, sdcs.length);
  t.deepEqual(r.hubGot.map(digest).sort(), sdcs.map(digest).sort());
  t.is(r.caller.stats().resent, 0);
  const chunks = sdcs.reduce((n, s) => n + Math.ceil(s.length / 256), 0);
  t.is(r.chunkFramesUp, chunks);
  t.is(r.statusRequestsUp, sdcs.length);
});

test('ten SDCs in one session cost one round trip in all, not one each', (t) => {
  const rng = prng(8);
  const sdcs = Array.from({ length: 10 }, () => randomBytes(rng, 2000));
  const delayMs = 800;
  const r = simulate(sdcs, { delayMs, bytesPerMs: 2.75 /* 22 kbps */, caller: { chunkSize: 1024 }, trace: TRACE });
  t.is(r.sent.length, 10);
  const airtime = r.bytesUp / 2.75;
  t.log(`10 × 2000 B at 22 kbps, rtt 1.6 s: ${Math.round(r.timeMs)} ms, of which ${Math.round(airtime)} ms sending`);
  // Handshake (one round trip) + sending + the last status: under three round trips beyond the sending time.
  t.true(r.timeMs < airtime + 3 * 2 * delayMs, `${r.timeMs} ms`);
});

for (const [name, faults, seed] of [
  ['loss 10 %', { loss: 0.1 }, 11],
  ['duplicates 20 %', { duplicate: 0.2 }, 12],
  ['reordering 20 %', { reorder: 0.2 }, 13],
  ['loss, duplicates, reordering and noise together', { loss: 0.08, duplicate: 0.1, reorder: 0.1, noise: 0.1 }, 14],
] as const) {
  test(`${name} both ways: everything arrives intact, once`, (t) => {
    const rng = prng(seed);
    const sdcs = SIZES.map((n) => randomBytes(rng, n));
    const r = simulate(sdcs, { seed, up: faults, down: faults, replies: true, trace: TRACE });
    t.deepEqual(r.failed, []);
    t.is(r.sent.length, sdcs.length);
    t.deepEqual(r.hubGot.map(digest).sort(), sdcs.map(digest).sort(), 'each SDC handed to the hub exactly once');
    t.is(r.agentGot.length, sdcs.length, 'each reply handed to the agent exactly once');
    const chunks = sdcs.reduce((n, s) => n + Math.ceil(s.length / 256), 0);
    t.log(`${r.chunkFramesUp} chunk frames for ${chunks} chunks, ${r.caller.stats().resent} resent, ${Math.round(r.timeMs)} ms`);
  });
}

test('a cut call resumes from the partial the hub announces: no chunk it holds is sent again', (t) => {
  const rng = prng(21);
  const sdc = randomBytes(rng, 50_000);
  const hubReceiver = new TransferReceiver();
  const first = simulate([sdc], { hubReceiver, cutAfterUp: 25_000 });
  t.true(first.cut);
  const held = hubReceiver.status(idOf(sdc));
  const missing = held.missing.reduce((n, r) => n + r.count, 0);
  t.true(missing > 0 && missing < 196, `${missing} missing`);
  const second = simulate([sdc], { hubReceiver });
  t.is(second.sent.length, 1);
  t.deepEqual(second.hubGot.map(digest), [digest(sdc)]);
  t.is(second.chunkFramesUp, missing, 'exactly the missing chunks');
  t.is(second.statusRequestsUp, 1);
  // Frames (7 % overhead with 256-byte chunks), the manifest, and what was in flight when the call dropped (one-way delay × rate): nothing else is paid twice.
  t.true(first.bytesUp + second.bytesUp < 1.08 * sdc.length + 10_000 + 4000, `${first.bytesUp} + ${second.bytesUp} bytes`);
});

test('a hub restart loses nothing it saved: snapshots resume, a damaged chunk costs one resend', (t) => {
  const rng = prng(22);
  const sdc = randomBytes(rng, 20_000);
  const before = new TransferReceiver();
  simulate([sdc], { hubReceiver: before, cutAfterUp: 12_000 });
  const [snap] = before.exportTransfers();
  const data = snap.data.slice();
  data[10] ^= 0xff;
  const after = new TransferReceiver();
  t.deepEqual(after.importTransfer({ ...snap, data }), { dropped: 1, whole: false });
  const missing = after.status(snap.transferId).missing.reduce((n, r) => n + r.count, 0);
  const r = simulate([sdc], { hubReceiver: after });
  t.is(r.chunkFramesUp, missing);
  t.deepEqual(r.hubGot.map(digest), [digest(sdc)]);
});

test('the hub holds the status while its application works, then says complete', (t) => {
  const rng = prng(23);
  const sdcs = [randomBytes(rng, 3000), randomBytes(rng, 3000)];
  const r = simulate(sdcs, { handlerMs: 5000 });
  t.is(r.sent.length, 2);
  t.true(r.timeMs >= 5000);
  t.is(r.caller.stats().resent, 0, '"not yet" answers cause no resend');
});

test('application failure: declined for the session; the next one resumes with no chunk and retries', (t) => {
  const rng = prng(24);
  const sdc = randomBytes(rng, 9000);
  const hubReceiver = new TransferReceiver();
  const first = simulate([sdc], { hubReceiver, hubTakes: () => false });
  t.is(first.failed.length, 1);
  t.is(first.failed[0].error.code, 'E_INTERNAL');
  t.true(first.failed[0].error.retryable);
  t.is(first.hubGot.length, 0);
  // A hub restart in between changes nothing: the whole SDC is in the snapshot.
  const restarted = new TransferReceiver();
  for (const s of hubReceiver.exportTransfers()) t.true(restarted.importTransfer(s).whole);
  const second = simulate([sdc], { hubReceiver: restarted });
  t.is(second.sent.length, 1);
  t.is(second.chunkFramesUp, 0);
  t.deepEqual(second.hubGot.map(digest), [digest(sdc)]);
});

test('a call dropped while the hub works: the next Welcome says complete and nothing is sent again', (t) => {
  const rng = prng(25);
  const sdc = randomBytes(rng, 4000);
  const hubReceiver = new TransferReceiver();
  const first = simulate([sdc], { hubReceiver, handlerMs: 10_000, limitMs: 2000 });
  t.is(first.sent.length, 0);
  first.answerer.taken(idOf(sdc));
  const second = simulate([sdc], { hubReceiver });
  t.is(second.sent.length, 1);
  t.is(second.chunkFramesUp, 0);
  t.is(second.statusRequestsUp, 0);
});

test('a status for another chunk size re-cuts the SDC and sends only what is missing', (t) => {
  const rng = prng(26);
  const sdc = randomBytes(rng, 30_000);
  const hubReceiver = new TransferReceiver();
  simulate([sdc], { hubReceiver, caller: { chunkSize: 512 }, cutAfterUp: 15_000 });
  const [snap] = hubReceiver.exportTransfers();
  const missing = hubReceiver.status(snap.transferId).missing.reduce((n, r) => n + r.count, 0);
  const r = simulate([sdc], { hubReceiver, caller: { chunkSize: 1024 } });
  t.is(r.sent.length, 1);
  t.is(r.chunkFramesUp, missing);
  t.deepEqual(r.hubGot.map(digest), [digest(sdc)]);
});

test('statuses lost before the Welcome: unlisted transfers are asked about before being sent', (t) => {
  const rng = prng(27);
  const a = randomBytes(rng, 20_000);
  const b = randomBytes(rng, 20_000);
  const hubReceiver = new TransferReceiver();
  for (const sdc of [a, b]) {
    for (const f of new Chunker(sdc, { chunkSize: 256 }).frames()) if (f[3] === FrameType.Manifest || rng() < 0.6) hubReceiver.accept(decodeFrame(f));
  }
  const missing = [a, b].map((x) => hubReceiver.status(idOf(x)).missing.reduce((n, r) => n + r.count, 0));
  t.true(missing.every((m) => m > 10 && m < 60), `${missing} missing`);
  let statuses = 0;
  const r = simulate([a, b], { hubReceiver, dropDown: (f) => f[3] === FrameType.Status && statuses++ === 0 });
  t.is(r.sent.length, 2);
  t.is(r.chunkFramesUp, missing[0] + missing[1], 'nothing sent from zero');
  t.is(r.statusRequestsUp, 3, 'one probe, one request each');
});

test('a lost StatusRequest or Status is asked again after the timeout', (t) => {
  const rng = prng(28);
  const sdc = randomBytes(rng, 600);
  const caller = new SessionMachine({ role: 'caller', centre: 'C1', chunkSize: 256, ...TIMING }, 0);
  const answerer = new SessionMachine({ role: 'answerer', chunkSize: 1024, ...TIMING }, 0);
  const hub = new TransferReceiver();
  const flush = (from: SessionMachine, to: SessionMachine, now: number, drop?: (f: Uint8Array) => boolean) => {
    const out: Uint8Array[] = [];
    for (let f = from.next(now); f; f = from.next(now)) out.push(f);
    for (const f of out) if (!drop?.(f)) to.receive(f, now);
    return out;
  };
  caller.send(sdc);
  flush(caller, answerer, 0);
  for (const e of answerer.takeEvents()) if (e.kind === 'hello') answerer.accept(hub, 0);
  flush(answerer, caller, 10);
  t.deepEqual(caller.takeEvents().map((e) => e.kind), ['welcome']);
  const up = flush(caller, answerer, 20, (f) => f[3] === FrameType.StatusRequest);
  t.deepEqual(up.map((f) => f[3]), [FrameType.Manifest, FrameType.Chunk, FrameType.Chunk, FrameType.Chunk, FrameType.StatusRequest]);
  t.is(caller.nextDeadline(), 20 + TIMING.rtoMs);
  t.is(caller.next(20 + TIMING.rtoMs - 1), undefined);
  const again = flush(caller, answerer, 20 + TIMING.rtoMs);
  t.is(decodeFrame(again[0]).index, 2, 'the second request has the next number');
  const received = answerer.takeEvents().find((e) => e.kind === 'received');
  t.truthy(received);
  answerer.taken((received as { transferId: number }).transferId);
  const answers = flush(answerer, caller, 500);
  // Request 2 is not answered while the hub works; "complete" is volunteered once it took the SDC.
  t.deepEqual(answers.map((f) => [decodeFrame(f).type, decodeFrame(f).index]), [[FrameType.Status, 0]]);
  t.deepEqual(caller.takeEvents().map((e) => e.kind), ['sent']);
  t.false(caller.outstanding());
});

test('a stale Status (answering an older request) does not trigger a second resend', (t) => {
  const rng = prng(29);
  const sdc = randomBytes(rng, 2560);
  const caller = new SessionMachine({ role: 'caller', centre: 'C1', chunkSize: 256, ...TIMING }, 0);
  const id = caller.send(sdc);
  caller.receive(welcomeFrame({ reason: 0, text: '', chunkSize: 256, maxPayload: 256, partials: 0 }), 0);
  const drain = (now: number) => { const out: Uint8Array[] = []; for (let f = caller.next(now); f; f = caller.next(now)) out.push(f); return out; };
  drain(0);
  drain(TIMING.rtoMs);
  const status = (index: number, missing: ChunkStatus['missing']) => encodeFrame({
    type: FrameType.Status, transferId: id, index,
    payload: statusPayload({ transferId: id, subject: 'chunks', complete: false, refused: false, chunkSize: 256, count: 10, base: missing[0].start, span: 10 - missing[0].start, missing }),
  });
  caller.receive(status(1, [{ start: 3, count: 2 }]), 500);
  const resend = drain(500);
  t.deepEqual(resend.map((f) => [f[3], decodeFrame(f).index]), [[FrameType.Chunk, 3], [FrameType.Chunk, 4], [FrameType.StatusRequest, 3]]);
  caller.receive(status(2, [{ start: 3, count: 2 }]), 600);
  t.deepEqual(drain(600), [], 'the answer to request 2 predates the resend');
});

test('two SDCs sharing a 32-bit transfer id: the second is refused while the first is in flight, and taken in the next session', (t) => {
  // Found by a birthday search: the first four bytes of their SHA-256 are 0dad3c1e.
  const a = new TextEncoder().encode('sdc-112653');
  const b = new TextEncoder().encode('sdc-180002');
  t.is(idOf(a), idOf(b));
  const caller = new SessionMachine({ role: 'caller', centre: 'C1', chunkSize: 256, ...TIMING }, 0);
  caller.send(a);
  const e = t.throws(() => caller.send(b), { instanceOf: TamtamError }) as TamtamError;
  t.is(e.code, 'E_BAD_INPUT');
  t.true(e.retryable);
  const hubReceiver = new TransferReceiver();
  t.is(simulate([a], { hubReceiver }).hubGot.length, 1);
  // The hub forgot the id once the session ended cleanly: b is not answered "complete" unseen.
  const second = simulate([b], { hubReceiver });
  t.deepEqual(second.hubGot.map(digest), [digest(b)]);
});

test('a long transfer is interrupted by checkpoints, which cause no resend', (t) => {
  const rng = prng(30);
  const sdc = randomBytes(rng, 256 * 40);
  const r = simulate([sdc], { bytesPerMs: 0.3, caller: { checkpointMs: 5000 } });
  t.is(r.sent.length, 1);
  t.true(r.statusRequestsUp >= 5, `${r.statusRequestsUp} requests`);
  t.is(r.caller.stats().resent, 0);
});

test('the answerer refuses a Hello of another version, and a caller learns why', (t) => {
  const answerer = new SessionMachine({ role: 'answerer', chunkSize: 1024, ...TIMING }, 0);
  const hello = helloFrame({ centre: 'C1', chunkSize: 256, maxPayload: 256 });
  const v2 = hello.slice();
  v2[14] = 2;
  answerer.receive(encodeFrame({ type: FrameType.Hello, transferId: 0, index: 0, payload: v2.subarray(14, v2.length - 4) }), 0);
  t.deepEqual(answerer.takeEvents().map((e) => e.kind), ['error']);
  t.is(answerer.state, 'refused');
  const caller = new SessionMachine({ role: 'caller', centre: 'C1', chunkSize: 256, ...TIMING }, 0);
  caller.receive(answerer.next(0) as Uint8Array, 0);
  const [e] = caller.takeEvents();
  t.is(e.kind, 'refused');
  t.is(reasonError((e as { welcome: { reason: number } }).welcome.reason, '', 'refused').code, 'E_LINK_DOWN');
});

test('noise before and between frames is skipped and counted', (t) => {
  const answerer = new SessionMachine({ role: 'answerer', chunkSize: 1024, ...TIMING }, 0);
  const garbage = new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\nTF\x01');
  answerer.receive(garbage, 0);
  answerer.receive(helloFrame({ centre: 'C1', chunkSize: 256, maxPayload: 256 }), 0);
  t.deepEqual(answerer.takeEvents().map((e) => e.kind), ['hello']);
  t.true(answerer.stats().parser.bytesDropped >= garbage.length);
});

test('Chunker and the sender agree on what a status asks for', (t) => {
  const rng = prng(31);
  const sdc = randomBytes(rng, 256 * 30 + 7);
  const chunker = new Chunker(sdc, { chunkSize: 256 });
  const rx = new Reassembler();
  const frames = chunker.frames();
  for (const f of frames) if (rng() < 0.6) rx.accept(decodeFrame(f));
  const s = rx.status(chunker.transferId);
  const caller = new SessionMachine({ role: 'caller', centre: 'C1', chunkSize: 256, ...TIMING }, 0);
  caller.receive(encodeFrame({ type: FrameType.Status, transferId: chunker.transferId, index: 0, payload: statusPayload(s) }), 0);
  caller.receive(welcomeFrame({ reason: 0, text: '', chunkSize: 256, maxPayload: 256, partials: 1 }), 0);
  caller.send(sdc);
  const out: Uint8Array[] = [];
  for (let f = caller.next(0); f; f = caller.next(0)) out.push(f);
  const expected = chunker.framesForStatus(s);
  t.deepEqual(out.slice(0, -1).map(hex), s.subject === 'chunks' ? expected.map(hex) : out.slice(0, -1).map(hex));
  t.is(out.at(-1)?.[3], FrameType.StatusRequest);
});

function statusPayload(s: ChunkStatus): Uint8Array {
  return encodeChunkStatus(s);
}
