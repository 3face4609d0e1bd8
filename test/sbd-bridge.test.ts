import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { SbdGateway } from '../hardware/simulator/sbd-gateway.js';
import { MemoryOutboundStore } from '../hub/receivers/outbound-store.js';
import { StreamReceiver } from '../hub/receivers/stream-receiver.js';
import { DirectIpClient } from '../hub/sbd/directip-client.js';
import { DirectIpServer } from '../hub/sbd/directip-server.js';
import { SbdBridge } from '../hub/sbd/sbd-bridge.js';
import { decodeFrame, encodeFrame, FrameType, type Frame } from '../protocol/chunk/chunk-frame.js';
import type { TamtamError } from '../protocol/errors.js';
import { packSbdMessages, SBD_MO_MAX, SBD_MT_MAX_CHUNK, unpackSbdMessage } from '../protocol/sbd/sbd-frames.js';
import { SessionMachine, type SessionEvent } from '../protocol/session/index.js';
import { Collector } from './helpers/collector.js';

const IMEI = '300234010753370';
const OTHER_IMEI = '300234010753371';
const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

interface Rig {
  gw: SbdGateway;
  got: Collector<Uint8Array>;
  errors: Collector<TamtamError>;
  outbound: MemoryOutboundStore;
  mtQueued: Collector<string>;
}

async function rig(t: ExecutionContext): Promise<Rig> {
  const got = new Collector<Uint8Array>();
  const errors = new Collector<TamtamError>();
  const mtQueued = new Collector<string>();
  const outbound = new MemoryOutboundStore();
  const receiver = new StreamReceiver({
    port: 0, outbound, centreStatus: async (m) => (m.startsWith('CM-') ? 'ok' : 'unknown'), onError: (e) => errors.push(e),
    onUp: async (_centre, sdc) => {
      got.push(sdc);
      return { reply: new TextEncoder().encode(`receipt:${digest(sdc)}`) };
    },
  });
  await receiver.start();
  let bridge: SbdBridge | undefined;
  const mo = new DirectIpServer({ port: 0, onMo: (m) => (bridge as SbdBridge).onMo(m), onError: (e) => errors.push(e) });
  await mo.start();
  const gw = new SbdGateway({ hub: { host: '127.0.0.1', port: mo.port }, onMtQueued: (imei) => mtQueued.push(imei) });
  await gw.start();
  bridge = new SbdBridge({
    receiver, mt: new DirectIpClient({ host: '127.0.0.1', port: gw.mtPort }), rttMs: 2000, mtBatchMs: 5, onError: (e) => errors.push(e),
    registry: { findByImei: async (imei) => (imei === IMEI ? { matricule: 'CM-1' } : imei === OTHER_IMEI ? { matricule: 'CM-2' } : undefined) },
  });
  t.teardown(async () => {
    await (bridge as SbdBridge).stop();
    await receiver.stop();
    await mo.stop();
    await gw.stop();
  });
  return { gw, got, errors, outbound, mtQueued };
}

/** The centre's side without a modem: a caller SessionMachine whose frames go up packed in MO messages and come down from the MT queue. */
class Modem {
  readonly machine: SessionMachine;
  readonly events: SessionEvent[] = [];
  readonly replies: string[] = [];
  chunkFramesUp = 0;
  private static momsn = 0;

  constructor(private readonly r: Rig, centre = 'CM-1', private readonly imei = IMEI) {
    this.machine = new SessionMachine({ role: 'caller', centre, chunkSize: SBD_MT_MAX_CHUNK, rtoMs: 600_000, maxRtoMs: 600_000, checkpointMs: 600_000 }, Date.now());
  }

  /** One SBD session's worth of MO: everything the machine has to say. Returns the MOMSNs used. */
  async up(lose: (nth: number) => boolean = () => false): Promise<number> {
    const frames: Frame[] = [];
    for (let b; (b = this.machine.next(Date.now())); ) frames.push(decodeFrame(b));
    this.chunkFramesUp += frames.filter((f) => f.type === FrameType.Chunk).length;
    const messages = packSbdMessages(frames, SBD_MO_MAX);
    for (const [i, m] of messages.entries()) if (!lose(i)) await this.r.gw.mo(this.imei, Modem.momsn++, m);
    return messages.length;
  }

