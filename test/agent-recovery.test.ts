import test, { type ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PackStep } from '../agent/exporter.js';
import type { ReceiptStep } from '../agent/receipt-applier.js';
import { VERSION_COLUMN } from '../agent/exporter.js';
import { AgentRig } from './helpers/agent-rig.js';

class Crash extends Error {
  constructor(where: string) {
    super(`simulated crash ${where}`);
  }
}

async function rig(t: ExecutionContext, o: Parameters<typeof AgentRig.create>[0]): Promise<AgentRig> {
  const r = await AgentRig.create(o);
  t.teardown(() => r.close());
  return r;
}

/** Nothing at 4 that the hub has not merged; every validated record still at 2, 3 or 4. */
function checkSafe(t: ExecutionContext, r: AgentRig, validated: number[], when: string): void {
  const status = r.statuses();
  const merged = new Set([...r.hub.merged.values()].map((m) => m.numero));
  const early = r.at(4).filter((n) => !merged.has(n));
  t.deepEqual(early, [], `${when}: at 4 without a merged receipt`);
  const lost = validated.filter((n) => ![2, 3, 4].includes(status.get(n)!));
  t.deepEqual(lost, [], `${when}: validated records lost`);
}

/** After recovery: every record at 3 is in an outbox SDC, at its last version. */
function checkCovered(t: ExecutionContext, r: AgentRig, when: string): void {
  const inOutbox = new Set(r.openOutbox().flatMap((s) => s.records.map((x) => x.numero as number)));
  t.deepEqual(r.at(3).filter((n) => !inOutbox.has(n)), [], `${when}: records at 3 in no outbox SDC`);
}

/** Runs the link and hub until nothing is left, then checks every validated act was merged exactly once. */
async function drainAndCheck(t: ExecutionContext, r: AgentRig, validated: number[], version = 1): Promise<void> {
  await r.exporter.pack();
  for (let i = 0; i < 5 && r.spool.listOutbox().length > 0; i++) await r.exchange();
  t.deepEqual(r.spool.listOutbox(), []);
  t.deepEqual(r.at(4), validated, 'every validated act is exported');
  t.deepEqual([...r.hub.merged.keys()].sort(), validated.map((n) => `births|${n}|${version}`).sort(), 'each act merged at its version');
  t.true([...r.hub.mergeCounts.values()].every((c) => c === 1), 'and never twice');
}

const PACK_STEPS: { step: PackStep; expect: (rep: Awaited<ReturnType<AgentRig['recover']>>) => boolean }[] = [
  { step: 'claimed', expect: (rep) => rep.stranded.length === 1 && rep.stranded[0]!.numeros.length === 20 },
  { step: 'journaled', expect: (rep) => rep.repacked.length === 1 && rep.repacked[0]!.by.length === 1 },
  { step: 'written', expect: (rep) => rep.markedPacked.length === 1 },
  { step: 'packed', expect: (rep) => rep.stranded.length === 0 && rep.repacked.length === 0 && rep.markedPacked.length === 0 },
];

for (const { step, expect } of PACK_STEPS) {
  test(`a crash after pack step "${step}": recovery loses nothing and every act ends exported once`, async (t) => {
    const r = await rig(t, { count: 45, maxRecords: 20 });
    const validated = r.at(2);
    let seen = 0;
    r.packHooks.afterStep = (s) => {
      if (s === step && ++seen === 2) throw new Crash(`after ${s}`);
    };
    await t.throwsAsync(r.exporter.pack(), { instanceOf: Crash });
    checkSafe(t, r, validated, 'after the crash');
    await r.restart();
    const report = await r.recover();
    t.true(expect(report), JSON.stringify(report));
    checkSafe(t, r, validated, 'after recovery');
    checkCovered(t, r, 'after recovery');
    t.deepEqual(r.at(4), []);
    await drainAndCheck(t, r, validated);
  });
}

test('a crash during recovery is recovered by the next start', async (t) => {
  const r = await rig(t, { count: 45, maxRecords: 20 });
  const validated = r.at(2);
  r.packHooks.afterStep = (s) => {
    if (s === 'claimed') throw new Crash('after the first claim');
  };
  await t.throwsAsync(r.exporter.pack(), { instanceOf: Crash });
  await r.restart();
  r.packHooks.afterStep = (s) => {
    if (s === 'journaled') throw new Crash('while recovery re-packs');
  };
  await t.throwsAsync(r.recover(), { instanceOf: Crash });
  await r.restart();
  const report = await r.recover();
  t.is(report.repacked.length, 1);
  checkCovered(t, r, 'after the second recovery');
  await drainAndCheck(t, r, validated);
});

