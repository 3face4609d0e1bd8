/** Collects items and lets a test await a condition on them, bounded, instead of sleeping. */
export class Collector<T> {
  readonly items: T[] = [];
  private waiters: (() => void)[] = [];

  push(item: T): void {
    this.items.push(item);
    for (const w of [...this.waiters]) w();
  }

  until(cond: (items: T[]) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    if (cond(this.items)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; have ${JSON.stringify(this.items).slice(0, 300)}`)), timeoutMs);
      const check = () => {
        if (!cond(this.items)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }
}
