import { SdcKind } from '../../protocol/sdc/sdc-header.js';
import { peekSdc } from '../../protocol/sdc/sdc.js';
import type { AgentConfig } from '../config.js';
import { recordHubClock } from '../doctor/clock-check.js';
import type { Link } from '../link/link.js';
import type { ReceiptApplier, ReceiptResult } from '../receipt-applier.js';
import type { SourceAdapter } from '../source/source-adapter.js';
import type { DiagnosticResponder, DiagnosticResult } from './diagnostic-responder.js';
import type { ReportPacker } from './pack-json-report.js';
import type { LogFn } from './recent-errors.js';

export type InboundResult = { receipt: ReceiptResult } | { diagnostic: DiagnosticResult };

export interface InboundRouterOptions extends ReportPacker {
  config: AgentConfig;
  source: SourceAdapter;
  applier: ReceiptApplier;
  link: Link;
  log: LogFn;
}

/**
 * Where an SDC from the hub goes, by the kind its clear header names:
 * receipts to the receipt applier, diagnostic requests to the responder
 * (loaded on the first one: most agents never get any). Each verifies what
 * it is given, so a lying header only sends a forgery to quarantine by
 * another door.
 */
export class InboundRouter {
  private responder: Promise<DiagnosticResponder> | undefined;
  private readonly startedAt: number;

  constructor(private readonly o: InboundRouterOptions) {
    this.startedAt = o.state.clock();
  }

  /** `fromStick`: the SDC may have waited days on the stick, so its time says nothing of the clocks. */
  async accept(payload: Uint8Array, o: { fromStick?: boolean } = {}): Promise<InboundResult> {
    let header;
    try {
      header = peekSdc(payload).header;
    } catch {
      header = undefined; // the applier quarantines what cannot be read, with why
    }
    if (header?.kind === SdcKind.diagnosticRequest) {
      const result = await (await this.diagnostics()).accept(payload, o);
      if (result.status === 'quarantined') this.o.log('diagnostic_quarantined', { file: result.file, code: result.code, message: result.reason });
      else this.o.log(result.status === 'answered' ? 'diagnostic_answered' : 'diagnostic_repeated', { ...result });
      return { diagnostic: result };
    }
    const receipt = await this.o.applier.accept(payload);
    if (header && !o.fromStick && receipt.status !== 'quarantined') recordHubClock(this.o.state, header.created, this.o.state.clock());
    return { receipt };
  }

  private diagnostics(): Promise<DiagnosticResponder> {
    this.responder ??= import('./diagnostic-responder.js').then(({ DiagnosticResponder }) => {
      const { link, config } = this.o;
      // 'stream' says little to a technician: name what carries it (a modem, SBD, TCP).
      const kind = link.kind === config.link.kind ? link.kind : `${link.kind} (${config.link.kind})`;
      return new DiagnosticResponder({
        ...this.o, startedAt: this.startedAt,
        link: () => ({ kind, state: link.state, mode: link.mode, usage: link.usage() }),
      });
    });
    return this.responder;
  }
}
