import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { findExecutable } from '../../scripts/services/service-sandbox.js';

const SBIN = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
const tool = (name: string) => findExecutable(name, SBIN);
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const mounted = (at: string) => readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === at);
const errText = (e: unknown) => String((e as { stderr?: string }).stderr || (e as Error).message).trim().split('\n')[0];

/** How a FAT image gets mounted here: the kernel's vfat, or fusefat where the kernel has no FAT driver (some VMs and containers). */
type Driver = 'kernel' | 'fusefat';
let driver: Driver | undefined;

/**
 * A real FAT file system in an image file on a loop device, mounted as a
 * USB stick is: the same bytes a stick holds, the same rename and fsync
 * behaviour the stick code meets in the field. Root only.
 */
export class FatImage {
  private fuse?: ChildProcess;
  private mountPoint?: string;

  private constructor(readonly image: string, readonly device: string, private readonly driver: Driver) {}

  /** Why FAT images cannot be mounted on this machine, or undefined when they can (tried for real once). */
  static unavailable(): string | undefined {
    if (process.getuid?.() !== 0) return 'not root';
    if (!existsSync('/dev/loop-control')) return 'no loop devices (/dev/loop-control)';
    for (const t of ['mkfs.vfat', 'losetup', 'mount', 'umount']) if (!tool(t)) return `${t} missing (Debian: apt-get install dosfstools mount)`;
    const dir = mkdtempSync(join(tmpdir(), 'tamtam-fat-probe-'));
    try {
      driver ??= FatImage.probe(dir);
      return undefined;
    } catch (e) {
      return (e as Error).message;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** A fresh FAT file system of `kib` KiB on its own loop device; call unavailable() first. */
  static create(dir: string, kib: number): FatImage {
    if (!driver) throw new Error('FatImage.unavailable() must be asked first');
    return FatImage.attach(dir, kib, driver);
  }

  private static attach(dir: string, kib: number, how: Driver): FatImage {
    const image = join(dir, `stick-${kib}k.img`);
    run(tool('truncate')!, ['-s', `${kib}K`, image]);
    // Not labelled TAMTAM: fusefat takes the label's root entry for the tamtam/ folder.
    run(tool('mkfs.vfat')!, ['-n', 'DISTRICT', image]);
    return new FatImage(image, run(tool('losetup')!, ['-f', '--show', image]), how);
  }

  /** Mounts a small image once, kernel first, to learn which way works. */
  private static probe(dir: string): Driver {
    const { device } = FatImage.attach(dir, 1024, 'kernel');
    const at = join(dir, 'mnt');
    mkdirSync(at);
    try {
      try {
        run(tool('mount')!, ['-t', 'vfat', device, at]);
        run(tool('umount')!, [at]);
        return 'kernel';
      } catch (e) {
        const kernel = errText(e);
        if (!tool('fusefat') || !existsSync('/dev/fuse')) throw new Error(`mount -t vfat refused (${kernel}) and fusefat is not there (Debian: apt-get install fusefat)`);
        try {
          run(tool('fusefat')!, ['-o', 'rw+', device, at]);
          run(tool('umount')!, [at]);
          return 'fusefat';
        } catch (e2) {
          throw new Error(`mount -t vfat refused (${kernel}), and so did fusefat (${errText(e2)})`);
        }
      }
    } finally {
      run(tool('losetup')!, ['-d', device]);
    }
  }

  async mount(at: string, o: { readOnly?: boolean } = {}): Promise<void> {
    mkdirSync(at, { recursive: true });
    if (this.driver === 'kernel') {
      run(tool('mount')!, ['-t', 'vfat', '-o', o.readOnly ? 'ro' : 'rw', this.device, at]);
    } else {
      const fuse = spawn(tool('fusefat')!, ['-f', '-o', o.readOnly ? 'ro' : 'rw+', this.device, at], { stdio: 'ignore' });
      this.fuse = fuse;
      // fusefat says nothing when the mount is up: the mount table does.
      for (let i = 0; !mounted(at); i++) {
        if (fuse.exitCode !== null || i > 200) throw new Error(`fusefat did not mount ${this.device} on ${at}`);
        await delay(10);
      }
    }
    this.mountPoint = at;
  }

  /** `lazy`: `umount -l`, as a stick pulled while a writer still had it open. */
  async unmount(o: { lazy?: boolean } = {}): Promise<void> {
    const at = this.mountPoint;
    if (!at) return;
    if (mounted(at)) run(tool('umount')!, [...(o.lazy ? ['-l'] : []), at]);
    this.mountPoint = undefined;
    const fuse = this.fuse;
    this.fuse = undefined;
    // The next mount must not share the device with a driver still flushing.
    if (fuse && fuse.exitCode === null && fuse.signalCode === null) await once(fuse, 'exit');
  }

  /** fsck.vfat's verdict, read-only: empty when the file system is sound. */
  check(): string {
    try {
      run(tool('fsck.vfat')!, ['-n', this.device]);
      return '';
    } catch (e) {
      return String((e as { stdout?: string }).stdout ?? '') + errText(e);
    }
  }

  /** Unmounts (lazily if busy), frees the loop device, deletes the image. */
  async destroy(): Promise<void> {
    try {
      await this.unmount({ lazy: true });
    } finally {
      try {
        run(tool('losetup')!, ['-d', this.device]);
      } finally {
        rmSync(this.image, { force: true });
      }
    }
  }
}

