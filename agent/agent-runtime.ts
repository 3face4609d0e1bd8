import { join } from 'node:path';
import { takePidLock } from '../common/pid-lock.js';
import { TamtamError, isTamtamError } from '../protocol/errors.js';
import { isRelayEnvelope } from '../protocol/sdc/relay-envelope.js';
import { agentStatus, type AgentStatusReport } from './agent-status.js';
import { runDaemon } from './agent-daemon.js';
import type { BatchPolicy } from './batch-policy.js';
import { loadAgentIdentity, loadTableSpecs, type AgentConfig } from './config.js';
import type { PackResult } from './exporter.js';
import { keepRecentErrors } from './diagnostics/recent-errors.js';
import { createLink } from './link/create-link.js';
import { usageDelta, type Link, type LinkUsage } from './link/link.js';
import type { LocalWork } from './local-work.js';
import type { ReceiptResult } from './receipt-applier.js';
import { summariseRecovery, type RecoveryReport } from './recovery.js';
import { openSource, type SourceAdapter } from './source/source-adapter.js';
import { Spool } from './spool/spool.js';
import { AgentState, OPEN_STATES } from './state/agent-state.js';
import { RelayStore, keepRelayed } from './t2d/relay-store.js';
import type { TestReportResult } from './setup/test-report.js';
import { exchangeAt, type StickReport } from './t2d/stick-exchange.js';
import { usageReportDue } from './usage-report-due.js';
import { WorkerClient } from './worker/worker-client.js';
import { takeWorkLock } from './worker/work-lock.js';

/** SDCs in flight on a link at once. */
const SEND_WINDOW = 8;
/** SQLite page cache of a daemon whose worker does the work. */
const DAEMON_CACHE_KB = 256;
/** Calls `sync --once` makes when they keep dropping. */
const MAX_CALLS = 5;

export type AgentLog = (event: string, fields?: Record<string, unknown>) => void;

export interface AgentRuntimeOptions {
  /** Default: the MQTT link of the config. */
  link?: Link;
  clock?: () => number;
  log?: AgentLog;
  /** How often the daemon looks for validated records and due SDCs. Default 2 s. */
  pollMs?: number;
  /**
   * `agent run`: packing, receipts and answers to the hub run in a short-lived
   * worker process (agent/worker/), started with this config file, so the
   * daemon that waits for months between batches never holds the codec, the
   * packing's memory or the compiled code it leaves behind.
   */
  worker?: { configPath: string };
  /** Set by that worker process: it holds work.lock, not the daemon's agent.lock, and its log goes to the daemon, which keeps the errors. */
  role?: 'worker';
}

interface RuntimeParts {
  config: AgentConfig;
  state: AgentState;
  source: SourceAdapter;
  spool: Spool;
  link: Link;
  /** Built at open, or on first need when a worker does the daemon's work. */
  work: LocalWork | undefined;
  worker: WorkerClient | undefined;
  recovery: RecoveryReport | undefined;
  release: () => void;
  clock: () => number;
  log: AgentLog;
  pollMs: number;
}

export interface SyncReport {
  packed: PackResult;
  sent: number;
  receipts: number;
  /** SDCs still waiting for a receipt when the sync ended. */
  waiting: number;
}

/**
 * A centre's agent: one process per data folder (a lock file says so), its
 * state, spool and source, a link, and the loop that packs, sends and applies
 * receipts. Everything it does on disk is crash-safe (docs/ARCHITECTURE.md),
 * so it may be killed at any moment and simply started again.
 */
export class AgentRuntime {
  private usageSeen: LinkUsage;
  private readonly receiptWaiters = new Set<() => void>();
  private receiptsApplied = 0;
  /** One stick exchange at a time (two mounts reported together must not write one outbox twice at once), and what waits for a stick. */
  private sticks: Promise<unknown> = Promise.resolve();
  readonly relayStore: RelayStore;

  readonly config: AgentConfig;
  readonly state: AgentState;
  readonly source: SourceAdapter;
  readonly spool: Spool;
  readonly link: Link;
  /** What recovery at open did; undefined when a worker process recovers (its first pass). */
  readonly recovery: RecoveryReport | undefined;
  private work: Promise<LocalWork> | undefined;
  private readonly worker: WorkerClient | undefined;
  private readonly release: () => void;
  private readonly clock: () => number;
  private readonly log: AgentLog;
  private readonly pollMs: number;

