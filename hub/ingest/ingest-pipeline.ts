import type { KeyObject } from 'node:crypto';
import { decodeBatch } from '../../protocol/batch/batch-decoder.js';
import type { Batch } from '../../protocol/batch/batch.js';
import type { Certificate } from '../../protocol/certificate.js';
import { certMatches } from '../../protocol/cms/cert-id.js';
import type { RandomBytes } from '../../protocol/cms/enveloped-data.js';
import type { Compressor } from '../../protocol/compressor.js';
import type { Dictionary } from '../../protocol/dictionary.js';
import { TamtamError } from '../../protocol/errors.js';
import { decodeJsonBody } from '../../protocol/sdc/json-body.js';
import type { Receipt, ReceiptEntry } from '../../protocol/sdc/receipt.js';
import { SdcKind, kindName, type SdcHeader } from '../../protocol/sdc/sdc-header.js';
import { openSdc, peekSdc } from '../../protocol/sdc/sdc.js';
import { describeCentralTable, forgetCentralTable, isIdentifier } from '../central-tables.js';
import { storeReport } from './report-store.js';
import { storeDiagnosticAnswer } from '../diagnostics/diagnostic-requests.js';
import { countSdc } from './centre-stats.js';
import { redactUrl, sqlState, type HubDatabase, type Queryable, type Transaction } from '../db/hub-database.js';
import { CentreRegistry, CentreStatus, type Centre } from '../registry/centre-registry.js';
import { batchShape, mergeBatch, missingColumns } from './merge-batch.js';
import { asInputError, quarantineSdc } from './quarantine.js';
import { ReceiptBuilder } from './receipt-builder.js';

export interface IngestOutcome {
  /** merged: accepted and stored (records merged, or a report kept); replay: answered before, `receipt` is that answer. */
  kind: 'merged' | 'replay' | 'refused' | 'quarantined';
  /** Matricule, when the sender is a registered centre. */
  centre?: string;
  /** Receipt SDC for the centre; absent when quarantined. */
  receipt?: Uint8Array;
  /** What this call did: a replay merges nothing. */
  merged: number;
  duplicates: number;
  rejected: number;
  /** Why the SDC was refused or quarantined. */
  error?: TamtamError;
}

export interface IngestPipelineOptions {
  db: HubDatabase;
  compressor: Compressor;
  hubKey: KeyObject;
  hubCert: Certificate;
  hubId?: string;
  dictionaries?: (id: number) => Dictionary | undefined;
  now?: () => Date;
  random?: RandomBytes;
  /** Default: a registry on `db`. */
  registry?: CentreRegistry;
  maxSdcSize?: number;
}

type Verdict =
  | { accepted: true; outcome: 'merged' | 'report'; entries: ReceiptEntry[]; merged: number; duplicates: number }
  | { accepted: false; error: TamtamError };

interface Context {
  centre: Centre;
  cert: Certificate;
  header: SdcHeader;
  via: string;
  table?: string;
  /** Bytes of the SDC as received, for the centre's daily figures. */
  size: number;
}

/** sdc_seen.sequence is a bigint; a larger u64 could never be remembered, so it is never accepted. */
const MAX_SEQUENCE = 2n ** 63n - 1n;
/** The central table changed after it was described: describe it again and retry once. */
const STALE_CATALOG = new Set(['42703', '42P01', '42804']);

/** Data exceptions, integrity violations, program limits: the SDC's values, not the hub, are at fault. */
const refusedByDatabase = (e: unknown): boolean => ['22', '23', '54'].includes(sqlState(e)?.slice(0, 2) ?? '');

const refused = (error: TamtamError) => async (): Promise<Verdict> => ({ accepted: false, error });

/** Turns a batch SDC into merged records and a receipt, or a quarantine row; see docs/ARCHITECTURE.md "Hub ingest". */
export class IngestPipeline {
  readonly registry: CentreRegistry;
  private readonly receipts: ReceiptBuilder;
  private readonly now: () => Date;

