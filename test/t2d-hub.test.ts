import test from 'ava';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stick } from '../common/t2d-stick.js';
import { loadHubHome } from '../hub/hub-home.js';
import { startHub, type HubLog } from '../hub/hub-runtime.js';
import { listQuarantine } from '../hub/ingest/quarantine.js';
import type { StickImportReport } from '../hub/t2d/stick-import.js';
import { encodeBatch, batchFromObjects, loadCompressor, peekSdc, sealSdc, SdcKind } from '../protocol/index.js';
import { freePort } from '../scripts/services/free-port.js';
import { startPostgres, type PostgresCluster } from '../scripts/services/postgres-cluster.js';
import { T2dRig, type T2dCentre } from './helpers/t2d-rig.js';

let pg: PostgresCluster;
test.before(async () => {
  pg = await startPostgres();
});
test.after.always(async () => {
  await pg?.stop();
});

async function rig(t: { teardown(fn: () => Promise<void>): void }, name: string, hub: Parameters<typeof T2dRig.create>[2] = {}): Promise<T2dRig> {
  const r = await T2dRig.create(pg, name, hub);
  t.teardown(() => r.close());
  return r;
}

const stickDir = (r: T2dRig, name = 'stick') => {
  const dir = join(r.dir, name);
  mkdirSync(dir, { recursive: true });
  return dir;
};

/** Files actually in a stick folder, manifest aside. */
const filesIn = (root: string, sub: string) => (existsSync(join(root, 'tamtam', sub)) ? readdirSync(join(root, 'tamtam', sub)).filter((n) => n !== 'MANIFEST.json').sort() : []);

const summaryOf = (report: StickImportReport, centre: T2dCentre) => report.centres.find((c) => c.centre === centre.matricule)!;

test('round trip: centre -> stick -> hub -> stick -> centre leaves every validated act once at the hub and at status 4 at home', async (t) => {
  const r = await rig(t, 'round_trip');
  const a = await r.addCentre('CM-T2D-RT-01', { count: 120 });
  const validated = a.at(2);
  const fresh = a.at(1);
  const root = stickDir(r);

  const out = await r.exchange(a, root);
  t.true(out.written >= 5, `108 validated acts packed into several SDCs (maxRecords 25), not ${out.written}`);
  t.is(out.errors.length, 0, JSON.stringify(out.errors));
  t.deepEqual(a.at(3), validated, 'collected, not yet exported: no receipt yet');

  const logged: string[] = [];
  const log: HubLog = { info: (e) => logged.push(e), error: (e) => logged.push(e) };
  const report = await r.import(root, log);
  const s = summaryOf(report, a);
  t.like(s, { read: out.written, records: validated.length, duplicates: 0, refused: 0, quarantined: 0, failed: 0, receiptsWritten: out.written });
  t.deepEqual(filesIn(root, `up/${a.matricule}`), [], 'every up file whose receipt is written leaves the stick');
  t.is(filesIn(root, `down/${a.matricule}`).length, out.written);
  t.true(filesIn(root, `down/${a.matricule}`).every((n) => /^\d+-[0-9a-f]{8}\.sdc$/.test(n)));
  t.is(logged.at(-1), 'stick_done', 'the last word is that the stick can be pulled');

  const back = await r.exchange(a, root);
  t.is(back.receiptsApplied, out.written);
  t.deepEqual(a.at(4), validated, 'every validated act exported');
  t.deepEqual(a.at(1), fresh, 'new acts stay home untouched');
  const central = await r.central(a);
  t.deepEqual(central.numeros, validated);
  t.is(central.rows, validated.length, 'each act once');
  t.deepEqual(filesIn(root, `down/${a.matricule}`), [], 'applied receipts leave the stick');
});

