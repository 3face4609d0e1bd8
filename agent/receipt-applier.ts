import { join } from 'node:path';
import { certMatches } from '../protocol/cms/cert-id.js';
import type { Compressor } from '../protocol/compressor.js';
import { TamtamError, isTamtamError } from '../protocol/errors.js';
import { decodeReceipt, type Receipt } from '../protocol/sdc/receipt.js';
import { SdcKind, kindName } from '../protocol/sdc/sdc-header.js';
import { openSdc } from '../protocol/sdc/sdc.js';
import type { AgentIdentity } from './config.js';
import type { SourceAdapter } from './source/source-adapter.js';
import type { Spool } from './spool/spool.js';
import type { AgentState } from './state/agent-state.js';

const HINTS: Partial<Record<string, string>> = {
  E_UNKNOWN_SIGNER: " (a receipt must be signed with the hub's certificate named by hubCertificate in the agent config; if the hub's certificate changed, install the new one)",
  E_BAD_SIGNATURE: ' (it was altered on the way, or not made by the hub)',
  E_WRONG_RECIPIENT: " (it was sealed for another centre's key)",
};

/** The points between a receipt's effects, in order; a hook that throws there simulates a crash. */
export type ReceiptStep = 'journaled' | 'moved' | 'applied';

export interface ReceiptHooks {
  afterStep?(step: ReceiptStep, info: { sequence: number }): void | Promise<void>;
}

export type ReceiptResult =
  | { status: 'applied'; sequence: number; table: string; accepted: boolean; merged: number; duplicate: number; rejected: number; moved: number; unknownEntries: number }
  | { status: 'unknown-sdc' | 'already-applied'; sequence: number }
  | { status: 'quarantined'; file: string; code: string; reason: string };

export interface ReceiptApplierOptions {
  state: AgentState;
  source: SourceAdapter;
  spool: Spool;
  compressor: Compressor;
  identity: AgentIdentity;
  hooks?: ReceiptHooks;
}

/**
 * Step 3 of the status machine: a receipt, kept in the inbox until applied,
 * is verified (for this centre's key, signed by the hub's certificate),
 * journaled with applied = 0, records merged or duplicate move 3 -> 4, the
 * journal says applied = 1, then the outbox SDC and the inbox file go.
 */
export class ReceiptApplier {
  constructor(private readonly o: ReceiptApplierOptions) {}

  /** For a link's onMessage: once this resolves the receipt is applied (or quarantined), so the link may acknowledge it. */
  async accept(payload: Uint8Array): Promise<ReceiptResult> {
    const file = this.o.spool.writeInbox(payload);
    return this.o.state.exclusive(() => this.processInboxFile(file.name));
  }

  /** Every file in the inbox, oldest first: left by a crash, or dropped there by a USB stick import. */
  processInbox(): Promise<ReceiptResult[]> {
    return this.o.state.exclusive(() => this.processInboxUnlocked());
  }

  /** As processInbox, for recovery, which already holds state.exclusive. */
  async processInboxUnlocked(): Promise<ReceiptResult[]> {
    const out: ReceiptResult[] = [];
    for (const f of this.o.spool.listInbox()) out.push(await this.processInboxFile(f.name));
    return out;
  }

  private verify(payload: Uint8Array): Receipt {
    const { hubCert, key, cert, centre } = this.o.identity;
    const opened = openSdc(this.o.compressor, payload, { recipientKey: key, recipientCert: cert, resolveSigner: (id) => (certMatches(hubCert, id) ? hubCert : undefined) });
    if (opened.header.kind !== SdcKind.receipt) {
      throw new TamtamError('E_MALFORMED', `an SDC of kind ${kindName(opened.header.kind) ?? opened.header.kind} came where a receipt was expected; this agent applies only receipts`);
    }
    const receipt = decodeReceipt(opened.body);
    if (receipt.sdcSender !== centre) {
      throw new TamtamError('E_MALFORMED', `the receipt is for an SDC of centre ${receipt.sdcSender}, not of this centre ${centre}: the hub routed it wrongly`);
    }
    return receipt;
  }

  private async processInboxFile(name: string): Promise<ReceiptResult> {
    const payload = this.o.spool.readInbox(name);
    let receipt: Receipt;
    try {
      receipt = this.verify(payload);
    } catch (e) {
      const code = isTamtamError(e) ? e.code : 'E_MALFORMED';
      const reason = `${code}: ${(e as Error).message}${HINTS[code] ?? ''}`;
      const q = this.o.spool.quarantine(join(this.o.spool.inboxDir, name), `inbound file ${name} could not be applied as a receipt: ${reason}`);
      return { status: 'quarantined', file: q.path, code, reason };
    }
    const result = await this.apply(receipt);
    this.o.spool.removeInbox(name);
    return result;
  }

  private async apply(receipt: Receipt): Promise<ReceiptResult> {
    const big = receipt.sdcSequence;
    const sequence = big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : -1;
    const sdc = sequence > 0 ? this.o.state.sdc(sequence) : undefined;
    // Harmless by design: the hub answers a replayed SDC with its stored receipt, and links may deliver twice.
    if (!sdc) return { status: 'unknown-sdc', sequence };
    if (sdc.state === 'done') {
      this.o.spool.removeOutbox(sequence);
      return { status: 'already-applied', sequence };
    }
    let unknownEntries = 0;
    if (sdc.state !== 'receipted') {
      unknownEntries = this.o.state.recordReceipt(sequence, receipt).unknown;
      await this.o.hooks?.afterStep?.('journaled', { sequence });
    }
    const moved = await this.finish(sequence);
    const entries = this.o.state.journal(sequence);
    const count = (o: string) => entries.filter((e) => e.outcome === o).length;
    return {
      status: 'applied', sequence, table: sdc.table, accepted: receipt.accepted,
      merged: count('merged'), duplicate: count('duplicate'), rejected: count('rejected'), moved, unknownEntries,
    };
  }

  /**
   * CAS 3 -> 4 for the SDC's merged and duplicate records, applied = 1, then
   * the outbox file goes. A record is moved only for its newest version: an
   * amendment packed since must wait for its own receipt.
   */
  private async finish(sequence: number): Promise<number> {
    const entries = this.o.state.journal(sequence).filter((e) => !e.applied && (e.outcome === 'merged' || e.outcome === 'duplicate'));
    let moved = 0;
    for (const table of new Set(entries.map((e) => e.table))) {
      const mine = entries.filter((e) => e.table === table);
      const last = this.o.state.lastVersions(table, mine.map((e) => e.numero));
      const current = mine.filter((e) => last.get(e.numero) === e.version).map((e) => e.numero);
      moved += (await this.o.source.setStatus(table, current, 3, 4)).length;
    }
    await this.o.hooks?.afterStep?.('moved', { sequence });
    this.o.state.markApplied(sequence);
    await this.o.hooks?.afterStep?.('applied', { sequence });
    this.o.spool.removeOutbox(sequence);
    return moved;
  }

  /** Recovery: receipts journaled whose status changes may not have run (applied = 0). Call inside state.exclusive. */
  async reapplyPending(): Promise<number> {
    const sequences = new Set([...this.o.state.unapplied().map((e) => e.sequence), ...this.o.state.sdcs(['receipted']).map((s) => s.sequence)]);
    for (const s of sequences) await this.finish(s);
    return sequences.size;
  }
}
