import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { takePidLock } from '../../common/pid-lock.js';
import { TamtamError, isTamtamError } from '../../protocol/errors.js';

/** How long to wait for a worker a killed daemon left: it ends at its next step. */
const LOCK_WAIT_MS = 10_000;

/**
 * work.lock: held by whatever packs and applies receipts in a data folder, a
 * daemon's worker or a command that does the work itself (`agent sync`), so
 * none of them meets a worker left by a daemon killed a moment before.
 */
export async function takeWorkLock(dataDir: string): Promise<() => void> {
  const path = join(dataDir, 'work.lock');
  for (const deadline = Date.now() + LOCK_WAIT_MS; ; await sleep(100)) {
    try {
      return takePidLock(path, `the agent's worker for ${dataDir}`);
    } catch (e) {
      if (!isTamtamError(e, 'E_CONFIG') || Date.now() > deadline) {
        throw new TamtamError('E_IO', `the agent's work could not start: ${(e as Error).message}`, { cause: e, retryable: true });
      }
    }
  }
}
