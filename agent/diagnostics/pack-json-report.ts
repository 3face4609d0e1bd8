import type { Compressor } from '../../protocol/compressor.js';
import { encodeJsonBody } from '../../protocol/sdc/json-body.js';
import { SdcKind } from '../../protocol/sdc/sdc-header.js';
import { sealSdc } from '../../protocol/sdc/sdc.js';
import type { AgentIdentity } from '../config.js';
import type { Spool } from '../spool/spool.js';
import type { AgentState } from '../state/agent-state.js';

export interface ReportPacker {
  state: AgentState;
  spool: Spool;
  compressor: Compressor;
  identity: AgentIdentity;
}

/**
 * Seals a report (a JSON body, no records) for the hub and puts it in the
 * outbox like any SDC: the state row first, so recovery abandons a report
 * whose file never landed; then the file; then packed. Run it inside
 * state.exclusive. Returns the report's sequence.
 */
export function packJsonReport(o: ReportPacker, kind: 'usageReport' | 'diagnosticReport', body: object, now: number): number {
  const sdc = o.state.beginReport(kind);
  const bytes = sealSdc(o.compressor, encodeJsonBody(body as Record<string, unknown>), {
    kind: SdcKind[kind], sender: o.identity.centre, sequence: BigInt(sdc.sequence), count: 0,
    signerKey: o.identity.key, signerCert: o.identity.cert, recipientCert: o.identity.hubCert, created: Math.floor(now / 1000),
  });
  o.spool.writeOutbox(sdc.sequence, bytes);
  o.state.markPacked(sdc.sequence, bytes.length);
  return sdc.sequence;
}
