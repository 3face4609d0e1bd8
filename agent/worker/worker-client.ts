import { fork } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TamtamError, type ErrorCode } from '../../protocol/errors.js';
import { SdcKind } from '../../protocol/sdc/sdc-header.js';
import { peekSdc } from '../../protocol/sdc/sdc.js';
import type { AgentLog } from '../agent-runtime.js';
import { recordHubClock } from '../doctor/clock-check.js';
import type { Link } from '../link/link.js';
import type { ReceiptResult } from '../receipt-applier.js';
import type { Spool } from '../spool/spool.js';
import type { AgentState } from '../state/agent-state.js';
import type { PassResult, WorkJob, WorkerMessage } from './work-job.js';

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));
/** After failed passes the daemon's polls wait this long, doubling, before the next: a broken setup must not start a process every poll. */
const RETRY_MS = { first: 2_000, max: 120_000 };

export interface WorkerClientOptions {
  configPath: string;
  state: AgentState;
  spool: Spool;
  link: Link;
  log: AgentLog;
}

interface Pending {
  tables: Set<string>;
  report: boolean;
  diagnostics: Uint8Array[];
  waiters: { resolve(r: PassResult): void; reject(e: unknown): void }[];
}

/**
 * The daemon's side of the worker process (docs/ARCHITECTURE.md, "The
 * daemon and its worker"). Requests that come while a pass runs are merged
 * into the next one. A pass holds state.exclusive in the daemon, so nothing
 * else of the daemon changes the state, the spool or the centre's records
 * while the worker does; the worker's work.lock keeps a second worker out.
 */
export class WorkerClient {
  /** The first pass recovers what a crash left, and a failed pass is followed by another. */
  private owed = true;
  private failures = 0;
  private retryAt = 0;
  private pending: Pending | undefined;
  private draining = false;
  private idle: Promise<void> = Promise.resolve();
  private packingNow = false;
  private receiptListener: (r: ReceiptResult) => void = () => {};

  constructor(private readonly o: WorkerClientOptions) {}

  /** A pass that packs is under way: the centre's records are claimed there before the state journals them. */
  get packing(): boolean {
    return this.packingNow;
  }

  onReceipt(listener: (r: ReceiptResult) => void): void {
    this.receiptListener = listener;
  }

  /** Packs `tables`, and a usage report; with nothing to do and no pass owed, no process is started. */
  async pass(r: { tables: string[]; report: boolean }): Promise<PassResult['packed']> {
    const idle = !this.owed && r.tables.length === 0 && !r.report && this.o.spool.listInbox().length === 0;
    if (idle || this.o.state.clock() < this.retryAt) return { sdcs: [], records: 0, refused: [] };
    return (await this.request(r)).packed;
  }

  /**
   * An SDC the link brought. A receipt is taken once it is in the inbox
   * (written to a temp name, fsynced, renamed), where any later pass applies
   * it, so the link goes on to the next one while a pass applies this one. A
   * diagnostic request is handed to a pass, and taken once answered.
   */
  async inbound(payload: Uint8Array): Promise<void> {
    let header;
    try {
      header = peekSdc(payload).header;
    } catch {
      header = undefined; // the worker's applier quarantines what cannot be read, with why
    }
    if (header?.kind === SdcKind.diagnosticRequest) {
      await this.request({ diagnostics: [payload] });
      return;
    }
    await this.o.state.exclusive(async () => this.o.spool.writeInbox(payload));
    this.request({}).then(({ receipts }) => {
      if (header && receipts.every((r) => r.status !== 'quarantined')) recordHubClock(this.o.state, header.created, this.o.state.clock());
    }, (e: unknown) => {
      // The receipt stays in the inbox; the pass owed after a failure applies it.
      this.o.log('error', { code: (e as TamtamError).code ?? 'E_INTERNAL', message: (e as Error).message });
    });
  }

  /** Waits for the pass under way; the daemon stops after. */
  async close(): Promise<void> {
    await this.idle;
  }

  private request(r: { tables?: string[]; report?: boolean; diagnostics?: Uint8Array[] }): Promise<PassResult> {
    const p = (this.pending ??= { tables: new Set(), report: false, diagnostics: [], waiters: [] });
    for (const t of r.tables ?? []) p.tables.add(t);
    p.report ||= r.report === true;
    p.diagnostics.push(...(r.diagnostics ?? []));
    const done = new Promise<PassResult>((resolve, reject) => p.waiters.push({ resolve, reject }));
    if (!this.draining) {
      this.draining = true;
      this.idle = this.drain();
    }
    return done;
  }

  private async drain(): Promise<void> {
    for (let p = this.pending; p; p = this.pending) {
      this.pending = undefined;
      try {
        const result = await this.o.state.exclusive(() => this.runPass(p!));
        this.owed = false;
        this.failures = 0;
        this.retryAt = 0;
        for (const w of p.waiters) w.resolve(result);
      } catch (e) {
        this.owed = true;
        this.retryAt = this.o.state.clock() + Math.min(RETRY_MS.max, RETRY_MS.first * 2 ** this.failures++);
        for (const w of p.waiters) w.reject(e);
      }
    }
    this.draining = false;
  }

  private async runPass(p: Pending): Promise<PassResult> {
    const { link } = this.o;
    const job: WorkJob = {
      configPath: resolve(this.o.configPath), tables: [...p.tables], diagnostics: p.diagnostics,
      link: { kind: link.kind, state: link.state, mode: link.mode, usage: link.usage() },
    };
    // No inherited node flags: the worker packs with V8's defaults, whatever the daemon runs with.
    this.packingNow = job.tables.length > 0;
    const child = fork(WORKER_MAIN, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    const ended = Promise.all([once(child, 'exit'), once(child, 'disconnect')]);
    const receipts: ReceiptResult[] = [];
    let outcome: WorkerMessage | undefined;
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'log') this.o.log(m.event, m.fields);
      else if (m.type === 'receipt') {
        receipts.push(m.result);
        this.receiptListener(m.result);
      } else outcome = m;
    });
    child.send(job);
    const [[code, signal]] = await ended as [[number | null, NodeJS.Signals | null], unknown];
    this.packingNow = false;
    if (outcome?.type === 'done') return { packed: outcome.packed, receipts };
    if (outcome?.type === 'failed') throw new TamtamError(outcome.code as ErrorCode, outcome.message, { retryable: outcome.retryable });
    throw new TamtamError('E_INTERNAL', `the agent's worker process ended (${signal ?? `exit code ${code}`}) before its work was done; the next pass recovers what it left`, { retryable: true });
  }
}
