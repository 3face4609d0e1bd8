/**
 * A stand-in agent process for the kill -9 test: recovers, says "ready", then
 * packs and applies inbox receipts in a loop until the test kills it with
 * SIGKILL, or exits once there is nothing left to do.
 * Usage: node pack-loop-child.js <agent config>
 */
import { join } from 'node:path';
import { loadAgentConfig, loadAgentIdentity, loadTableSpecs } from '../../agent/config.js';
import { Exporter } from '../../agent/exporter.js';
import { ReceiptApplier } from '../../agent/receipt-applier.js';
import { recover } from '../../agent/recovery.js';
import { openSource } from '../../agent/source/source-adapter.js';
import { Spool } from '../../agent/spool/spool.js';
import { AgentState } from '../../agent/state/agent-state.js';
import { loadCompressor } from '../../protocol/index.js';

const config = loadAgentConfig(process.argv[2]!);
const state = AgentState.open(join(config.dataDir, 'state.db'));
const source = await openSource(config.source);
const spool = Spool.open(config.dataDir);
const common = { state, source, spool, compressor: await loadCompressor(), identity: loadAgentIdentity(config) };
const exporter = new Exporter({ ...common, tables: loadTableSpecs(config), maxRecords: config.batching.maxRecords });
const applier = new ReceiptApplier(common);
const tables = config.tables.map((t) => t.name);

const report = await recover({ ...common, exporter, applier, tables });
process.stdout.write(`ready ${JSON.stringify({ repacked: report.repacked.length, stranded: report.stranded.length, inbox: report.inbox.length })}\n`);
for (;;) {
  const packed = await exporter.pack();
  const applied = await applier.processInbox();
  if (packed.sdcs.length === 0 && applied.length === 0) break;
  // Lets the parent's SIGKILL land between steps as well as inside them.
  await new Promise((resolve) => setImmediate(resolve));
}
process.stdout.write('idle\n');
state.close();
await source.close();