  constructor(private readonly o: IngestPipelineOptions) {
    this.registry = o.registry ?? new CentreRegistry(o.db);
    this.receipts = new ReceiptBuilder(o);
    this.now = o.now ?? (() => new Date());
  }

  /** Never throws for bad input (it is quarantined or refused); throws only when the database fails, so the caller must not acknowledge. */
  async ingest(sdc: Uint8Array, meta: { via: string }): Promise<IngestOutcome> {
    try {
      return await this.run(sdc, meta.via);
    } catch (e) {
      if (e instanceof TamtamError) throw e;
      throw new TamtamError('E_IO', `ingest failed on the hub's side (database ${redactUrl(this.o.db.url)}): ${(e as Error).message}; the SDC must not be acknowledged, so that it is delivered again`, { retryable: true, cause: e });
    }
  }

  private async run(sdc: Uint8Array, via: string): Promise<IngestOutcome> {
    let header: SdcHeader;
    try {
      header = peekSdc(sdc).header;
    } catch (e) {
      return this.quarantine(sdc, via, undefined, asInputError(e, 'the SDC header could not be read'));
    }
    const centre = await this.registry.get(header.sender);
    if (!centre) {
      return this.quarantine(sdc, via, header, new TamtamError('E_UNKNOWN_SIGNER', `the SDC says it comes from '${header.sender}', which is not a centre registered at this hub; register it ('tamtam hub centre add') or find out who sent it`));
    }
    let cert: Certificate | undefined;
    try {
      cert = this.registry.certificateOf(centre);
    } catch (e) {
      return this.quarantine(sdc, via, header, asInputError(e, `the certificate enrolled for centre ${centre.matricule} is unreadable`), centre);
    }
    if (!cert) {
      return this.quarantine(sdc, via, header, new TamtamError('E_UNKNOWN_SIGNER', `centre ${centre.matricule} has no enrolled certificate yet; it must enrol ('tamtam agent enrol') before its SDCs can be checked`), centre);
    }
    const signer = cert;
    let opened;
    try {
      opened = openSdc(this.o.compressor, sdc, {
        recipientKey: this.o.hubKey,
        recipientCert: this.o.hubCert,
        resolveSigner: (id) => (certMatches(signer, id) ? signer : undefined),
        resolveDictionary: (id) => this.o.dictionaries?.(id),
        ...(this.o.maxSdcSize ? { maxSdcSize: this.o.maxSdcSize } : {}),
      });
    } catch (e) {
      return this.quarantine(sdc, via, header, asInputError(e, 'the SDC could not be opened'), centre);
    }
    if (opened.header.sequence > MAX_SEQUENCE) {
      return this.quarantine(sdc, via, header, new TamtamError('E_MALFORMED', `SDC sequence ${opened.header.sequence} is over 2^63-1, which the hub cannot remember; the agent's sequence counter is corrupt`), centre);
    }
    const ctx: Context = { centre, cert, header: opened.header, via, size: sdc.length };
    const replay = await this.replay(ctx);
    if (replay) return replay;
    switch (ctx.header.kind) {
      case SdcKind.data:
        return this.ingestData(ctx, opened.body);
      case SdcKind.usageReport:
      case SdcKind.diagnosticReport:
        return this.ingestReport(ctx, opened.body);
      default:
        return this.settle(ctx, refused(new TamtamError('E_BAD_INPUT', `this hub does not take '${kindName(ctx.header.kind)}' SDCs from centres`)));
    }
  }

