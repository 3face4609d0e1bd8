import { argv } from 'node:process';
import { LinkRig } from './link-rig.js';

/**
 * Birth acts from ../shared/data/births-5k.jsonl sent by a centre's agent
 * over Iridium SBD: a simulated 9603 on a pseudo-terminal, the simulated
 * gateway delivering each MO message to the hub's DirectIP server, receipts
 * back as MT messages. Counts what the gateway delivered.
 */
function option(name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(argv[i + 1]);
}
const acts = option('acts', 1000);
const latencyMs = option('latency-ms', 50);

const rig = await LinkRig.start({ via: 'sbd', upKbps: 20, downKbps: 20, rttMs: 400, sbdLatencyMs: latencyMs, acts, batching: { maxRecords: 2000 } });
try {
  const agent = await rig.openAgent(undefined, 100);
  await rig.runUntilReceipted(agent, 30 * 60_000);
  const check = await rig.verify();
  const sdcBytes = agent.state.sdcs(['done']).reduce((n, s) => n + (s.bytes ?? 0), 0);
  await agent.close();
  const mo = rig.gateway!.delivered;
  const moBytes = mo.reduce((n, m) => n + m.bytes, 0);
  console.log(`acts=${acts} sdc_bytes=${sdcBytes} mo_messages=${mo.length} mo_bytes=${moBytes} missing=${check.missing} duplicates=${check.duplicates} corrupt=${check.corrupt}`);
  console.log(`acts_per_message=${(acts / mo.length).toFixed(2)}`);
  console.log(`bytes_overhead_per_message=${((moBytes - sdcBytes) / mo.length).toFixed(1)}`);
  if (check.missing || check.duplicates || check.corrupt) process.exitCode = 1;
} finally {
  await rig.stop();
}
