import type { ProbeReport } from '../../hardware/modem/modem-probe.js';
import { TamtamError } from '../../protocol/errors.js';
import { MODEM_DRIVERS, type LinkConfigInput, type ModemDriverName } from '../link/link-config.js';
import { classifyModem, describeModem, findModems, listSerialPaths, type FoundModem } from './find-modems.js';
import type { Prompter } from './prompter.js';
import { checkBrokerUrl, withoutPassword, type ExistingConfig, type SetupOptions } from './setup-options.js';

export interface ChosenLink {
  link: LinkConfigInput;
  label: string;
  /** The modem probed for this link, when it goes through one. */
  modem?: FoundModem;
}

const MARK = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;

/** What a link does, in a phrase: "MQTT to mqtt://...", "a data call (driver iridium-csd) through the modem on /dev/ttyUSB0". */
export function linkLabel(l: LinkConfigInput): string {
  switch (l.kind) {
    case 'mqtt':
      return `MQTT to ${withoutPassword(l.url)}`;
    case 'ppp':
      return `MQTT to ${withoutPassword(l.url)} over a ${l.modem.driver ?? 'iridium-csd'} call (PPP) through the modem on ${l.modem.port}`;
    case 'modem':
      return `a data call (driver ${l.modem.driver ?? 'iridium-csd'}) through the modem on ${l.modem.port}`;
    case 'sbd':
      return `Iridium SBD through the transceiver on ${l.port}`;
    case 'tcp':
      return `the hub's stream endpoint at ${l.host}:${l.port} over TCP`;
  }
}

const chosen = (link: LinkConfigInput, modem?: FoundModem): ChosenLink => ({ link, label: linkLabel(link), ...(modem ? { modem } : {}) });

/** The probe's findings, each with what to do; the set-up stops on a failure, since no test could pass. */
function reportProbe(report: ProbeReport, p: Prompter): void {
  for (const c of report.checks) {
    p.say(`  ${MARK[c.status]}  ${c.name.padEnd(12)} ${c.text}`);
    if (c.advice) p.say(`        ${''.padEnd(12)} -> ${c.advice}`);
  }
  const failed = report.checks.find((c) => c.status === 'fail');
  if (failed) throw new TamtamError(failed.code ?? 'E_IO', `the modem on ${report.port} is not ready: ${failed.text}${failed.advice ? `; ${failed.advice}` : ''}`, { details: { report } });
}

async function probePort(port: string, p: Prompter): Promise<FoundModem> {
  p.say(`Probing the modem on ${port}...`);
  const { probeModem } = await import('../../hardware/modem/modem-probe.js');
  const report = await probeModem(port);
  reportProbe(report, p);
  return { port, baudRate: report.baudRate!, report, ...classifyModem(report.identity) };
}

function driverOption(o: SetupOptions): ModemDriverName | undefined {
  if (o.driver === undefined) return undefined;
  if (!MODEM_DRIVERS.includes(o.driver as ModemDriverName)) throw new TamtamError('E_USAGE', `--driver takes one of ${MODEM_DRIVERS.join(', ')}, not '${o.driver}'`);
  return o.driver as ModemDriverName;
}

async function brokerUrl(o: SetupOptions, existing: ExistingConfig | undefined, p: Prompter): Promise<string> {
  if (o.broker) {
    const problem = checkBrokerUrl(o.broker);
    if (problem) throw new TamtamError('E_USAGE', `--broker ${o.broker}: ${problem}`);
    return o.broker;
  }
  const before = existing?.config.link;
  const fallback = before && (before.kind === 'mqtt' || before.kind === 'ppp') ? before.url : undefined;
  return p.ask({ text: "The hub's MQTT broker, as the hub operator gave it", example: 'mqtt://hub.example.org:1883', option: 'broker', validate: checkBrokerUrl, ...(fallback ? { default: fallback } : {}) });
}

