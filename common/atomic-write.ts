import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { TamtamError } from '../protocol/errors.js';

/**
 * Writes a file so that a crash, a power cut or a pulled stick never leaves a
 * half-written file under the final name: temp name in the same folder,
 * fsync, rename, fsync of the folder.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', mode);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let at = 0;
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
    syncDir(dirname(path));
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // the temp file may not exist; nothing to clean
    }
    const code = (e as NodeJS.ErrnoException).code;
    const hint = code === 'ENOSPC' ? 'the disk is full' : code === 'EROFS' ? 'the file system is read-only' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new TamtamError('E_IO', `cannot write ${path}: ${hint}`, { cause: e, retryable: code === 'ENOSPC' || code === 'EAGAIN' || code === 'EBUSY' });
  }
}

/** Makes a rename durable; some file systems (FAT on a stick) cannot fsync a folder, which is harmless. */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // not supported here; the rename is still atomic
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
