import type { PackResult } from '../exporter.js';
import type { LinkState, LinkUsage } from '../link/link.js';
import type { ReceiptResult } from '../receipt-applier.js';

/** What the daemon's link looks like, for the worker's diagnostic reports. */
export interface LinkView {
  kind: string;
  state: LinkState;
  mode: 'always' | 'session';
  usage: LinkUsage;
}

/**
 * One pass of the worker process, sent by the daemon over the IPC channel.
 * Every pass first recovers (which applies the receipts waiting in the
 * inbox), then answers `diagnostics`, then packs `tables` and a usage report
 * when one is due.
 */
export interface WorkJob {
  configPath: string;
  tables: string[];
  /** Diagnostic request SDCs the link brought, answered before the link acknowledges them. */
  diagnostics: Uint8Array[];
  link: LinkView;
}

/** The worker's messages back, in this order: logs and receipts as they come, then one `done` or `failed`. */
export type WorkerMessage =
  | { type: 'log'; event: string; fields: Record<string, unknown> }
  | { type: 'receipt'; result: ReceiptResult }
  | { type: 'done'; packed: PackResult }
  | { type: 'failed'; code: string; message: string; retryable: boolean };

/** What a pass did, for the daemon. */
export interface PassResult {
  packed: PackResult;
  receipts: ReceiptResult[];
}
