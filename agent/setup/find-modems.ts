import { readdirSync } from 'node:fs';
import type { ModemDriverName, ModemIdentity } from '../../hardware/modem/modem-driver.js';
import type { ProbeReport } from '../../hardware/modem/modem-probe.js';

/** The link a modem makes possible, from what it says it is. */
export interface ModemKind {
  link: 'sbd' | 'modem' | 'ppp';
  /** For a data call (modem, ppp). */
  driver?: ModemDriverName;
  what: string;
}

/** A serial port where a modem answered. */
export interface FoundModem extends ModemKind {
  port: string;
  baudRate: number;
  report: ProbeReport;
}

/**
 * Iridium's 9602/9603 SBD transceivers call themselves "IRIDIUM 9600 Family
 * SBD Transceiver"; its handsets and data modules (9522B, 9555, 9575) "IRIDIUM
 * 9500 Family"; Thuraya terminals name Thuraya. Anything else answering AT is
 * taken for a Hayes data modem.
 */
export function classifyModem(identity: ModemIdentity | undefined): ModemKind {
  const text = `${identity?.manufacturer ?? ''} ${identity?.model ?? ''}`;
  if (/\bSBD\b|960[23]|9600 Family/i.test(text)) return { link: 'sbd', what: 'Iridium SBD transceiver (9602/9603)' };
  if (/iridium/i.test(text)) return { link: 'modem', driver: 'iridium-csd', what: 'Iridium data modem (circuit-switched call)' };
  if (/thuraya/i.test(text)) return { link: 'ppp', driver: 'thuraya-gmprs', what: 'Thuraya terminal (GmPRS)' };
  return { link: 'modem', driver: 'hayes', what: 'data modem (Hayes AT commands)' };
}

/**
 * Ports worth probing: serialport's list (it needs udevadm), else the usual
 * device names under /dev, plus `extra` (a port the list misses, a pty).
 */
export async function listSerialPaths(extra: string[] = []): Promise<string[]> {
  let listed: string[] = [];
  try {
    const { SerialPort } = await import('serialport');
    listed = (await SerialPort.list()).map((p) => p.path);
  } catch {
    // no udevadm: /dev below
  }
  if (listed.length === 0) {
    try {
      listed = readdirSync('/dev').filter((n) => /^tty(USB|ACM|S\d|AMA|XRUSB|mxc)/.test(n)).map((n) => `/dev/${n}`);
    } catch {
      listed = [];
    }
  }
  const sorted = listed.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return [...new Set([...extra, ...sorted])];
}

export interface FindModemOptions {
  /** How long to wait for OK at each baud rate; short, since most ports hold no modem. */
  answerTimeoutMs?: number;
  baudRates?: number[];
  signal?: AbortSignal;
}

export interface ModemSearch {
  modems: FoundModem[];
  /** Ports another program holds (an agent already running, ModemManager): a modem may be there, unseen. */
  busy: { port: string; text: string }[];
}

/** Probes every port at once (a silent port costs only its timeouts); modems in the order of the ports given. */
export async function findModems(ports: string[], o: FindModemOptions = {}): Promise<ModemSearch> {
  const { probeModem } = await import('../../hardware/modem/modem-probe.js');
  const [first, ...fallback] = o.baudRates ?? [19_200, 9_600, 115_200];
  const reports = await Promise.all(ports.map((port) =>
    probeModem(port, { baudRate: first, fallbackBaudRates: fallback, answerTimeoutMs: o.answerTimeoutMs ?? 700, commandTimeoutMs: 5000, signal: o.signal }).catch(() => undefined)));
  const out: ModemSearch = { modems: [], busy: [] };
  reports.forEach((report, i) => {
    if (!report) return;
    const busy = report.checks.find((c) => c.code === 'E_PORT_BUSY');
    if (busy) out.busy.push({ port: ports[i]!, text: busy.text });
    if (report.baudRate !== undefined) out.modems.push({ port: ports[i]!, baudRate: report.baudRate, report, ...classifyModem(report.identity) });
  });
  return out;
}

/** "Iridium IRIDIUM 9600 Family SBD Transceiver on /dev/ttyUSB0 (IMEI 300234010753370, signal 4/5)". */
export function describeModem(m: FoundModem): string {
  const id = m.report.identity;
  const name = [id?.manufacturer, id?.model].filter(Boolean).join(' ') || m.what;
  const facts = [id?.imei ? `IMEI ${id.imei}` : '', m.report.signal ? `signal ${m.report.signal.bars}/5` : ''].filter(Boolean).join(', ');
  return `${name} on ${m.port}${facts ? ` (${facts})` : ''}`;
}