  private constructor(p: RuntimeParts) {
    ({
      config: this.config, state: this.state, source: this.source, spool: this.spool, link: this.link,
      recovery: this.recovery, worker: this.worker, release: this.release, clock: this.clock, log: this.log, pollMs: this.pollMs,
    } = p);
    if (p.work) this.work = Promise.resolve(p.work);
    // A link counts from its creation; a worker's view of the daemon's link starts at the daemon's figures, which are not the worker's to add.
    this.usageSeen = { ...this.link.usage() };
    this.relayStore = RelayStore.open(this.config.dataDir);
    this.worker?.onReceipt((r) => this.onReceipt(r));
    this.link.onMessage(async (payload) => {
      if (isRelayEnvelope(payload) && keepRelayed(this.relayStore, this.config.centre, payload, this.log)) return;
      return this.worker ? this.worker.inbound(payload) : this.acceptInbound(payload);
    });
  }

  /** A worker process is packing (agent/worker/). */
  get packing(): boolean {
    return this.worker?.packing ?? false;
  }

  /** The parts that need the codec and the keys: opened once, at first need when a worker does the daemon's work. */
  private localWork(): Promise<LocalWork> {
    this.work ??= import('./local-work.js').then(async ({ openLocalWork }) => {
      const { work, recovery } = await openLocalWork({ config: this.config, state: this.state, source: this.source, spool: this.spool, link: this.link, log: this.log });
      for (const r of recovery.inbox) this.onReceipt(r);
      return work;
    });
    return this.work;
  }

  /** One insertion of a USB stick mounted at `root`; a stick that cannot be read gives a report with the error, nothing written. */
  exchangeWithStick(root: string): Promise<StickReport> {
    const { centre, t2d } = this.config;
    const run = this.sticks.then(() => this.localWork()).then(({ applier, inbound }) => exchangeAt(root, {
      centre, state: this.state, spool: this.spool, applier, relayStore: this.relayStore, link: t2d?.relay === false ? undefined : this.link, log: this.log, onReceipt: (r) => this.onReceipt(r),
      inbound: (p) => inbound.accept(p, { fromStick: true }),
    }));
    this.sticks = run.catch(() => undefined);
    return run;
  }

  static async open(config: AgentConfig, o: AgentRuntimeOptions = {}): Promise<AgentRuntime> {
    const clock = o.clock ?? Date.now;
    const worker = o.role === 'worker';
    // Its last errors are kept in the state for diagnostic reports; none is logged before the state opens.
    const log = worker ? (o.log ?? (() => {})) : keepRecentErrors(o.log ?? (() => {}), () => state, clock);
    // The worker process runs under the daemon's lock, and holds work.lock itself (run-pass.ts); what works in-process holds both.
    const agentLock = worker ? () => {} : takePidLock(join(config.dataDir, 'agent.lock'), `the agent data folder ${config.dataDir}`);
    let workLock = () => {};
    const release = () => {
      workLock();
      agentLock();
    };
    let state: AgentState | undefined;
    let source: SourceAdapter | undefined;
    let link: Link | undefined;
    try {
      // A daemon that leaves the work to a worker only counts and looks up: a small page cache does, and is not kept for months.
      const cacheKb = o.worker ? DAEMON_CACHE_KB : undefined;
      state = AgentState.open(join(config.dataDir, 'state.db'), { clock, cacheKb });
      source = await openSource(config.source, { cacheKb });
      const spool = Spool.open(config.dataDir, { clock });
      link = o.link ?? await createLink(config.centre, config.link, { dataDir: config.dataDir, now: clock });
      const parts = { config, state, source, spool, link, release, clock, log, pollMs: o.pollMs ?? 2000 };
      if (o.worker) {
        // Checked here too, though only the worker uses them: a bad key or dictionary stops `agent run` at once with why, not at each pass.
        loadAgentIdentity(config);
        loadTableSpecs(config);
        const client = new WorkerClient({ configPath: o.worker.configPath, state, spool, log, link });
        log('agent_opened', { centre: config.centre, worker: true });
        return new AgentRuntime({ ...parts, work: undefined, worker: client, recovery: undefined });
      }
      if (!worker) workLock = await takeWorkLock(config.dataDir);
      const { openLocalWork } = await import('./local-work.js');
      const { work, recovery } = await openLocalWork({ config, state, source, spool, link, log });
      const recovered = summariseRecovery(recovery);
      if (!worker) log('agent_opened', { centre: config.centre, recovered });
      // Receipts waiting in the inbox are a worker's daily work, not something a crash left.
      else if (Object.entries(recovered).some(([k, n]) => k !== 'inbox' && n > 0)) log('recovered', recovered);
      return new AgentRuntime({ ...parts, work, worker: undefined, recovery });
    } catch (e) {
      if (!o.link) await link?.dispose?.();
      state?.close();
      await source?.close();
      release();
      throw e;
    }
  }

