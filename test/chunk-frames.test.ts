import test from 'ava';
import { readFileSync } from 'node:fs';
import { TamtamError } from '../protocol/errors.js';
import {
  Chunker, crc32, decodeChunkStatus, decodeFrame, decodeManifest, decodeManifestPart, decodeStatusRequest, describeBitmap, encodeChunkStatus,
  encodeFrame, encodeManifest, bitmapFor, setBit, FRAME_OVERHEAD, FrameParser, FrameType, Reassembler, type ChunkStatus, type Frame, type StatusEncoding,
} from '../protocol/chunk/index.js';
import { seededRandom as prng } from './helpers/acts.js';

interface Vectors {
  sdc: string; chunkSize: number; hashLength: number; transferId: number; sha256: string; manifest: string;
  manifestFrames: string[]; chunkFrames: string[];
  statusFrames: { name: string; encoding: StatusEncoding; status: ChunkStatus; frame: string }[];
  statusRequest: { maxStatusPayload: number; frame: string };
  crc32: { ascii: string; crc: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../test/vectors/chunks/chunk-vectors.json', import.meta.url), 'utf8')) as Vectors;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const sum = (frames: Uint8Array[]): number => frames.reduce((n, f) => n + f.length, 0);

const int = (rng: () => number, n: number): number => Math.floor(rng() * n);
const bytes = (rng: () => number, n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(rng, 256));
function shuffle<T>(rng: () => number, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) { const j = int(rng, i + 1); [xs[i], xs[j]] = [xs[j], xs[i]]; }
  return xs;
}

/** A link with bit errors at `ber` per bit, garbage between frames and frames cut short. */
function noisy(rng: () => number, frames: Uint8Array[], ber: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of frames) {
    if (rng() < 0.05) parts.push(rng() < 0.5 ? bytes(rng, 1 + int(rng, 40)) : Uint8Array.of(0x54, 0x46, 0x01, ...bytes(rng, int(rng, 30))));
    parts.push(rng() < 0.03 ? f.slice(0, int(rng, f.length)) : f.slice());
  }
  const out = Buffer.concat(parts);
  for (let bit = Math.floor(Math.log(1 - rng()) / Math.log(1 - ber)); bit < out.length * 8; bit += 1 + Math.floor(Math.log(1 - rng()) / Math.log(1 - ber))) {
    out[bit >>> 3] ^= 0x80 >>> (bit & 7);
  }
  return new Uint8Array(out);
}

function deliver(rx: Reassembler, frames: Uint8Array[]): Uint8Array[] {
  const done: Uint8Array[] = [];
  for (const f of frames) {
    const r = rx.accept(decodeFrame(f));
    if (r.kind === 'rejected') throw r.error;
    if (r.kind === 'complete') done.push(r.sdc);
  }
  return done;
}

