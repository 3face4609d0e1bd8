import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cleanupAtExit } from '../../scripts/services/service-sandbox.js';

/** bin/tamtam.js of this checkout (from dist/test/helpers or dist/scripts alike: both sit two levels below the root). */
export const TAMTAM_BIN = fileURLToPath(new URL('../../../bin/tamtam.js', import.meta.url));

/** One JSON log line of a hub or agent process (`event` plus its fields). */
export type LogEvent = { event: string; t?: string; level?: string } & Record<string, unknown>;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A `tamtam` child process whose stderr carries JSON log lines, as operators'
 * log collectors read them. Tests wait on those events rather than on time.
 */
export class LoggedProcess {
  readonly events: LogEvent[] = [];
  /** Every stderr line, JSON or not, for failure messages. */
  readonly lines: string[] = [];
  readonly exited: Promise<Exit>;
  stdout = '';
  private readonly waiters = new Set<() => void>();
  private exit: Exit | undefined;

  private constructor(readonly label: string, readonly child: ChildProcess) {
    // No hub or agent may outlive a test file that ended early.
    const unregister = cleanupAtExit(() => child.kill('SIGKILL'));
    // 'close' rather than 'exit': it comes after stderr ended, so every last line was read.
    this.exited = once(child, 'close').then(([code, signal]) => {
      unregister();
      this.exit = { code: code as number | null, signal: signal as NodeJS.Signals | null };
      this.wake();
      return this.exit;
    });
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      this.lines.push(line);
      if (this.lines.length > 2000) this.lines.splice(0, 1000);
      if (line.startsWith('{')) {
        try {
          this.events.push(JSON.parse(line) as LogEvent);
        } catch {
          // a line cut by SIGKILL: nothing to learn from it
        }
      }
      this.wake();
    });
  }

  /** Runs `node bin/tamtam.js ...args`. */
  static tamtam(label: string, args: string[], env: NodeJS.ProcessEnv = {}): LoggedProcess {
    const child = spawn(process.execPath, [TAMTAM_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    return new LoggedProcess(label, child);
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  count(match: (e: LogEvent) => boolean): number {
    return this.events.filter(match).length;
  }

  /** Resolves with the first event (already seen or to come) that matches; rejects when the process exits first or at the deadline. */
  waitFor(match: (e: LogEvent) => boolean, what: string, timeoutMs = 60_000): Promise<LogEvent> {
    return this.waitUntil(() => this.events.find(match), what, timeoutMs);
  }

  /** Resolves once `n` matching events were logged. */
  waitForCount(match: (e: LogEvent) => boolean, n: number, what: string, timeoutMs = 60_000): Promise<number> {
    return this.waitUntil(() => {
      const c = this.count(match);
      return c >= n ? c : undefined;
    }, what, timeoutMs);
  }

  private waitUntil<T>(check: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(test);
      };
      const test = () => {
        const found = check();
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (this.exit) {
          done();
          reject(new Error(`${this.label} exited (${this.exit.code ?? this.exit.signal}) before ${what}:\n${this.tail()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms:\n${this.tail()}`));
      }, timeoutMs);
      this.waiters.add(test);
      test();
    });
  }

  /** SIGKILL, like a power cut; resolves once the process is gone. */
  async kill9(): Promise<Exit> {
    if (this.running) this.child.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM (a clean stop), SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 15_000): Promise<Exit> {
    if (!this.running) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  tail(n = 30): string {
    return this.lines.slice(-n).join('\n');
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
