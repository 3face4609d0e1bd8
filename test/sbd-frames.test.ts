import test from 'ava';
import { FrameType, type Frame } from '../protocol/chunk/chunk-frame.js';
import { isTamtamError } from '../protocol/errors.js';
import {
  packSbdMessages, SBD_FRAME_OVERHEAD, SBD_MAX_FRAMES, SBD_MO_MAX, SBD_MO_MAX_CHUNK, SBD_MT_MAX, SBD_MT_MAX_CHUNK, unpackSbdMessage,
} from '../protocol/sbd/sbd-frames.js';

/** xorshift32: the same cases every run, so a failure replays. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 2 ** 32;
  };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const frame = (type: number, transferId: number, index: number, payload: number[] | Uint8Array): Frame => ({ type, transferId, index, payload: Uint8Array.from(payload) });

test('one chunk: header 0x10, type, transfer id, index varint, payload to the end', (t) => {
  const [m, ...rest] = packSbdMessages([frame(FrameType.Chunk, 0x6f4b7917, 300, [0xaa, 0xbb])], SBD_MO_MAX);
  t.is(rest.length, 0);
  t.is(hex(m), '10' + '01' + '6f4b7917' + 'ac02' + 'aabb');
});

test('two frames: count nibble 1, the first carries a length, the last runs to the end', (t) => {
  const [m] = packSbdMessages([frame(FrameType.StatusRequest, 1, 1, [0x00, 0xfc]), frame(FrameType.Bye, 0, 0, [])], SBD_MT_MAX);
  t.is(hex(m), '11' + '04' + '00000001' + '01' + '02' + '00fc' + '07' + '00000000' + '00');
  t.deepEqual(unpackSbdMessage(m), [frame(4, 1, 1, [0, 0xfc]), frame(7, 0, 0, [])]);
});

test('overhead figure: the largest chunk with the largest index fills an MO and an MT exactly', (t) => {
  t.is(SBD_FRAME_OVERHEAD, 11);
  t.is(SBD_MO_MAX_CHUNK, 329);
  t.is(SBD_MT_MAX_CHUNK, 259);
  for (const [max, chunk] of [[SBD_MO_MAX, SBD_MO_MAX_CHUNK], [SBD_MT_MAX, SBD_MT_MAX_CHUNK]]) {
    const msgs = packSbdMessages([frame(FrameType.Chunk, 0xffffffff, 0xffffffff, new Uint8Array(chunk))], max);
    t.is(msgs.length, 1);
    t.is(msgs[0].length, max);
    t.throws(() => packSbdMessages([frame(FrameType.Chunk, 1, 0xffffffff, new Uint8Array(chunk + 1))], max), { code: 'E_TOO_LARGE' } as never);
  }
  // A chunk with a small index costs 7 bytes: the §12 frame would cost 18.
  t.is(packSbdMessages([frame(FrameType.Chunk, 1, 5, new Uint8Array(100))], SBD_MO_MAX)[0].length, 107);
});

test('random frames round-trip, in order, every message within its limit', (t) => {
  const r = rng(42);
  for (let round = 0; round < 300; round++) {
    const max = r() < 0.5 ? SBD_MO_MAX : SBD_MT_MAX;
    const frames: Frame[] = [];
    const n = 1 + Math.floor(r() * 40);
    for (let i = 0; i < n; i++) {
      const len = r() < 0.3 ? Math.floor(r() * 8) : Math.floor(r() * (max - SBD_FRAME_OVERHEAD + 1));
      const idx = r() < 0.5 ? Math.floor(r() * 200) : Math.floor(r() * 2 ** 32);
      frames.push(frame(Math.floor(r() * 256), Math.floor(r() * 2 ** 32), idx, Uint8Array.from({ length: len }, () => Math.floor(r() * 256))));
    }
    const msgs = packSbdMessages(frames, max);
    for (const m of msgs) t.true(m.length <= max && unpackSbdMessage(m).length <= SBD_MAX_FRAMES);
    t.deepEqual(msgs.flatMap(unpackSbdMessage), frames);
  }
});

test('small frames share messages: 40 status requests take 3 MT messages', (t) => {
  const frames = Array.from({ length: 40 }, (_, i) => frame(FrameType.StatusRequest, i, 1, [0, 252]));
  const msgs = packSbdMessages(frames, SBD_MT_MAX);
  t.is(msgs.length, 3);
  t.deepEqual(msgs.flatMap(unpackSbdMessage), frames);
});

test('garbage is refused with the code that says why', (t) => {
  t.throws(() => unpackSbdMessage(new Uint8Array(0)), { code: 'E_TRUNCATED' } as never);
  t.throws(() => unpackSbdMessage(Uint8Array.of(0x20, 1, 0, 0, 0, 1, 0)), { code: 'E_BAD_VERSION' } as never);
  t.throws(() => unpackSbdMessage(Uint8Array.of(0x10, 1, 0, 0)), { code: 'E_TRUNCATED' } as never);
  t.throws(() => unpackSbdMessage(Uint8Array.of(0x10, 1, 0, 0, 0, 1, 0x80, 0x00)), { code: 'E_MALFORMED' } as never);
  t.throws(() => unpackSbdMessage(Uint8Array.of(0x10, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x7f)), { code: 'E_MALFORMED' } as never);
  t.throws(() => unpackSbdMessage(Uint8Array.of(0x11, 1, 0, 0, 0, 1, 0, 5, 1, 2)), { code: 'E_TRUNCATED' } as never);
  t.throws(() => packSbdMessages([frame(1, -1, 0, [])], SBD_MO_MAX), { code: 'E_BAD_INPUT' } as never);
});

test('fuzz: random and mutated bytes never crash, only TamtamError', (t) => {
  const r = rng(7);
  const good = packSbdMessages(Array.from({ length: 6 }, (_, i) => frame(1, 0x1234 + i, i * 90, new Uint8Array(30))), SBD_MO_MAX)[0];
  let decoded = 0;
  for (let i = 0; i < 20_000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) bytes = Uint8Array.from({ length: Math.floor(r() * 400) }, () => Math.floor(r() * 256));
    else {
      bytes = good.slice(0, Math.floor(r() * (good.length + 1)));
      for (let k = Math.floor(r() * 4); k > 0 && bytes.length > 0; k--) bytes[Math.floor(r() * bytes.length)] ^= 1 << Math.floor(r() * 8);
    }
    try {
      const frames = unpackSbdMessage(bytes);
      decoded++;
      t.true(frames.length >= 1 && frames.length <= SBD_MAX_FRAMES);
    } catch (e) {
      if (!isTamtamError(e)) t.fail(`not a TamtamError on ${hex(bytes)}: ${String(e)}`);
    }
  }
  t.true(decoded > 0);
});
