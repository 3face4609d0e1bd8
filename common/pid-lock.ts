import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { TamtamError } from '../protocol/errors.js';

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `path` as a lock holding this process id; a lock left by a process
 * that died (kill -9, power cut) is taken over. Returns the release function.
 * `what` names the thing locked, for the message when another process has it.
 */
export function takePidLock(path: string, what: string): () => void {
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new TamtamError('E_IO', `cannot create ${path}: ${(e as Error).message}`, { cause: e });
      const owner = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(owner) && pidAlive(owner)) {
        throw new TamtamError('E_CONFIG', `${what} is in use by process ${owner}${owner === process.pid ? ' (this one)' : ''}; stop it first, or use another folder`);
      }
      unlinkSync(path);
    }
  }
  throw new TamtamError('E_IO', `cannot take the lock ${path}: another process keeps recreating it`);
}
