import test from 'ava';
import { isDeepStrictEqual } from 'node:util';
import {
  batchFromObjects, concatBytes, decodeBatch, decodeDictionary, decodeHeader, decodeReceipt, encodeBatch, encodeDictionary, encodeHeader,
  encodeReceipt, envelopeData, makeDictionary, peekSdc, sealSdc, signData, type Batch, type Receipt, type SdcKindCode,
} from '../protocol/index.js';
import { ByteReader, ByteWriter } from '../protocol/bytes.js';
import { sampleActs } from './helpers/acts.js';
import { layoutOf, mutate, type Layout, type Mutant, type Rng } from './helpers/byte-mutations.js';
import { checkReport, fuzz, fuzzCount, fuzzSeed } from './helpers/fuzz-run.js';
import { fuzzBases, openFully, sdcFuzzFixture, type FuzzBase } from './helpers/sdc-fuzz-fixture.js';
import { editHeaderField, headerFieldOffsets, sdcLayout } from './helpers/sdc-mutations.js';
import { loadSdcVectors } from './helpers/sdc-vectors.js';

/**
 * What byte mutations of a whole SDC reach only as ciphertext: a SignedData
 * anyone can encrypt for the hub (its certificate is public), content an
 * enrolled centre signed (authenticated garbage), and each body decoder on
 * its own. Sibling suite: sdc-fuzz.test.ts (binary and armoured SDCs).
 */
const SEED = fuzzSeed(20_260_201);
const fixture = sdcFuzzFixture();

const memo = <T>(make: (b: FuzzBase) => T) => {
  const cache = new Map<FuzzBase, T>();
  return (b: FuzzBase) => cache.get(b) ?? (cache.set(b, make(b)), cache.get(b)!);
};
const innerLayout = memo((b): Layout => layoutOf(b.signedData, [], 0));

test('inner SignedData mutated and enveloped again for the hub (needs no key but the hub\'s public one)', async (t) => {
  const { random } = await fixture;
  const r = await fuzzBases(fixture, 'inner SignedData', SEED + 1, 21_000, (rng, b) => {
    const m = mutate(rng, b.signedData, innerLayout(b));
    return { bytes: concatBytes([b.headerBytes, envelopeData(m.bytes, b.recipient.cert, random)]), label: `inner ${m.label}` };
  });
  checkReport(t, r, { minCodes: 4 });
});

/** A zstd frame's own header: magic, descriptor, then window, dictionary id and content size fields. */
const frameEdges = (headerLength: number) => [0, 4, 5, 6, 10, 14].map((x) => headerLength + x);

test('content signed by the enrolled centre but mutated before signing: never a crash, a hang or a heap abort', async (t) => {
  const { compressor, dictionary, random } = await fixture;
  const reseal = (b: FuzzBase, clearHeader: Uint8Array, content: Uint8Array) =>
    concatBytes([clearHeader, envelopeData(signData(content, b.sender.key, b.sender.cert), b.recipient.cert, random)]);
  const r = await fuzzBases(fixture, 'signed content', SEED + 2, 4_000, (rng, b) => {
    const headerLength = b.headerBytes.length;
    const mode = rng.int(3);
    if (mode === 0) {
      const m = mutate(rng, b.content, layoutOf(b.content, [headerLength, ...frameEdges(headerLength)]));
      return { bytes: reseal(b, b.headerBytes, m.bytes), label: `zstd frame ${m.label}` };
    }
    if (mode === 1) {
      const h = b.expected.header;
      const body = compressor.decompress(b.content.subarray(headerLength), h.bodySize, h.bodySize, h.dictId ? dictionary : undefined);
      const m = mutate(rng, body, layoutOf(body));
      const sdc = sealSdc(compressor, m.bytes, {
        kind: h.kind as SdcKindCode, sender: h.sender, sequence: h.sequence, count: h.count, created: h.created, signerKey: b.sender.key, signerCert: b.sender.cert,
        recipientCert: b.recipient.cert, random, ...(h.dictId ? { dictionary } : {}),
      });
      return { bytes: sdc, label: `body ${m.label}` };
    }
    const o = headerFieldOffsets(b.headerBytes[6]);
    const m = mutate(rng, b.content, layoutOf(b.content, Object.values(o)), ['flipBits', 'overwrite', 'varintEdit']);
    let clear = b.headerBytes;
    try {
      clear = m.bytes.slice(0, peekSdc(m.bytes).headerLength);
    } catch {
      // An unreadable header copy keeps the original clear header, which then differs from it.
    }
    return { bytes: reseal(b, clear, m.bytes), label: `header copy ${m.label}` };
  }, { anyValue: true });
  checkReport(t, r, { minCodes: 4 });
  // zstd-codec's heap aborts for good when it breaks, and every later call would then fail as E_DECOMPRESS.
  for (const b of (await fixture).bases) t.deepEqual(openFully(compressor, b.sdc, b.options), b.expected, `${b.name} still opens after the run`);
});

