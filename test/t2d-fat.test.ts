import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Stick } from '../common/t2d-stick.js';
import { startPostgres, type PostgresCluster } from '../scripts/services/postgres-cluster.js';
import { FatImage } from './helpers/fat-image.js';
import { T2dRig, type T2dCentre } from './helpers/t2d-rig.js';

/*
 * The stick code on a real FAT file system (what USB sticks carry), in an
 * image on a loop device: mounted, pulled, full, write-protected.
 */
const unavailable = FatImage.unavailable();
const fat = unavailable ? test.skip : test;
const PULL_CHILD = fileURLToPath(new URL('helpers/stick-pull-child.js', import.meta.url));
const title = (what: string) => (unavailable ? `${what} [skipped: FAT images cannot be mounted here: ${unavailable}]` : what);

let pg: PostgresCluster | undefined;
test.before(async () => {
  if (!unavailable) pg = await startPostgres();
});
test.after.always(async () => {
  await pg?.stop();
});

async function setup(t: ExecutionContext, name: string, kib: number) {
  const r = await T2dRig.create(pg!, name);
  t.teardown(() => r.close());
  const dir = mkdtempSync(join(tmpdir(), `tamtam-fat-${name}-`));
  const image = FatImage.create(dir, kib);
  t.teardown(async () => {
    try {
      await image.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return { r, image, centreAt: join(dir, 'centre'), hubAt: join(dir, 'hub') };
}

/** Fills the mounted stick but `leave` bytes; returns the filler's path. */
function fill(at: string, leave: number): string {
  const { bavail, bsize } = statfsSync(at);
  const path = join(at, 'filler.bin');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  try {
    for (let left = bavail * bsize - leave; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, left));
  } finally {
    closeSync(fd);
  }
  return path;
}

const upFiles = (at: string, c: T2dCentre) => readdirSync(join(at, 'tamtam', 'up', c.matricule)).filter((n) => n !== 'MANIFEST.json').sort();

async function finish(t: ExecutionContext, r: T2dRig, image: FatImage, a: T2dCentre, at: { centreAt: string; hubAt: string }, sent: number[]) {
  await image.mount(at.hubAt);
  const report = await r.import(at.hubAt);
  await image.unmount();
  t.is(report.receiptError, undefined);
  await image.mount(at.centreAt);
  await r.exchange(a, at.centreAt);
  await image.unmount();
  t.deepEqual(a.at(3), [], 'every SDC answered');
  t.deepEqual(a.at(4), sent);
  const central = await r.central(a);
  t.deepEqual(central.numeros, sent);
  t.is(central.rows, sent.length, 'each act once');
}

fat(title('round trip through a FAT stick that the centre and the hub mount in turn'), async (t) => {
  const { r, image, centreAt, hubAt } = await setup(t, 'fat_round_trip', 8192);
  const a = await r.addCentre('CM-FAT-RT-01', { count: 120 });
  const sent = a.at(2);
  await image.mount(centreAt);
  const out = await r.exchange(a, centreAt);
  await image.unmount();
  t.true(out.written >= 5, JSON.stringify(out));
  t.deepEqual(out.errors, []);
  await image.mount(hubAt, { readOnly: false });
  const report = await r.import(hubAt);
  await image.unmount();
  t.like(report.centres[0], { centre: a.matricule, read: out.written, records: sent.length, receiptsWritten: out.written, quarantined: 0 });
  await image.mount(centreAt);
  t.is((await r.exchange(a, centreAt)).receiptsApplied, out.written);
  await image.unmount();
  t.is(image.check(), '', 'fsck.vfat finds the file system sound');
  t.deepEqual(a.at(4), sent);
  t.deepEqual((await r.central(a)).numeros, sent);
});

for (const at of ['write', 'rename'] as const) {
  const when = at === 'write' ? 'half-way through writing an SDC' : 'between renaming an SDC and listing it';
  fat(title(`a stick pulled ${when} (writer killed, umount -l) lists no partial file, and the next exchange writes what is missing`), async (t) => {
    const { r, image, centreAt, hubAt } = await setup(t, `fat_pulled_${at}`, 8192);
    const a = await r.addCentre(`CM-FAT-PL-${at.toUpperCase()}`, { count: 200 });
    const sent = a.at(2);
    await image.mount(centreAt);
    const writer = spawn(process.execPath, [PULL_CHILD, a.configPath, centreAt, at, '3'], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => void writer.kill('SIGKILL'));
    const [, signal] = await once(writer, 'exit') as [number | null, NodeJS.Signals | null];
    t.is(signal, 'SIGKILL', 'the writer died on the third SDC');
    await image.unmount({ lazy: true });

    await image.mount(centreAt);
    const stick = Stick.open(centreAt);
    const listed = stick.list('up', a.matricule);
    for (const f of listed) t.notThrows(() => stick.read(f), `${f.name} is listed, so it must be whole`);
    t.is(listed.length, 2, 'the two SDCs written before the pull are listed, the third is not');
    const leftovers = upFiles(centreAt, a).filter((n) => !listed.some((f) => f.name === n));
    t.is(leftovers.length, 1, `what the pull left: ${leftovers.join(', ')}`);
    t.regex(leftovers[0]!, at === 'write' ? /^\..*\.tmp$/ : /^\d+\.sdc$/);

    const outbox = r.outbox(a);
    const again = await r.exchange(a, centreAt);
    t.deepEqual(again.errors, []);
    t.is(again.alreadyThere, 2, 'whole files are not written twice');
    t.is(again.written, outbox - 2);
    t.deepEqual(upFiles(centreAt, a), stick.list('up', a.matricule).map((f) => f.name).sort(), 'the leftover is cleaned away');
    await image.unmount();
    await finish(t, r, image, a, { centreAt, hubAt }, sent);
  });
}

fat(title('a full FAT stick: E_NO_SPACE reported at the centre and at the hub, nothing lost, all done once there is room'), async (t) => {
  const { r, image, centreAt, hubAt } = await setup(t, 'fat_full', 1024);
  const a = await r.addCentre('CM-FAT-FU-01', { count: 120 });
  const later = a.at(2).filter((n) => n > 30);
  a.setStatus(later, 1);
  // A stick in use for a while: its folders are there when it fills up.
  await image.mount(centreAt);
  await r.exchange(a, centreAt);
  await image.unmount();
  await finish(t, r, image, a, { centreAt, hubAt }, a.at(2, 3, 4));
  a.setStatus(later, 2);

  await image.mount(centreAt);
  const filler = fill(centreAt, 2048);
  const full = await r.exchange(a, centreAt);
  t.is(full.errors[0]?.code, 'E_NO_SPACE', JSON.stringify(full.errors));
  t.regex(full.errors[0]!.message, /full/);
  t.is(full.written, 0);
  t.deepEqual(a.at(3), later, 'the records wait in the outbox, collected');
  unlinkSync(filler);
  const out = await r.exchange(a, centreAt);
  t.deepEqual(out.errors, []);
  t.is(out.written, r.outbox(a));
  fill(centreAt, 0);
  await image.unmount();

  await image.mount(hubAt);
  const report = await r.import(hubAt);
  t.is(report.receiptError?.code, 'E_NO_SPACE');
  t.like(report.centres[0], { read: out.written, records: later.length, receiptsWritten: 0, failed: 0 });
  t.is(upFiles(hubAt, a).length, out.written, 'an SDC whose receipt could not be written stays on the stick');
  unlinkSync(join(hubAt, 'filler.bin'));
  const second = await r.import(hubAt);
  t.like(second.centres[0], { read: out.written, merged: 0, replays: out.written, receiptsWritten: out.written });
  await image.unmount();
  await image.mount(centreAt);
  await r.exchange(a, centreAt);
  await image.unmount();
  t.deepEqual(a.at(3), []);
  const central = await r.central(a);
  t.deepEqual(central.numeros, a.at(4));
  t.is(central.rows, a.at(4).length, 'each act once');
});

fat(title('a FAT stick mounted read-only: E_READ_ONLY reported, the hub still merges, receipts follow on the next rw insertion'), async (t) => {
  const { r, image, centreAt, hubAt } = await setup(t, 'fat_read_only', 4096);
  const a = await r.addCentre('CM-FAT-RO-01', { count: 60, newEvery: 4 });
  await image.mount(centreAt);
  const out = await r.exchange(a, centreAt);
  await image.unmount();
  const first = a.at(3);

  a.db.prepare('UPDATE births SET status = 2 WHERE status = 1').run();
  await image.mount(centreAt, { readOnly: true });
  const ro = await r.exchange(a, centreAt);
  t.is(ro.errors[0]?.code, 'E_READ_ONLY', JSON.stringify(ro.errors));
  t.regex(ro.errors[0]!.message, /write-protect|read-write/);
  t.is(ro.alreadyThere, out.written);
  await image.unmount();

  await image.mount(hubAt, { readOnly: true });
  const report = await r.import(hubAt);
  await image.unmount();
  t.is(report.receiptError?.code, 'E_READ_ONLY');
  t.like(report.centres[0], { read: out.written, records: first.length, receiptsWritten: 0, failed: 0 });
  t.is((await r.central(a)).rows, first.length, 'merged all the same: the stick being read-only stops only the answers');

  await image.mount(centreAt);
  t.is((await r.exchange(a, centreAt)).receiptsApplied, 0, 'no receipt could be written');
  await image.unmount();
  await finish(t, r, image, a, { centreAt, hubAt }, a.at(3));
});