test('CRC-32 matches the IEEE check value and the vectors', (t) => {
  t.is(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  for (const v of vectors.crc32) t.is(crc32(new TextEncoder().encode(v.ascii)).toString(16).padStart(8, '0'), v.crc, v.ascii);
  const data = new TextEncoder().encode('123456789');
  t.is(crc32(data.subarray(4), crc32(data.subarray(0, 4))), 0xcbf43926);
});

test('encoder reproduces the known-answer vectors and decoder reads them back', (t) => {
  const chunker = new Chunker(unhex(vectors.sdc), { chunkSize: vectors.chunkSize, hashLength: vectors.hashLength });
  t.is(chunker.transferId, vectors.transferId);
  t.is(hex(chunker.manifestBytes), vectors.manifest);
  t.deepEqual(chunker.manifestFrames().map(hex), vectors.manifestFrames);
  t.deepEqual(chunker.framesFor([0, 1, 2, 3]).map(hex), vectors.chunkFrames);
  t.is(hex(chunker.statusRequestFrame(vectors.statusRequest.maxStatusPayload)), vectors.statusRequest.frame);
  const m = decodeManifest(unhex(vectors.manifest));
  t.is(hex(m.sha256), vectors.sha256);
  t.is(hex(encodeManifest(m)), vectors.manifest);
  for (const [i, f] of vectors.chunkFrames.entries()) {
    const frame = decodeFrame(unhex(f));
    t.like(frame, { type: FrameType.Chunk, transferId: vectors.transferId, index: i });
    t.is(hex(encodeFrame(frame)), f);
  }
  t.is(decodeStatusRequest(decodeFrame(unhex(vectors.statusRequest.frame)).payload), 252);
  for (const v of vectors.statusFrames) {
    const payload = encodeChunkStatus(v.status, v.encoding);
    t.is(hex(encodeFrame({ type: FrameType.Status, transferId: vectors.transferId, index: 0, payload })), v.frame, v.name);
    t.deepEqual(decodeChunkStatus(decodeFrame(unhex(v.frame)).payload, vectors.transferId), v.status, v.name);
  }
  t.is(hex(encodeChunkStatus(vectors.statusFrames[0].status)), hex(encodeChunkStatus(vectors.statusFrames[0].status, 'bitmap')));
  t.is(hex(encodeChunkStatus(vectors.statusFrames[2].status)), hex(encodeChunkStatus(vectors.statusFrames[2].status, 'ranges')));
});

test('round trip at several chunk sizes, sizes on and off chunk boundaries', (t) => {
  const rng = prng(1);
  for (const chunkSize of [16, 64, 333, 1024, 4096, 65535]) {
    for (const size of [0, 1, chunkSize, 3 * chunkSize, 5 * chunkSize + 7, 70_001]) {
      const sdc = bytes(rng, size);
      const rx = new Reassembler();
      const done = deliver(rx, new Chunker(sdc, { chunkSize }).frames());
      t.is(done.length, 1, `${chunkSize}/${size}`);
      t.true(Buffer.from(done[0]).equals(sdc), `${chunkSize}/${size}`);
    }
  }
});

test('out-of-order and duplicate delivery of three interleaved transfers', (t) => {
  const rng = prng(2);
  const sdcs = [bytes(rng, 10_000), bytes(rng, 4_321), bytes(rng, 777)];
  const frames = sdcs.flatMap((s, i) => new Chunker(s, { chunkSize: [100, 256, 64][i] }).frames());
  const stream = shuffle(rng, [...frames, ...frames.filter(() => rng() < 0.3)]);
  const rx = new Reassembler();
  const done = deliver(rx, stream);
  t.is(done.length, 3);
  for (const s of sdcs) t.true(done.some((d) => Buffer.from(d).equals(s)));
  t.is(rx.accept(decodeFrame(frames[0])).kind, 'duplicate', 'a completed transfer is not reopened');
  t.true(rx.status(new Chunker(sdcs[0], { chunkSize: 100 }).transferId).complete);
});

test('a resumed transfer after a restart sends only what the status lacks', (t) => {
  const rng = prng(3);
  const sdc = bytes(rng, 200_000);
  const chunker = new Chunker(sdc, { chunkSize: 1024 });
  const full = sum(chunker.frames());
  const delivered = new Set(shuffle(rng, [...Array(chunker.chunkCount).keys()]).slice(0, 120));
  const session1 = [...chunker.manifestFrames(), ...chunker.framesFor(delivered)];
  const rx = new Reassembler();
  t.deepEqual(deliver(rx, session1), []);
  const restarted = new Reassembler();
  restarted.importState(structuredClone(rx.exportState()));
  const ask = chunker.statusRequestFrame();
  const answer = restarted.accept(decodeFrame(ask));
  if (answer.kind !== 'status-request') return t.fail(answer.kind);
  const reply = decodeFrame(answer.reply);
  const status = decodeChunkStatus(reply.payload, reply.transferId);
  const session2 = chunker.framesForStatus(status);
  const resent = session2.map((f) => decodeFrame(f).index);
  t.is(resent.length, chunker.chunkCount - delivered.size);
  t.false(resent.some((i) => delivered.has(i)), 'no chunk is sent twice');
  const done = deliver(restarted, session2);
  t.true(Buffer.from(done[0]).equals(sdc));
  t.is(sum(session1) + sum(session2), full, 'both sessions together cost exactly one full transfer');
  t.log(`full ${full} B, session 1 ${sum(session1)} B, resume ${sum(session2)} B + status ${ask.length + answer.reply.length} B`);
});

test('a sender that re-cut the SDC is told the receiver\'s chunk size and resumes with it', (t) => {
  const sdc = bytes(prng(4), 5000);
  const first = new Chunker(sdc, { chunkSize: 300 });
  const rx = new Reassembler();
  deliver(rx, [...first.manifestFrames(), ...first.framesFor([0, 1, 2])]);
  const status = rx.status(first.transferId);
  const error = t.throws(() => new Chunker(sdc, { chunkSize: 1000 }).framesForStatus(status), { instanceOf: TamtamError });
  t.is(error?.code, 'E_HEADER_MISMATCH');
  const again = new Chunker(sdc, { chunkSize: status.chunkSize });
  t.is(again.framesForStatus(status).length, first.chunkCount - 3);
  t.true(Buffer.from(deliver(rx, again.framesForStatus(status))[0]).equals(sdc));
});

// At BER 1e-3 a 1 KiB frame survives with probability e^-8.3, so big chunks are only tried on a cleaner link.
for (const [chunkSize, maxStatus, ber] of [[32, 40, 1e-3], [64, 0, 1e-3], [200, 0, 1e-3], [1024, 0, 1e-5]] as const) {
  test(`noisy link (BER ${ber}, garbage, truncation), chunk ${chunkSize}: parser never lies, SDC arrives intact`, (t) => {
    const rng = prng(chunkSize);
    const sdc = bytes(rng, 12_000);
    const sender = new Chunker(sdc, { chunkSize });
    const rx = new Reassembler();
    const rxParser = new FrameParser({ maxPayload: chunkSize });
    const txParser = new FrameParser();
    const genuine = new Set([...sender.frames(), sender.statusRequestFrame(maxStatus)].map(hex));
    const check = (frames: Frame[]): Frame[] => {
      for (const f of frames) t.true(genuine.has(hex(encodeFrame(f))), 'parser returned a frame nobody sent');
      return frames;
    };
    const receive = (stream: Uint8Array): Frame[] => {
      const out: Frame[] = [];
      for (let at = 0; at < stream.length;) { const n = 1 + int(rng, 700); out.push(...rxParser.push(stream.subarray(at, at + n))); at += n; }
      return check([...out, ...rxParser.finish()]);
    };
    let toSend = sender.frames();
    let result: Uint8Array | undefined;
    let rounds = 0;
    for (; rounds < 300 && !result; rounds++) {
      for (const f of receive(noisy(rng, toSend, ber))) {
        const r = rx.accept(f);
        t.not(r.kind, 'rejected');
        if (r.kind === 'complete') result = r.sdc;
      }
      if (result) break;
      toSend = [];
      for (const f of receive(noisy(rng, [sender.statusRequestFrame(maxStatus)], ber))) {
        const r = rx.accept(f);
        if (r.kind !== 'status-request') continue;
        genuine.add(hex(r.reply));
        for (const s of check(txParser.push(noisy(rng, [r.reply], ber)))) toSend = sender.framesForStatus(decodeChunkStatus(s.payload, s.transferId));
        txParser.finish();
      }
    }
    t.truthy(result, `not complete after ${rounds} rounds`);
    t.true(Buffer.from(result ?? []).equals(sdc));
    t.true(rxParser.stats.crcErrors > 0 && rxParser.stats.bytesDropped > 0, 'the noise did damage frames');
    t.log(`chunk ${chunkSize}: ${rounds + 1} rounds, rx stats ${JSON.stringify(rxParser.stats)}`);
  });
}

test('parser: byte-at-a-time equals bulk, bounded buffer, frames behind a damaged length are found', (t) => {
  const rng = prng(5);
  const frames = new Chunker(bytes(rng, 3000), { chunkSize: 100 }).frames();
  const stream = Buffer.concat(frames);
  const bulk = new FrameParser().push(stream);
  const single = new FrameParser();
  const one: Frame[] = [];
  for (const b of stream) one.push(...single.push(Uint8Array.of(b)));
  t.deepEqual(one, bulk);
  t.is(bulk.length, frames.length);

  const flooded = new FrameParser({ maxPayload: 100 });
  for (let i = 0; i < 200; i++) {
    t.deepEqual(flooded.push(Uint8Array.of(0x54, 0x46, 0x01, ...bytes(rng, 500))), []);
    t.true(flooded.buffered <= 2 * (FRAME_OVERHEAD + 100));
  }

  const damaged = Buffer.concat(frames.slice(0, 4));
  damaged[12] = 0xff; // first frame now claims a 64 KiB payload and swallows the next three
  const parser = new FrameParser();
  t.is(parser.push(damaged).length, 0);
  t.is(parser.finish().length, 3);
  t.is(parser.stats.truncated, 1);
});

test('fuzz: single-buffer decoders only ever throw TamtamError, parser and reassembler never throw', (t) => {
  const rng = prng(6);
  const chunker = new Chunker(bytes(rng, 2000), { chunkSize: 64 });
  const rx = new Reassembler({ maxTotalSize: 10_000, maxChunkCount: 100, maxTransfers: 4, maxPendingBytes: 4096 });
  const parser = new FrameParser();
  const status = encodeChunkStatus(rx.status(chunker.transferId));
  const samples: [string, Uint8Array][] = [
    ['frame', chunker.chunkFrame(3)], ['frame', chunker.manifestFrame(1)], ['manifest', chunker.manifestBytes],
    ['status', status], ['status', encodeChunkStatus({ ...decodeChunkStatus(status, 0), count: 9, span: 9, missing: [{ start: 2, count: 3 }] }, 'ranges')],
    ['part', decodeFrame(chunker.manifestFrame(0)).payload], ['request', Uint8Array.of(0, 60)],
  ];
  const decoders: Record<string, (b: Uint8Array) => unknown> = {
    frame: decodeFrame, manifest: (b) => decodeManifest(b, { maxTotalSize: 10_000, maxChunkCount: 100 }),
    status: (b) => decodeChunkStatus(b, 1), part: (b) => decodeManifestPart(b, int(rng, 4)), request: decodeStatusRequest,
  };
  const codes = new Set<string>();
  for (let n = 0; n < 5000; n++) {
    const [kind, sample] = samples[int(rng, samples.length)];
    let b = sample.slice();
    for (let k = 1 + int(rng, 4); k > 0; k--) {
      const at = int(rng, b.length + 1);
      const op = int(rng, 5);
      if (op === 0 && b.length) b[at % b.length] ^= 1 << int(rng, 8);
      else if (op === 1 && b.length) b[at % b.length] = int(rng, 256);
      else if (op === 2) b = b.slice(0, at);
      else if (op === 3) b = Uint8Array.from([...b.subarray(0, at), ...bytes(rng, 1 + int(rng, 8)), ...b.subarray(at)]);
      else b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1 + int(rng, 8))]);
    }
    // Repairing the CRC half the time lets mutations reach the checks behind it.
    if ((kind === 'frame' || kind === 'manifest') && b.length >= 4 && rng() < 0.5) new DataView(b.buffer).setUint32(b.length - 4, crc32(b, 0, 0, b.length - 4));
    try {
      const decoded = decoders[kind](b);
      if (kind === 'frame') t.notThrows(() => rx.accept(decoded as Frame));
    } catch (e) {
      if (!(e instanceof TamtamError)) return t.fail(`${kind} decoder threw ${String(e)}`);
      codes.add(e.code);
    }
    t.notThrows(() => parser.push(b));
  }
  t.notThrows(() => parser.finish());
  t.log(`error codes seen: ${[...codes].sort().join(' ')}`);
  for (const code of ['E_BAD_MAGIC', 'E_BAD_VERSION', 'E_TRUNCATED', 'E_BAD_CRC', 'E_MALFORMED']) t.true(codes.has(code), code);
});

