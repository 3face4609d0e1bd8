import test, { type ExecutionContext } from 'ava';
import type { ByteStream } from '../common/byte-stream.js';
import { encodeFrame, FrameParser, FrameType, type Frame } from '../protocol/chunk/index.js';
import type { TamtamError } from '../protocol/errors.js';
import { packSbdMessages, SBD_MT_MAX, unpackSbdMessage } from '../protocol/sbd/sbd-frames.js';
import { SbdDialer, type SbdDialerOptions } from '../hardware/sbd/sbd-dialer.js';
import { startSbdSimulator, type SbdSimulatorOptions } from '../hardware/simulator/sbd-commands.js';
import { MemorySbdGateway } from './helpers/memory-sbd-gateway.js';

const IMEI = '300234010753370';

function frame(index: number, size: number, type: number = FrameType.Chunk): Frame {
  return { type, transferId: 0xa1b2c3d4, index, payload: new Uint8Array(size).map((_, i) => (i * 7 + index) & 0xff) };
}

async function rig(t: ExecutionContext, sim: Partial<SbdSimulatorOptions> = {}, dialer: Partial<SbdDialerOptions> = {}) {
  const gateway = new MemorySbdGateway();
  const modem = await startSbdSimulator({ gateway, imei: IMEI, latencyMs: 10, ...sim });
  const waits: number[] = [];
  const sbd = new SbdDialer({
    port: modem.path, commandTimeoutMs: 2000, sessionTimeoutMs: 5000, pollMs: 60_000, retryBaseMs: 5, retryMaxMs: 40, maxAttempts: 4, random: () => 1,
    sleep: (ms, signal) => {
      if (ms <= 40) waits.push(ms);
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    },
    ...dialer,
  });
  t.teardown(async () => {
    await sbd.dispose();
    await modem.close();
  });
  return { gateway, modem, sbd, waits };
}

/** Frames as they come out of the stream, `count` of them. */
function receiveFrames(stream: ByteStream, count: number): Promise<Frame[]> {
  const parser = new FrameParser();
  const got: Frame[] = [];
  return new Promise((resolve) => stream.onData((bytes) => {
    got.push(...parser.push(bytes));
    if (got.length >= count) resolve(got);
  }));
}

function closed(stream: ByteStream): Promise<TamtamError | undefined> {
  return new Promise((resolve) => stream.onClose(resolve));
}

test('frames go up packed into SBD messages, and messages queued at the gateway come down in the same session', async (t) => {
  const { gateway, sbd } = await rig(t);
  const down = [frame(0, 20, FrameType.Status), frame(1, 250), frame(2, 250)];
  const mt = packSbdMessages(down, SBD_MT_MAX);
  for (const message of mt) gateway.queueMt(IMEI, message);
  const stream = await sbd.dial();
  const received = receiveFrames(stream, down.length);
  const up = [frame(0, 30, FrameType.Hello), frame(1, 300), frame(2, 12)];
  const sent: Frame[] = [];
  const allSent = new Promise<void>((resolve) => gateway.onMo((r) => {
    sent.push(...unpackSbdMessage(r.payload));
    if (sent.length === up.length) resolve();
  }));
  await stream.write(Uint8Array.from([...encodeFrame(up[0]), ...encodeFrame(up[1])]));
  await stream.write(encodeFrame(up[2]));
  t.deepEqual(await received, down);
  await allSent;
  t.deepEqual(sent, up);
  t.is(gateway.queued(IMEI), 0);
  await stream.close();
  const stats = sbd.stats();
  t.is(stats.mtMessages, mt.length);
  t.is(stats.mtBytes, mt.reduce((n, m) => n + m.length, 0));
  t.is(stats.moMessages, gateway.received.length);
  t.is(stats.moBytes, gateway.received.reduce((n, r) => n + r.payload.length, 0));
  t.true(stats.sessions >= mt.length);
  await t.throwsAsync(stream.write(encodeFrame(up[0])), { code: 'E_LINK_DOWN' });
});

test('close() after a message went up ends the stream without an error', async (t) => {
  const { gateway, sbd } = await rig(t);
  const stream = await sbd.dial();
  const ended = closed(stream);
  const arrived = new Promise<void>((resolve) => gateway.onMo(() => resolve()));
  await stream.write(encodeFrame(frame(0, 100)));
  await arrived;
  await stream.close();
  t.is(await ended, undefined);
  t.deepEqual(unpackSbdMessage(gateway.received[0].payload), [frame(0, 100)]);
});

test('failed sessions are retried with growing waits until the message goes through', async (t) => {
  const statuses: Record<number, number> = { 1: 32, 2: 35, 3: 18 };
  const { gateway, sbd, waits } = await rig(t, { failures: (n) => statuses[n] });
  const stream = await sbd.dial();
  const arrived = new Promise<void>((resolve) => gateway.onMo(() => resolve()));
  await stream.write(encodeFrame(frame(5, 40)));
  await arrived;
  t.deepEqual(waits, [5, 10, 20]);
  t.deepEqual(sbd.stats().failures, { 32: 1, 35: 1, 18: 1 });
  t.is(gateway.received.length, 1);
});

test('a final status ends the call with E_LINK_DOWN saying what it means', async (t) => {
  const { gateway, sbd } = await rig(t, { failures: () => 15 });
  const stream = await sbd.dial();
  const ended = closed(stream);
  await stream.write(encodeFrame(frame(0, 10)));
  const error = await ended;
  t.is(error?.code, 'E_LINK_DOWN');
  t.true(error?.retryable);
  t.regex(error!.message, /status 15.*access is denied.*subscription/);
  t.is(gateway.received.length, 0);
  await t.throwsAsync(stream.write(encodeFrame(frame(1, 10))), { code: 'E_LINK_DOWN' });
});

test('retryable failures end the call after maxAttempts sessions in a row', async (t) => {
  const { sbd } = await rig(t, { failures: () => 32 });
  const stream = await sbd.dial();
  const ended = closed(stream);
  await stream.write(encodeFrame(frame(0, 10)));
  const error = await ended;
  t.regex(error!.message, /after 4 failed sessions.*no network service/);
  t.is(sbd.stats().failures[32], 4);
});

test('while idle the mailbox is polled, and a ring alert fetches at once with SBDIXA', async (t) => {
  const { gateway, modem, sbd } = await rig(t, {}, { pollMs: 50 });
  const stream = await sbd.dial();
  const polled = receiveFrames(stream, 1);
  gateway.queueMt(IMEI, packSbdMessages([frame(0, 8, FrameType.Status)], SBD_MT_MAX)[0]);
  t.deepEqual(await polled, [frame(0, 8, FrameType.Status)]);
  await stream.close();

  const slow = await rig(t, {}, { pollMs: 60_000 });
  const ringing = await slow.sbd.dial();
  const rung = receiveFrames(ringing, 1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  slow.gateway.queueMt(IMEI, packSbdMessages([frame(9, 8, FrameType.Status)], SBD_MT_MAX)[0]);
  t.true(slow.modem.ring());
  t.deepEqual(await rung, [frame(9, 8, FrameType.Status)]);
  t.true(slow.modem.commands.includes('AT+SBDIXA'));
  t.false(modem.commands.includes('AT+SBDIXA'));
});