/** The broker user: from the options, else the config's. */
function credentials(o: SetupOptions, existing: ExistingConfig | undefined): { username?: string; password?: string } {
  const before = existing?.config.link;
  const was = before && (before.kind === 'mqtt' || before.kind === 'ppp') ? before : undefined;
  const username = o.username ?? was?.username;
  const password = o.password ?? was?.password;
  return { ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

/** The config for a modem found or named: its kind decides the link, the answers only what the modem cannot tell. */
async function modemLink(m: FoundModem, o: SetupOptions, existing: ExistingConfig | undefined, p: Prompter): Promise<ChosenLink> {
  const profile = o.profile ? { profile: o.profile } : {};
  const rate = m.baudRate && m.baudRate !== 19_200 ? { baudRate: m.baudRate } : {};
  if (m.link === 'sbd') {
    if (o.modem) throw new TamtamError('E_USAGE', `the modem on ${m.port} is an Iridium SBD transceiver, which cannot make data calls: give it as --sbd ${m.port}`);
    return chosen({ kind: 'sbd', port: m.port, ...rate, ...profile }, m);
  }
  const driver = driverOption(o) ?? m.driver ?? 'iridium-csd';
  if (driver === 'thuraya-gmprs' || o.ppp) {
    const apn = o.apn ?? (driver === 'thuraya-gmprs'
      ? await p.ask({ text: "The access point name (APN) of the terminal's data service, from the service provider", example: 'get', option: 'apn' })
      : undefined);
    const url = await brokerUrl(o, existing, p);
    const modem = { port: m.port, driver, ...rate, ...(apn ? { apn } : {}), ...(o.number ? { number: o.number } : {}) };
    return chosen({ kind: 'ppp', modem, url, ...credentials(o, existing), ...profile }, m);
  }
  const number = o.number ?? (driver === 'hayes'
    ? await p.ask({ text: "The number this modem dials to reach the hub, from the hub operator", example: '0088160000500', option: 'number', validate: (a) => (/^[0-9*#+,]+$/.test(a) ? undefined : 'digits, and * # + , only') })
    : undefined);
  const modem = { port: m.port, driver, ...rate, ...(number ? { number } : {}) };
  return chosen({ kind: 'modem', modem, ...profile }, m);
}

async function mqttLink(o: SetupOptions, existing: ExistingConfig | undefined, p: Prompter): Promise<ChosenLink> {
  const url = await brokerUrl(o, existing, p);
  const before = existing?.input.link;
  const profile = o.profile ?? (before?.kind === 'mqtt' ? before.profile : undefined);
  return chosen({ kind: 'mqtt', url, ...credentials(o, existing), ...(profile ? { profile } : {}) });
}

/**
 * The link: the one the options name, else the config's, else what was
 * found: a modem that answers on a serial port is proposed first (a centre
 * with a satellite terminal has no other way out), MQTT otherwise.
 */
export async function chooseLink(o: SetupOptions, existing: ExistingConfig | undefined, p: Prompter): Promise<ChosenLink> {
  if (o.modem) return modemLink(await probePort(o.modem, p), o, existing, p);
  if (o.sbd) {
    const m = await probePort(o.sbd, p);
    return chosen({ kind: 'sbd', port: o.sbd, ...(m.baudRate !== 19_200 ? { baudRate: m.baudRate } : {}), ...(o.profile ? { profile: o.profile } : {}) }, m);
  }
  if (o.streamHost) {
    const port = Number(o.streamPort);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TamtamError('E_USAGE', `missing or bad --stream-port (the hub's stream endpoint port, e.g. 7800), got ${o.streamPort ?? 'nothing'}`);
    return chosen({ kind: 'tcp', host: o.streamHost, port, ...(o.profile ? { profile: o.profile } : {}) });
  }
  // --broker changes an MQTT config's broker; beside a modem link it is the broker to enrol through.
  if (existing && !(o.broker && existing.input.link.kind === 'mqtt')) {
    const l = existing.input.link;
    const port = 'modem' in l ? l.modem.port : 'port' in l && l.kind === 'sbd' ? l.port : undefined;
    return chosen(l, port === undefined ? undefined : await probePort(port, p));
  }
  if (o.broker) return mqttLink(o, existing, p);
  const ports = o.scan ? await listSerialPaths(o.probe) : [...new Set(o.probe)];
  if (ports.length > 0) p.say(`Looking for a modem on ${ports.length === 1 ? ports[0] : `${ports.length} serial ports`} (a few seconds)...`);
  const search = ports.length > 0 ? await findModems(ports) : { modems: [], busy: [] };
  for (const b of search.busy) p.say(`  ${b.port}: ${b.text}`);
  if (search.modems.length === 0) {
    p.say(`${ports.length === 0 ? 'No serial port to look for a modem on' : 'No modem answered'}: the link is MQTT, over the Internet or a satellite IP terminal.`);
    return mqttLink(o, existing, p);
  }
  const choices = [
    ...search.modems.map((m) => ({ label: `${m.what}: ${describeModem(m)}`, value: m as FoundModem | undefined })),
    { label: 'MQTT over the Internet or a satellite IP terminal (no modem)', value: undefined },
  ];
  const picked = await p.choose({ text: 'How does this centre reach the hub?', choices, option: 'modem' });
  if (!picked) return mqttLink(o, existing, p);
  p.say(`The modem on ${picked.port}, at ${picked.baudRate} bit/s:`);
  reportProbe(picked.report, p);
  return modemLink(picked, o, existing, p);
}
