import { join } from 'node:path';
import { takePidLock } from '../common/pid-lock.js';
import { loadCompressor } from '../protocol/compressor.js';
import { TamtamError, isTamtamError } from '../protocol/errors.js';
import { agentStatus, type AgentStatusReport } from './agent-status.js';
import { BatchPolicy } from './batch-policy.js';
import { loadAgentIdentity, loadTableSpecs, type AgentConfig } from './config.js';
import { Exporter, type PackResult } from './exporter.js';
import { MqttLink } from './link/mqtt-link.js';
import { emptyUsage, type Link, type LinkUsage } from './link/link.js';
import { ReceiptApplier, type ReceiptResult } from './receipt-applier.js';
import { recover, type RecoveryReport } from './recovery.js';
import { openSource, type SourceAdapter } from './source/source-adapter.js';
import { Spool } from './spool/spool.js';
import { AgentState, OPEN_STATES } from './state/agent-state.js';

export type AgentLog = (event: string, fields?: Record<string, unknown>) => void;

export interface AgentRuntimeOptions {
  /** Default: the MQTT link of the config. */
  link?: Link;
  clock?: () => number;
  log?: AgentLog;
  /** How often the daemon looks for validated records and due SDCs. Default 2 s. */
  pollMs?: number;
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

  private constructor(
    readonly config: AgentConfig,
    readonly state: AgentState,
    readonly source: SourceAdapter,
    readonly spool: Spool,
    readonly exporter: Exporter,
    readonly applier: ReceiptApplier,
    readonly link: Link,
    readonly recovery: RecoveryReport,
    private readonly release: () => void,
    private readonly clock: () => number,
    private readonly log: AgentLog,
    private readonly pollMs: number,
  ) {
    link.onMessage(async (payload) => {
      const result = await applier.accept(payload);
      this.onReceipt(result);
    });
  }

  static async open(config: AgentConfig, o: AgentRuntimeOptions = {}): Promise<AgentRuntime> {
    const clock = o.clock ?? Date.now;
    const log = o.log ?? (() => {});
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
      const exporter = new Exporter({ ...common, tables, maxRecords: config.batching.maxRecords });
      const applier = new ReceiptApplier(common);
      const report = await recover({ ...common, exporter, applier, tables: tables.map((t) => t.name) });
      const link = o.link ?? new MqttLink({
        url: config.link.url, centre: config.centre, username: config.link.username, password: config.link.password,
        ...(config.link.keepaliveSeconds ? { keepaliveSec: config.link.keepaliveSeconds } : {}),
      });
      log('agent_opened', { centre: config.centre, recovered: summariseRecovery(report) });
      return new AgentRuntime(config, state, source, spool, exporter, applier, link, report, release, clock, log, o.pollMs ?? 2000);
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
    if (due.length === 0) return { sdcs: [], records: 0, refused: [] };
    const result = await this.exporter.pack({ tables: due });
    for (const t of due) policy?.packed(t);
    if (result.sdcs.length > 0) this.log('packed', { sdcs: result.sdcs.length, records: result.records });
    return result;
  }

  /** Sends, oldest first, every outbox SDC never sent or sent longer ago than the receipt timeout. */
  async sendDue(signal?: AbortSignal): Promise<number> {
    const overdue = this.clock() - this.config.batching.receiptTimeoutSeconds * 1000;
    let sent = 0;
    for (const file of this.spool.listOutbox()) {
      const sdc = this.state.sdc(file.sequence);
      if (!sdc || !OPEN_STATES.includes(sdc.state) || (sdc.sentAt !== null && sdc.sentAt > overdue)) continue;
      let bytes: Uint8Array;
      try {
        bytes = this.spool.readOutbox(file.sequence);
      } catch (e) {
        if (isTamtamError(e, 'E_IO')) continue; // its receipt came meanwhile and took the file
        throw e;
      }
      await this.link.send(bytes, signal);
      this.state.markSent(file.sequence);
      sent++;
    }
    this.meter();
    return sent;
  }

  /** Records the link's bytes since the last call, so usage survives restarts. */
  private meter(): void {
    const now = this.link.usage();
    const delta: LinkUsage = {
      bytesUp: now.bytesUp - this.usageSeen.bytesUp, bytesDown: now.bytesDown - this.usageSeen.bytesDown,
      messagesUp: now.messagesUp - this.usageSeen.messagesUp, messagesDown: now.messagesDown - this.usageSeen.messagesDown, sessions: now.sessions - this.usageSeen.sessions,
    };
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
    await this.link.open(o.signal);
    try {
      const sent = await this.sendDue(o.signal);
      await this.waitForReceipts(o.timeoutMs, o.signal);
      return { packed, sent, receipts: this.receiptsApplied - before, waiting: this.waitingForReceipts() };
    } finally {
      this.meter();
      await this.link.close();
    }
  }

  /** The daemon: until `signal` aborts, pack by the batch policy and keep the outbox flowing. */
  async run(signal: AbortSignal): Promise<void> {
    const policy = new BatchPolicy(this.config.batching, this.clock);
    // A failed open leaves the link down for good, so it is opened again at every poll until it is up.
    let opening: Promise<void> | undefined;
    const open = () => {
      opening ??= this.link.open(signal)
        .catch((e) => this.log('link_down', { code: (e as TamtamError).code, message: (e as Error).message }))
        .finally(() => (opening = undefined));
    };
    // The outbox goes as soon as the link is (back) up, not a poll later.
    let cameUp = false;
    let wake = () => {};
    this.link.onStateChange((state) => {
      if (state !== 'up') return;
      cameUp = true;
      wake();
    });
    while (!signal.aborted) {
      cameUp = false;
      if (this.link.state === 'down') open();
      try {
        await this.pack(false, policy);
        if (this.link.state === 'up') await this.sendDue(signal);
      } catch (e) {
        if (!(e instanceof TamtamError) || !e.retryable) this.log('error', { code: (e as TamtamError).code ?? 'E_INTERNAL', message: (e as Error).message });
      }
      if (cameUp) continue;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          // Removed each time: a daemon polls for months, and a listener left per poll would pile up.
          signal.removeEventListener('abort', done);
          wake = () => {};
          resolve();
        };
        const timer = setTimeout(done, this.pollMs);
        wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
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
    await this.source.close();
    this.state.close();
    this.release();
  }
}

function summariseRecovery(r: RecoveryReport): Record<string, number> {
  return {
    tempFilesRemoved: r.tempFilesRemoved, receiptsReapplied: r.receiptsReapplied, inbox: r.inbox.length, markedPacked: r.markedPacked.length,
    repacked: r.repacked.length, orphansDeleted: r.orphansDeleted.length, stranded: r.stranded.reduce((n, s) => n + s.numeros.length, 0),
  };
}
