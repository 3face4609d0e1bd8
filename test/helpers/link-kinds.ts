import { MqttLink } from '../../agent/link/mqtt-link.js';
import type { Link } from '../../agent/link/link.js';
import { resolveProfile } from '../../agent/link/link-profile.js';
import { StreamLink } from '../../agent/link/stream-link.js';
import { TcpDialer } from '../../agent/link/tcp-dialer.js';
import { ModemDialer } from '../../hardware/modem/modem-dialer.js';
import { SbdDialer } from '../../hardware/sbd/sbd-dialer.js';
import { ModemSimulator } from '../../hardware/simulator/modem-simulator.js';
import { startSbdSimulator, type SbdGatewayPort } from '../../hardware/simulator/sbd-commands.js';
import { SbdGateway } from '../../hardware/simulator/sbd-gateway.js';
import { DirectIpClient } from '../../hub/sbd/directip-client.js';
import { DirectIpServer } from '../../hub/sbd/directip-server.js';
import { SbdBridge } from '../../hub/sbd/sbd-bridge.js';
import { MqttReceiver, type ReceiverHandler } from '../../hub/receivers/mqtt-receiver.js';
import { StreamReceiver } from '../../hub/receivers/stream-receiver.js';
import { freePort } from '../../scripts/services/free-port.js';
import { startMosquitto } from '../../scripts/services/mosquitto-broker.js';
import { FAST_LINK } from './modem-rig.js';

export const CONTRACT_CENTRE = 'CM-CE-CTR-0001';
const SBD_IMEI = '300234010753371';

/** The hub's side of one kind of link, with links to it. */
export interface FarSide {
  link(): Promise<Link>;
  /** A link configured towards a far side that is not there. */
  deadLink(): Promise<Link>;
  /** The far side goes away (broker stopped, hub endpoint stopped, call cut). */
  cut(): Promise<void>;
  stop(): Promise<void>;
}

export interface LinkKind {
  name: string;
  /** Why this kind cannot run here; the suite then skips it and says so. */
  skip?: string;
  /** A payload that takes a while on this link. */
  largePayload: number;
  start(onUp: ReceiverHandler): Promise<FarSide>;
}

const FAST_BACKOFF = { initialMs: 50, maxMs: 400 };

function streamReceiver(onUp: ReceiverHandler, rttMs: number): StreamReceiver {
  return new StreamReceiver({ port: 0, onUp, rttMs, centreStatus: async (m) => (m === CONTRACT_CENTRE ? 'ok' : 'unknown') });
}

const mqtt: LinkKind = {
  name: 'mqtt',
  largePayload: 300_000,
  async start(onUp) {
    const broker = await startMosquitto();
    const receiver = new MqttReceiver({ url: broker.url, clientId: 'contract-hub', shared: false, onUp, backoff: FAST_BACKOFF });
    await receiver.start();
    return {
      link: async () => new MqttLink({ url: broker.url, centre: CONTRACT_CENTRE, backoff: FAST_BACKOFF, openTimeoutMs: 20_000 }),
      deadLink: async () => new MqttLink({ url: `mqtt://127.0.0.1:${await freePort()}`, centre: CONTRACT_CENTRE, backoff: FAST_BACKOFF, openTimeoutMs: 1_500 }),
      cut: () => broker.stop(),
      stop: async () => {
        await receiver.stop();
        await broker.stop();
      },
    };
  },
};

const streamTcp: LinkKind = {
  name: 'stream over TCP',
  largePayload: 300_000,
  async start(onUp) {
    const receiver = streamReceiver(onUp, 50);
    await receiver.start();
    const profile = resolveProfile({ base: 'internet', name: 'contract-tcp', rttMs: 50, chunkBytes: 1024 });
    const link = (port: number) => new StreamLink({ centre: CONTRACT_CENTRE, dialer: new TcpDialer({ host: '127.0.0.1', port }), profile });
    return {
      link: async () => link(receiver.port),
      deadLink: async () => link(await freePort()),
      cut: () => receiver.stop(),
      stop: () => receiver.stop(),
    };
  },
};

