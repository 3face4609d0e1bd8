import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Stick, type StickFile } from '../../common/t2d-stick.js';
import { TamtamError, isTamtamError, type ErrorCode } from '../../protocol/errors.js';
import { peekSdc } from '../../protocol/sdc/sdc.js';
import type { HubLog } from '../hub-runtime.js';
import type { IngestOutcome, IngestPipeline } from '../ingest/ingest-pipeline.js';
import type { OutboundStore } from '../receivers/outbound-store.js';

export interface StickFileResult {
  /** `up/<folder>/<name>` on the stick. */
  file: string;
  folder: string;
  /** The pipeline's verdict; failed: the stick or the hub's database failed, and the file stays for the next import. */
  outcome: IngestOutcome['kind'] | 'failed';
  /** Whose SDC it is, as its verified signature says. */
  centre?: string;
  sequence?: string;
  merged: number;
  duplicates: number;
  rejected: number;
  /** Not what the stick's manifest lists: the pipeline judged the bytes anyway. */
  damaged: boolean;
  code?: ErrorCode;
  reason?: string;
  /** `down/<centre>/<name>` written for it. */
  receipt?: string;
  removed: boolean;
}

export interface CentreImportSummary {
  /** The `up/` folder the SDCs were found in. */
  centre: string;
  read: number;
  /** SDCs merged now, and the records they merged or found already there. */
  merged: number;
  records: number;
  duplicates: number;
  /** SDCs answered before: their receipt is written again, nothing merged twice. */
  replays: number;
  refused: number;
  quarantined: number;
  failed: number;
  receiptsWritten: number;
  problems: { file: string; outcome: StickFileResult['outcome']; code?: ErrorCode; reason: string }[];
}

export interface StickImportReport {
  root: string;
  startedAt: string;
  finishedAt: string;
  centres: CentreImportSummary[];
  files: StickFileResult[];
  /** Things on the stick that are not Tamtam's or are damaged, ignored. */
  notices: string[];
  /** Why receipts could not be written (stick full, read-only): the hub keeps them and writes them at the next insertion. */
  receiptError?: { code: ErrorCode; message: string };
  /** The stick could not be read at all. */
  error?: { code: ErrorCode; message: string };
}

export interface StickImportOptions {
  pipeline: IngestPipeline;
  log: HubLog;
  /** What waits for a centre's next call (a diagnostic request...): written beside the receipts of every centre whose SDCs the stick carried. */
  outbound?: OutboundStore;
}

const sha8 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').slice(0, 8);
const asError = (e: unknown) => (isTamtamError(e) ? e : new TamtamError('E_IO', (e as Error).message, { cause: e }));

/** What `down/<centre>/` calls a receipt: the agent finds it by its SDC's sequence, and two answers to one SDC never share a name. */
export function receiptFileName(sequence: bigint | string, receipt: Uint8Array): string {
  return `${sequence}-${sha8(receipt)}.sdc`;
}

/**
 * Takes every SDC a stick carries, whoever's, through the ingest pipeline
 * and writes each answer in its centre's `down/` folder. An up file leaves
 * the stick only once its receipt is on it (or the hub keeps it in
 * quarantine), so a stick pulled at any moment loses nothing: the rest is
 * done at the next insertion, and what was merged is answered from memory.
 * One bad file never stops the rest.
 */
export async function importStick(stick: Stick, o: StickImportOptions): Promise<StickImportReport> {
  const { log } = o;
  const startedAt = new Date().toISOString();
  const report: StickImportReport = { root: stick.root, startedAt, finishedAt: startedAt, centres: [], files: [], notices: [] };
  let files: StickFile[] = [];
  try {
    const cleaned = stick.cleanTemp();
    if (cleaned > 0) log.info('stick_cleaned', { root: stick.root, files: cleaned });
  } catch (e) {
    report.notices.push(`leftovers of an interrupted write could not be removed: ${asError(e).message}`);
  }
  try {
    files = stick.list('up');
  } catch (e) {
    const error = asError(e);
    report.error = { code: error.code, message: error.message };
    log.error('stick_unreadable', { root: stick.root, code: error.code, reason: error.message });
  }
  log.info('stick_import', { root: stick.root, files: files.length, centres: [...new Set(files.map((f) => f.centre))] });
  for (const file of files) report.files.push(await importFile(stick, file, o, report));
  if (o.outbound) await writePending(stick, o.outbound, report, log);
  report.notices.push(...stick.notices());
  for (const notice of report.notices) log.info('stick_notice', { root: stick.root, notice });
  report.centres = summarise(report.files);
  report.finishedAt = new Date().toISOString();
  const total = (k: keyof CentreImportSummary) => report.centres.reduce((n, c) => n + (c[k] as number), 0);
  log.info('stick_done', {
    root: stick.root, read: total('read'), merged: total('merged'), records: total('records'), duplicates: total('duplicates'), replays: total('replays'),
    refused: total('refused'), quarantined: total('quarantined'), failed: total('failed'), receiptsWritten: total('receiptsWritten'),
    ...(report.receiptError ? { receiptError: report.receiptError.code } : {}),
    message: 'the stick can be pulled now',
  });
  return report;
}

