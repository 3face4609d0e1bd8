import { existsSync, statSync } from 'node:fs';
import { isTamtamError } from '../../protocol/errors.js';
import type { AgentConfig } from '../config.js';
import type { LinkConfig, ModemConfig, MqttLinkConfig, SbdLinkConfig, TcpLinkConfig } from '../link/link-config.js';
import type { LinkState, LinkUsage } from '../link/link.js';
import { codeOf, fail, messageOf, ok, warn, withDeadline, type DoctorCheck, type Finding } from './doctor-check.js';

/** The running agent's link, which the doctor must not touch: what it reports instead of testing it. */
export interface LinkSnapshot {
  kind: string;
  state: LinkState;
  mode: 'always' | 'session';
  usage: LinkUsage;
}

const TITLE = 'Link to the hub';
const SKY = 'put the antenna outside with a clear view of the sky (no roof, walls or trees above it) and check its cable and connectors';
const PORT_FIX = (port: string) => `plug in the modem's cable or USB adapter and switch the terminal on; if it is on another port, set that port in the agent config (it now says ${port})`;

const kb = (n: number) => (n >= 10_240 ? `${Math.round(n / 1024)} kB` : `${n} bytes`);

export function runningLinkCheck(s: LinkSnapshot): DoctorCheck {
  const carried = `${kb(s.usage.bytesUp)} up, ${kb(s.usage.bytesDown)} down in ${s.usage.sessions} session(s) since the agent started`;
  const detail = `${s.kind} link ${s.state} (in use by the running agent); ${carried}`;
  // A link that calls is down between calls by design; an always-on one that is not up is a problem.
  const healthy = s.state === 'up' || (s.mode === 'session' && s.state === 'down');
  return { id: 'link', title: TITLE, ...(healthy ? ok(detail) : warn(detail, 'the agent keeps trying to reconnect; check the Internet connection or the terminal', 'E_LINK_DOWN')) };
}

async function mqtt(centre: string, link: Pick<MqttLinkConfig, 'url' | 'username' | 'password' | 'keepaliveSeconds' | 'profile'>, timeoutMs: number, signal: AbortSignal): Promise<Finding> {
  const [{ MqttSession }, { agentClientId }] = await Promise.all([import('../../common/mqtt-session.js'), import('../../protocol/topics.js')]);
  const first = new AbortController();
  let error: Error | undefined;
  // The centre's own identity, as MqttLink connects: the broker's rules may tie accounts to client ids. Nothing is
  // subscribed and nothing acknowledged, so what the broker keeps for the agent stays there for it.
  const session = new MqttSession(
    { url: link.url, clientId: agentClientId(centre), username: link.username, password: link.password, keepaliveSec: link.keepaliveSeconds ?? link.profile.keepaliveSeconds,
      connectTimeoutMs: timeoutMs, openTimeoutMs: timeoutMs, subscriptions: [], backoff: { initialMs: 200, maxMs: 1000 } },
    { message: () => undefined, error: (e) => {
      error ??= e;
      first.abort();
    } },
  );
  const started = Date.now();
  try {
    await session.open(AbortSignal.any([signal, first.signal]));
    return ok(`connected to the MQTT broker ${link.url}${link.username ? ` as ${link.username}` : ''} in ${Date.now() - started} ms`);
  } catch (e) {
    const why = error ?? (e as Error);
    const refused = /refused the credentials/.test(why.message);
    return fail(why.message, refused
      ? 'check link.username and link.password in the agent config with the hub operator'
      : `check that this computer reaches the Internet (the satellite terminal is on and connected), and that link.url (${link.url}) is the hub's broker`, 'E_LINK_DOWN');
  } finally {
    await session.close();
  }
}

async function modem(m: ModemConfig, signal: AbortSignal): Promise<Finding> {
  const { probeModem } = await import('../../hardware/modem/modem-probe.js');
  const report = await probeModem(m.port, { baudRate: m.baudRate, driver: m.driver, signal, answerTimeoutMs: 1500 });
  const failed = report.checks.find((c) => c.status === 'fail');
  if (failed) {
    const fix = failed.code === 'E_PORT_NOT_FOUND' ? PORT_FIX(m.port) : failed.advice;
    return fail(`${m.port}: ${failed.text}`, fix, failed.code ?? 'E_MODEM_ERROR');
  }
  const found = report.checks.filter((c) => c.name !== 'port' && c.name !== 'answer').map((c) => c.text).join('; ');
  const warned = report.checks.filter((c) => c.status === 'warn');
  const detail = `${m.port} at ${report.baudRate} bit/s: ${found}`;
  if (warned.length) return warn(detail, warned.map((c) => c.advice).filter(Boolean).join('; ') || undefined);
  return ok(detail);
}

