import test, { type ExecutionContext } from 'ava';
import { describeMoStatus } from '../hardware/sbd/mo-status.js';
import { withChecksum } from '../hardware/sbd/sbd-answers.js';
import { SbdModem, type SbdModemOptions } from '../hardware/sbd/sbd-modem.js';
import { startSbdSimulator, type SbdSimulator, type SbdSimulatorOptions } from '../hardware/simulator/sbd-commands.js';
import { MemorySbdGateway } from './helpers/memory-sbd-gateway.js';

const IMEI = '300234010753370';

async function rig(t: ExecutionContext, options: Partial<SbdSimulatorOptions> = {}, modemOptions: Partial<SbdModemOptions> = {}) {
  const gateway = new MemorySbdGateway();
  const sim: SbdSimulator = await startSbdSimulator({ gateway, imei: IMEI, latencyMs: 10, writeTimeoutMs: 200, ...options });
  const modem = await SbdModem.open({ port: sim.path, commandTimeoutMs: 2000, sessionTimeoutMs: 5000, ...modemOptions });
  t.teardown(async () => {
    await modem.close();
    await sim.close();
  });
  return { gateway, sim, modem };
}

/** Bytes a line reader would cut: CR, LF, and "OK". */
const awkward = Uint8Array.from([0x0d, 0x0a, 0x4f, 0x4b, 0x0d, 0x0a, 0x00, 0xff, 0x41, 0x54]);

test('init turns ring alerts on; identity, signal and Iridium time are read', async (t) => {
  const epoch = Date.UTC(2026, 0, 1);
  const { sim, modem } = await rig(t, { iridiumEpochMs: epoch }, { iridiumEpochMs: epoch });
  t.is(await modem.imei(), IMEI);
  t.true((await modem.revision()).length > 0);
  t.is((await modem.signal()).bars, 5);
  t.is((await modem.signalFast()).bars, 5);
  const time = await modem.systemTime();
  t.true(time.network && Math.abs(time.date.getTime() - Date.now()) < 1000);
  t.true(sim.sbd.ringAlerts);
  t.true(sim.commands.includes('AT+SBDMTA=1'));
  sim.sbd.signal = 0;
  t.deepEqual(await modem.systemTime(), { network: false });
});

test('SBDWB answers 0 for a good message and 1, 2, 3 for short, garbled and oversized ones', async (t) => {
  const { sim, modem } = await rig(t);
  t.is(await modem.writeMoWire(awkward.length, withChecksum(awkward)), 0);
  t.deepEqual(sim.sbd.mo, awkward);
  const bad = withChecksum(awkward);
  bad[bad.length - 1] ^= 1;
  t.is(await modem.writeMoWire(awkward.length, bad), 2);
  t.is(await modem.writeMoWire(341, withChecksum(new Uint8Array(341))), 3);
  t.is(await modem.writeMoWire(20, withChecksum(awkward)), 1);
  await t.throwsAsync(modem.writeMo(new Uint8Array(341)), { code: 'E_TOO_LARGE' });
  await modem.writeMo(awkward);
  t.deepEqual(sim.sbd.mo, awkward);
});

test('SBDIX reports all six fields; queued MT messages are fetched and their checksum checked', async (t) => {
  const { gateway, modem } = await rig(t);
  gateway.queueMt(IMEI, awkward);
  gateway.queueMt(IMEI, Uint8Array.of(1, 2, 3));
  await modem.writeMo(Uint8Array.of(9, 9));
  const first = await modem.sessionIx();
  t.deepEqual(first, { moStatus: 0, momsn: 0, mtStatus: 1, mtmsn: 1, mtLength: awkward.length, mtQueued: 1 });
  t.deepEqual(gateway.received.map((r) => [r.imei, r.momsn, [...r.payload]]), [[IMEI, 0, [9, 9]]]);
  t.deepEqual(await modem.readMt(), awkward);
  await modem.clearBuffers(0);
  const second = await modem.sessionIx();
  t.deepEqual(second, { moStatus: 0, momsn: 1, mtStatus: 1, mtmsn: 2, mtLength: 3, mtQueued: 0 });
  t.is(gateway.received.length, 1, 'an empty MO buffer sends nothing');
  t.deepEqual(await modem.readMt(), Uint8Array.of(1, 2, 3));
  t.deepEqual(await modem.sessionIx(), { moStatus: 0, momsn: 2, mtStatus: 0, mtmsn: 0, mtLength: 0, mtQueued: 0 });
  await modem.clearBuffers(2);
  t.deepEqual(await modem.readMt(), new Uint8Array(0));
});

test('a ring alert is an event, answered with SBDIXA', async (t) => {
  const { gateway, sim, modem } = await rig(t);
  await modem.init();
  const rang = new Promise<void>((resolve) => modem.onRing(resolve));
  gateway.queueMt(IMEI, Uint8Array.of(7));
  t.true(sim.ring());
  await rang;
  const result = await modem.sessionIx(true);
  t.is(result.mtStatus, 1);
  t.true(sim.commands.includes('AT+SBDIXA'));
  t.deepEqual(await modem.readMt(), Uint8Array.of(7));
});

test('a failed session reports its MO status, which says what to check', async (t) => {
  const { gateway, modem } = await rig(t, { failures: (n) => (n === 1 ? 32 : undefined) });
  await modem.writeMo(Uint8Array.of(1));
  const failed = await modem.sessionIx();
  t.is(failed.moStatus, 32);
  t.is(failed.mtStatus, 2);
  t.regex(describeMoStatus(failed.moStatus).meaning, /no network service.*sky/);
  t.is(gateway.received.length, 0);
  t.is((await modem.sessionIx()).moStatus, 0, 'the MO buffer is kept for the next session');
  t.is(gateway.received.length, 1);
});

test('a silent transceiver is E_MODEM_SILENT, naming what to check', async (t) => {
  const { modem } = await rig(t, { silent: true }, { commandTimeoutMs: 300, initAttempts: 1 });
  const e = await t.throwsAsync(modem.imei(), { code: 'E_MODEM_SILENT' });
  t.regex(e!.message, /powered on/);
});
