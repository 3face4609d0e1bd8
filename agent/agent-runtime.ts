import { join } from 'node:path';
import { takePidLock } from '../common/pid-lock.js';
import { loadCompressor } from '../protocol/compressor.js';
import { TamtamError, isTamtamError } from '../protocol/errors.js';
import { isRelayEnvelope } from '../protocol/sdc/relay-envelope.js';
import { agentStatus, type AgentStatusReport } from './agent-status.js';
import { runDaemon } from './agent-daemon.js';
import { BatchPolicy, recordsPerSdc } from './batch-policy.js';
import { loadAgentIdentity, loadTableSpecs, type AgentConfig } from './config.js';
import { Exporter, type PackResult } from './exporter.js';
import { InboundRouter } from './diagnostics/inbound-router.js';
import { keepRecentErrors } from './diagnostics/recent-errors.js';
import { createLink } from './link/create-link.js';
import { emptyUsage, usageDelta, type Link, type LinkUsage } from './link/link.js';
import { ReceiptApplier, type ReceiptResult } from './receipt-applier.js';
import { recover, summariseRecovery, type RecoveryReport } from './recovery.js';
import { openSource, type SourceAdapter } from './source/source-adapter.js';
import { Spool } from './spool/spool.js';
import { UsageReporter } from './usage-reporter.js';
import { AgentState, OPEN_STATES } from './state/agent-state.js';
import { RelayStore, keepRelayed } from './t2d/relay-store.js';
import type { TestReportResult } from './setup/test-report.js';
import { exchangeAt, type StickReport } from './t2d/stick-exchange.js';

/** SDCs in flight on a link at once. */
const SEND_WINDOW = 8;
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
}

interface RuntimeParts {
  config: AgentConfig;
  state: AgentState;
  source: SourceAdapter;
  spool: Spool;
  exporter: Exporter;
  applier: ReceiptApplier;
  link: Link;
  recovery: RecoveryReport;
  reporter: UsageReporter;
  inbound: InboundRouter;
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
  private usageSeen: LinkUsage = emptyUsage();
  private readonly receiptWaiters = new Set<() => void>();
  private receiptsApplied = 0;
  /** One stick exchange at a time (two mounts reported together must not write one outbox twice at once), and what waits for a stick. */
  private sticks: Promise<unknown> = Promise.resolve();
  readonly relayStore: RelayStore;

  readonly config: AgentConfig;
  readonly state: AgentState;
  readonly source: SourceAdapter;
  readonly spool: Spool;
  readonly exporter: Exporter;
  readonly applier: ReceiptApplier;
  readonly link: Link;
  readonly recovery: RecoveryReport;
  private readonly reporter: UsageReporter;
  private readonly inbound: InboundRouter;
  private readonly release: () => void;
  private readonly clock: () => number;
  private readonly log: AgentLog;
  private readonly pollMs: number;

  private constructor(p: RuntimeParts) {
    ({
      config: this.config, state: this.state, source: this.source, spool: this.spool, exporter: this.exporter, applier: this.applier, link: this.link,
      recovery: this.recovery, reporter: this.reporter, inbound: this.inbound, release: this.release, clock: this.clock, log: this.log, pollMs: this.pollMs,
    } = p);
    this.relayStore = RelayStore.open(this.config.dataDir);
    this.link.onMessage(async (payload) => {
      if (isRelayEnvelope(payload) && keepRelayed(this.relayStore, this.config.centre, payload, this.log)) return;
      const result = await this.inbound.accept(payload);
      if ('receipt' in result) this.onReceipt(result.receipt);
    });
  }

  /** One insertion of a USB stick mounted at `root`; a stick that cannot be read gives a report with the error, nothing written. */
  exchangeWithStick(root: string): Promise<StickReport> {
    const { centre, t2d } = this.config;
    const run = this.sticks.then(() => exchangeAt(root, {
      centre, state: this.state, spool: this.spool, applier: this.applier, relayStore: this.relayStore, link: t2d?.relay === false ? undefined : this.link, log: this.log, onReceipt: (r) => this.onReceipt(r),
      inbound: (p) => this.inbound.accept(p, { fromStick: true }),
    }));
    this.sticks = run.catch(() => undefined);
    return run;
  }

  static async open(config: AgentConfig, o: AgentRuntimeOptions = {}): Promise<AgentRuntime> {
    const clock = o.clock ?? Date.now;
    // Its last errors are kept in the state for diagnostic reports; none is logged before the state opens.
    const log = keepRecentErrors(o.log ?? (() => {}), () => state, clock);
    const release = takePidLock(join(config.dataDir, 'agent.lock'), `the agent data folder ${config.dataDir}`);
    let state: AgentState | undefined;
    let source: SourceAdapter | undefined;
    try {
      const identity = loadAgentIdentity(config);
      const tables = loadTableSpecs(config);
      state = AgentState.open(join(config.dataDir, 'state.db'), { clock });
      source = await openSource(config.source);
      const spool = Spool.open(config.dataDir, { clock });
      const compressor = await loadCompressor();
      const common = { state, source, spool, compressor, identity };
      const recent = state.recentSdcs('data', 'done', 20);
      const exporter = new Exporter({ ...common, tables, maxRecords: recordsPerSdc(config.batching.maxRecords, config.link.profile.upKbps, recent) });
      const applier = new ReceiptApplier(common);
      const report = await recover({ ...common, exporter, applier, tables: tables.map((t) => t.name) });
      const link = o.link ?? await createLink(config.centre, config.link, { dataDir: config.dataDir, now: clock });
      const reporter = new UsageReporter({
        ...common, tables: tables.map((t) => t.name), profile: config.link.profile.name, everySeconds: config.batching.usageReportMinutes * 60,
      });
      const inbound = new InboundRouter({ ...common, config, applier, link, log });
      log('agent_opened', { centre: config.centre, recovered: summariseRecovery(report) });
      return new AgentRuntime({ config, state, source, spool, exporter, applier, link, recovery: report, reporter, inbound, release, clock, log, pollMs: o.pollMs ?? 2000 });
    } catch (e) {
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
    if (this.reporter.due()) {
      const sequence = await this.reporter.pack();
      this.log('usage_report_packed', { sequence });
    }
    if (due.length === 0) return { sdcs: [], records: 0, refused: [] };
    const result = await this.exporter.pack({ tables: due });
    for (const t of due) policy?.packed(t);
    if (result.sdcs.length > 0) this.log('packed', { sdcs: result.sdcs.length, records: result.records });
    return result;
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
    return sendTestReport({ ...parts, pack: () => this.reporter.pack(), meter: () => this.meter() }, timeoutMs, signal);
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
    await this.source.close();
    this.state.close();
    this.release();
  }
}
