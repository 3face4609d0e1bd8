import { argv } from 'node:process';
import { USAGE_FIELDS, emptyUsage } from '../agent/link/link.js';
import { LinkRig } from './link-rig.js';

/**
 * Birth acts from ../shared/data/births-5k.jsonl sent by a centre's agent
 * through a simulated satellite modem (serialport on a pseudo-terminal,
 * throttled to --kbps with --rtt-ms, calls dropped every --drop-every-s,
 * bits flipped at --ber) to a hub's stream endpoint, merged into a real
 * PostgreSQL. acts_per_min counts from the agent's start until the last act
 * is in the central table; everything the call carried both ways counts as
 * link bytes.
 */
function option(name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} takes a number, not '${argv[i + 1]}'`);
  return v;
}

const kbps = option('kbps', 22);
const downKbps = option('down-kbps', kbps);
const rttMs = option('rtt-ms', 1500);
const dropEverySeconds = option('drop-every-s', 0);
const ber = option('ber', 0);
const acts = option('acts', 5000);
const chunkBytes = option('chunk', 0);
const usdPerMb = option('usd-per-mb', 5);
const verbose = argv.includes('--verbose');

const rig = await LinkRig.start({
  upKbps: kbps, downKbps, rttMs, acts, ...(dropEverySeconds ? { dropEverySeconds } : {}), ...(ber ? { ber } : {}), ...(chunkBytes ? { chunkBytes } : {}),
});
try {
  const started = performance.now();
  const agent = await rig.openAgent(verbose ? (event, fields) => console.error(`${((performance.now() - started) / 1000).toFixed(1)}s ${event} ${JSON.stringify(fields ?? {})}`) : undefined);
  const stop = new AbortController();
  const daemon = agent.run(stop.signal);
  let arrivedMs = 0;
  const deadline = started + 60 * 60_000;
  while (performance.now() < deadline) {
    if (!arrivedMs && (await rig.centralCount()) >= acts) arrivedMs = performance.now() - started;
    if (arrivedMs && agent.waitingForReceipts() === 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const receiptedMs = performance.now() - started;
  stop.abort();
  await daemon;
  await agent.close();
  const reopened = await rig.openAgent();
  const usage = emptyUsage();
  for (const row of reopened.state.usage()) for (const k of USAGE_FIELDS) usage[k] += row[k];
  const sdcBytes = reopened.state.sdcs(['done']).filter((s) => s.kind === 'data').reduce((n, s) => n + (s.bytes ?? 0), 0);
  const atFour = reopened.source.countByStatus('births');
  await reopened.close();
  const check = await rig.verify();
  const sim = rig.modem.stats();
  const linkBytes = usage.bytesUp + usage.bytesDown;

  console.log(`acts=${acts} kbps=${kbps} down_kbps=${downKbps} rtt_ms=${rttMs} drop_every_s=${dropEverySeconds || 'never'} ber=${ber} chunk=${rig.config.link.profile.chunkBytes}`);
  console.log(`calls=${sim.calls} drops=${sim.drops} bit_errors_injected=${sim.bitErrors} sessions=${usage.sessions}`);
  console.log(`arrived_s=${(arrivedMs / 1000).toFixed(1)} all_receipted_s=${(receiptedMs / 1000).toFixed(1)} records_at_4=${(await atFour)[4] ?? 0}`);
  console.log(`missing=${check.missing} duplicates=${check.duplicates} corrupt=${check.corrupt}`);
  console.log(`sdc_bytes=${sdcBytes} link_bytes_up=${usage.bytesUp} link_bytes_down=${usage.bytesDown} airtime_s=${(usage.airtimeMs / 1000).toFixed(0)}`);
  console.log(`acts_per_min=${arrivedMs ? Math.round(acts / (arrivedMs / 60_000)) : 0}`);
  console.log(`link_efficiency=${(sdcBytes / linkBytes).toFixed(3)}`);
  console.log(`cost_per_1000_acts_usd=${((linkBytes / 1_048_576) * usdPerMb / (acts / 1000)).toFixed(3)}`);
  if (!arrivedMs || check.missing || check.duplicates || check.corrupt) process.exitCode = 1;
} finally {
  await rig.stop();
}