test('one stick carries two centres: each one\'s SDCs are merged as its own and each gets its receipts in its place', async (t) => {
  const r = await rig(t, 'two_centres');
  const [a, b] = [await r.addCentre('CM-T2D-AA-01', { count: 40 }), await r.addCentre('SN-T2D-BB-02', { count: 30, newEvery: 3 })];
  const root = stickDir(r);
  const wrote = [await r.exchange(a, root), await r.exchange(b, root)];
  const validated = [a.at(3), b.at(3)];

  const report = await r.import(root);
  t.deepEqual(report.centres.map((c) => c.centre).sort(), [a.matricule, b.matricule].sort());
  t.like(summaryOf(report, a), { read: wrote[0]!.written, records: validated[0]!.length, receiptsWritten: wrote[0]!.written, quarantined: 0 });
  t.like(summaryOf(report, b), { read: wrote[1]!.written, records: validated[1]!.length, receiptsWritten: wrote[1]!.written, quarantined: 0 });
  t.is(filesIn(root, `down/${a.matricule}`).length, wrote[0]!.written);
  t.is(filesIn(root, `down/${b.matricule}`).length, wrote[1]!.written);

  t.is((await r.exchange(b, root)).receiptsApplied, wrote[1]!.written, 'b takes only its own receipts');
  t.is(filesIn(root, `down/${a.matricule}`).length, wrote[0]!.written, "a's receipts wait on the stick for a");
  t.is((await r.exchange(a, root)).receiptsApplied, wrote[0]!.written);
  t.deepEqual([a.at(4), b.at(4)], validated);
  t.deepEqual((await r.central(a)).numeros, validated[0]);
  t.deepEqual((await r.central(b)).numeros, validated[1]);
});

test('tampered, foreign and misfiled files are quarantined or ignored with a clear report; the rest is imported and nothing else disturbed', async (t) => {
  const r = await rig(t, 'bad_files');
  const [a, b] = [await r.addCentre('CM-T2D-OK-01', { count: 30 }), await r.addCentre('CM-T2D-XX-02', { count: 10 })];
  const root = stickDir(r);
  const out = await r.exchange(a, root);
  const stick = Stick.open(root);
  const ups = stick.list('up', a.matricule);
  // Damaged in place: the manifest still lists the old bytes.
  const damaged = ups[0]!;
  const bytes = readFileSync(damaged.path);
  bytes[bytes.length - 40] ^= 0xff;
  writeFileSync(damaged.path, bytes);
  stick.write('up', a.matricule, 'notes.sdc', new TextEncoder().encode('meeting at 10, bring the register'));
  // Says it is a's, signed with b's key.
  const compressor = await loadCompressor();
  const body = encodeBatch(batchFromObjects('births', [{ numero: 1, status: 2, __version: 1 }]));
  stick.write('up', a.matricule, '999.sdc', sealSdc(compressor, body, {
    kind: SdcKind.data, sender: a.matricule, sequence: 999n, count: 1, signerKey: b.party.key, signerCert: b.party.cert, recipientCert: r.home.hubCert,
  }));
  // b's own SDC, put in a's folder by hand: its signature says whose it is.
  const bStick = stickDir(r, 'b-stick');
  await r.exchange(b, bStick);
  const misfiled = Stick.open(bStick).list('up', b.matricule).map((f) => readFileSync(f.path)).find((x) => peekSdc(x).header.kind === SdcKind.data)!;
  stick.write('up', a.matricule, 'from-b.sdc', misfiled);
  writeFileSync(join(root, 'tamtam', 'up', a.matricule, 'holiday photo.jpg'), 'not ours');
  writeFileSync(join(root, 'tamtam', 'README.txt'), 'stick of the district office');
  writeFileSync(join(root, 'letter.docx'), 'a letter');

  const report = await r.import(root);
  const s = summaryOf(report, a);
  t.like(s, { read: out.written + 3, merged: out.written, quarantined: 3, failed: 0, receiptsWritten: out.written });
  const problem = (file: string) => s.problems.find((p) => p.file === `up/${a.matricule}/${file}`);
  t.like(problem(damaged.name), { outcome: 'quarantined' });
  t.like(problem('notes.sdc'), { outcome: 'quarantined' });
  t.like(problem('999.sdc'), { outcome: 'quarantined', code: 'E_UNKNOWN_SIGNER' });
  t.true(report.files.find((f) => f.file.endsWith(damaged.name))!.damaged);
  t.like(problem('from-b.sdc'), { outcome: 'merged', reason: `found in up/${a.matricule}/ but signed by centre ${b.matricule}: its receipt goes to down/${b.matricule}/` });
  t.is(filesIn(root, `down/${b.matricule}`).length, 1);
  t.true(report.notices.some((n) => n.includes('holiday photo.jpg')), report.notices.join('\n'));
  t.is((await listQuarantine(r.db)).filter((q) => q.via === 't2d').length, 3, "the hub keeps every refused file's bytes with why");
  t.is(readFileSync(join(root, 'letter.docx'), 'utf8'), 'a letter');
  t.is(readFileSync(join(root, 'tamtam', 'README.txt'), 'utf8'), 'stick of the district office');
  t.true(existsSync(join(root, 'tamtam', 'up', a.matricule, 'holiday photo.jpg')));

  // The damaged SDC is still in a's outbox: the next insertion carries it again, and it is merged then.
  const back = await r.exchange(a, root);
  t.is(back.receiptsApplied, out.written - 1);
  t.is(back.written, 1);
  t.like(summaryOf(await r.import(root), a), { read: 1, merged: 1, quarantined: 0 });
  await r.exchange(a, root);
  t.deepEqual(a.at(3), []);
  t.is((await r.central(a)).rows, a.at(4).length);
  t.deepEqual((await r.central(b)).numeros, b.at(3), "b's genuine SDC, and nothing else, reached the central table in b's name");
});