  /** Takes every MT waiting at the gateway. */
  async down(): Promise<void> {
    for (let mt; (mt = await this.r.gw.mt(this.imei)); ) {
      for (const f of unpackSbdMessage(mt.payload)) this.machine.receive(encodeFrame(f), Date.now());
    }
    for (const e of this.machine.takeEvents()) {
      this.events.push(e);
      if (e.kind === 'received') {
        this.replies.push(text(e.sdc));
        this.machine.taken(e.transferId);
      }
    }
  }

  /** Modem sessions until `done`: send, wait for the hub's MT answer, read it. */
  async until(done: () => boolean, what: string): Promise<void> {
    for (let round = 0; round < 60; round++) {
      if (done()) return;
      const before = this.r.mtQueued.items.length;
      const sent = await this.up();
      if (sent > 0 || this.r.gw.queued(this.imei) === 0) await this.r.mtQueued.until((i) => i.length > before, `an MT for ${what}`, 5000);
      await this.down();
    }
    throw new Error(`${what} did not happen in 60 modem sessions`);
  }

  has(kind: SessionEvent['kind']): boolean {
    return this.events.some((e) => e.kind === kind);
  }
}

test('an SDC goes up in MO messages once, its receipt comes back by MT, and the session ends with Bye', async (t) => {
  const r = await rig(t);
  const m = new Modem(r);
  const sdc = randomBytes(1500);
  m.machine.send(sdc);
  await m.until(() => m.has('sent') && m.replies.length === 1, 'the SDC taken and its receipt');
  t.is(r.got.items.length, 1);
  t.is(digest(r.got.items[0]), digest(sdc));
  t.deepEqual(m.replies, [`receipt:${digest(sdc)}`]);
  m.machine.bye();
  await m.until(() => m.machine.peerSaidBye, "the hub's Bye");
  t.deepEqual(await r.outbound.pending('CM-1'), [], 'the receipt left the outbound store once the modem confirmed it');
  t.true(r.gw.delivered.every((d) => d.bytes <= SBD_MO_MAX));
  t.deepEqual(r.errors.items, []);
});

test('a lost MO is repaired from the Status: only the missing chunks go again', async (t) => {
  const r = await rig(t);
  const m = new Modem(r);
  const sdc = randomBytes(12 * SBD_MT_MAX_CHUNK);
  m.machine.send(sdc);
  await m.until(() => m.machine.state === 'open', 'the Welcome');
  const sent = await m.up((i) => i === 3);
  t.true(sent > 5);
  await m.until(() => m.has('sent'), 'the SDC taken');
  t.is(r.got.items.length, 1);
  t.is(digest(r.got.items[0]), digest(sdc));
  t.true(m.chunkFramesUp <= 12 + 2, `sent ${m.chunkFramesUp} chunk frames for 12 chunks and one lost message`);
});

test('a second Hello from the same IMEI after a drop opens a new session that resumes the partial SDC', async (t) => {
  const r = await rig(t);
  const first = new Modem(r);
  const sdc = randomBytes(10 * SBD_MT_MAX_CHUNK);
  first.machine.send(sdc);
  await first.until(() => first.machine.state === 'open', 'the Welcome');
  await first.up((i) => i >= 4);
  const second = new Modem(r);
  second.machine.send(sdc);
  await second.until(() => second.machine.state === 'open', 'the second Welcome');
  await second.until(() => second.has('sent'), 'the SDC taken');
  t.is(r.got.items.length, 1);
  t.is(digest(r.got.items[0]), digest(sdc));
  t.true(second.chunkFramesUp <= 7, `the second session sent ${second.chunkFramesUp} chunk frames, not all 10`);
  t.false(r.errors.items.some((e) => e.code === 'E_UNKNOWN_SIGNER'));
});

test('an unknown IMEI is confirmed to the gateway, reported and dropped; an IMEI speaking as another centre too', async (t) => {
  const r = await rig(t);
  const stranger = new Modem(r, 'CM-1', '300234010000000');
  await stranger.up();
  await r.errors.until((e) => e.some((x) => x.code === 'E_UNKNOWN_SIGNER'), 'the unknown IMEI reported');
  t.regex(r.errors.items[0].message, /300234010000000/);
  const impostor = new Modem(r, 'CM-1', OTHER_IMEI);
  await impostor.up();
  await r.errors.until((e) => e.filter((x) => x.code === 'E_UNKNOWN_SIGNER').length === 2, 'the impostor reported');
  t.regex(r.errors.items[1].message, /belongs to centre CM-2/);
  t.is(r.gw.queued('300234010000000') + r.gw.queued(OTHER_IMEI), 0);
  t.is(r.gw.delivered.length, 2);
});