async function importFile(stick: Stick, file: StickFile, o: StickImportOptions, report: StickImportReport): Promise<StickFileResult> {
  const where = `up/${file.centre}/${file.name}`;
  const result: StickFileResult = { file: where, folder: file.centre, outcome: 'failed', merged: 0, duplicates: 0, rejected: 0, damaged: false, removed: false };
  let bytes: Uint8Array;
  try {
    bytes = stick.read(file);
  } catch (e) {
    if (!isTamtamError(e, 'E_BAD_HASH')) return fail(result, e, o.log);
    // The manifest guards against half-written files, not forgery: the signature decides, and a damaged SDC is quarantined like any other.
    result.damaged = true;
    try {
      bytes = new Uint8Array(readFileSync(file.path));
    } catch (e2) {
      return fail(result, e2, o.log);
    }
  }
  let outcome: IngestOutcome;
  try {
    outcome = await o.pipeline.ingest(bytes, { via: 't2d' });
  } catch (e) {
    return fail(result, e, o.log);
  }
  Object.assign(result, { outcome: outcome.kind, merged: outcome.merged, duplicates: outcome.duplicates, rejected: outcome.rejected });
  if (outcome.centre) result.centre = outcome.centre;
  if (outcome.error) Object.assign(result, { code: outcome.error.code, reason: outcome.error.message });
  if (result.damaged && !result.reason) result.reason = `${where} is not what the stick's manifest lists, but its signature is good`;
  if (outcome.receipt && outcome.centre) {
    const sequence = peekSdc(bytes).header.sequence;
    result.sequence = sequence.toString();
    if (outcome.centre !== file.centre) result.reason = `found in up/${file.centre}/ but signed by centre ${outcome.centre}: its receipt goes to down/${outcome.centre}/`;
    if (!report.receiptError) {
      const name = receiptFileName(sequence, outcome.receipt);
      try {
        stick.write('down', outcome.centre, name, outcome.receipt);
        result.receipt = `down/${outcome.centre}/${name}`;
      } catch (e) {
        const error = asError(e);
        // A full or write-protected stick takes no further receipt either; the hub answers each again at the next insertion.
        report.receiptError = { code: error.code, message: error.message };
        o.log.error('stick_write_failed', { root: stick.root, file: `down/${outcome.centre}/${name}`, code: error.code, reason: error.message });
      }
    }
  }
  if (result.receipt || outcome.kind === 'quarantined') {
    // A quarantined SDC is kept in the hub's database; its sender still holds it and writes it again if it was sound.
    try {
      stick.remove(file);
      result.removed = true;
    } catch (e) {
      report.notices.push(`${where} could not be removed from the stick (${asError(e).message}); the next import answers it again`);
    }
  }
  o.log.info('stick_sdc', {
    file: where, outcome: result.outcome, ...(result.centre ? { centre: result.centre } : {}), ...(result.sequence ? { sequence: result.sequence } : {}),
    merged: result.merged, duplicates: result.duplicates, rejected: result.rejected, ...(result.receipt ? { receipt: result.receipt } : {}),
    removed: result.removed, ...(result.code ? { code: result.code } : {}), ...(result.reason ? { reason: result.reason } : {}),
  });
  return result;
}

/** Left in the outbound store: the item goes when its answer comes (storeDiagnosticAnswer), so every stick carries it until then. */
async function writePending(stick: Stick, outbound: OutboundStore, report: StickImportReport, log: HubLog): Promise<void> {
  for (const centre of new Set(report.files.map((f) => f.centre).filter((c): c is string => c !== undefined))) {
    if (report.receiptError) return;
    try {
      for (const item of await outbound.pending(centre)) {
        const name = receiptFileName(peekSdc(item.payload).header.sequence, item.payload);
        stick.write('down', centre, name, item.payload);
        log.info('stick_pending_written', { root: stick.root, centre, file: `down/${centre}/${name}` });
      }
    } catch (e) {
      const error = asError(e);
      report.receiptError = { code: error.code, message: error.message };
      log.error('stick_write_failed', { root: stick.root, centre, code: error.code, reason: error.message });
    }
  }
}

function fail(result: StickFileResult, e: unknown, log: HubLog): StickFileResult {
  const error = asError(e);
  Object.assign(result, { outcome: 'failed', code: error.code, reason: `${error.message}; the file stays on the stick and is taken at the next import` });
  log.error('stick_sdc_failed', { file: result.file, code: error.code, reason: error.message });
  return result;
}

function summarise(files: StickFileResult[]): CentreImportSummary[] {
  const by = new Map<string, CentreImportSummary>();
  for (const f of files) {
    let c = by.get(f.folder);
    if (!c) {
      c = { centre: f.folder, read: 0, merged: 0, records: 0, duplicates: 0, replays: 0, refused: 0, quarantined: 0, failed: 0, receiptsWritten: 0, problems: [] };
      by.set(f.folder, c);
    }
    c.read++;
    c.records += f.merged;
    c.duplicates += f.duplicates;
    if (f.outcome === 'merged') c.merged++;
    else if (f.outcome === 'replay') c.replays++;
    else if (f.outcome === 'refused') c.refused++;
    else if (f.outcome === 'quarantined') c.quarantined++;
    else c.failed++;
    if (f.receipt) c.receiptsWritten++;
    if (f.reason) c.problems.push({ file: f.file, outcome: f.outcome, ...(f.code ? { code: f.code } : {}), reason: f.reason });
  }
  return [...by.values()];
}