/** Edges of a batch body: the counts after the table name, and where each column starts (its name, length-prefixed). */
function bodyEdges(body: Uint8Array, b: Batch): number[] {
  const hay = Buffer.from(body);
  const counts = 2 + Buffer.byteLength(b.table);
  return [1, counts, counts + 1, counts + 2, ...b.columns.map((c) => hay.indexOf(Buffer.from([Buffer.byteLength(c), ...Buffer.from(c)]))).filter((at) => at > 0)];
}

const COUNTS = [0, 1, 0x7f, 0x80, 100_000, 1 << 18, 1_000_000, 1_000_001, 2 ** 31, 2 ** 53 - 1];

/** Rewrites the row, column or word count at the head of a body to a value on or over a limit. */
function editBodyCount(rng: Rng, body: Uint8Array): Mutant {
  const r = new ByteReader(body, 'body');
  const version = r.u8('version');
  const table = r.string('table');
  const counts = [r.varint('rows'), r.varint('columns'), r.varint('words')];
  const which = rng.int(3);
  counts[which] = rng.chance(0.3) ? counts[which] + rng.pick([-1, 1]) : rng.pick(COUNTS);
  const w = new ByteWriter().u8(version).string(table);
  for (const c of counts) w.varint(Math.max(0, c));
  return { bytes: w.bytes(body.subarray(r.pos)).finish(), label: `${['row', 'column', 'word'][which]} count set to ${counts[which]}` };
}

test('decodeBatch alone: real bodies mutated; what it returns must survive an encode/decode round trip', async (t) => {
  const { bases } = await fixture;
  const { batch: allKinds } = loadSdcVectors();
  const acts = sampleActs('births', 40);
  const batches: Batch[] = [allKinds, ...bases.flatMap((b) => (b.expected.header.kind === 1 ? [b.expected.value as Batch] : [])), batchFromObjects('births', acts.slice(20, 40))];
  const bodies = batches.map((batch) => {
    const body = encodeBatch(batch);
    return { batch, body, layout: layoutOf(body, bodyEdges(body, batch)) };
  });
  let base = bodies[0];
  const r = fuzz({
    name: 'decodeBatch', seed: SEED + 3, count: fuzzCount(50_000),
    mutate: (rng) => {
      base = rng.pick(bodies);
      const m = rng.chance(0.1) ? editBodyCount(rng, base.body) : mutate(rng, base.body, base.layout);
      return { bytes: m.bytes, label: `${base.batch.rows.length} rows: ${m.label}` };
    },
    decode: (bytes) => decodeBatch(bytes),
    judge: (got) => {
      if (isDeepStrictEqual(got, base.batch)) return { original: true };
      return isDeepStrictEqual(decodeBatch(encodeBatch(got)), got) ? { original: false } : { original: false, problem: 'the batch returned does not survive a round trip' };
    },
  });
  checkReport(t, r, { maxMs: 100, minCodes: 3 });
});