test('link efficiency with 1 KiB chunks is at least 0.95, manifest included', (t) => {
  const sdc = bytes(prng(7), 1 << 20);
  const chunker = new Chunker(sdc, { chunkSize: 1024 });
  const perFrame = 1024 / chunker.chunkFrame(0).length;
  const whole = sdc.length / sum(chunker.frames());
  t.is(chunker.chunkFrame(0).length - 1024, FRAME_OVERHEAD);
  t.true(perFrame >= 0.95 && whole >= 0.95);
  t.log(`overhead ${FRAME_OVERHEAD} B/frame; efficiency ${perFrame.toFixed(4)} per frame, ${whole.toFixed(4)} for 1 MiB with manifest`);
});

test('status answers fit small messages and round-trip whatever the holes', (t) => {
  const rng = prng(8);
  for (let n = 0; n < 300; n++) {
    const count = 1 + int(rng, 5000);
    const have = bitmapFor(count);
    const density = rng();
    for (let i = 0; i < count; i++) if (rng() < density) setBit(have, i);
    const maxPayload = [24, 60, 252, 65535][int(rng, 4)];
    const status: ChunkStatus = { transferId: 7, subject: 'chunks', complete: false, refused: false, chunkSize: 512, count, ...describeBitmap(have, count, maxPayload) };
    const payload = encodeChunkStatus(status);
    t.true(payload.length <= maxPayload);
    t.deepEqual(decodeChunkStatus(payload, 7), status);
    for (const r of status.missing) for (let i = r.start; i < r.start + r.count; i++) t.false((have[i >> 3] & (0x80 >> (i & 7))) !== 0);
    t.true(status.base === count || status.span > 0, 'an answer with holes always describes some');
  }
});