const streamModem: LinkKind = {
  name: 'stream over a modem call (simulated satellite modem on a pty)',
  largePayload: 40_000,
  async start(onUp) {
    const receiver = streamReceiver(onUp, FAST_LINK.rttMs * 2);
    await receiver.start();
    const modem = await ModemSimulator.start({ target: () => ({ host: '127.0.0.1', port: receiver.port }), ...FAST_LINK });
    const deadModems: ModemSimulator[] = [];
    const profile = resolveProfile({ base: 'iridium-certus-100', name: 'contract-modem', upKbps: FAST_LINK.upKbps, downKbps: FAST_LINK.downKbps, rttMs: FAST_LINK.rttMs * 2 });
    const link = (path: string) => new StreamLink({
      centre: CONTRACT_CENTRE, profile,
      dialer: new ModemDialer({ port: path, guardTimeMs: FAST_LINK.guardTimeMs, commandTimeoutMs: 5_000, dialTimeoutMs: 10_000 }),
    });
    return {
      link: async () => link(modem.path),
      deadLink: async () => {
        const dead = await ModemSimulator.start({ target: () => undefined, ...FAST_LINK });
        deadModems.push(dead);
        return link(dead.path);
      },
      cut: () => receiver.stop(),
      stop: async () => {
        for (const m of [modem, ...deadModems]) await m.close();
        await receiver.stop();
      },
    };
  },
};

const sbd: LinkKind = {
  name: 'Iridium SBD (simulated 9603 and gateway, DirectIP)',
  largePayload: 6_000,
  async start(onUp) {
    const receiver = streamReceiver(onUp, 400);
    await receiver.start();
    const registry = { findByImei: async (imei: string) => (imei === SBD_IMEI ? { matricule: CONTRACT_CENTRE } : undefined) };
    const mtPort = await freePort();
    const bridge = new SbdBridge({ receiver, registry, mt: new DirectIpClient({ host: '127.0.0.1', port: mtPort }), rttMs: 400 });
    const server = new DirectIpServer({ port: 0, onMo: (mo) => bridge.onMo(mo) });
    await server.start();
    const gateway = new SbdGateway({ hub: { host: '127.0.0.1', port: server.port }, mtPort });
    await gateway.start();
    const modems: ModemSimulator[] = [];
    const modem = async (g: SbdGatewayPort) => {
      const m = await startSbdSimulator({ gateway: g, imei: SBD_IMEI, latencyMs: 20 });
      modems.push(m);
      return m;
    };
    const profile = resolveProfile({ base: 'iridium-sbd', name: 'contract-sbd', upKbps: 40, downKbps: 40, rttMs: 400 });
    const link = (path: string) => new StreamLink({
      centre: CONTRACT_CENTRE, profile, dialer: new SbdDialer({ port: path, pollMs: 200, retryBaseMs: 20, retryMaxMs: 50, maxAttempts: 3 }),
    });
    // A gateway whose hub is gone: every MO fails, as when DirectIP is down.
    const nowhere: SbdGatewayPort = { mo: () => Promise.reject(new Error('the hub does not answer')), mt: async () => undefined };
    return {
      link: async () => link((await modem(gateway)).path),
      deadLink: async () => link((await modem(nowhere)).path),
      cut: () => server.stop(),
      stop: async () => {
        for (const m of modems) await m.close();
        await gateway.stop();
        await server.stop();
        await bridge.stop();
        await receiver.stop();
      },
    };
  },
};

/** Listed so the suite says why it does not run: a stick carries SDCs beside a link, it is not one. */
const usbStick: LinkKind = {
  name: 'USB stick (T2D)',
  skip: 'a stick is not a live link: nothing answers until it is carried to the hub; t2d-*.test.ts prove its promises (nothing lost, nothing taken twice, receipts back)',
  largePayload: 0,
  start: () => Promise.reject(new Error('not a live link')),
};

export const LINK_KINDS: LinkKind[] = [mqtt, streamTcp, streamModem, sbd, usbStick];
