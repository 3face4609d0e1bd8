import test from 'ava';
import { USAGE_FIELDS, emptyUsage } from '../agent/link/link.js';
import { LinkRig } from '../scripts/link-rig.js';
import { seededRandom } from './helpers/modem-rig.js';

/**
 * A centre whose only link is a satellite modem: its agent dials through the
 * simulator (a pty opened with serialport), calls drop every few seconds and
 * bits flip on the line; the hub merges into a real PostgreSQL.
 */
test('acts over a dropping, noisy satellite call reach the central table once and intact, resuming after each drop; receipts bring them to 4', async (t) => {
  const acts = 1500;
  const rig = await LinkRig.start({
    upKbps: 96, downKbps: 96, rttMs: 200, connectDelayMs: 200, guardTimeMs: 200, dropEverySeconds: 3, ber: 1e-5, random: seededRandom(11), acts,
    batching: { maxRecords: 500 },
  });
  t.teardown(() => rig.stop());
  const events: string[] = [];
  const agent = await rig.openAgent((event) => events.push(event), 100);
  await rig.runUntilReceipted(agent, 100_000);
  t.deepEqual(await rig.verify(), { missing: 0, duplicates: 0, corrupt: 0 });
  t.is((await agent.source.countByStatus('births'))[4], acts);
  const sim = rig.modem.stats();
  t.true(sim.drops >= 1, `calls dropped: ${sim.drops}`);
  t.true(sim.bitErrors >= 1, `bits flipped: ${sim.bitErrors}`);
  t.true(events.includes('call_dropped'), 'the agent saw its calls drop and called again');

  await agent.close();
  const usage = emptyUsage();
  const again = await rig.openAgent();
  t.teardown(() => again.close());
  for (const row of again.state.usage()) for (const k of USAGE_FIELDS) usage[k] += row[k];
  const sdcBytes = again.state.sdcs(['done']).reduce((n, s) => n + (s.bytes ?? 0), 0);
  t.true(usage.bytesUp < 1.5 * sdcBytes, `resumed, never from zero: ${usage.bytesUp} bytes up for ${sdcBytes} bytes of SDCs`);
  t.true(usage.sessions >= 2 && usage.airtimeMs > 0 && usage.costUsd > 0, JSON.stringify(usage));

  // The next usage report tells the hub what the link carried and cost, and the backlog.
  again.state.setMeta('usage_report_at', '0');
  const report = await again.syncOnce({ timeoutMs: 60_000 });
  t.is(report.waiting, 0);
  const row = (await rig.db.query<{ bytes_up: string; sessions: number; cost_usd: string; profile: string }>(
    "SELECT bytes_up, sessions, cost_usd, profile FROM link_usage WHERE link = 'stream'")).rows[0];
  t.truthy(row, 'a link_usage row for the stream link');
  t.true(Number(row!.bytes_up) >= usage.bytesUp && row!.sessions >= usage.sessions && Number(row!.cost_usd) > 0 && row!.profile === 'simulated', JSON.stringify(row));
  const backlog = (await rig.db.query<{ records: string }>("SELECT records FROM centre_backlog WHERE table_name = 'births' AND status = 4")).rows[0];
  t.is(Number(backlog?.records), acts);
});