  private async ingestData(ctx: Context, body: Uint8Array, attempt = 0): Promise<IngestOutcome> {
    const { centre } = ctx;
    if (centre.status < CentreStatus.all) {
      const why = centre.status === CentreStatus.suspended ? 'is suspended' : `is not allowed data services (status ${centre.status})`;
      return this.settle(ctx, refused(new TamtamError('E_SUSPENDED', `centre ${centre.matricule} ${why}; the hub operator must resume it ('tamtam hub centre resume ${centre.matricule}'), then the records can be sent again`)));
    }
    let batch: Batch;
    let shape;
    try {
      batch = decodeBatch(body);
      if (isIdentifier(batch.table)) ctx.table = batch.table;
      shape = batchShape(batch, ctx.header.count);
    } catch (e) {
      return this.settle(ctx, refused(asInputError(e, 'the batch could not be decoded')));
    }
    const name = batch.table;
    const table = await describeCentralTable(this.o.db, name, shape.columns);
    if (!table) {
      return this.settle(ctx, refused(new TamtamError('E_BAD_INPUT', `table '${name}' does not exist at the hub; the hub operator must create it ('tamtam hub table create ${name}'), then the records can be sent again`)));
    }
    const missing = missingColumns(shape, table);
    if (missing.length) {
      return this.settle(ctx, refused(new TamtamError('E_BAD_INPUT', `the hub's table '${name}' has no column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; the hub operator must add ${missing.length > 1 ? 'them' : 'it'}, then the records can be sent again`)));
    }
    const useCopy = await this.o.db.copySupported();
    const explain = (e: unknown): string => {
      // COPY says "line N, column C": line N is the batch's record N.
      const at = /line (\d+), column (\w+)/.exec(String((e as { where?: unknown }).where ?? ''));
      const row = at ? batch.rows[Number(at[1]) - 1] : undefined;
      const where = row ? ` in record numero ${String(row[shape.numero])}, column ${at![2]}` : '';
      return `the hub's database refused a value${where}: ${(e as Error).message}; correct the record and send it again`;
    };
    try {
      return await this.settle(ctx, async (tx) => {
        const r = await mergeBatch(tx, { batch, shape, table, centreId: centre.id, sdcSequence: ctx.header.sequence, useCopy });
        return { accepted: true, outcome: 'merged', ...r };
      }, explain);
    } catch (e) {
      if (attempt > 0 || !STALE_CATALOG.has(sqlState(e) ?? '')) throw e;
      forgetCentralTable(this.o.db, name);
      return this.ingestData(ctx, body, attempt + 1);
    }
  }

  private async ingestReport(ctx: Context, body: Uint8Array): Promise<IngestOutcome> {
    if (ctx.centre.status === CentreStatus.suspended) {
      return this.settle(ctx, refused(new TamtamError('E_SUSPENDED', `centre ${ctx.centre.matricule} is suspended; its reports are not taken until the hub operator resumes it`)));
    }
    let report: Record<string, unknown>;
    try {
      report = decodeJsonBody(body);
    } catch (e) {
      return this.settle(ctx, refused(asInputError(e, 'the report could not be read')));
    }
    return this.settle(ctx, async (tx) => {
      const stored = await tx.query<{ id: string }>('INSERT INTO centre_reports (centre_id, sequence, kind, received_at, body) VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id::text AS id',
        [ctx.centre.id, ctx.header.sequence.toString(), ctx.header.kind, this.now(), JSON.stringify(report)]);
      if (ctx.header.kind === SdcKind.diagnosticReport) await storeDiagnosticAnswer(tx, ctx.centre.id, stored.rows[0]!.id, report, this.now());
      await storeReport(tx, ctx.centre.id, ctx.header.kind, report, this.now());
      return { accepted: true, outcome: 'report', entries: [], merged: 0, duplicates: 0 };
    }, (e) => `the hub's database refused the report: ${(e as Error).message}`);
  }

