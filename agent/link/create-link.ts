import { TamtamError } from '../../protocol/errors.js';
import type { LinkConfig } from './link-config.js';
import { billedMessageBytes } from './link-profile.js';
import type { Link } from './link.js';

/**
 * The link a centre's config names. Each kind is imported only when used, so
 * an agent on MQTT never loads serialport and one on a modem never loads mqtt.js.
 */
export async function createLink(centre: string, config: LinkConfig, o: { dataDir: string; now?: () => number }): Promise<Link> {
  switch (config.kind) {
    case 'mqtt': {
      const { MqttLink } = await import('./mqtt-link.js');
      return new MqttLink({
        url: config.url, centre, username: config.username, password: config.password, profile: config.profile, ...(o.now ? { now: o.now } : {}),
        ...(config.keepaliveSeconds ? { keepaliveSec: config.keepaliveSeconds } : {}),
      });
    }
    case 'ppp': {
      const { PppLink } = await import('./ppp-link.js');
      return new PppLink({ centre, config, dataDir: o.dataDir, ...(o.now ? { now: o.now } : {}) });
    }
    case 'modem': {
      const [{ StreamLink }, { ModemDialer }] = await Promise.all([import('./stream-link.js'), import('../../hardware/modem/modem-dialer.js')]);
      const m = config.modem;
      const dialer = new ModemDialer({
        port: m.port, baudRate: m.baudRate, driver: m.driver, flowControl: m.flowControl,
        ...(m.number ? { number: m.number } : {}), ...(m.apn ? { apn: m.apn } : {}), ...(m.bearer ? { bearer: m.bearer } : {}),
      });
      return new StreamLink({ centre, dialer, profile: config.profile, ...(o.now ? { now: o.now } : {}) });
    }
    case 'tcp': {
      const [{ StreamLink }, { TcpDialer }] = await Promise.all([import('./stream-link.js'), import('./tcp-dialer.js')]);
      return new StreamLink({ centre, dialer: new TcpDialer({ host: config.host, port: config.port }), profile: config.profile, ...(o.now ? { now: o.now } : {}) });
    }
    case 'sbd': {
      const [{ StreamLink }, { SbdDialer }] = await Promise.all([import('./stream-link.js'), import('../../hardware/sbd/sbd-dialer.js')]);
      const dialer = new SbdDialer({
        port: config.port, baudRate: config.baudRate, pollMs: config.pollSeconds * 1000, retryBaseMs: config.retrySeconds * 1000,
        billed: (size) => billedMessageBytes(config.profile, size),
      });
      return new StreamLink({ centre, dialer, profile: config.profile, ...(o.now ? { now: o.now } : {}) });
    }
    default:
      throw new TamtamError('E_CONFIG', `link kind ${(config as { kind: string }).kind} is not one this agent knows`);
  }
}
