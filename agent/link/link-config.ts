import type { Checker, Obj } from '../config-checker.js';
import { resolveProfile, type LinkProfile } from './link-profile.js';

export const MODEM_DRIVERS = ['iridium-csd', 'thuraya-gmprs', 'hayes'] as const;
export type ModemDriverName = (typeof MODEM_DRIVERS)[number];

/** The serial modem of a centre: a satellite terminal on a port. */
export interface ModemConfig {
  port: string;
  baudRate: number;
  driver: ModemDriverName;
  /** Number to dial; default per driver (Iridium's data service number; *99# for GmPRS). */
  number?: string;
  /** GmPRS access point name. */
  apn?: string;
  /** AT+CBST parameters when the gateway wants another bearer than the driver's, e.g. "6,0,1". */
  bearer?: string;
  /** RTS/CTS: on for terminals that have the lines wired; off by default, which works on any cable. */
  flowControl: boolean;
}

interface Common {
  profile: LinkProfile;
}

/** MQTT over an always-on IP link (Internet, or a satellite IP terminal: Certus, GO! exec, Thuraya IP). */
export interface MqttLinkConfig extends Common {
  kind: 'mqtt';
  url: string;
  username?: string;
  password?: string;
  keepaliveSeconds?: number;
}

/** A modem call in data mode, delivered to the hub's stream endpoint (Iridium RUDICS style): chunk frames on a raw byte stream. */
export interface ModemLinkConfig extends Common {
  kind: 'modem';
  modem: ModemConfig;
}

/** The same byte-stream session over TCP, to the hub's stream endpoint (a VSAT or a network that blocks MQTT). */
export interface TcpLinkConfig extends Common {
  kind: 'tcp';
  host: string;
  port: number;
}

/** A modem call carrying PPP (pppd), with MQTT over it; pppd dials on demand and hangs up when idle. */
export interface PppLinkConfig extends Common {
  kind: 'ppp';
  modem: ModemConfig;
  url: string;
  username?: string;
  password?: string;
  /** pppd's path; default /usr/sbin/pppd. */
  pppd: string;
  /** Leave pppd running in dial-on-demand mode, hanging up after this many idle seconds; absent: pppd runs for each session only. */
  demandIdleSeconds?: number;
}

/** Iridium Short Burst Data: the stream session in 340/270-byte messages through a 9602/9603 and the gateway's DirectIP. */
export interface SbdLinkConfig extends Common {
  kind: 'sbd';
  port: string;
  baudRate: number;
  /** Mailbox checks while a session waits for the hub. */
  pollSeconds: number;
  /** First wait after a failed SBD session (no network, busy), doubled each time up to 5 minutes. */
  retrySeconds: number;
}

export type LinkConfig = MqttLinkConfig | ModemLinkConfig | TcpLinkConfig | PppLinkConfig | SbdLinkConfig;

/** What a config file holds: the profile as a name or an object with `base`. */
export type LinkConfigInput = (Omit<MqttLinkConfig, 'profile'> | Omit<ModemLinkConfig, 'profile' | 'modem'> & { modem: Partial<ModemConfig> & { port: string } }
  | Omit<TcpLinkConfig, 'profile'> | (Omit<SbdLinkConfig, 'profile' | 'baudRate' | 'pollSeconds' | 'retrySeconds'> & { baudRate?: number; pollSeconds?: number; retrySeconds?: number }) | Omit<PppLinkConfig, 'profile' | 'modem' | 'pppd'> & { modem: Partial<ModemConfig> & { port: string }; pppd?: string })
  & { profile?: string | (Partial<LinkProfile> & { base?: string }) };

const MQTT_SCHEMES = ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:'];
const DEFAULT_PROFILE: Record<ModemDriverName, string> = { 'iridium-csd': 'iridium-csd', 'thuraya-gmprs': 'thuraya-gmprs', hayes: 'iridium-csd' };
const KINDS = '"mqtt" (Internet or satellite IP), "modem" (a call to the hub\'s stream endpoint), "ppp" (MQTT over a modem call), "sbd" (Iridium Short Burst Data) or "tcp"';

