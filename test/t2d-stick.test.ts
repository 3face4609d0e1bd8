import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, statfsSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STICK_FOLDER, Stick } from '../common/t2d-stick.js';
import { isTamtamError } from '../protocol/errors.js';
import { tmpfsSkipReason } from './helpers/mounts.js';

const bytes = (n: number, fill = 0x41) => new Uint8Array(n).fill(fill);
const folder = (root: string, ...parts: string[]) => join(root, STICK_FOLDER, ...parts);
const manifestOf = (root: string, direction: string, centre: string) => JSON.parse(readFileSync(folder(root, direction, centre, 'MANIFEST.json'), 'utf8'));

function tempRoot(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-stick-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A small tmpfs as a stick; undefined (with why) where this machine cannot mount. */
function mountSmallStick(t: ExecutionContext): { root: string; why?: string } {
  const root = tempRoot(t);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', root], { stdio: 'pipe' });
  } catch (e) {
    return { root, why: `cannot mount a tmpfs here (${(e as Error).message.split('\n')[0]}): needs root` };
  }
  t.teardown(() => execFileSync('umount', [root]));
  return { root };
}

const canMount = tmpfsSkipReason;
const mountTest = canMount ? test.skip : test.serial;

test('layout: up/<centre>/ and down/<centre>/ with a manifest each; list, read, remove; a repeated write changes nothing', (t) => {
  const root = tempRoot(t);
  const stick = Stick.open(root);
  t.false(existsSync(folder(root)), 'nothing is written until a write');
  const sdc = randomBytes(3000);
  const up = stick.write('up', 'CM-CE-YDE-0001', '1714550400001.sdc', sdc);
  stick.write('up', 'CM-CE-YDE-0001', '1714550400002.sdc', bytes(10));
  const down = stick.write('down', 'SN-DKR-02', '77-0a1b2c3d.sdc', bytes(20, 7));
  t.is(up.path, folder(root, 'up', 'CM-CE-YDE-0001', '1714550400001.sdc'));
  t.deepEqual(readFileSync(up.path), sdc);
  const m = manifestOf(root, 'up', 'CM-CE-YDE-0001');
  t.is(m.format, 'tamtam-t2d');
  t.is(m.version, 1);
  t.deepEqual(m.files['1714550400001.sdc'], { size: 3000, sha256: up.sha256 });
  t.deepEqual(Object.keys(m.files), ['1714550400001.sdc', '1714550400002.sdc']);
  t.deepEqual(stick.centres('up'), ['CM-CE-YDE-0001']);
  t.deepEqual(stick.centres('down'), ['SN-DKR-02']);
  t.deepEqual(stick.list('up').map((f) => f.name), ['1714550400001.sdc', '1714550400002.sdc']);
  t.deepEqual(stick.list('down', 'SN-DKR-02'), [down]);
  t.deepEqual(stick.list('down', 'nobody'), []);
  t.deepEqual(Buffer.from(Stick.open(root).read(up)), sdc);

  const before = statSync(up.path).mtimeMs;
  t.deepEqual(stick.write('up', 'CM-CE-YDE-0001', '1714550400001.sdc', sdc), up);
  t.is(statSync(up.path).mtimeMs, before, 'the same bytes under the same name are not written again');
  const changed = stick.write('up', 'CM-CE-YDE-0001', '1714550400002.sdc', bytes(11));
  t.is(manifestOf(root, 'up', 'CM-CE-YDE-0001').files['1714550400002.sdc'].size, 11);
  t.deepEqual(stick.read(changed), bytes(11));

  stick.remove(up);
  t.false(existsSync(up.path));
  t.deepEqual(Object.keys(manifestOf(root, 'up', 'CM-CE-YDE-0001').files), ['1714550400002.sdc']);
  t.is(stick.cleanTemp(), 0);
  t.deepEqual(readdirSync(folder(root, 'up', 'CM-CE-YDE-0001')).sort(), ['1714550400002.sdc', 'MANIFEST.json']);
  t.throws(() => stick.write('up', '..', 'x.sdc', bytes(1)), { code: 'E_BAD_INPUT' } as never);
  t.throws(() => stick.write('up', 'C1', '.hidden', bytes(1)), { code: 'E_BAD_INPUT' } as never);
  t.throws(() => Stick.open(join(root, 'not-mounted')), { code: 'E_IO', message: /cannot read the USB stick/ } as never);
});

