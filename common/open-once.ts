/**
 * A resource opened on first use and shared after: callers arriving while it
 * opens wait for the same attempt, and a failed attempt is forgotten so the
 * next caller tries again (a modem switched on later, a port plugged in).
 */
export class OpenOnce<T> {
  private value: T | undefined;
  private opening: Promise<T> | undefined;

  constructor(private readonly open: () => Promise<T>) {}

  get(): Promise<T> {
    if (this.value !== undefined) return Promise.resolve(this.value);
    this.opening ??= this.open().then(
      (v) => {
        this.value = v;
        this.opening = undefined;
        return v;
      },
      (e: unknown) => {
        this.opening = undefined;
        throw e;
      },
    );
    return this.opening;
  }

  /** What is open (or about to be), handed over for closing; the next get() opens anew. */
  async take(): Promise<T | undefined> {
    const v = this.value ?? (await this.opening?.catch(() => undefined));
    this.value = undefined;
    return v;
  }
}