  private onReceipt(result: ReceiptResult): void {
    if (result.status === 'applied') {
      this.receiptsApplied++;
      this.log('receipt', { sequence: result.sequence, table: result.table, accepted: result.accepted, merged: result.merged, duplicate: result.duplicate, rejected: result.rejected });
    } else if (result.status === 'quarantined') this.log('receipt_quarantined', { file: result.file, code: result.code, reason: result.reason });
    for (const wake of this.receiptWaiters) wake();
  }

  /** Packs what the batch policy says is due, or everything validated with `all`. */
  async pack(all: boolean, policy?: BatchPolicy): Promise<PackResult> {
    const tables = this.config.tables.map((t) => t.name);
    const due = all || !policy ? tables : (await policy.check(this.source, tables)).filter((d) => d.pack).map((d) => d.table);
    const result = this.worker
      ? await this.worker.pass({ tables: due, report: usageReportDue(this.state, this.config.batching.usageReportMinutes * 60) })
      : await this.packTables(due);
    for (const t of due) policy?.packed(t);
    return result;
  }

  /** Packs `tables` here, and a usage report when one is due; the worker process's pack. */
  async packTables(tables: string[]): Promise<PackResult> {
    const { reporter, exporter } = await this.localWork();
    if (reporter.due()) {
      const sequence = await reporter.pack();
      this.log('usage_report_packed', { sequence });
    }
    if (tables.length === 0) return { sdcs: [], records: 0, refused: [] };
    const result = await exporter.pack({ tables });
    if (result.sdcs.length > 0) this.log('packed', { sdcs: result.sdcs.length, records: result.records });
    return result;
  }

  /** An SDC from the hub, handled in this process: the link's, or the worker's for what the daemon got on its link. */
  async acceptInbound(payload: Uint8Array): Promise<void> {
    const result = await (await this.localWork()).inbound.accept(payload);
    if ('receipt' in result) this.onReceipt(result.receipt);
  }

  /** Outbox SDCs never sent, or sent longer ago than the receipt timeout, oldest first. */
  dueForSending(): number[] {
    const overdue = this.clock() - this.config.batching.receiptTimeoutSeconds * 1000;
    return this.spool.listOutbox().map((f) => f.sequence).filter((sequence) => {
      const sdc = this.state.sdc(sequence);
      return sdc !== undefined && OPEN_STATES.includes(sdc.state) && (sdc.sentAt === null || sdc.sentAt <= overdue);
    });
  }

  /**
   * Sends every due SDC, up to SEND_WINDOW at once: on a satellite link a
   * round trip is 1–2 s, and waiting for each SDC's acknowledgement before the
   * next would leave the link idle. Rejects with the first failure once the
   * sends in flight settled.
   */
  async sendDue(signal?: AbortSignal): Promise<number> {
    const queue = this.dueForSending();
    let sent = 0;
    let failure: unknown;
    const worker = async () => {
      for (let sequence = queue.shift(); sequence !== undefined && failure === undefined; sequence = queue.shift()) {
        let bytes: Uint8Array;
        try {
          bytes = this.spool.readOutbox(sequence);
        } catch (e) {
          if (isTamtamError(e, 'E_IO')) continue; // its receipt came meanwhile and took the file
          failure ??= e;
          return;
        }
        try {
          await this.link.send(bytes, signal);
        } catch (e) {
          failure ??= e;
          return;
        }
        this.state.markSent(sequence);
        sent++;
      }
    };
    await Promise.all(Array.from({ length: SEND_WINDOW }, worker));
    this.meter();
    if (failure !== undefined) throw failure;
    return sent;
  }

