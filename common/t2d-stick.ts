import { createHash, randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TamtamError, isTamtamError } from '../protocol/errors.js';
import {
  MANIFEST_NAME, MAX_MANIFEST_BYTES, decodeStickManifest, encodeStickManifest, isStickCentre, isStickFileName, isStickTempName, stickTempName, type StickManifest,
} from '../protocol/t2d/stick-manifest.js';
import { syncDir } from './atomic-write.js';

export const STICK_FOLDER = 'tamtam';

export type StickDirection = 'up' | 'down';

export interface StickFile {
  direction: StickDirection;
  centre: string;
  name: string;
  path: string;
  size: number;
  sha256: string;
}

const DIRECTIONS: readonly StickDirection[] = ['up', 'down'];
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const errno = (e: unknown) => (e as NodeJS.ErrnoException).code ?? '';

/** fusefat (FAT where the kernel has no driver) says EPERM where the kernel says ENOSPC: less room than the write needs means full. */
function tooLittleRoom(root: string, need: number): boolean {
  if (need <= 0) return false;
  try {
    const { bavail, bsize } = statfsSync(root);
    return Number(bavail) * Number(bsize) < need;
  } catch {
    return false;
  }
}

/** What the operator can do about it comes first in each message: they are at the machine with the stick in hand. `need`: bytes the failed write wanted. */
function stickError(e: unknown, root: string, what: string, need = 0): TamtamError {
  if (isTamtamError(e)) return e;
  const code = errno(e);
  const kept = 'nothing was lost: what was not written stays where it was and is written at the next insertion';
  if (code === 'ENOSPC' || code === 'EDQUOT' || ((code === 'EPERM' || code === 'EACCES') && tooLittleRoom(root, need))) {
    return new TamtamError('E_NO_SPACE', `the USB stick at ${root} is full (${what}): free space on it or use another stick; ${kept}`, { cause: e });
  }
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
    return new TamtamError('E_READ_ONLY', `the USB stick at ${root} cannot be written (${what}: ${code}): slide its write-protect switch off, or mount it read-write, and insert it again; ${kept}`, { cause: e });
  }
  return new TamtamError('E_IO', `the USB stick at ${root} failed (${what}: ${(e as Error).message}): pull it, check it on another machine, and insert it again; ${kept}`, { cause: e, retryable: true });
}

/**
 * One USB stick (FORMAT.md §15): tamtam/up/<centre>/ for SDCs from centres
 * to the hub, tamtam/down/<centre>/ for what the hub has for them, each
 * folder with a MANIFEST.json naming its complete files. A file is listed
 * only after it is fsynced and renamed, and unlisted before it is deleted,
 * so a stick pulled at any moment shows only whole files.
 */
export class Stick {
  private readonly seen = new Set<string>();
  private fresh: string[] = [];

  private constructor(readonly root: string) {}

  /** root: the mount point. Nothing is written until a write. */
  static open(root: string): Stick {
    try {
      if (!statSync(root).isDirectory()) throw new Error('not a directory');
      accessSync(root, constants.R_OK | constants.X_OK);
    } catch (e) {
      throw new TamtamError('E_IO', `cannot read the USB stick at ${root} (${(e as Error).message}): check it is mounted (lsblk, mount) and insert it again`, { cause: e });
    }
    return new Stick(root);
  }

  /** Foreign or damaged things met since the last call, each once per insertion, for the log. */
  notices(): string[] {
    const out = this.fresh;
    this.fresh = [];
    return out;
  }

  private notice(text: string): void {
    if (this.seen.has(text)) return;
    this.seen.add(text);
    this.fresh.push(text);
  }

  private dir(direction: StickDirection, centre?: string): string {
    return centre === undefined ? join(this.root, STICK_FOLDER, direction) : join(this.root, STICK_FOLDER, direction, centre);
  }

  private entries(dir: string): string[] {
    try {
      return readdirSync(dir);
    } catch (e) {
      if (errno(e) === 'ENOENT') return [];
      if (errno(e) !== 'ENOTDIR') throw stickError(e, this.root, `listing ${dir}`);
      this.notice(`${dir} is not a folder: nothing of Tamtam's can be under it`);
      return [];
    }
  }

  /** An empty map for a folder with no manifest yet; undefined for a damaged one, which lists nothing. */
  private manifest(dir: string): StickManifest | undefined {
    let bytes: Uint8Array;
    try {
      if (statSync(join(dir, MANIFEST_NAME)).size > MAX_MANIFEST_BYTES) throw new Error(`over ${MAX_MANIFEST_BYTES} bytes`);
      bytes = readFileSync(join(dir, MANIFEST_NAME));
    } catch (e) {
      if (errno(e) === 'ENOENT') return new Map();
      this.notice(`${join(dir, MANIFEST_NAME)} cannot be read (${(e as Error).message}): the folder's files are ignored until it is written again`);
      return undefined;
    }
    try {
      return decodeStickManifest(bytes);
    } catch (e) {
      this.notice(`${join(dir, MANIFEST_NAME)}: ${(e as Error).message}`);
      return undefined;
    }
  }

  centres(direction: StickDirection): string[] {
    const dir = this.dir(direction);
    const out: string[] = [];
    for (const name of this.entries(dir)) {
      let isDir = false;
      try {
        isDir = statSync(join(dir, name)).isDirectory();
      } catch {
        // gone, or unreadable: not a folder we can use
      }
      if (isDir && isStickCentre(name)) out.push(name);
      else this.notice(`${join(dir, name)} is not a Tamtam centre folder: ignored`);
    }
    return out.sort();
  }

