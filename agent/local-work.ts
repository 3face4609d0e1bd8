import { loadCompressor } from '../protocol/compressor.js';
import type { AgentLog } from './agent-runtime.js';
import { recordsPerSdc } from './batch-policy.js';
import { loadAgentIdentity, loadTableSpecs, type AgentConfig } from './config.js';
import { InboundRouter } from './diagnostics/inbound-router.js';
import { Exporter } from './exporter.js';
import type { Link } from './link/link.js';
import { ReceiptApplier } from './receipt-applier.js';
import { recover, type RecoveryReport } from './recovery.js';
import type { SourceAdapter } from './source/source-adapter.js';
import type { Spool } from './spool/spool.js';
import type { AgentState } from './state/agent-state.js';
import { UsageReporter } from './usage-reporter.js';

/** The agent's parts that hold its key and the zstd codec: packing, receipts, reports, answers to the hub. */
export interface LocalWork {
  exporter: Exporter;
  applier: ReceiptApplier;
  reporter: UsageReporter;
  inbound: InboundRouter;
}

export interface LocalWorkParts {
  config: AgentConfig;
  state: AgentState;
  source: SourceAdapter;
  spool: Spool;
  link: Link;
  log: AgentLog;
}

/** Loads the codec and the keys, builds the parts, and finishes whatever a crash interrupted before anything else uses them. */
export async function openLocalWork(p: LocalWorkParts): Promise<{ work: LocalWork; recovery: RecoveryReport }> {
  const { config, state, source, spool } = p;
  const identity = loadAgentIdentity(config);
  const tables = loadTableSpecs(config);
  const compressor = await loadCompressor();
  const common = { state, source, spool, compressor, identity };
  const recent = state.recentSdcs('data', 'done', 20);
  const exporter = new Exporter({ ...common, tables, maxRecords: recordsPerSdc(config.batching.maxRecords, config.link.profile.upKbps, recent) });
  const applier = new ReceiptApplier(common);
  const names = tables.map((t) => t.name);
  const recovery = await recover({ ...common, exporter, applier, tables: names });
  const reporter = new UsageReporter({ ...common, tables: names, profile: config.link.profile.name, everySeconds: config.batching.usageReportMinutes * 60 });
  const inbound = new InboundRouter({ ...common, config, applier, link: p.link, log: p.log });
  return { work: { exporter, applier, reporter, inbound }, recovery };
}