test('caps: absurd sizes are typed errors and refused transfers say so', (t) => {
  const chunker = new Chunker(bytes(prng(9), 50_000), { chunkSize: 100 });
  t.is(t.throws<TamtamError>(() => decodeManifest(chunker.manifestBytes, { maxTotalSize: 10_000 }))?.code, 'E_TOO_LARGE');
  t.is(t.throws<TamtamError>(() => decodeManifest(chunker.manifestBytes, { maxChunkCount: 10 }))?.code, 'E_TOO_LARGE');
  t.is(t.throws<TamtamError>(() => new Reassembler({ maxTotalSize: -1 }))?.code, 'E_BAD_INPUT');
  t.is(t.throws<TamtamError>(() => new Chunker(new Uint8Array(10), { chunkSize: 70_000 }))?.code, 'E_BAD_INPUT');
  const rx = new Reassembler({ maxTotalSize: 10_000 });
  const results = chunker.manifestFrames().map((f) => rx.accept(decodeFrame(f)));
  t.like(results.at(-1), { kind: 'rejected', error: { code: 'E_TOO_LARGE' } });
  t.true(rx.status(chunker.transferId).refused);
  t.deepEqual(chunker.framesForStatus(rx.status(chunker.transferId)), []);
  t.is(rx.accept(decodeFrame(chunker.chunkFrame(0))).kind, 'ignored');
});

test('a chunk that fails its hash is rejected, and a damaged snapshot costs a resend, not a bad SDC', (t) => {
  const sdc = bytes(prng(10), 3000);
  const chunker = new Chunker(sdc, { chunkSize: 100 });
  const rx = new Reassembler();
  deliver(rx, [...chunker.manifestFrames(), ...chunker.framesFor([0, 1, 2, 3, 4])]);
  const forged = { ...decodeFrame(chunker.chunkFrame(5)), payload: new Uint8Array(100) };
  t.like(rx.accept(forged), { kind: 'rejected', error: { code: 'E_BAD_HASH' } });
  const snapshot = rx.exportState();
  snapshot.transfers[0].data[250] ^= 1;
  const restarted = new Reassembler();
  t.is(restarted.importState(snapshot).dropped, 1);
  const status = restarted.status(chunker.transferId);
  t.deepEqual(status.missing[0], { start: 2, count: 1 });
  t.true(Buffer.from(deliver(restarted, chunker.framesForStatus(status))[0]).equals(sdc));
});
