import type { Spool } from '../../agent/spool/spool.js';
import {
  SdcKind, certMatches, decodeBatch, encodeReceipt, openSdc, sealSdc, type Compressor, type Dictionary, type ReceiptEntry, type Value,
} from '../../protocol/index.js';
import type { Party } from './test-pki.js';

export interface MergedRecord {
  table: string;
  numero: number;
  version: number;
  values: Record<string, Value>;
  sdcSequence: bigint;
}

export interface HubSimOptions {
  compressor: Compressor;
  hub: Party;
  centre: Party;
  dictionaries?: Dictionary[];
  /** A reason to reject a record, or undefined to merge it. */
  rejectIf?: (table: string, values: Record<string, Value>) => string | undefined;
}

/**
 * The hub's side, played honestly with the real protocol and real keys:
 * opens an SDC with the hub key, checks the centre's signature, merges each
 * (table, numero, version) once (later copies are duplicates), remembers SDC
 * ids (a replay gets the stored receipt) and seals receipts for the centre.
 */
export class HubSim {
  readonly merged = new Map<string, MergedRecord>();
  /** How many times each key was merged: must never exceed 1. */
  readonly mergeCounts = new Map<string, number>();
  readonly receipts = new Map<string, Uint8Array>();
  sdcsIngested = 0;
  replays = 0;
  private receiptSequence = 1n;

  constructor(private readonly o: HubSimOptions) {}

  static key(table: string, numero: number, version: number): string {
    return `${table}|${numero}|${version}`;
  }

  ingest(sdc: Uint8Array): Uint8Array {
    const { hub, centre, compressor, dictionaries = [] } = this.o;
    const opened = openSdc(compressor, sdc, {
      recipientKey: hub.key,
      recipientCert: hub.cert,
      resolveSigner: (id) => (certMatches(centre.cert, id) ? centre.cert : undefined),
      resolveDictionary: (id) => dictionaries.find((d) => d.id === id),
    });
    const id = `${opened.header.sender}|${opened.header.sequence}`;
    const stored = this.receipts.get(id);
    if (stored) {
      this.replays++;
      return stored;
    }
    this.sdcsIngested++;
    const batch = decodeBatch(opened.body);
    const entries: ReceiptEntry[] = [];
    for (const row of batch.rows) {
      const values = Object.fromEntries(batch.columns.map((c, i) => [c, row[i]!]));
      const numero = values.numero as number;
      const version = values.__version as number;
      const reason = this.o.rejectIf?.(batch.table, values);
      const key = HubSim.key(batch.table, numero, version);
      if (reason) entries.push({ numero, version, outcome: 'rejected', reason });
      else if (this.merged.has(key)) entries.push({ numero, version, outcome: 'duplicate' });
      else {
        this.merged.set(key, { table: batch.table, numero, version, values, sdcSequence: opened.header.sequence });
        this.mergeCounts.set(key, (this.mergeCounts.get(key) ?? 0) + 1);
        entries.push({ numero, version, outcome: 'merged' });
      }
    }
    const receipt = this.seal({ sdcSender: opened.header.sender, sdcSequence: opened.header.sequence, accepted: true, table: batch.table, entries });
    this.receipts.set(id, receipt);
    return receipt;
  }

  /** A receipt as the hub would seal it (or, with `signer`, as someone else would). */
  seal(r: Parameters<typeof encodeReceipt>[0], signer: Party = this.o.hub): Uint8Array {
    return sealSdc(this.o.compressor, encodeReceipt(r), {
      kind: SdcKind.receipt, sender: 'hub', sequence: this.receiptSequence++, count: r.entries.length,
      signerKey: signer.key, signerCert: signer.cert, recipientCert: this.o.centre.cert,
    });
  }

  /** Takes every SDC of the outbox, oldest first, as a link would deliver them, and answers each. */
  drain(spool: Spool): Uint8Array[] {
    return spool.listOutbox().map((f) => this.ingest(spool.readOutbox(f.sequence)));
  }
}