  /**
   * One transaction: claim (centre, sequence) in sdc_seen, do the work, seal the
   * receipt and store it with the claim. A claim already taken (by another hub
   * process, which we waited for) means the SDC is answered: its receipt is sent.
   */
  private async settle(ctx: Context, decide: (tx: Transaction) => Promise<Verdict>, explain?: (e: unknown) => string): Promise<IngestOutcome> {
    const h = ctx.header;
    const key = [ctx.centre.id, h.sequence.toString()];
    const settled = await this.o.db.transaction(async (tx): Promise<IngestOutcome | undefined> => {
      const claim = await tx.query(
        `INSERT INTO sdc_seen (centre_id, sequence, kind, via, outcome, table_name, received_at) VALUES ($1, $2, $3, $4, 'refused', $5, $6)
         ON CONFLICT DO NOTHING RETURNING 1`, [...key, h.kind, ctx.via, ctx.table ?? null, this.now()]);
      if (claim.rowCount === 0) return undefined;
      await tx.query('SAVEPOINT tamtam_work');
      let verdict: Verdict;
      try {
        verdict = await decide(tx);
        await tx.query('RELEASE SAVEPOINT tamtam_work');
      } catch (e) {
        if (!refusedByDatabase(e)) throw e;
        await tx.query('ROLLBACK TO SAVEPOINT tamtam_work');
        verdict = { accepted: false, error: new TamtamError('E_BAD_INPUT', explain ? explain(e) : (e as Error).message, { cause: e }) };
      }
      const base = { sdcSender: h.sender, sdcSequence: h.sequence, ...(ctx.table ? { table: ctx.table } : {}) };
      const receipt: Receipt = verdict.accepted
        ? { ...base, accepted: true, entries: verdict.entries }
        : { ...base, accepted: false, reason: verdict.error.message, entries: [] };
      const sealed = await this.receipts.seal(tx, ctx.cert, receipt);
      const counts = verdict.accepted ? [verdict.merged, verdict.duplicates, 0] : [0, 0, h.kind === SdcKind.data ? h.count : 0];
      await tx.query(
        `UPDATE sdc_seen SET outcome = $3, merged = $4, duplicates = $5, rejected = $6, reason = $7, receipt = $8
          WHERE centre_id = $1 AND sequence = $2`,
        [...key, verdict.accepted ? verdict.outcome : 'refused', ...counts, verdict.accepted ? null : verdict.error.message, Buffer.from(sealed)]);
      await this.contact(tx, ctx);
      const [merged, duplicates, rejected] = counts;
      await countSdc(tx, { centreId: ctx.centre.id, via: ctx.via, bytes: ctx.size, merged, duplicates, rejected, at: this.now() });
      return verdict.accepted
        ? { kind: 'merged', centre: ctx.centre.matricule, receipt: sealed, merged, duplicates, rejected }
        : { kind: 'refused', centre: ctx.centre.matricule, receipt: sealed, merged, duplicates, rejected, error: verdict.error };
    });
    if (settled) return settled;
    const replay = await this.replay(ctx);
    if (!replay) throw new TamtamError('E_INTERNAL', `SDC ${h.sequence} of centre ${ctx.centre.matricule} was claimed by another hub process but its answer cannot be found`, { retryable: true });
    return replay;
  }

  private async replay(ctx: Context): Promise<IngestOutcome | undefined> {
    const { rows } = await this.o.db.query<{ receipt: Buffer | null }>('SELECT receipt FROM sdc_seen WHERE centre_id = $1 AND sequence = $2',
      [ctx.centre.id, ctx.header.sequence.toString()]);
    if (!rows[0]) return undefined;
    await this.contact(this.o.db, ctx);
    return {
      kind: 'replay', centre: ctx.centre.matricule, merged: 0, duplicates: 0, rejected: 0,
      ...(rows[0].receipt ? { receipt: new Uint8Array(rows[0].receipt) } : {}),
    };
  }

  private async contact(q: Queryable, ctx: Context): Promise<void> {
    await q.query('UPDATE centres SET last_contact_at = $2, last_sequence = greatest(last_sequence, $3::bigint) WHERE id = $1',
      [ctx.centre.id, this.now(), ctx.header.sequence.toString()]);
  }

  private async quarantine(sdc: Uint8Array, via: string, header: SdcHeader | undefined, error: TamtamError, centre?: Centre): Promise<IngestOutcome> {
    await quarantineSdc(this.o.db, sdc, { via, error, ...(header ? { header } : {}) });
    return { kind: 'quarantined', ...(centre ? { centre: centre.matricule } : {}), merged: 0, duplicates: 0, rejected: 0, error };
  }
}
