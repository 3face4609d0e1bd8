import { isTamtamError, type TamtamError } from '../../protocol/errors.js';
import type { AtEngine } from './at-engine.js';
import { sleep } from './async-lock.js';

/**
 * A modem still booting, or one that lost a character, answers the next try.
 * No init command dials, so a dial result (NO CARRIER) answering one is the
 * previous call's end notice read late, after the port was opened again.
 */
const RETRYABLE_INIT = new Set(['E_MODEM_SILENT', 'E_TIMEOUT', 'E_MODEM_ERROR', 'E_DIAL_FAILED']);

export interface InitRetries {
  /** Tries in all. Default 3. */
  attempts?: number;
  /** First wait, doubled each time up to 5 s. Default 500 ms. */
  backoffMs?: number;
  /** Runs between tries, after the wait (a blind escape for a modem left online). */
  beforeRetry?: (e: TamtamError) => Promise<void>;
}

/** Sends every init command in order, the whole list again after a retryable failure, with a growing wait. */
export async function initWithRetries(engine: AtEngine, commands: readonly string[], o: InitRetries, signal?: AbortSignal): Promise<void> {
  const attempts = o.attempts ?? 3;
  let backoff = o.backoffMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      for (const command of commands) await engine.command(command, { signal });
      return;
    } catch (e) {
      if (!isTamtamError(e) || !RETRYABLE_INIT.has(e.code) || attempt >= attempts) throw e;
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 5000);
      await o.beforeRetry?.(e);
    }
  }
}
