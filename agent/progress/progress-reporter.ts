import type { Link } from '../link/link.js';
import type { SourceAdapter } from '../source/source-adapter.js';
import { OPEN_STATES, type AgentState, type SdcRecord } from '../state/agent-state.js';
import { formatProgressLine, progressFields } from './progress-line.js';
import { ProgressTracker, type ProgressSnapshot } from './progress-tracker.js';

/** What the reporter reads of a running agent; an AgentRuntime is one. Reading only: it never changes the agent's course. */
export interface ProgressSubject {
  readonly state: Pick<AgentState, 'sdcs' | 'sdc' | 'recentSdcs' | 'meta'>;
  readonly source: Pick<SourceAdapter, 'countByStatus'>;
  readonly link: Pick<Link, 'usage'>;
  readonly config: { readonly tables: readonly { readonly name: string }[] };
  /** True while a worker process packs: the centre's records and the state then disagree for moments (claimed, not yet journaled). */
  readonly packing?: boolean;
}

export interface ProgressOutput {
  /** A terminal: the bar is redrawn in place. Absent: JSON log lines through `line`, for a log file or journald. */
  terminal?: { readonly columns?: number; write(raw: string): unknown };
  line(text: string): void;
}

export interface ProgressReporterOptions {
  output: ProgressOutput;
  clock?: () => number;
  /** Samples this often while a backlog goes out; default 1 s. */
  everyMs?: number;
  /** Without a terminal, a JSON line this often; default 10 s. */
  logEveryMs?: number;
  /** Shows only while more than this many acts wait (the daemon); default 0: from start() to stop() (one sync). */
  minActs?: number;
  /** While no backlog shows, looks this often; default 10 s, as counting a big table every second would load the centre's database. */
  idleEveryMs?: number;
  windowMs?: number;
}

interface Backlog {
  tracker: ProgressTracker;
  /** Data SDCs that waited for a receipt when the backlog started, with their act counts. */
  before: Map<number, number>;
  /** SDCs from this sequence on were made since the start. */
  firstSequence: number;
  /** Those of them already counted as done. */
  counted: Set<number>;
  done: number;
  bytesUpAtStart: number;
  loggedAt: number;
  loggedFinished: boolean;
}

/**
 * Progress of a backlog going out, on any link: acts from the agent's state
 * (SDCs receipted since the start) and the source (acts still validated),
 * bytes from the link's meter against the outbox. A bar on a terminal, a
 * JSON line every few seconds elsewhere, and a last line at the end.
 */
export class ProgressReporter {
  private backlog: Backlog | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private drawn = '';
  private bytesPerAct = 0;
  private stopped = false;
  private previous: ProgressSnapshot | undefined;
  /** The last sample waited for a pack to end: the next comes soon, not at the idle pace. */
  private deferred = false;
  private stopping: Promise<void> | undefined;
  private readonly clock: () => number;

  constructor(private readonly agent: ProgressSubject, private readonly o: ProgressReporterOptions) {
    this.clock = o.clock ?? Date.now;
  }

  /** Takes the first sample before it resolves, so a backlog is seen whole before the work on it starts. */
  start(): Promise<void> {
    return this.tick();
  }

  /** A log line, printed above the bar so that the bar stays the last line. */
  print(line: string): void {
    const t = this.o.output.terminal;
    if (!t || !this.drawn) return this.o.output.line(line);
    t.write(`\r\x1b[K${line}\n${this.drawn}`);
  }