  list(direction: StickDirection, centre?: string): StickFile[] {
    const out: StickFile[] = [];
    for (const c of centre === undefined ? this.centres(direction) : [centre]) {
      if (!isStickCentre(c)) continue;
      const dir = this.dir(direction, c);
      const names = this.entries(dir);
      if (names.length === 0) continue;
      const listed = this.manifest(dir);
      for (const name of names) {
        if (name !== MANIFEST_NAME && !isStickTempName(name) && !isStickFileName(name)) this.notice(`${join(dir, name)} is not a Tamtam file: ignored`);
      }
      for (const [name, entry] of listed ?? []) {
        const path = join(dir, name);
        let size = -1;
        try {
          const st = statSync(path);
          if (st.isFile()) size = st.size;
        } catch {
          // listed but gone: a pull between the steps of a remove, or a hand
        }
        if (size !== entry.size) {
          this.notice(`${path} is listed in the manifest but ${size < 0 ? 'missing' : `has ${size} bytes, not ${entry.size}`}: ignored`);
          continue;
        }
        out.push({ direction, centre: c, name, path, size, sha256: entry.sha256 });
      }
    }
    const byName = new Intl.Collator('en', { numeric: true });
    return out.sort((a, b) => a.centre.localeCompare(b.centre) || byName.compare(a.name, b.name));
  }

  /** Temp name, write, fsync, rename, fsync of the folder: the final name appears whole or not at all. */
  private place(dir: string, name: string, bytes: Uint8Array, what: string): void {
    const tmp = join(dir, stickTempName(name, `${process.pid}.${randomBytes(4).toString('hex')}`));
    let fd: number | undefined;
    try {
      fd = openSync(tmp, 'wx');
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, join(dir, name));
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      tryUnlink(tmp);
      throw stickError(e, this.root, what, bytes.length);
    }
    syncDir(dir);
  }

  private saveManifest(dir: string, m: StickManifest): void {
    this.place(dir, MANIFEST_NAME, encodeStickManifest(m), `writing ${join(dir, MANIFEST_NAME)}`);
  }

  write(direction: StickDirection, centre: string, name: string, bytes: Uint8Array): StickFile {
    if (!DIRECTIONS.includes(direction) || !isStickCentre(centre) || !isStickFileName(name)) {
      throw new TamtamError('E_BAD_INPUT', `cannot write ${direction}/${centre}/${name} on a stick: centres and names are 1 to 64 of [A-Za-z0-9._-], names not starting with '.'`);
    }
    const dir = this.dir(direction, centre);
    const path = join(dir, name);
    const file: StickFile = { direction, centre, name, path, size: bytes.length, sha256: sha256(bytes) };
    // One level at a time: a recursive mkdir reports ENOENT where the stick said EROFS.
    for (const d of [join(this.root, STICK_FOLDER), this.dir(direction), dir]) {
      try {
        mkdirSync(d);
        syncDir(dirname(d));
      } catch (e) {
        if (errno(e) !== 'EEXIST') throw stickError(e, this.root, `creating ${d}`, 1);
      }
    }
    // A damaged manifest is rebuilt listing nothing: each writer writes its files again, and readers take them once more, idempotently.
    const m = this.manifest(dir) ?? new Map();
    const old = m.get(name);
    if (old && old.sha256 === file.sha256 && old.size === file.size && fileSize(path) === file.size) return file;
    if (old) {
      // Unlisted first: the new bytes must never sit under the old entry.
      m.delete(name);
      this.saveManifest(dir, m);
    }
    this.place(dir, name, bytes, `writing ${path}`);
    m.set(name, { size: file.size, sha256: file.sha256 });
    try {
      this.saveManifest(dir, m);
    } catch (e) {
      tryUnlink(path);
      syncDir(dir);
      throw e;
    }
    return file;
  }

  read(file: StickFile): Uint8Array {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(file.path));
    } catch (e) {
      throw stickError(e, this.root, `reading ${file.path}`);
    }
    if (bytes.length !== file.size || sha256(bytes) !== file.sha256) {
      throw new TamtamError('E_BAD_HASH', `${file.path} on the USB stick is not what its manifest lists (${bytes.length} bytes, expected ${file.size}; or another SHA-256): it was damaged or altered; it is ignored and its sender writes it again`);
    }
    return bytes;
  }

  remove(file: StickFile): void {
    const dir = this.dir(file.direction, file.centre);
    const m = this.manifest(dir);
    if (m?.delete(file.name)) this.saveManifest(dir, m);
    try {
      unlinkSync(join(dir, file.name));
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw stickError(e, this.root, `removing ${file.path}`);
    }
    syncDir(dir);
  }

  /** Also deletes whole-named files a folder's (readable) manifest does not list: a pull between a rename and the manifest, or mid-remove. */
  cleanTemp(): number {
    let n = 0;
    for (const direction of DIRECTIONS) {
      for (const centre of this.centres(direction)) {
        const dir = this.dir(direction, centre);
        const names = this.entries(dir);
        if (names.length === 0) continue;
        const m = this.manifest(dir);
        const before = n;
        for (const name of names) {
          const stale = isStickTempName(name) || (m !== undefined && isStickFileName(name) && !m.has(name) && fileSize(join(dir, name)) >= 0);
          if (!stale) continue;
          try {
            unlinkSync(join(dir, name));
            n++;
          } catch (e) {
            if (errno(e) !== 'ENOENT') throw stickError(e, this.root, `removing ${join(dir, name)}`);
          }
        }
        if (n > before) syncDir(dir);
      }
    }
    return n;
  }
}

/** -1 when it is not a regular file. */
function fileSize(path: string): number {
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : -1;
  } catch {
    return -1;
  }
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // never created, or already gone
  }
}
