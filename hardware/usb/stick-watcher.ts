import { EventEmitter } from 'node:events';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { deviceOf, isMountPoint, subdirs } from './mount-points.js';

/** What the watcher needs of the `usb` package's native hotplug emitter. */
export interface UsbHotplug {
  addAttach(callback: (device: unknown) => void): Promise<void>;
  addDetach(callback: (handle: unknown) => void): Promise<void>;
  removeAttach(): Promise<void>;
  removeDetach(): Promise<void>;
}

export interface StickWatcherOptions {
  /** Folders sticks are mounted under: /media/usb0, /media/<user>/<LABEL>, /run/media/<user>/<LABEL>. */
  roots: string[];
  /** Listen to USB attach/detach to look again at once; default true. */
  usb?: boolean;
  /** A new mount must stay this long and be readable before it is reported; default 1000 ms. */
  debounceMs?: number;
  /** Looks again this often, for mounts over folders that already existed (usbmount's /media/usb0); default 2000 ms. */
  pollMs?: number;
  /**
   * Default true: only mount points count, so a folder someone makes under
   * /media (or udisks' /media/<user>) is never taken for a stick. False: any
   * new folder one level below a root (two below /run/media) is a stick.
   */
  mountsOnly?: boolean;
  onWarning?: (message: string) => void;
  /** The `usb` package's hotplug emitter; replaced in tests to play a machine where it cannot load. */
  loadUsb?: () => Promise<UsbHotplug>;
}

async function loadUsbPackage(): Promise<UsbHotplug> {
  // The WebUSB wrapper rethrows hotplug failures from a timer, which would kill the daemon: the native emitter rejects instead.
  const mod = (await import('usb/index.js')) as unknown as { Emitter?: new () => UsbHotplug; default?: { Emitter?: new () => UsbHotplug } };
  const Emitter = mod.Emitter ?? mod.default?.Emitter;
  if (!Emitter) throw new Error('the usb package has no native Emitter');
  return new Emitter();
}

function readable(dir: string): boolean {
  try {
    readdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reports USB sticks as they are mounted and unmounted: chokidar watches the
 * mount roots, USB attach/detach (when the `usb` package loads) and a slow
 * poll make it look again, and a mount is reported once it has stayed
 * `debounceMs` and can be read. Events: 'inserted' and 'removed' (mount point).
 */
export class StickWatcher extends EventEmitter<{ inserted: [string]; removed: [string] }> {
  private readonly roots: string[];
  private readonly debounceMs: number;
  private readonly mountsOnly: boolean;
  private readonly firstSeen = new Map<string, number>();
  private readonly reported = new Set<string>();
  private watcher?: FSWatcher;
  private usb?: UsbHotplug;
  private poll?: NodeJS.Timeout;
  private soon?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: StickWatcherOptions) {
    super();
    this.roots = [...new Set(o.roots.map((r) => resolve(r)))];
    this.debounceMs = o.debounceMs ?? 1000;
    this.mountsOnly = o.mountsOnly ?? true;
  }

  private warn(message: string): void {
    this.o.onWarning?.(message);
  }

  /** Sticks already mounted are reported too: one inserted before the agent started still wants its exchange. */
  async start(): Promise<void> {
    const existing = this.roots.filter((r) => deviceOf(r) !== undefined);
    for (const r of this.roots) if (!existing.includes(r)) this.warn(`${r} does not exist: it is looked at every ${this.o.pollMs ?? 2000} ms but not watched`);
    if (existing.length > 0) {
      this.watcher = watch(existing, { ignoreInitial: true, depth: 1, followSymlinks: false });
      this.watcher.on('addDir', () => this.lookSoon(this.debounceMs)).on('unlinkDir', () => this.lookSoon(0)).on('error', (e) => this.warn(`watching the mount roots: ${(e as Error).message}`));
      await new Promise<void>((ready) => this.watcher!.once('ready', ready));
    }
    if (this.o.usb ?? true) await this.startUsb();
    this.poll = setInterval(() => this.look(), this.o.pollMs ?? 2000);
    this.look();
  }

  private async startUsb(): Promise<void> {
    try {
      const usb = await (this.o.loadUsb ?? loadUsbPackage)();
      await usb.addAttach(() => this.lookSoon(this.debounceMs));
      await usb.addDetach(() => this.lookSoon(0));
      this.usb = usb;
    } catch (e) {
      this.warn(`USB attach/detach events are not available (${(e as Error).message}); sticks are still found by watching ${this.roots.join(', ')}`);
    }
  }

  private lookSoon(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.soon);
    this.soon = setTimeout(() => this.look(), ms);
  }

  private isStick(dir: string, depth: number, root: string): boolean {
    if (this.mountsOnly) {
      return isMountPoint(dir);
    }
    return depth === (root === '/run/media' ? 2 : 1);
  }

  /** Sticks mounted now: one or two levels below a root. */
  private candidates(): Set<string> {
    const out = new Set<string>();
    for (const root of this.roots) {
      for (const d1 of subdirs(root)) {
        if (this.isStick(d1, 1, root)) out.add(d1);
        else for (const d2 of subdirs(d1)) if (this.isStick(d2, 2, root)) out.add(d2);
      }
    }
    return out;
  }

  /** Compares what is mounted with what was reported; a new mount waits out the debounce, then must be readable. */
  look(): void {
    if (this.stopped) return;
    const now = Date.now();
    const present = this.candidates();
    for (const dir of this.reported) {
      if (present.has(dir)) continue;
      this.reported.delete(dir);
      this.emit('removed', dir);
    }
    for (const dir of this.firstSeen.keys()) if (!present.has(dir)) this.firstSeen.delete(dir);
    let wait = Infinity;
    for (const dir of present) {
      if (this.reported.has(dir)) continue;
      const seen = this.firstSeen.get(dir) ?? now;
      this.firstSeen.set(dir, seen);
      const left = seen + this.debounceMs - now;
      if (left > 0 || !readable(dir)) {
        wait = Math.min(wait, Math.max(left, this.debounceMs / 4, 20));
        continue;
      }
      this.firstSeen.delete(dir);
      this.reported.add(dir);
      this.emit('inserted', dir);
    }
    if (wait !== Infinity) this.lookSoon(wait);
  }

  /** Mount points reported and not yet removed. */
  mounted(): string[] {
    return [...this.reported];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poll);
    clearTimeout(this.soon);
    await this.watcher?.close();
    if (this.usb) await Promise.allSettled([this.usb.removeAttach(), this.usb.removeDetach()]);
    this.usb = undefined;
  }
}
