import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StickWatcher, type StickWatcherOptions } from '../hardware/usb/stick-watcher.js';
import { tmpfsSkipReason, unmount } from './helpers/mounts.js';

function tempRoot(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function started(t: ExecutionContext, o: StickWatcherOptions): Promise<{ watcher: StickWatcher; inserted: string[]; removed: string[] }> {
  const watcher = new StickWatcher(o);
  const inserted: string[] = [];
  const removed: string[] = [];
  watcher.on('inserted', (p) => inserted.push(p));
  watcher.on('removed', (p) => removed.push(p));
  t.teardown(() => watcher.stop());
  await watcher.start();
  return { watcher, inserted, removed };
}


const canMount = tmpfsSkipReason;

test('a folder appearing under a watched root is reported once, when it has settled; its removal is reported', async (t) => {
  const root = tempRoot(t);
  const { watcher, inserted, removed } = await started(t, { roots: [root], usb: false, mountsOnly: false, debounceMs: 50 });
  const stick = join(root, 'usb0');
  const seen = once(watcher, 'inserted');
  mkdirSync(stick);
  t.deepEqual(await seen, [stick]);
  // Files appearing on it, and looking again, report nothing more.
  mkdirSync(join(stick, 'tamtam', 'up'), { recursive: true });
  writeFileSync(join(stick, 'tamtam', 'x'), 'x');
  watcher.look();
  watcher.look();
  t.deepEqual(watcher.mounted(), [stick]);
  const gone = once(watcher, 'removed');
  rmSync(stick, { recursive: true });
  t.deepEqual(await gone, [stick]);
  t.deepEqual(inserted, [stick], 'inserted once');
  t.deepEqual(removed, [stick]);
  t.deepEqual(watcher.mounted(), []);
});

test('a stick mounted before the watcher started is reported at start', async (t) => {
  const root = tempRoot(t);
  mkdirSync(join(root, 'LABEL'));
  const watcher = new StickWatcher({ roots: [root], usb: false, mountsOnly: false, debounceMs: 20 });
  t.teardown(() => watcher.stop());
  const seen = once(watcher, 'inserted');
  await watcher.start();
  t.deepEqual(await seen, [join(root, 'LABEL')]);
});

test('without the usb package, a warning says so and mount watching alone still works; missing roots are warned about', async (t) => {
  const root = tempRoot(t);
  const warnings: string[] = [];
  const { watcher } = await started(t, {
    roots: [root, join(root, 'no-such-root')], mountsOnly: false, debounceMs: 20, onWarning: (m) => warnings.push(m),
    loadUsb: async () => {
      throw new Error("Cannot find package 'usb'");
    },
  });
  t.is(warnings.length, 2, warnings.join('\n'));
  t.regex(warnings.join('\n'), /USB attach\/detach events are not available \(Cannot find package 'usb'\); sticks are still found by watching/);
  t.regex(warnings.join('\n'), /no-such-root does not exist/);
  const seen = once(watcher, 'inserted');
  mkdirSync(join(root, 'usb1'));
  t.deepEqual(await seen, [join(root, 'usb1')]);
});

test('with the real usb package, the watcher starts and stops cleanly', async (t) => {
  const root = tempRoot(t);
  const warnings: string[] = [];
  const watcher = new StickWatcher({ roots: [root], debounceMs: 20, onWarning: (m) => warnings.push(m) });
  await watcher.start();
  await watcher.stop();
  t.log(warnings.length ? `usb warnings: ${warnings.join('; ')}` : 'usb hotplug events available');
  t.true(warnings.every((w) => /USB attach\/detach events are not available/.test(w)));
});

(canMount ? test.skip : test.serial)(`only mount points count by default: a plain folder is not a stick, a mount over it (or one level deeper, udisks-style) is${canMount}`, async (t) => {
  const root = tempRoot(t);
  const { watcher, inserted } = await started(t, { roots: [root], usb: false, debounceMs: 20, pollMs: 50 });
  const usb0 = join(root, 'usb0');
  const label = join(root, 'alice', 'LABEL');
  mkdirSync(usb0);
  mkdirSync(label, { recursive: true });
  watcher.look();
  t.deepEqual(inserted, [], 'folders made by hand are not sticks');
  const first = once(watcher, 'inserted');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', usb0]);
  t.teardown(() => unmount(usb0));
  t.deepEqual(await first, [usb0], 'a mount over an existing folder (usbmount) is found');
  const second = once(watcher, 'inserted');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', label]);
  t.teardown(() => unmount(label));
  t.deepEqual(await second, [label]);
  const gone = once(watcher, 'removed');
  execFileSync('umount', [usb0]);
  t.deepEqual(await gone, [usb0], 'an unmount is a removal, though the folder stays');
});