export function parseLinkConfig(c: Checker, v: unknown): LinkConfig {
  const o = c.object(v, 'link');
  switch (o.kind) {
    case 'mqtt':
      return { kind: 'mqtt', ...mqttFields(c, o), profile: profile(c, o.profile) };
    case 'modem': {
      const modem = modemFields(c, o.modem, 'link.modem');
      // GmPRS is a packet service: after CONNECT the network speaks PPP, never a raw byte stream to the hub.
      if (modem.driver === 'thuraya-gmprs') c.fail('link.kind', '"ppp" for a Thuraya GmPRS terminal (its calls carry PPP)', o.kind);
      return { kind: 'modem', modem, profile: profile(c, o.profile ?? DEFAULT_PROFILE[modem.driver]) };
    }
    case 'tcp':
      return { kind: 'tcp', host: c.string(o, 'host', 'link.host')!, port: c.integer(o, 'port', 'link.port', 1, 65535), profile: profile(c, o.profile) };
    case 'sbd': {
      const p = profile(c, o.profile ?? 'iridium-sbd');
      // A session's chunks must fit a 270-byte MT message both ways (FORMAT.md §16).
      if (p.chunkBytes > 259) c.fail('link.profile.chunkBytes', 'at most 259 on Iridium SBD (a chunk and its frame fit one 270-byte MT message)', p.chunkBytes);
      return {
        kind: 'sbd', port: c.string(o, 'port', 'link.port')!, baudRate: c.integer(o, 'baudRate', 'link.baudRate', 300, 921_600, 19_200),
        pollSeconds: c.integer(o, 'pollSeconds', 'link.pollSeconds', 1, 3600, 20), retrySeconds: c.integer(o, 'retrySeconds', 'link.retrySeconds', 1, 300, 10), profile: p,
      };
    }
    case 'ppp': {
      const modem = modemFields(c, o.modem, 'link.modem');
      return {
        kind: 'ppp', modem, ...mqttFields(c, o), pppd: c.string(o, 'pppd', 'link.pppd', true) ?? '/usr/sbin/pppd',
        ...(o.demandIdleSeconds === undefined ? {} : { demandIdleSeconds: c.integer(o, 'demandIdleSeconds', 'link.demandIdleSeconds', 5, 86_400) }),
        profile: profile(c, o.profile ?? DEFAULT_PROFILE[modem.driver]),
      };
    }
    default:
      return c.fail('link.kind', KINDS, o.kind);
  }
}

const profile = (c: Checker, v: unknown): LinkProfile => c.check(() => resolveProfile(v));

function mqttFields(c: Checker, o: Obj): Omit<MqttLinkConfig, 'kind' | 'profile'> {
  const url = c.string(o, 'url', 'link.url')!;
  let scheme = '';
  try {
    scheme = new URL(url).protocol;
  } catch {
    // reported below with the accepted schemes
  }
  if (!MQTT_SCHEMES.includes(scheme)) c.fail('link.url', `a broker URL starting with ${MQTT_SCHEMES.map((s) => `${s}//`).join(', ')}`, url);
  const out: Omit<MqttLinkConfig, 'kind' | 'profile'> = { url };
  const username = c.string(o, 'username', 'link.username', true);
  const password = c.string(o, 'password', 'link.password', true);
  if (username !== undefined) out.username = username;
  if (password !== undefined) out.password = password;
  if (o.keepaliveSeconds !== undefined) out.keepaliveSeconds = c.integer(o, 'keepaliveSeconds', 'link.keepaliveSeconds', 0, 65535);
  return out;
}

function modemFields(c: Checker, v: unknown, field: string): ModemConfig {
  const o = c.object(v, field);
  const driver = (o.driver ?? 'iridium-csd') as ModemDriverName;
  if (!MODEM_DRIVERS.includes(driver)) c.fail(`${field}.driver`, MODEM_DRIVERS.map((d) => `"${d}"`).join(', '), o.driver);
  const out: ModemConfig = {
    port: c.string(o, 'port', `${field}.port`)!,
    baudRate: c.integer(o, 'baudRate', `${field}.baudRate`, 300, 921_600, 19_200),
    driver,
    flowControl: o.flowControl === true,
  };
  if (o.flowControl !== undefined && typeof o.flowControl !== 'boolean') c.fail(`${field}.flowControl`, 'true or false', o.flowControl);
  const number = c.string(o, 'number', `${field}.number`, true);
  const apn = c.string(o, 'apn', `${field}.apn`, true);
  const bearer = c.string(o, 'bearer', `${field}.bearer`, true);
  if (number !== undefined) out.number = number;
  if (apn !== undefined) out.apn = apn;
  if (bearer !== undefined) out.bearer = bearer;
  return out;
}