const RECEIPT_STEPS: ReceiptStep[] = ['journaled', 'moved', 'applied'];
for (const step of RECEIPT_STEPS) {
  test(`a crash after receipt step "${step}": recovery finishes it, nothing reaches 4 without a merge`, async (t) => {
    const r = await rig(t, { count: 30, maxRecords: 10 });
    const validated = r.at(2);
    const { sdcs } = await r.exporter.pack();
    const receipts = r.hub.drain(r.spool);
    r.receiptHooks.afterStep = (s, { sequence }) => {
      if (s === step && sequence === sdcs[1]!.sequence) throw new Crash(`after ${s}`);
    };
    await r.applier.accept(receipts[0]!);
    await t.throwsAsync(r.applier.accept(receipts[1]!), { instanceOf: Crash });
    checkSafe(t, r, validated, 'after the crash');
    await r.restart();
    const report = await r.recover();
    // Before 'applied' the journal alone finishes the receipt; its inbox file is then found already applied.
    t.is(report.receiptsReapplied, step === 'applied' ? 0 : 1, JSON.stringify(report));
    t.like(report.inbox, [{ status: 'already-applied', sequence: sdcs[1]!.sequence }]);
    t.deepEqual(r.spool.listInbox(), []);
    t.deepEqual(r.at(4), validated.slice(0, 20), 'the first two SDCs are exported');
    t.false(r.spool.hasOutbox(sdcs[1]!.sequence));
    checkSafe(t, r, validated, 'after recovery');
    await drainAndCheck(t, r, validated);
    t.is(r.hub.replays, 1, 'only the third SDC, whose receipt was never delivered, went twice');
  });
}

test('a crash between the claim and the journal of an amendment still gives it version 2', async (t) => {
  const r = await rig(t, { count: 6 });
  await r.exporter.pack();
  await r.exchange();
  r.centre.prepare("UPDATE births SET mentions = 'Mention marginale', status = 2 WHERE numero IN (2, 5)").run();
  r.packHooks.afterStep = (s) => {
    if (s === 'claimed') throw new Crash('after the claim');
  };
  await t.throwsAsync(r.exporter.pack(), { instanceOf: Crash });
  await r.restart();
  const report = await r.recover();
  t.deepEqual(report.stranded.map((s) => s.numeros), [[2, 5]]);
  t.deepEqual(r.openOutbox()[0]!.records.map((x) => [x.numero, x[VERSION_COLUMN], x.mentions]), [[2, 2, 'Mention marginale'], [5, 2, 'Mention marginale']]);
  await r.exchange();
  t.deepEqual(r.at(4), [1, 2, 3, 4, 5, 6]);
  t.is(r.hub.merged.get('births|5|2')!.values.mentions, 'Mention marginale');
});

test('recovery deletes outbox files no open SDC owns and temp files left mid-write, and keeps waiting SDCs', async (t) => {
  const r = await rig(t, { count: 20, maxRecords: 10 });
  const { sdcs } = await r.exporter.pack();
  const [first] = r.hub.drain(r.spool);
  // The receipt was applied but the crash came before its SDC file was deleted.
  r.receiptHooks.afterStep = (s) => {
    if (s === 'applied') throw new Crash('before the outbox file went');
  };
  await t.throwsAsync(r.applier.accept(first!), { instanceOf: Crash });
  t.true(r.spool.hasOutbox(sdcs[0]!.sequence));
  r.spool.writeOutbox(42, new Uint8Array([1, 2, 3]));
  writeFileSync(join(r.spool.outboxDir, `.${sdcs[1]!.sequence + 1}.sdc.77.x.tmp`), 'half an SDC');
  writeFileSync(join(r.spool.inboxDir, '.001.sdc.77.y.tmp'), 'half a receipt');
  await r.restart();
  const report = await r.recover();
  t.is(report.tempFilesRemoved, 2);
  t.like(report.inbox, [{ status: 'already-applied', sequence: sdcs[0]!.sequence }], 'the receipt left in the inbox finishes the job');
  t.deepEqual(report.orphansDeleted, ['42.sdc']);
  t.deepEqual(r.spool.listOutbox().map((f) => f.sequence), [sdcs[1]!.sequence]);
  t.deepEqual(report.stranded, []);
  t.deepEqual(report.repacked, []);
  // The file of an SDC whose receipt was applied, with no receipt left to say so: the journal does.
  r.spool.writeOutbox(sdcs[0]!.sequence, new Uint8Array([9]));
  t.deepEqual((await r.recover()).orphansDeleted, [`${sdcs[0]!.sequence}.sdc`]);
  t.deepEqual(r.spool.listOutbox().map((f) => f.sequence), [sdcs[1]!.sequence]);
});

test('a closed centre database mid-pack fails the pack; recovery after restart finishes it', async (t) => {
  const r = await rig(t, { count: 25, maxRecords: 10 });
  const validated = r.at(2);
  r.packHooks.afterStep = async (s) => {
    if (s === 'claimed') await r.source.close();
  };
  const e = await t.throwsAsync(r.exporter.pack());
  t.is((e as { code?: string }).code, 'E_IO');
  checkSafe(t, r, validated, 'after the failure');
  await r.restart();
  const report = await r.recover();
  t.deepEqual(report.stranded.map((s) => s.numeros.length), [10]);
  await drainAndCheck(t, r, validated);
});
