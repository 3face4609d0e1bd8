import test from 'ava';
import { decodeBatch, DEFAULT_BATCH_LIMITS } from '../protocol/batch/batch-decoder.js';
import { encodeBatch } from '../protocol/batch/batch-encoder.js';
import { batchFromObjects, batchToObjects, ColumnKind, type Batch, type Value } from '../protocol/batch/batch.js';
import { ByteWriter } from '../protocol/bytes.js';
import { isTamtamError } from '../protocol/errors.js';
import { sampleActs, seededRandom } from './helpers/acts.js';

const roundTrip = (b: Batch) => decodeBatch(encodeBatch(b));

for (const table of ['births', 'deaths', 'marriages'] as const) {
  test(`${table}: every sample act comes back field for field`, (t) => {
    const acts = sampleActs(table, 1000);
    const back = batchToObjects(roundTrip(batchFromObjects(table, acts)));
    t.is(back.length, acts.length);
    for (let i = 0; i < acts.length; i++) {
      for (const [k, v] of Object.entries(acts[i])) t.deepEqual(back[i][k], v, `act ${i} field ${k}`);
    }
  });
}

test('columns are matched by name: the same records in another column order decode to the same objects', (t) => {
  const acts = sampleActs('births', 50);
  const a = batchFromObjects('births', acts);
  const reversed: Batch = { table: 'births', columns: [...a.columns].reverse(), rows: a.rows.map((r) => [...r].reverse()) };
  t.deepEqual(batchToObjects(roundTrip(reversed)), batchToObjects(roundTrip(a)));
});

test('edge values survive: integers at the limits, floats, -0, dates and stamps that are not canonical, spaces, bytes, booleans', (t) => {
  const columns = ['i', 'f', 'd', 's', 'w', 'b', 'x', 'm', 'n'];
  const rows: Value[][] = [
    [Number.MAX_SAFE_INTEGER, 1.5, '2024-02-29', '2024-12-31T23:59:59Z', 'a  b', true, new Uint8Array([0, 255]), 1, null],
    [Number.MIN_SAFE_INTEGER, -0, '2023-02-29', '2024-12-31T24:00:00Z', '', false, new Uint8Array(0), 'one', null],
    [0, Infinity, '0000-01-01', '9999-12-31T00:00:00Z', ' lead', null, null, true, null],
    [-1, NaN, '9999-12-31', '1970-01-01T00:00:00Z', 'trail ', true, new Uint8Array([7]), new Uint8Array([1]), null],
    [null, null, null, null, null, null, null, -2.5, null],
  ];
  const back = roundTrip({ table: 't', columns, rows });
  t.is(back.rows.length, rows.length);
  for (let r = 0; r < rows.length; r++) {
    for (let c = 0; c < columns.length; c++) {
      const want = rows[r][c];
      const got = back.rows[r][c];
      if (typeof want === 'number') t.true(Object.is(got, want), `row ${r} col ${columns[c]}: ${String(got)} vs ${want}`);
      else t.deepEqual(got, want, `row ${r} col ${columns[c]}`);
    }
  }
});

test('random batches round-trip (seeded property test)', (t) => {
  const seed = 20261122;
  const rnd = seededRandom(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  const words = ['Jean', 'Marie', 'NGONO', 'de', 'Bafang', 'Centre', '', 'é', '日本'];
  const gens: (() => Value)[] = [
    () => Math.floor((rnd() - 0.5) * 2 ** 40),
    () => (rnd() - 0.5) * 1e6,
    () => `${1900 + Math.floor(rnd() * 200)}-0${1 + Math.floor(rnd() * 9)}-1${Math.floor(rnd() * 9)}`,
    () => Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => pick(words)).join(' '),
    () => pick(['A', 'B', 'C']),
    () => rnd() < 0.5,
    () => Uint8Array.from({ length: Math.floor(rnd() * 5) }, () => Math.floor(rnd() * 256)),
  ];
  for (let round = 0; round < 200; round++) {
    const nCols = 1 + Math.floor(rnd() * 8);
    const nRows = Math.floor(rnd() * 60);
    const colGens = Array.from({ length: nCols }, () => (rnd() < 0.2 ? () => pick(gens)() : pick(gens)));
    const nullRate = rnd() * 0.5;
    const batch: Batch = {
      table: 'random',
      columns: Array.from({ length: nCols }, (_, i) => `c${i}`),
      rows: Array.from({ length: nRows }, () => colGens.map((g) => (rnd() < nullRate ? null : g()))),
    };
    t.deepEqual(roundTrip(batch), batch, `seed ${seed} round ${round}`);
  }
});

test('repeated strings and words are stored once per batch', (t) => {
  const acts = sampleActs('births', 100);
  const body = encodeBatch(batchFromObjects('births', acts));
  const json = acts.reduce((n, a) => n + JSON.stringify(a).length, 0);
  t.true(body.length < json / 4, `columnar body ${body.length} bytes vs JSON ${json}`);
  const inBody = Buffer.from(body).toString('latin1').split('Bafang').length - 1;
  const inJson = acts.reduce((n, a) => n + JSON.stringify(a).split('Bafang').length - 1, 0);
  t.true(inJson >= 10 && inBody <= 4, `'Bafang' ${inJson} times in the JSON, ${inBody} in the body (word table and column tables)`);
});

test('a body that claims absurd counts is refused before anything is allocated', (t) => {
  const claim = (rows: number, cols: number) => new ByteWriter().u8(1).string('t').varint(rows).varint(cols).varint(0).finish();
  for (const [rows, cols] of [[2e9, 1], [1, 1e6], [1e6, 1000]]) {
    const e = t.throws(() => decodeBatch(claim(rows, cols)));
    t.true(isTamtamError(e, 'E_TOO_LARGE'), `${rows}x${cols}: ${String(e)}`);
  }
});

test('a small body that would expand to gigabytes through its word table is refused', (t) => {
  const w = new ByteWriter().u8(1).string('t').varint(1000).varint(1).varint(1).string('x'.repeat(100_000));
  w.string('c').u8(ColumnKind.Words).u8(0);
  for (let i = 0; i < 1000; i++) w.varint(50).bytes(new Uint8Array(50));
  const e = t.throws(() => decodeBatch(w.finish(), { ...DEFAULT_BATCH_LIMITS, maxExpanded: 64 * 1024 * 1024 }));
  t.true(isTamtamError(e, 'E_TOO_LARGE'), String(e));
});

test('truncated and unknown-version bodies give typed errors', (t) => {
  const body = encodeBatch(batchFromObjects('births', sampleActs('births', 10)));
  for (let cut = 0; cut < body.length; cut += 97) {
    const e = t.throws(() => decodeBatch(body.subarray(0, cut)));
    t.true(isTamtamError(e), `cut at ${cut}: ${String(e)}`);
  }
  const v2 = body.slice();
  v2[0] = 2;
  t.true(isTamtamError(t.throws(() => decodeBatch(v2)), 'E_BAD_VERSION'));
});
