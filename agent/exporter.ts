import { encodeBatch } from '../protocol/batch/batch-encoder.js';
import type { Batch } from '../protocol/batch/batch.js';
import type { RandomBytes } from '../protocol/cms/enveloped-data.js';
import { MAX_BODY_SIZE, type Compressor } from '../protocol/compressor.js';
import type { Dictionary } from '../protocol/dictionary.js';
import { TamtamError } from '../protocol/errors.js';
import { SdcKind } from '../protocol/sdc/sdc-header.js';
import { sealSdc } from '../protocol/sdc/sdc.js';
import type { AgentIdentity } from './config.js';
import type { SourceAdapter, SourceRow } from './source/source-adapter.js';
import type { Spool } from './spool/spool.js';
import type { AgentState } from './state/agent-state.js';

export interface TableSpec {
  name: string;
  dictionary?: Dictionary;
}

/** The points between pack's effects, in order; a hook that throws there simulates a crash. */
export type PackStep = 'claimed' | 'journaled' | 'written' | 'packed';

export interface PackHooks {
  afterStep?(step: PackStep, info: { table: string; numeros: number[]; sequence?: number }): void | Promise<void>;
}

export interface PackedSdc {
  sequence: number;
  table: string;
  count: number;
  bytes: number;
  path: string;
  /** The lost SDC this one stands in for. */
  replaces?: number;
}

export interface PackResult {
  sdcs: PackedSdc[];
  records: number;
  /** Records the agent itself refused: alone they are too large for one SDC. */
  refused: { table: string; numero: number; reason: string }[];
}

export interface ExporterOptions {
  state: AgentState;
  source: SourceAdapter;
  spool: Spool;
  compressor: Compressor;
  identity: AgentIdentity;
  tables: TableSpec[];
  /** Records per SDC at most (batching.maxRecords). */
  maxRecords: number;
  level?: number;
  random?: RandomBytes;
  hooks?: PackHooks;
}

/** The column the hub keys versions on; names starting with `__` are reserved for Tamtam. */
export const VERSION_COLUMN = '__version';

const atStatus3 = (r: SourceRow) => Number(r.values.status) === 3;

/**
 * Step 1 of the status machine (docs/ARCHITECTURE.md): validated records
 * (2) are claimed (3), journaled with their version under a new sequence,
 * sealed into an SDC for the hub and written to the outbox. Each effect is
 * durable before the next starts, so recovery can finish or redo any of them.
 */
export class Exporter {
  private readonly tables: Map<string, TableSpec>;

  constructor(private readonly o: ExporterOptions) {
    if (!Number.isSafeInteger(o.maxRecords) || o.maxRecords < 1) throw new TamtamError('E_CONFIG', `maxRecords must be a positive whole number, got ${String(o.maxRecords)}`);
    this.tables = new Map(o.tables.map((t) => [t.name, t]));
  }

  /** Packs every validated record of the given tables (default: all configured), in SDCs of at most maxRecords. */
  pack(opts: { tables?: string[] } = {}): Promise<PackResult> {
    return this.o.state.exclusive(async () => {
      const result: PackResult = { sdcs: [], records: 0, refused: [] };
      for (const table of opts.tables ?? [...this.tables.keys()]) await this.packTable(this.spec(table), result);
      return result;
    });
  }

  private spec(table: string): TableSpec {
    const spec = this.tables.get(table);
    if (!spec) throw new TamtamError('E_CONFIG', `table ${table} is not in the agent's configured tables (${[...this.tables.keys()].join(', ')}); add it to "tables"`);
    return spec;
  }

  private async step(step: PackStep, table: string, numeros: number[], sequence?: number): Promise<void> {
    await this.o.hooks?.afterStep?.(step, { table, numeros, ...(sequence === undefined ? {} : { sequence }) });
  }

  private async packTable(spec: TableSpec, result: PackResult): Promise<void> {
    let after: number | undefined;
    for (;;) {
      const candidates = await this.o.source.listNumeros(spec.name, 2, { limit: this.o.maxRecords, afterNumero: after });
      if (candidates.length === 0) return;
      after = candidates.at(-1);
      const claimed = await this.o.source.setStatus(spec.name, candidates, 2, 3);
      await this.step('claimed', spec.name, claimed);
      if (claimed.length > 0) await this.packFresh(spec, claimed, result);
    }
  }

  /** Records just claimed, or found at 3 with nothing covering them, get the next version: 1 at first, last + 1 for an amendment. */
  private async packFresh(spec: TableSpec, numeros: number[], result: PackResult): Promise<void> {
    // Re-read after the claim: the centre may have edited a row between the listing and the status change.
    const rows = (await this.o.source.readRows(spec.name, numeros)).filter(atStatus3);
    const last = this.o.state.lastVersions(spec.name, rows.map((r) => r.numero));
    const versions = new Map(rows.map((r) => [r.numero, (last.get(r.numero) ?? 0) + 1]));
    await this.seal(spec, rows, versions, result);
  }

