import test from 'ava';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentStatus, formatAgentStatus } from '../agent/agent-status.js';
import { BatchPolicy, recordsPerSdc } from '../agent/batch-policy.js';
import { VERSION_COLUMN } from '../agent/exporter.js';
import { SdcKind, encodeReceipt, sealSdc } from '../protocol/index.js';
import { AgentRig, T0 } from './helpers/agent-rig.js';

const withRig = (o: Parameters<typeof AgentRig.create>[0], body: (t: import('ava').ExecutionContext, rig: AgentRig) => Promise<void>) =>
  async (t: import('ava').ExecutionContext) => {
    const rig = await AgentRig.create(o);
    t.teardown(() => rig.close());
    await body(t, rig);
  };

const statusOf = (rig: AgentRig) => agentStatus({
  centre: rig.config.centre, state: rig.state, source: rig.source, spool: rig.spool, tables: ['births'], receiptTimeoutSeconds: rig.config.batching.receiptTimeoutSeconds,
  link: { kind: 'mqtt', state: 'up' },
});

test('pack moves exactly the validated rows 2 -> 3 and the SDCs hold them, every column by name, with __version', withRig({ count: 50, maxRecords: 20, dictionary: true }, async (t, rig) => {
  rig.setStatus([3, 4], 1);
  rig.setStatus([5], 0);
  rig.setStatus([6], 4);
  const before = rig.centre.prepare('SELECT * FROM births ORDER BY numero').all() as Record<string, unknown>[];
  const validated = rig.at(2);
  const result = await rig.exporter.pack();

  t.is(result.records, validated.length);
  t.deepEqual(result.sdcs.map((s) => s.count), [20, 20, validated.length - 40]);
  t.deepEqual(rig.at(3), validated);
  t.deepEqual(rig.at(1), [3, 4]);
  t.deepEqual(rig.at(0), [5]);
  t.deepEqual(rig.at(4), [6]);
  const sdcs = rig.openOutbox();
  t.deepEqual(sdcs.map((s) => s.sequence), result.sdcs.map((s) => s.sequence));
  t.true(sdcs.every((s, i) => i === 0 || s.sequence > sdcs[i - 1]!.sequence), 'sequences increase');
  t.is(sdcs[0]!.sequence, T0, 'the first sequence comes from the clock, so a reinstalled agent never reuses one');
  const records = sdcs.flatMap((s) => s.records);
  t.deepEqual(records.map((r) => r.numero), validated);
  t.true(records.every((r) => r[VERSION_COLUMN] === 1 && r.status === 3));
  for (const s of sdcs) {
    t.is(s.header.sender, rig.config.centre);
    t.is(s.header.kind, SdcKind.data);
    t.is(s.header.count, s.records.length);
    t.is(s.header.dictId, rig.fx.dictionary.id, "the table's dictionary is used");
    t.deepEqual(s.batch.columns, [...Object.keys(before[0]!), VERSION_COLUMN]);
  }
  const original = new Map(before.map((r) => [r.numero as number, r]));
  for (const r of records) t.deepEqual({ ...r, status: 2, [VERSION_COLUMN]: undefined }, { ...original.get(r.numero as number), [VERSION_COLUMN]: undefined });
  t.deepEqual((await rig.exporter.pack()).sdcs, [], 'nothing validated is left');
}));