  /** Records the link's bytes since the last call, so usage survives restarts. */
  private meter(): void {
    const now = this.link.usage();
    const delta = usageDelta(now, this.usageSeen);
    if (Object.values(delta).some((v) => v !== 0)) this.state.addUsage(this.link.kind, delta);
    this.usageSeen = { ...now };
  }

  waitingForReceipts(): number {
    return this.state.sdcs(OPEN_STATES).length;
  }

  /** Resolves when no SDC waits for a receipt, or false after `timeoutMs`. */
  async waitForReceipts(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = this.clock() + timeoutMs;
    while (this.waitingForReceipts() > 0) {
      const left = deadline - this.clock();
      if (left <= 0 || signal?.aborted) return false;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.receiptWaiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.receiptWaiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
    return true;
  }

  /** One session: pack everything validated, send it and what is due, wait for the receipts, hang up. */
  async syncOnce(o: { timeoutMs: number; signal?: AbortSignal }): Promise<SyncReport> {
    const packed = await this.pack(true);
    const before = this.receiptsApplied;
    const deadline = this.clock() + o.timeoutMs;
    let sent = 0;
    // A dropped call is normal on a satellite link: call again while time is left, resuming where the last one stopped.
    for (let attempt = 1; ; attempt++) {
      try {
        sent += await this.session({ receiptWaitMs: Math.max(0, deadline - this.clock()), signal: o.signal });
        break;
      } catch (e) {
        const again = this.link.mode === 'session' && isTamtamError(e) && e.retryable && attempt < MAX_CALLS && this.clock() < deadline && !o.signal?.aborted;
        if (!again) throw e;
        this.log('call_dropped', { attempt, code: e.code, message: e.message });
      }
    }
    return { packed, sent, receipts: this.receiptsApplied - before, waiting: this.waitingForReceipts() };
  }

  /** Opens the link, sends what is due, waits up to `receiptWaitMs` for the receipts, closes (hangs up). */
  async session(o: { receiptWaitMs: number; signal?: AbortSignal }): Promise<number> {
    await this.link.open(o.signal);
    try {
      const sent = await this.sendDue(o.signal);
      await this.waitForReceipts(o.receiptWaitMs, o.signal);
      return sent;
    } finally {
      this.meter();
      await this.link.close();
      this.meter();
    }
  }

  /** `agent setup`'s test of the whole path: packs a usage report now and runs the link until its receipt is applied. */
  async sendTestReport(timeoutMs: number, signal?: AbortSignal): Promise<TestReportResult> {
    const { sendTestReport } = await import('./setup/test-report.js');
    const parts = { link: this.link, state: this.state, spool: this.spool, clock: this.clock, receiptWaiters: this.receiptWaiters };
    const { reporter } = await this.localWork();
    return sendTestReport({ ...parts, pack: () => reporter.pack(), meter: () => this.meter() }, timeoutMs, signal);
  }

  /** The daemon: until `signal` aborts, pack by the batch policy and keep the outbox flowing. */
  run(signal: AbortSignal): Promise<void> {
    return runDaemon(this, signal, { pollMs: this.pollMs, clock: this.clock, log: this.log });
  }

  status(): Promise<AgentStatusReport> {
    return agentStatus({
      centre: this.config.centre, state: this.state, source: this.source, spool: this.spool, tables: this.config.tables.map((t) => t.name),
      receiptTimeoutSeconds: this.config.batching.receiptTimeoutSeconds, link: { kind: this.link.kind, state: this.link.state },
    });
  }

  async close(): Promise<void> {
    this.meter();
    await this.link.close();
    await this.link.dispose?.();
    await this.worker?.close();
    await this.source.close();
    this.state.close();
    this.release();
  }
}