const OUTCOMES = new Set(['merged', 'duplicate', 'rejected']);
const wellFormedReceipt = (r: Receipt) => typeof r.sdcSender === 'string' && typeof r.sdcSequence === 'bigint' && typeof r.accepted === 'boolean'
  && r.entries.every((e) => Number.isSafeInteger(e.numero) && Number.isSafeInteger(e.version) && OUTCOMES.has(e.outcome) && (e.reason === undefined || typeof e.reason === 'string'));

test('decodeReceipt, decodeDictionary and decodeHeader alone: typed errors, or values that are well formed', async (t) => {
  const { bases } = await fixture;
  const { dictionaryFile } = loadSdcVectors();
  const receipts: Receipt[] = [
    bases.find((b) => b.expected.header.kind === 2)!.expected.value as Receipt,
    { sdcSender: 'c', sdcSequence: 5n, accepted: false, reason: 'centre suspended', entries: [] },
    // Numeros near the top of the safe range: a duplicated entry must not overflow into a wrong numero.
    { sdcSender: 'CM-1', sdcSequence: 2n ** 64n - 1n, accepted: true, entries: [1, 2, 3].map((k) => ({ numero: k * 3e15, version: k, outcome: 'merged' as const })) },
  ];
  const receiptBodies = receipts.map((x) => encodeReceipt(x));
  const rr = fuzz({
    name: 'decodeReceipt', seed: SEED + 4, count: fuzzCount(20_000),
    mutate: (rng) => mutate(rng, rng.pick(receiptBodies), layoutOf(new Uint8Array(0))),
    decode: (bytes) => decodeReceipt(bytes),
    judge: (got) => (wellFormedReceipt(got) ? { original: receipts.some((x) => isDeepStrictEqual(x, got)) } : { original: false, problem: `malformed receipt returned: ${JSON.stringify(got, (_k, v) => (typeof v === 'bigint' ? `${v}` : v))}` }),
  });
  checkReport(t, rr, { maxMs: 100 });

  const dictionaries = [dictionaryFile, encodeDictionary(makeDictionary('x', new TextEncoder().encode('a small dictionary for the fuzzer')))];
  const originals = dictionaries.map((d) => decodeDictionary(d));
  const dr = fuzz({
    name: 'decodeDictionary', seed: SEED + 5, count: fuzzCount(5_000),
    mutate: (rng) => mutate(rng, rng.pick(dictionaries), layoutOf(new Uint8Array(0), [0, 3, 4, 8, 9])),
    decode: (bytes) => decodeDictionary(bytes),
    // The table name is not covered by the id (a hash of the content); the content and id must be the original.
    judge: (got) => (originals.some((o) => o.id === got.id && isDeepStrictEqual(o.content, got.content))
      ? { original: originals.some((o) => isDeepStrictEqual(o, got)) } : { original: false, problem: 'returned a dictionary whose content is not the original' }),
  });
  checkReport(t, dr, { maxMs: 100 });

  const headers = bases.map((b) => b.headerBytes);
  const hr = fuzz({
    name: 'decodeHeader', seed: SEED + 6, count: fuzzCount(20_000),
    mutate: (rng) => {
      const h = rng.pick(headers);
      return rng.chance(0.5) ? editHeaderField(rng, h) : mutate(rng, h, sdcLayout(h));
    },
    decode: (bytes) => ({ bytes, ...decodeHeader(bytes) }),
    // The header alone is not authenticated; what it returns must be exactly what its bytes say.
    judge: (got) => (isDeepStrictEqual(encodeHeader(got.header), got.bytes.subarray(0, got.length))
      ? { original: headers.some((h) => isDeepStrictEqual(h, got.bytes)) } : { original: false, problem: 'the header returned does not re-encode to its bytes' }),
  });
  checkReport(t, hr, { maxMs: 50 });
});
