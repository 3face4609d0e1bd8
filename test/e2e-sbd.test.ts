import test from 'ava';
import { LinkRig } from '../scripts/link-rig.js';

/**
 * A centre whose only link is Iridium SBD: its agent drives a simulated 9603
 * (a pty opened with serialport), the simulated gateway delivers each MO
 * message to the hub over DirectIP and takes the hub's MT messages; sessions
 * fail now and then with the statuses a real constellation gives.
 */
test('acts over Iridium SBD reach the central table once, through failed sessions; receipts come back by MT and bring them to 4', async (t) => {
  const acts = 300;
  // Session 4 finds no network, 9 a busy ISU, 15 loses the radio link: each is waited out and tried again.
  const failing = new Map([[4, 32], [9, 35], [15, 18]]);
  const rig = await LinkRig.start({ via: 'sbd', upKbps: 20, downKbps: 20, rttMs: 400, sbdLatencyMs: 50, sbdFailures: (n) => failing.get(n), acts, batching: { maxRecords: 150 } });
  t.teardown(() => rig.stop());
  const events: string[] = [];
  const agent = await rig.openAgent((event) => events.push(event), 100);
  await rig.runUntilReceipted(agent, 100_000);
  t.deepEqual(await rig.verify(), { missing: 0, duplicates: 0, corrupt: 0 });
  t.is((await agent.source.countByStatus('births'))[4], acts);
  const mo = rig.gateway!.delivered;
  t.true(mo.length > 10 && mo.every((m) => m.bytes <= 340), `${mo.length} MO messages, each within 340 bytes`);
  const sdcBytes = agent.state.sdcs(['done']).reduce((n, s) => n + (s.bytes ?? 0), 0);
  const moBytes = mo.reduce((n, m) => n + m.bytes, 0);
  t.true(moBytes < sdcBytes * 1.15, `${moBytes} bytes in MO messages for ${sdcBytes} bytes of SDCs`);
  // SBD is billed per message: the meter counts the gateway's messages and bytes, at least 10 bytes a message, US$1.25 a KB.
  const usage = agent.link.usage();
  t.is(usage.messagesUp, mo.length);
  t.is(usage.bytesUp, moBytes);
  const billed = mo.reduce((n, m) => n + Math.max(10, m.bytes), 0) + usage.bytesDown + 10 * usage.messagesDown;
  t.true(usage.costUsd >= (moBytes / 1024) * 1.25 && usage.costUsd <= (billed / 1024) * 1.25 + 1e-9, `cost ${usage.costUsd}`);
  await agent.close();
});