async function sbd(link: SbdLinkConfig, timeoutMs: number, signal: AbortSignal): Promise<Finding> {
  const { SbdModem } = await import('../../hardware/sbd/sbd-modem.js');
  let transceiver;
  try {
    transceiver = await SbdModem.open({ port: link.port, baudRate: link.baudRate, initAttempts: 1, commandTimeoutMs: 3000, signalTimeoutMs: timeoutMs });
  } catch (e) {
    return fail(messageOf(e), isTamtamError(e, 'E_PORT_NOT_FOUND') ? PORT_FIX(link.port) : isTamtamError(e, 'E_PORT_BUSY') ? 'stop the program that holds the port, then run the doctor again' : undefined, codeOf(e));
  }
  try {
    try {
      await transceiver.init(signal);
    } catch (e) {
      return fail(`the SBD transceiver on ${link.port} does not answer: ${messageOf(e)}`, `check that the 9602/9603 board is powered, its serial cable plugged in, and its baud rate ${link.baudRate}`, codeOf(e));
    }
    const imei = await transceiver.imei(signal).catch(() => undefined);
    const reading = await transceiver.signal(signal);
    const what = `Iridium SBD transceiver on ${link.port}${imei ? ` (IMEI ${imei})` : ''}: signal ${reading.bars}/5 bars`;
    if (reading.bars === 0) return fail(`${what}: no satellite in view, nothing can be sent`, SKY, 'E_DIAL_FAILED');
    if (reading.bars <= 1) return warn(`${what} (weak): messages may fail and be retried, which costs`, SKY);
    return ok(what);
  } finally {
    await transceiver.close().catch(() => undefined);
  }
}

async function tcp(link: TcpLinkConfig, timeoutMs: number, signal: AbortSignal): Promise<Finding> {
  const { TcpDialer } = await import('../link/tcp-dialer.js');
  const started = Date.now();
  try {
    const stream = await new TcpDialer({ host: link.host, port: link.port, connectTimeoutMs: timeoutMs }).dial(signal);
    await stream.close();
  } catch (e) {
    return fail(messageOf(e), `check that this computer reaches the network, and that link.host and link.port (${link.host}:${link.port}) are the hub's stream endpoint`, codeOf(e));
  }
  return ok(`the hub's stream endpoint ${link.host}:${link.port} accepts connections (${Date.now() - started} ms)`);
}

function probe(centre: string, link: LinkConfig, timeoutMs: number, signal: AbortSignal): Promise<Finding> {
  switch (link.kind) {
    case 'mqtt':
      return mqtt(centre, link, timeoutMs, signal);
    case 'ppp':
      // The broker is only reachable once pppd is up: the doctor checks the modem, the call is tested by a sync.
      return modem(link.modem, signal).then((f) => (f.status === 'fail' ? f : { ...f, detail: `${f.detail}; MQTT over PPP is not dialled by the doctor (a call costs): 'tamtam agent sync --once' tests it` }));
    case 'modem':
      return modem(link.modem, signal);
    case 'sbd':
      return sbd(link, timeoutMs, signal);
    case 'tcp':
      return tcp(link, timeoutMs, signal);
  }
}

/** Tests the configured link for real, once, with a deadline. */
export function linkCheck(config: AgentConfig, timeoutMs: number): Promise<DoctorCheck> {
  return withDeadline('link', TITLE, timeoutMs + 5000, (signal) => probe(config.centre, config.link, timeoutMs, signal), {
    detail: `the ${config.link.kind} link did not come up`,
    fix: config.link.kind === 'mqtt' || config.link.kind === 'tcp' ? 'check the network connection of this computer' : 'check that the terminal is on and its cable plugged in',
  });
}

export function skippedLinkCheck(config: AgentConfig, why: string, fix?: string): DoctorCheck {
  return { id: 'link', title: TITLE, ...warn(`the ${config.link.kind} link was not tested: ${why}`, fix) };
}

/** USB stick exchange: the folders sticks are mounted under must exist, or no stick is ever seen. */
export function usbCheck(config: AgentConfig): DoctorCheck | undefined {
  if (!config.t2d) return undefined;
  const missing = config.t2d.roots.filter((r) => !existsSync(r) || !statSync(r).isDirectory());
  const title = 'USB stick folders';
  if (missing.length === config.t2d.roots.length) {
    return { id: 'usb', title, ...fail(`none of the folders sticks are mounted under exists: ${missing.join(', ')}`, 'set t2d.roots in the agent config to where this computer mounts USB sticks (insert one and look: /media/<user>, /run/media/<user>)', 'E_CONFIG') };
  }
  if (missing.length) return { id: 'usb', title, ...warn(`${missing.join(', ')} do(es) not exist; sticks are watched under ${config.t2d.roots.filter((r) => !missing.includes(r)).join(', ')}`, 'remove the folders that do not exist from t2d.roots in the agent config') };
  return { id: 'usb', title, ...ok(`sticks are watched under ${config.t2d.roots.join(', ')}`) };
}