  /** Takes one sample now, as the timer does; returns what it drew, or undefined while no backlog shows. */
  async sample(): Promise<ProgressSnapshot | undefined> {
    // Nothing is sent while the daemon's worker packs, so no line is lost by waiting for its end to read figures that agree.
    this.deferred = this.agent.packing === true;
    if (this.deferred) return this.previous;
    // Read before the open SDCs: one packed in between is then either in neither or counted once, as made since the start.
    const nextSequence = Number(this.agent.state.meta('next_sequence') ?? 0);
    const open = new Map(this.agent.state.sdcs(OPEN_STATES).filter((s) => s.kind === 'data').map((s) => [s.sequence, s] as const));
    let validated = 0;
    for (const t of this.agent.config.tables) validated += (await this.agent.source.countByStatus(t.name))[2] ?? 0;
    const bytesUp = this.agent.link.usage().bytesUp;
    const waitingActs = validated + [...open.values()].reduce((n, s) => n + s.count, 0);
    const min = this.o.minActs ?? 0;
    if (!this.backlog) {
      if (min > 0 && waitingActs <= min) return undefined;
      this.backlog = {
        tracker: new ProgressTracker({ clock: this.clock, windowMs: this.o.windowMs }),
        before: new Map([...open].filter(([sequence]) => sequence < nextSequence).map(([sequence, s]) => [sequence, s.count])), firstSequence: nextSequence, counted: new Set(), done: 0, bytesUpAtStart: bytesUp, loggedAt: -Infinity, loggedFinished: false,
      };
    }
    const b = this.backlog;
    for (const [sequence, count] of b.before) {
      if (open.has(sequence)) continue;
      const state = this.agent.state.sdc(sequence)?.state;
      // An abandoned SDC's acts went into another one, or back to 2: they are still waiting.
      if (state === 'done' || state === 'receipted') b.done += count;
      b.before.delete(sequence);
    }
    // An SDC may be packed and receipted between two samples on a fast link: those made since the start are read back from the state.
    for (const sdc of this.receiptedSince(b.firstSequence)) {
      if (b.counted.has(sdc.sequence)) continue;
      b.counted.add(sdc.sequence);
      b.done += sdc.count;
    }
    const sent = bytesUp - b.bytesUpAtStart;
    const snapshot = this.previous = b.tracker.update({ actsDone: b.done, actsTotal: b.done + waitingActs, bytesSent: sent, bytesTotal: sent + this.bytesWaiting([...open.values()], validated) });
    this.draw(snapshot, false);
    if (min > 0 && snapshot.finished) this.finish(snapshot);
    return snapshot;
  }

  /** Data SDCs from `first` on with their receipt, reading only the newest rows of the state. */
  private receiptedSince(first: number): SdcRecord[] {
    const out: SdcRecord[] = [];
    for (const state of ['receipted', 'done'] as const) {
      for (let limit = 64; ; limit *= 4) {
        const rows = this.agent.state.recentSdcs('data', state, limit);
        if (rows.length < limit || rows[0]!.sequence < first) {
          out.push(...rows.filter((r) => r.sequence >= first));
          break;
        }
      }
    }
    return out;
  }

  /** Unsent SDCs by their size; acts not packed yet at the size of the acts of recent SDCs. */
  private bytesWaiting(open: SdcRecord[], validated: number): number {
    const sized = open.filter((s) => s.bytes !== null && s.count > 0);
    const acts = sized.reduce((n, s) => n + s.count, 0);
    if (acts > 0) this.bytesPerAct = sized.reduce((n, s) => n + s.bytes!, 0) / acts;
    return open.filter((s) => s.sentAt === null).reduce((n, s) => n + (s.bytes ?? s.count * this.bytesPerAct), 0) + validated * this.bytesPerAct;
  }

  private draw(p: ProgressSnapshot, final: boolean): void {
    const { terminal } = this.o.output;
    if (terminal) {
      const line = formatProgressLine(p, terminal.columns || 80);
      terminal.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
      this.drawn = final ? '' : line;
      return;
    }
    const b = this.backlog!;
    // Once everything is done, a sync may still be hanging up: the last line says it, not a repeat every few seconds.
    if (!final && (p.at - b.loggedAt < (this.o.logEveryMs ?? 10_000) || b.loggedFinished)) return;
    b.loggedAt = p.at;
    b.loggedFinished = p.finished;
    this.o.output.line(JSON.stringify({ t: new Date(p.at).toISOString(), event: 'progress', ...progressFields(p), ...(final ? { final: true } : {}) }));
  }

  private finish(p: ProgressSnapshot): void {
    this.draw(p, true);
    this.backlog = undefined;
  }

  private tick(): Promise<void> {
    this.ticking = this.sample().then(() => undefined, () => undefined).finally(() => {
      this.ticking = undefined;
      this.schedule(this.backlog || this.deferred ? this.o.everyMs ?? 1000 : this.o.idleEveryMs ?? 10_000);
    });
    return this.ticking;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    // Progress is a view: it never keeps a finished command alive.
    this.timer.unref();
  }

  /** Stops sampling; a backlog showing gets its last line, done or not. Once, however often called. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      clearTimeout(this.timer);
      await this.ticking;
      if (!this.backlog && (this.o.minActs ?? 0) > 0) return;
      const last = await this.sample().catch(() => undefined);
      if (last && this.backlog) this.finish(last);
    })();
    return this.stopping;
  }
}
