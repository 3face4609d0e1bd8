import type { TamtamError } from '../protocol/errors.js';

export interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: TamtamError) => void;
}

export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: TamtamError) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  // Nobody may await it (a call that ends after its Welcome): a rejection is not an unhandled one.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Wakes waiters when something changed, so close() waits on events, not a poll. */
export class Notifier {
  private waiters: (() => void)[] = [];
  notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.waiters = self.waiters.filter((w) => w !== done);
        resolve();
      }
      this.waiters.push(done);
    });
  }
}