test('foreign files and folders are ignored and reported once; unlisted and temp files are ignored, then cleaned', (t) => {
  const root = tempRoot(t);
  const stick = Stick.open(root);
  stick.write('up', 'C1', '1.sdc', bytes(5));
  mkdirSync(folder(root, 'up', 'not a centre'));
  writeFileSync(folder(root, 'up', 'stray.txt'), 'hello');
  writeFileSync(folder(root, 'up', 'C1', 'holiday photo.jpg'), 'jpeg');
  writeFileSync(folder(root, 'up', 'C1', '2.sdc'), 'unlisted: a pull between its rename and the manifest');
  writeFileSync(folder(root, 'up', 'C1', '.3.sdc.99.ab.tmp'), 'half');
  writeFileSync(folder(root, 'up', 'C1', '4.sdc'), 'xx');
  const m = manifestOf(root, 'up', 'C1');
  m.files['4.sdc'] = { size: 3, sha256: '0'.repeat(64) };
  writeFileSync(folder(root, 'up', 'C1', 'MANIFEST.json'), JSON.stringify(m));

  t.deepEqual(stick.list('up').map((f) => f.name), ['1.sdc'], 'only the listed file of the right size');
  stick.list('up');
  const notices = stick.notices();
  t.is(notices.length, 4, notices.join('\n'));
  t.true(notices.some((n) => n.includes('not a centre') && /not a Tamtam centre folder/.test(n)));
  t.true(notices.some((n) => n.includes('stray.txt')));
  t.true(notices.some((n) => n.includes('holiday photo.jpg') && /not a Tamtam file/.test(n)));
  t.true(notices.some((n) => n.includes('4.sdc') && /has 2 bytes, not 3/.test(n)));
  t.deepEqual(stick.notices(), [], 'each once');

  t.is(stick.cleanTemp(), 2, 'the temp file and the unlisted 2.sdc');
  t.deepEqual(readdirSync(folder(root, 'up', 'C1')).sort(), ['1.sdc', '4.sdc', 'MANIFEST.json', 'holiday photo.jpg'], 'foreign files stay');
  t.true(existsSync(folder(root, 'up', 'stray.txt')));
});

test('a damaged manifest lists nothing, never crashes, and the next write rebuilds it listing only what it writes', (t) => {
  const root = tempRoot(t);
  const stick = Stick.open(root);
  stick.write('down', 'C1', '5-aaaaaaaa.sdc', bytes(5));
  writeFileSync(folder(root, 'down', 'C1', 'MANIFEST.json'), '{"format": "tamtam-t2d", "version": 1, "files": {"5-aaaaaaaa.sdc": {"size": 5');
  t.deepEqual(stick.list('down'), []);
  t.regex(stick.notices().join('\n'), /MANIFEST\.json: damaged stick manifest: not JSON/);
  t.is(stick.cleanTemp(), 0, 'files of a folder with a damaged manifest are left alone');

  const again = stick.write('down', 'C1', '6-bbbbbbbb.sdc', bytes(6));
  t.deepEqual(stick.list('down'), [again]);
  t.deepEqual(Object.keys(manifestOf(root, 'down', 'C1').files), ['6-bbbbbbbb.sdc']);
  t.is(stick.cleanTemp(), 1, 'the old file, unlisted now, goes');

  writeFileSync(folder(root, 'down', 'C1', 'MANIFEST.json'), JSON.stringify({ format: 'tamtam-t2d', version: 2, files: {} }));
  t.deepEqual(stick.list('down'), []);
  t.regex(stick.notices().join('\n'), /version 2; this build reads 1: upgrade Tamtam/);
});

test('a file altered on the stick reads as E_BAD_HASH; a truncated one is not listed', (t) => {
  const root = tempRoot(t);
  const stick = Stick.open(root);
  const f = stick.write('up', 'C1', '1.sdc', bytes(100));
  const altered = bytes(100);
  altered[50] = 0x42;
  writeFileSync(f.path, altered);
  const err = t.throws(() => stick.read(f));
  t.true(isTamtamError(err, 'E_BAD_HASH'));
  t.regex(err!.message, /damaged or altered/);
  writeFileSync(f.path, bytes(99));
  t.deepEqual(stick.list('up'), []);
});

