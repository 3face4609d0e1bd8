import { readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { certMatches } from '../../protocol/cms/cert-id.js';
import { TamtamError, isTamtamError } from '../../protocol/errors.js';
import { decodeJsonBody } from '../../protocol/sdc/json-body.js';
import { SdcKind, kindName } from '../../protocol/sdc/sdc-header.js';
import { openSdc } from '../../protocol/sdc/sdc.js';
import type { AgentConfig } from '../config.js';
import type { DoctorCheck } from '../doctor/doctor-check.js';
import { recordHubClock } from '../doctor/clock-check.js';
import type { LinkSnapshot } from '../doctor/link-checks.js';
import { runDoctor } from '../doctor/run-doctor.js';
import type { SourceAdapter } from '../source/source-adapter.js';
import { packJsonReport, type ReportPacker } from './pack-json-report.js';
import { recentErrors } from './recent-errors.js';

/** The body of a diagnosticRequest SDC (kind 6), as hub/diagnostics/diagnostic-requests.ts seals it. */
export interface DiagnosticRequest {
  request: 'diagnostic';
  version: 1;
  id: string;
  requestedBy: string;
  at: string;
}

/** The body of the diagnosticReport SDC (kind 7) that answers it; the hub keeps it in centre_reports. */
export interface DiagnosticReportBody {
  report: 'diagnostic';
  version: 1;
  requestId: string;
  at: string;
  agentVersion: string;
  node: string;
  platform: string;
  checks: DoctorCheck[];
  /** Records by status in each synced table. */
  backlog: Record<string, Record<number, number>>;
  outbox: { sdcs: number; bytes: number; oldestAt: string | null };
  recentErrors: { at: string; code: string; message: string }[];
  uptimeSeconds: number;
}

export type DiagnosticResult =
  | { status: 'answered'; requestId: string; sequence: number }
  | { status: 'already-answered'; requestId: string }
  | { status: 'quarantined'; file: string; code: string; reason: string };

export interface DiagnosticResponderOptions extends ReportPacker {
  config: AgentConfig;
  source: SourceAdapter;
  /** The link as it is now: the doctor reports it instead of testing it. */
  link: () => LinkSnapshot;
  /** When the agent started, by its clock. */
  startedAt: number;
}

const ANSWERED_KEY = 'diagnostic.answered';
/** Request ids remembered; a replay older than this many requests is not expected (the hub numbers them in order). */
const ANSWERED_KEPT = 200;
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

const HINTS: Partial<Record<string, string>> = {
  E_UNKNOWN_SIGNER: " (a diagnostic request must be signed with the hub's certificate named by hubCertificate in the agent config; anyone else's is refused)",
  E_BAD_SIGNATURE: ' (it was altered on the way, or not made by the hub)',
  E_WRONG_RECIPIENT: " (it was sealed for another centre's key)",
};

let version: string | undefined;

/** The version in Tamtam's package.json, found from this file up (the sources, or their build in dist/). */
function agentVersion(): string {
  for (let up = '../'; version === undefined && up.length <= 12; up += '../') {
    try {
      const pkg = JSON.parse(readFileSync(new URL(`${up}package.json`, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tamtam' && pkg.version) version = pkg.version;
    } catch {
      // not at this level
    }
  }
  return (version ??= 'unknown');
}

/**
 * Answers the hub's diagnostic requests without any open port at the centre:
 * a request comes like a receipt (any link, or a USB stick), verified the
 * same way (signed by the hub, sealed for this centre), and the answer is a
 * diagnosticReport SDC in the outbox, sent like any other and receipted.
 * A request is answered once; a bad one goes to quarantine.
 */
export class DiagnosticResponder {
  constructor(private readonly o: DiagnosticResponderOptions) {}

  /** `fromStick`: a request that waited on a USB stick says nothing of the clocks. */
  async accept(payload: Uint8Array, o: { fromStick?: boolean } = {}): Promise<DiagnosticResult> {
    let request: DiagnosticRequest;
    let created: number;
    try {
      ({ request, created } = this.verify(payload));
    } catch (e) {
      return this.quarantine(payload, e);
    }
    const { state } = this.o;
    if (!o.fromStick) recordHubClock(state, created, state.clock());
    if (this.answered().includes(request.id)) return { status: 'already-answered', requestId: request.id };
    // The checks read the database and the disk: outside the state lock, so receipts and packing are not held up meanwhile.
    const body = await this.report(request);
    return state.exclusive(async () => {
      const answered = this.answered();
      if (answered.includes(request.id)) return { status: 'already-answered', requestId: request.id };
      const sequence = packJsonReport(this.o, 'diagnosticReport', body, state.clock());
      state.setMeta(ANSWERED_KEY, JSON.stringify([...answered, request.id].slice(-ANSWERED_KEPT)));
      return { status: 'answered', requestId: request.id, sequence };
    });
  }

  private verify(payload: Uint8Array): { request: DiagnosticRequest; created: number } {
    const { hubCert, key, cert } = this.o.identity;
    const opened = openSdc(this.o.compressor, payload, { recipientKey: key, recipientCert: cert, resolveSigner: (id) => (certMatches(hubCert, id) ? hubCert : undefined) });
    if (opened.header.kind !== SdcKind.diagnosticRequest) {
      throw new TamtamError('E_MALFORMED', `an SDC of kind ${kindName(opened.header.kind) ?? opened.header.kind} came where a diagnostic request was expected`);
    }
    const b = decodeJsonBody(opened.body);
    if (b.request !== 'diagnostic' || b.version !== 1) {
      throw new TamtamError('E_BAD_VERSION', `the diagnostic request is ${JSON.stringify(b.request)} version ${JSON.stringify(b.version)}, which this agent does not know; upgrade the agent`);
    }
    if (typeof b.id !== 'string' || !REQUEST_ID.test(b.id)) throw new TamtamError('E_MALFORMED', 'the diagnostic request has no usable id');
    const request: DiagnosticRequest = {
      request: 'diagnostic', version: 1, id: b.id,
      requestedBy: typeof b.requestedBy === 'string' ? b.requestedBy : 'unknown', at: typeof b.at === 'string' ? b.at : '',
    };
    return { request, created: opened.header.created };
  }

  private quarantine(payload: Uint8Array, e: unknown): Promise<DiagnosticResult> {
    const code = isTamtamError(e) ? e.code : 'E_MALFORMED';
    const reason = `${code}: ${(e as Error).message}${HINTS[code] ?? ''}`;
    const { spool, state } = this.o;
    return state.exclusive(async () => {
      // Through the inbox, so the file lands whole in quarantine/ with its reason beside it, like a refused receipt.
      const file = spool.writeInbox(payload);
      const q = spool.quarantine(file.path, `inbound file ${file.name} is not a diagnostic request this agent answers: ${reason}`);
      return { status: 'quarantined', file: q.path, code, reason };
    });
  }

  private answered(): string[] {
    try {
      const ids = JSON.parse(this.o.state.meta(ANSWERED_KEY) ?? '[]') as unknown;
      return Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [];
    } catch {
      return [];
    }
  }

  private async report(request: DiagnosticRequest): Promise<DiagnosticReportBody> {
    const { state, spool, config, source } = this.o;
    const now = state.clock();
    const doctor = await runDoctor({ config, state, source, link: this.o.link(), now: state.clock });
    const files = spool.listOutbox();
    let bytes = 0;
    for (const f of files) {
      try {
        bytes += statSync(f.path).size;
      } catch {
        // its receipt came meanwhile and took the file
      }
    }
    const oldest = files.length ? state.sdc(files[0]!.sequence)?.createdAt : undefined;
    return {
      report: 'diagnostic', version: 1, requestId: request.id, at: new Date(now).toISOString(),
      agentVersion: agentVersion(), node: process.version, platform: `${process.platform} ${release()} ${process.arch}`,
      checks: doctor.checks, backlog: doctor.backlog,
      outbox: { sdcs: files.length, bytes, oldestAt: oldest === undefined ? null : new Date(oldest).toISOString() },
      recentErrors: recentErrors(state).map(({ at, code, message }) => ({ at, code, message })),
      uptimeSeconds: Math.max(0, Math.round((now - this.o.startedAt) / 1000)),
    };
  }
}
