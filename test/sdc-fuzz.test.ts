import test from 'ava';
import { isDeepStrictEqual } from 'node:util';
import { armourSdc } from '../protocol/index.js';
import { byteMutations, mutate } from './helpers/byte-mutations.js';
import { checkReport, fuzzSeed } from './helpers/fuzz-run.js';
import { fuzzBases, openFully, sdcFuzzFixture } from './helpers/sdc-fuzz-fixture.js';
import { editHeaderField, mutateArmour } from './helpers/sdc-mutations.js';

/**
 * Mutated binary SDCs through the whole decoder (openSdc, then the body
 * decoder the kind calls for). Nobody but the centre can make a signature the
 * hub accepts, so every mutant must either fail with a TamtamError or, when
 * the mutation touched only what the decoder ignores (a version INTEGER in the
 * envelope, say), give back exactly the original records.
 * The same holds for armoured text, however mail and people mangle it.
 * Sibling suite: sdc-fuzz-2.test.ts (inner layers, body decoders).
 */
const SEED = fuzzSeed(20_260_101);
const fixture = sdcFuzzFixture();

test('every base SDC opens to exactly its original content (so "original" below means something)', async (t) => {
  const { compressor, bases } = await fixture;
  t.true(bases.length >= 10);
  for (const base of bases) t.deepEqual(openFully(compressor, base.sdc, base.options), base.expected, base.name);
  const other = bases.find((b) => b.expected.value !== bases[0].expected.value)!;
  t.false(isDeepStrictEqual(openFully(compressor, other.sdc, other.options), bases[0].expected));
});

test('bit flips (1 to 8 bits) anywhere and at field and DER edges', async (t) => {
  const r = await fuzzBases(fixture, 'SDC bit flips', SEED, 15_000, (rng, b) => byteMutations.flipBits(rng, b.sdc, b.layout));
  checkReport(t, r);
});

test('byte overwrites and header field edits (kind, flags, sender length, sequence, dictionary id, count, body size)', async (t) => {
  const r = await fuzzBases(fixture, 'SDC overwrites and header edits', SEED + 1, 15_000, (rng, b) =>
    rng.chance(0.5) ? editHeaderField(rng, b.sdc) : byteMutations.overwrite(rng, b.sdc, b.layout));
  checkReport(t, r, { minCodes: 6 });
});

test('truncation at every kind of edge, extension, duplicated and removed ranges', async (t) => {
  const r = await fuzzBases(fixture, 'SDC truncate/extend/duplicate/remove', SEED + 2, 15_000, (rng, b) =>
    mutate(rng, b.sdc, b.layout, ['truncate', 'extend', 'duplicate', 'remove']));
  checkReport(t, r, { minCodes: 4 });
});

test('DER lengths swapped or made wrong, DER tags changed, and mixed mutations stacked', async (t) => {
  const r = await fuzzBases(fixture, 'SDC DER edits and mixes', SEED + 3, 15_000, (rng, b) =>
    rng.chance(0.6) ? mutate(rng, b.sdc, b.layout, ['derLengthEdit', 'derTagEdit']) : mutate(rng, b.sdc, b.layout));
  checkReport(t, r, { minCodes: 4 });
});

test('armoured text mangled as mail and people mangle it, through unarmourSdc and the whole decoder', async (t) => {
  const r = await fuzzBases(fixture, 'armour', SEED + 4, 16_000, (rng, b) => {
    const m = mutateArmour(rng, armourSdc(b.sdc));
    return { bytes: new TextEncoder().encode(m.text), label: m.label };
  }, { armoured: true });
  checkReport(t, r, { minCodes: 3 });
  t.true(r.originals > r.cases / 20, 'whitespace, CRLF and informational header edits keep the SDC');
});