test('receipts move merged and duplicate records to 4, keep rejected ones at 3 with the reason shown by status', withRig({ count: 30, rejectIf: (_t, v) => (v.numero === 7 || v.numero === 21 ? 'mother_id_number is not a valid CNI number' : undefined) }, async (t, rig) => {
  await rig.exporter.pack();
  const receipts = rig.hub.drain(rig.spool);
  const results = [];
  for (const r of receipts) results.push(await rig.applier.accept(r));
  t.deepEqual(results.map((r) => r.status), ['applied', 'applied']);
  t.deepEqual(rig.at(3), [7, 21]);
  t.is(rig.at(4).length, 28);
  t.deepEqual(rig.spool.listOutbox(), [], 'the outbox SDCs went with their receipts');
  t.deepEqual(rig.spool.listInbox(), []);

  // The same receipt again (the hub answers a replay with its stored receipt): nothing changes.
  t.is((await rig.applier.accept(receipts[0]!)).status, 'already-applied');

  // Staff fix act 7 and validate it again: it goes out as version 2 and leaves the rejected list.
  rig.setStatus([7], 1);
  rig.setStatus([7], 2);
  const again = await rig.exporter.pack();
  t.is(again.records, 1);
  t.deepEqual(rig.openOutbox()[0]!.records.map((r) => [r.numero, r[VERSION_COLUMN]]), [[7, 2]]);
  const report = await statusOf(rig);
  t.deepEqual(report.rejected.map((r) => [r.numero, r.version, r.reason]), [[21, 1, 'mother_id_number is not a valid CNI number']]);
  t.is(report.tables[0]!.counts.inSdc, 2);
  t.regex(formatAgentStatus(report), /births 21 version 1 \(SDC #\d+\): mother_id_number is not a valid CNI number/);
}));

test('a duplicate outcome moves the record to 4 like a merge', withRig({ count: 5 }, async (t, rig) => {
  await rig.exporter.pack();
  const [sdc] = rig.openOutbox();
  const receipt = rig.hub.seal({ sdcSender: rig.config.centre, sdcSequence: BigInt(sdc!.sequence), accepted: true, entries: sdc!.records.map((r) => ({ numero: r.numero as number, version: 1, outcome: 'duplicate' as const })) });
  const res = await rig.applier.accept(receipt);
  t.like(res, { status: 'applied', duplicate: 5, merged: 0, moved: 5 });
  t.is(rig.at(4).length, 5);
}));

test('a receipt refusing the whole SDC keeps its records at 3 with the reason, and drops the SDC', withRig({ count: 4 }, async (t, rig) => {
  const { sdcs: [sdc] } = await rig.exporter.pack();
  const res = await rig.applier.accept(rig.hub.seal({ sdcSender: rig.config.centre, sdcSequence: BigInt(sdc!.sequence), accepted: false, reason: 'centre CM-CE-YDE-0001 is suspended', entries: [] }));
  t.like(res, { status: 'applied', accepted: false, rejected: 4, moved: 0 });
  t.deepEqual(rig.at(3), [1, 2, 3, 4]);
  t.false(rig.spool.hasOutbox(sdc!.sequence));
  const report = await statusOf(rig);
  t.is(report.rejected.length, 4);
  t.regex(report.rejected[0]!.reason, /refused SDC \d+: centre CM-CE-YDE-0001 is suspended/);
  t.like(report.lastReceipt, { sequence: sdc!.sequence, outcome: 'refused', reason: 'centre CM-CE-YDE-0001 is suspended' });
}));

test('an amendment (4 set back to 2 by the centre) goes out as version 2 and the hub keeps both', withRig({ count: 10 }, async (t, rig) => {
  await rig.exporter.pack();
  await rig.exchange();
  t.is(rig.at(4).length, 10);
  rig.centre.prepare("UPDATE births SET mentions = 'Rectifié par jugement n° 12/2024', status = 2 WHERE numero = 4").run();
  const { sdcs } = await rig.exporter.pack();
  t.is(sdcs.length, 1);
  const [opened] = rig.openOutbox();
  t.deepEqual(opened!.records.map((r) => [r.numero, r[VERSION_COLUMN], r.mentions]), [[4, 2, 'Rectifié par jugement n° 12/2024']]);
  await rig.exchange();
  t.is(rig.statuses().get(4), 4);
  t.truthy(rig.hub.merged.get('births|4|1'));
  t.is(rig.hub.merged.get('births|4|2')!.values.mentions, 'Rectifié par jugement n° 12/2024');
}));

test('a late receipt for an older version does not move a newer amendment to 4', withRig({ count: 3 }, async (t, rig) => {
  await rig.exporter.pack();
  const v1 = rig.hub.drain(rig.spool);
  // Staff reopen act 2 while its SDC is on the way, correct it, validate it again.
  rig.setStatus([2], 1);
  rig.centre.prepare("UPDATE births SET child_firstnames = 'Marie Claire', status = 2 WHERE numero = 2").run();
  await rig.exporter.pack();
  for (const r of v1) await rig.applier.accept(r);
  t.deepEqual(rig.at(4), [1, 3]);
  t.is(rig.statuses().get(2), 3, 'version 2 waits for its own receipt');
  await rig.exchange();
  t.is(rig.statuses().get(2), 4);
  t.is(rig.hub.merged.get('births|2|2')!.values.child_firstnames, 'Marie Claire');
}));

test('bodies stay within 1 MiB: a large chunk is split, a record too large alone is refused and kept at 3', withRig({ count: 12, maxRecords: 2000 }, async (t, rig) => {
  rig.centre.exec('ALTER TABLE births ADD COLUMN scan BLOB');
  const scan = (n: number, size: number) => rig.centre.prepare('UPDATE births SET scan = ? WHERE numero = ?').run(Buffer.alloc(size, n), n);
  for (let n = 1; n <= 10; n++) scan(n, 300 * 1024);
  scan(11, 1100 * 1024);
  const result = await rig.exporter.pack();
  t.true(result.sdcs.length >= 4, `${result.sdcs.length} SDCs`);
  t.is(result.records, 11);
  t.deepEqual(result.refused.map((r) => r.numero), [11]);
  for (const s of rig.openOutbox()) t.true(s.header.bodySize <= 1024 * 1024);
  await rig.exchange();
  t.deepEqual(rig.at(3), [11]);
  const report = await statusOf(rig);
  t.deepEqual(report.rejected.map((r) => [r.numero, r.sequence]), [[11, 0]]);
  t.regex(formatAgentStatus(report), /births 11 version 1 \(refused by the agent\): record 11 of births takes \d+ bytes encoded, over the 1048576-byte limit/);
  t.deepEqual((await rig.recover()).stranded, [], 'a refused record is not re-packed at every start');
}));

test('a tampered receipt is quarantined with a reason file and changes nothing', withRig({ count: 5 }, async (t, rig) => {
  await rig.exporter.pack();
  const [receipt] = rig.hub.drain(rig.spool);
  const bad = receipt!.slice();
  bad[bad.length - 40] ^= 0x55;
  const res = await rig.applier.accept(bad);
  t.is(res.status, 'quarantined');
  t.is(rig.at(3).length, 5);
  t.is(rig.spool.listOutbox().length, 1);
  t.deepEqual(rig.spool.listInbox(), []);
  const [q] = rig.spool.listQuarantine();
  t.truthy(q);
  t.true(existsSync(`${q!.path}.reason`));
  t.regex(readFileSync(`${q!.path}.reason`, 'utf8'), /could not be applied as a receipt: E_[A-Z_]+: /);
  t.like(await rig.applier.accept(receipt!), { status: 'applied', merged: 5 });
}));

test('a receipt signed by another key, or for another centre, is quarantined', withRig({ count: 5 }, async (t, rig) => {
  const { sdcs: [sdc] } = await rig.exporter.pack();
  const entries = [1, 2, 3, 4, 5].map((numero) => ({ numero, version: 1, outcome: 'merged' as const }));
  const impostor = rig.fx.pki.issue('hub', 'hub');
  const forged = rig.hub.seal({ sdcSender: rig.config.centre, sdcSequence: BigInt(sdc!.sequence), accepted: true, entries }, impostor);
  t.like(await rig.applier.accept(forged), { status: 'quarantined', code: 'E_UNKNOWN_SIGNER' });
  const elsewhere = rig.hub.seal({ sdcSender: 'CM-LT-DLA-0002', sdcSequence: BigInt(sdc!.sequence), accepted: true, entries });
  t.like(await rig.applier.accept(elsewhere), { status: 'quarantined', code: 'E_MALFORMED' });
  const notReceipt = sealSdc(rig.fx.compressor, encodeReceipt({ sdcSender: rig.config.centre, sdcSequence: BigInt(sdc!.sequence), accepted: true, entries }), {
    kind: SdcKind.importAnswer, sender: 'hub', sequence: 9n, count: 0, signerKey: rig.fx.pki.hub.key, signerCert: rig.fx.pki.hub.cert, recipientCert: rig.fx.pki.centre.cert,
  });
  t.like(await rig.applier.accept(notReceipt), { status: 'quarantined', code: 'E_MALFORMED' });
  t.is(rig.at(3).length, 5, 'nothing moved to 4');
  const quarantined = rig.spool.listQuarantine();
  t.is(quarantined.length, 3);
  const reasons = quarantined.map((q) => q.reason).join('\n');
  t.regex(reasons, /E_UNKNOWN_SIGNER: .*must be signed with the hub's certificate/);
  t.regex(reasons, /for an SDC of centre CM-LT-DLA-0002, not of this centre/);
  t.regex(reasons, /kind importAnswer came where a receipt was expected/);
  t.is(readdirSync(rig.spool.quarantineDir).filter((n) => n.endsWith('.reason')).length, 3);
}));

test('a receipt for an unknown sequence is harmless', withRig({ count: 2 }, async (t, rig) => {
  const res = await rig.applier.accept(rig.hub.seal({ sdcSender: rig.config.centre, sdcSequence: 12345n, accepted: true, entries: [{ numero: 1, version: 1, outcome: 'merged' }] }));
  t.deepEqual(res, { status: 'unknown-sdc', sequence: 12345 });
  t.deepEqual(rig.at(2), [1, 2]);
  t.deepEqual(rig.spool.listInbox(), []);
}));

test('batch policy: packs at minRecords, or when the oldest pending has waited maxAgeSeconds', (t) => {
  let now = T0;
  const policy = new BatchPolicy({ minRecords: 100, maxAgeSeconds: 60 }, () => now);
  t.like(policy.decide('births', 0), { pack: false });
  t.like(policy.decide('births', 1), { pack: false, dueInMs: 60_000 });
  now += 59_000;
  t.like(policy.decide('births', 5), { pack: false, waitedMs: 59_000, dueInMs: 1_000 });
  now += 1_000;
  t.like(policy.decide('births', 5), { pack: true, reason: 'age' }, 'a lone act does not wait forever');
  policy.packed('births');
  t.like(policy.decide('births', 3), { pack: false, waitedMs: 0 }, 'the wait starts again after a pack');
  t.like(policy.decide('births', 100), { pack: true, reason: 'size' });
  t.like(policy.decide('deaths', 99), { pack: false }, 'each table waits on its own');
  t.like(policy.decide('births', 0), { pack: false, pending: 0 });
  now += 120_000;
  t.like(policy.decide('births', 1), { pack: false, waitedMs: 0 }, 'an emptied backlog forgets its age');
});

test('a slow link gets SDCs of about a minute of airtime, by the bytes records took in recent SDCs', (t) => {
  t.is(recordsPerSdc(2000, 1000, []), 2000, 'Internet: the configured most');
  t.is(recordsPerSdc(2000, 22, []), 1650, 'Certus at 22 kbps, 100 bytes a record guessed: 2,750 B/s for 60 s');
  t.is(recordsPerSdc(2000, 22, [{ bytes: 80_000, count: 1000 }, { bytes: null, count: 5 }]), 2000, '80 bytes a record measured: 2,062 fit');
  t.is(recordsPerSdc(2000, 2.4, [{ bytes: 80_000, count: 1000 }]), 225, 'Iridium CSD');
  t.is(recordsPerSdc(2000, 0.01, [{ bytes: 1e6, count: 1 }]), 1, 'never none');
});

test('batch policy with the source: a backlog goes out in SDCs of maxRecords', withRig({ count: 450, maxRecords: 200 }, async (t, rig) => {
  const policy = new BatchPolicy(rig.config.batching, rig.clock);
  const [d] = await policy.check(rig.source, ['births']);
  t.like(d, { pack: true, reason: 'size', pending: 450 });
  const { sdcs } = await rig.exporter.pack();
  t.deepEqual(sdcs.map((s) => s.count), [200, 200, 50]);
  policy.packed('births');
  rig.centre.prepare('INSERT INTO births (status, niu) VALUES (2, ?)').run('late act');
  t.like((await policy.check(rig.source, ['births']))[0], { pack: false, pending: 1 });
  rig.now += 60_000;
  t.like((await policy.check(rig.source, ['births']))[0], { pack: true, reason: 'age' });
  t.deepEqual((await rig.exporter.pack()).sdcs.map((s) => s.count), [1]);
}));

test('status report: backlog by status, SDCs waiting (overdue after the timeout), last receipt, link usage; text and JSON', withRig({ count: 30, maxRecords: 10 }, async (t, rig) => {
  rig.setStatus([30], 1);
  const { sdcs } = await rig.exporter.pack();
  rig.state.markSent(sdcs[0]!.sequence);
  rig.state.addUsage('mqtt', { bytesUp: 4096, messagesUp: 1, sessions: 1 });
  const receipt = rig.hub.ingest(rig.spool.readOutbox(sdcs[1]!.sequence));
  rig.now += 601_000;
  await rig.applier.accept(receipt);
  const report = await statusOf(rig);
  t.deepEqual(report.tables, [{ table: 'births', counts: { cancelled: 0, new: 1, validated: 0, inSdc: 19, exported: 10, other: 0 } }]);
  t.deepEqual(report.awaitingReceipt.map((s) => [s.sequence, s.count, s.overdue]), [[sdcs[0]!.sequence, 10, true], [sdcs[2]!.sequence, 9, false]]);
  t.like(report.lastReceipt, { sequence: sdcs[1]!.sequence, outcome: 'accepted' });
  t.like(report.link, { kind: 'mqtt', state: 'up' });
  t.like(report.link.usage[0], { link: 'mqtt', day: '2024-05-01', bytesUp: 4096, sessions: 1 });
  t.is(report.spool.outbox, 2);
  t.deepEqual(JSON.parse(JSON.stringify(report)), report, 'the report is plain JSON');
  const text = formatAgentStatus(report);
  t.log(text);
  t.regex(text, /births\s+0\s+1\s+0\s+19\s+10/);
  t.regex(text, /SDCs waiting for a receipt: 2 \(1 overdue/);
  t.regex(text, /mqtt: today 4\.0 KB up/);
}));

test('spool: outbox oldest first, temp files ignored, quarantine keeps a reason beside the file', withRig({ count: 1 }, async (t, rig) => {
  const { spool } = rig;
  for (const s of [100, 9, 1000]) spool.writeOutbox(s, new Uint8Array([s & 0xff]));
  writeFileSync(join(spool.outboxDir, '.5.sdc.123.abc.tmp'), 'half');
  writeFileSync(join(spool.outboxDir, 'notes.txt'), 'not an SDC');
  t.deepEqual(spool.listOutbox().map((f) => f.sequence), [9, 100, 1000]);
  const a = spool.writeInbox(new Uint8Array([1]));
  rig.now += 1;
  spool.writeInbox(new Uint8Array([2]));
  t.deepEqual(spool.listInbox().map((f) => f.name)[0], a.name);
  const q = spool.quarantine(a.path, 'bad signature');
  t.is(readFileSync(`${q.path}.reason`, 'utf8'), 'bad signature\n');
  rig.now = T0;
  const b = spool.writeInbox(new Uint8Array([1]));
  t.is(b.name, a.name);
  t.not(spool.quarantine(b.path, 'again').name, q.name, 'a second file of the same name does not overwrite the first');
  t.is(spool.removeTempFiles(), 1);
  t.false(spool.removeOutbox(5));
  t.true(spool.removeOutbox(9));
}));