test('a writer killed (SIGKILL) in the middle of a large file leaves nothing listed; cleanTemp and the next write are fine', async (t) => {
  const root = tempRoot(t);
  const dir = folder(root, 'up', 'C1');
  mkdirSync(dir, { recursive: true });
  const size = 96 * 1024 * 1024;
  const module = resolve(fileURLToPath(import.meta.url), '../../common/t2d-stick.js');
  const started = new Promise<string>((done) => {
    const w = watch(dir, (_event, name) => {
      if (!name?.endsWith('.tmp')) return;
      w.close();
      done(name);
    });
  });
  const child = spawn(process.execPath, ['--input-type=module', '-e',
    `import { Stick } from ${JSON.stringify(module)}; Stick.open(${JSON.stringify(root)}).write('up', 'C1', 'big.sdc', new Uint8Array(${size}).fill(1));`], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((done) => child.once('exit', (_code, signal) => done(signal)));
  const temp = await started;
  child.kill('SIGKILL');
  t.is(await exited, 'SIGKILL');

  const stick = Stick.open(root);
  t.deepEqual(stick.list('up'), [], 'nothing listed');
  t.false(existsSync(join(dir, 'big.sdc')), 'nothing under the final name');
  const left = readdirSync(dir);
  t.deepEqual(left, [temp], 'only the temp file');
  t.true(statSync(join(dir, temp)).size < size, 'it was killed mid-write');
  t.is(stick.cleanTemp(), 1);
  const f = stick.write('up', 'C1', 'big.sdc', bytes(1000));
  t.deepEqual(stick.list('up'), [f]);
  t.deepEqual(readdirSync(dir).sort(), ['MANIFEST.json', 'big.sdc']);
});

mountTest(`a full stick: E_NO_SPACE, nothing half-written, the manifest unchanged${canMount}`, (t) => {
  const { root, why } = mountSmallStick(t);
  if (why) return t.pass(why);
  const stick = Stick.open(root);
  const small = stick.write('up', 'C1', '1.sdc', bytes(1000));
  const manifest = readFileSync(folder(root, 'up', 'C1', 'MANIFEST.json'));
  const err = t.throws(() => stick.write('up', 'C1', '2.sdc', bytes(100_000)));
  t.true(isTamtamError(err, 'E_NO_SPACE'), String(err));
  t.regex(err!.message, /is full .*free space on it or use another stick; nothing was lost/);
  t.deepEqual(readdirSync(folder(root, 'up', 'C1')).sort(), ['1.sdc', 'MANIFEST.json'], 'no temp file, no 2.sdc');
  t.deepEqual(readFileSync(folder(root, 'up', 'C1', 'MANIFEST.json')), manifest);

  // The file itself fits exactly, its manifest then does not: the file must go again.
  const { bfree, bsize } = statfsSync(root);
  const err2 = t.throws(() => stick.write('up', 'C1', '3.sdc', bytes(Number(bfree) * Number(bsize))));
  t.true(isTamtamError(err2, 'E_NO_SPACE'), String(err2));
  t.deepEqual(readdirSync(folder(root, 'up', 'C1')).sort(), ['1.sdc', 'MANIFEST.json']);
  t.deepEqual(readFileSync(folder(root, 'up', 'C1', 'MANIFEST.json')), manifest);
  t.deepEqual(stick.list('up'), [small]);
});

mountTest(`a read-only stick: E_READ_ONLY on write and remove, reading still works${canMount}`, (t) => {
  const { root, why } = mountSmallStick(t);
  if (why) return t.pass(why);
  const stick = Stick.open(root);
  const f = stick.write('down', 'C1', '9-cccccccc.sdc', bytes(300));
  execFileSync('mount', ['-o', 'remount,ro', root]);
  const err = t.throws(() => stick.write('down', 'C1', '10-dddddddd.sdc', bytes(10)));
  t.true(isTamtamError(err, 'E_READ_ONLY'), String(err));
  t.regex(err!.message, /cannot be written .*write-protect/);
  t.throws(() => stick.write('up', 'C2', '1.sdc', bytes(10)), { code: 'E_READ_ONLY' } as never);
  t.deepEqual(stick.list('down'), [f]);
  t.deepEqual(stick.read(f), bytes(300));
  t.throws(() => stick.remove(f), { code: 'E_READ_ONLY' } as never);
  t.deepEqual(stick.list('down'), [f], 'still listed');
  t.is(stick.cleanTemp(), 0);
});
