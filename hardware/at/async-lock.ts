import { TamtamError } from '../../protocol/errors.js';

/**
 * One holder at a time, the others queue in order. A waiter may give up
 * through its AbortSignal without disturbing the queue.
 */
export class AsyncLock {
  private held = false;
  private readonly waiters: { grant: () => void }[] = [];

  get locked(): boolean {
    return this.held;
  }

  /** Resolves with the release function once the lock is ours. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (!this.held) {
      this.held = true;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
      };
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(abortError(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Runs fn holding the lock. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiters.shift();
      if (next) next.grant();
      else this.held = false;
    };
  }
}

/** The E_ABORTED a cancelled operation rejects with, keeping the signal's reason as cause. */
export function abortError(signal: AbortSignal, what = 'the operation'): TamtamError {
  const reason: unknown = signal.reason;
  if (reason instanceof TamtamError) return reason;
  return new TamtamError('E_ABORTED', `${what} was cancelled`, { cause: reason });
}

/** Waits `ms`; rejects with E_ABORTED as soon as the signal fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