test('importing the same stick twice merges nothing twice and writes the same receipts', async (t) => {
  const r = await rig(t, 'twice');
  const a = await r.addCentre('CM-T2D-TW-01', { count: 50 });
  const root = stickDir(r);
  const out = await r.exchange(a, root);
  const copy = join(r.dir, 'copy');
  cpSync(join(root, 'tamtam'), copy, { recursive: true });

  const first = summaryOf(await r.import(root), a);
  const receipts = filesIn(root, `down/${a.matricule}`);
  rmSync(join(root, 'tamtam', 'up'), { recursive: true });
  cpSync(join(copy, 'up'), join(root, 'tamtam', 'up'), { recursive: true });
  const second = summaryOf(await r.import(root), a);
  t.like(first, { read: out.written, merged: out.written, replays: 0 });
  t.like(second, { read: out.written, merged: 0, records: 0, duplicates: 0, replays: out.written, receiptsWritten: out.written });
  t.deepEqual(filesIn(root, `down/${a.matricule}`), receipts, 'a replay answers with the same receipt, under the same name');
  const central = await r.central(a);
  t.is(central.rows, first.records);
  t.is(central.keys, central.rows);
});

test('a hub with t2dRoots imports a stick when it appears under its root, and logs when it can be pulled', async (t) => {
  const media = mkdtempSync(join(tmpdir(), 'tamtam-media-'));
  t.teardown(() => rmSync(media, { recursive: true, force: true }));
  const r = await rig(t, 'watched', { t2dRoots: [media], mqttPort: await freePort() });
  const a = await r.addCentre('CM-T2D-WA-01', { count: 30 });
  const staging = stickDir(r, 'staging');
  const out = await r.exchange(a, staging);

  const events: { event: string; fields: Record<string, unknown> }[] = [];
  const log: HubLog = { info: (event, fields = {}) => events.push({ event, fields }), error: (event, fields = {}) => events.push({ event, fields }) };
  let imported!: (report: StickImportReport) => void;
  const done = new Promise<StickImportReport>((resolve) => (imported = resolve));
  const hub = await startHub(loadHubHome(r.home.dir), { log, onStickImported: (rep) => imported(rep), t2dWatch: { mountsOnly: false, usb: false, debounceMs: 50, pollMs: 200 } });
  t.teardown(() => hub.stop());

  const mount = join(media, 'DISTRICT-1');
  renameSync(staging, mount);
  const report = await done;
  t.is(report.root, mount);
  t.like(summaryOf(report, a), { read: out.written, records: a.at(3).length, receiptsWritten: out.written });
  const names = events.map((e) => e.event);
  t.true(names.indexOf('stick_inserted') < names.indexOf('stick_done'));
  t.regex(String(events.find((e) => e.event === 'stick_done')!.fields.message), /can be pulled/);
  t.is(events.filter((e) => e.event === 'stick_sdc').length, out.written, 'each SDC read is logged');

  await r.exchange(a, mount);
  t.deepEqual(a.at(3), []);
  t.is((await r.central(a)).rows, a.at(4).length);
});