  /**
   * Recovery: records stuck at 3 with no journal entry (a crash came between
   * the claim and the journal). Call inside state.exclusive, as recover does.
   */
  async packStranded(table: string, numeros: number[]): Promise<PackResult> {
    const result: PackResult = { sdcs: [], records: 0, refused: [] };
    const spec = this.spec(table);
    for (let i = 0; i < numeros.length; i += this.o.maxRecords) await this.packFresh(spec, numeros.slice(i, i + this.o.maxRecords), result);
    return result;
  }

  /**
   * Recovery: an SDC journaled but whose file never reached the outbox. Its
   * records go again with the same versions under a new sequence; the lost
   * one is abandoned in the same transaction. Call inside state.exclusive.
   */
  async repackLost(sequence: number): Promise<PackResult> {
    const result: PackResult = { sdcs: [], records: 0, refused: [] };
    const sdc = this.o.state.sdc(sequence);
    if (!sdc) return result;
    // A report is made afresh when next due: the lost one carried no records.
    if (sdc.kind !== 'data') {
      this.o.state.abandonSdc(sequence);
      return result;
    }
    const entries = this.o.state.journal(sequence).filter((e) => e.outcome === null);
    const rows = (await this.o.source.readRows(sdc.table, entries.map((e) => e.numero))).filter(atStatus3);
    if (rows.length === 0) {
      this.o.state.abandonSdc(sequence);
      return result;
    }
    await this.seal(this.spec(sdc.table), rows, new Map(entries.map((e) => [e.numero, e.version])), result, sequence);
    return result;
  }

  private async seal(spec: TableSpec, rows: SourceRow[], versions: Map<number, number>, result: PackResult, replacing?: number): Promise<void> {
    const parts = this.encodeParts(spec.name, rows, versions, result);
    // Every record of a lost SDC refused as too large: nothing stands in for it, and recovery must not retry it at each start.
    if (parts.length === 0 && replacing !== undefined) this.o.state.abandonSdc(replacing);
    for (let i = 0; i < parts.length; i++) {
      const { rows: part, body } = parts[i]!;
      const numeros = part.map((r) => r.numero);
      // A lost SDC is abandoned with its last stand-in: a crash before then re-packs it whole, never leaves a record uncovered.
      const sdc = this.o.state.beginSdc(spec.name, part.map((r) => ({ numero: r.numero, version: versions.get(r.numero)! })), i === parts.length - 1 ? replacing : undefined);
      await this.step('journaled', spec.name, numeros, sdc.sequence);
      const bytes = sealSdc(this.o.compressor, body, {
        kind: SdcKind.data, sender: this.o.identity.centre, sequence: BigInt(sdc.sequence), count: part.length,
        signerKey: this.o.identity.key, signerCert: this.o.identity.cert, recipientCert: this.o.identity.hubCert,
        dictionary: spec.dictionary, created: Math.floor(this.o.state.clock() / 1000),
        ...(this.o.level === undefined ? {} : { level: this.o.level }), ...(this.o.random ? { random: this.o.random } : {}),
      });
      const path = this.o.spool.writeOutbox(sdc.sequence, bytes);
      await this.step('written', spec.name, numeros, sdc.sequence);
      this.o.state.markPacked(sdc.sequence, bytes.length);
      await this.step('packed', spec.name, numeros, sdc.sequence);
      result.sdcs.push({ sequence: sdc.sequence, table: spec.name, count: part.length, bytes: bytes.length, path, ...(replacing === undefined ? {} : { replaces: replacing }) });
      result.records += part.length;
    }
  }

  /** Halves a batch until each body fits in one SDC; a record too large on its own is refused and kept at 3. */
  private encodeParts(table: string, rows: SourceRow[], versions: Map<number, number>, result: PackResult): { rows: SourceRow[]; body: Uint8Array }[] {
    if (rows.length === 0) return [];
    const columns = Object.keys(rows[0]!.values);
    const reserved = columns.find((c) => c.startsWith('__'));
    if (reserved) {
      throw new TamtamError('E_CONFIG', `table ${table} has a column ${reserved}: names starting with "__" are reserved for Tamtam (${VERSION_COLUMN}); rename it`, { details: { table, column: reserved } });
    }
    const batchOf = (part: SourceRow[]): Batch => ({
      table,
      columns: [...columns, VERSION_COLUMN],
      rows: part.map((r) => [...columns.map((c) => r.values[c] ?? null), versions.get(r.numero)!]),
    });
    const out: { rows: SourceRow[]; body: Uint8Array }[] = [];
    const split = (part: SourceRow[]): void => {
      const body = encodeBatch(batchOf(part));
      if (body.length <= MAX_BODY_SIZE) {
        out.push({ rows: part, body });
      } else if (part.length > 1) {
        const half = Math.ceil(part.length / 2);
        split(part.slice(0, half));
        split(part.slice(half));
      } else {
        const r = part[0]!;
        const reason = `record ${r.numero} of ${table} takes ${body.length} bytes encoded, over the ${MAX_BODY_SIZE}-byte limit of one SDC; shrink its large fields (photos, scans), then set it back to 2`;
        this.o.state.rejectLocally(table, r.numero, versions.get(r.numero)!, reason);
        result.refused.push({ table, numero: r.numero, reason });
      }
    };
    split(rows);
    return out;
  }
}
