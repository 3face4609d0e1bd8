import type { SerialPort } from 'serialport';
import { isTamtamError, type ErrorCode } from '../../protocol/errors.js';
import { AtEngine, type AtEngineOptions } from '../at/at-engine.js';
import { closeSerialPort, openSerialPort } from '../at/serial-port-open.js';
import { createModemDriver, guessModemDriver } from './drivers/create-modem-driver.js';
import { Modem } from './modem.js';
import type { ModemDriver, ModemDriverName, ModemIdentity, Registration, SignalReading } from './modem-driver.js';

export interface ProbeOptions {
  /** Tried first; default 19200. */
  baudRate?: number;
  /** Default: guessed from the manufacturer and model the modem reports. */
  driver?: ModemDriverName;
  /** Tried in this order when the modem is silent at baudRate. */
  fallbackBaudRates?: number[];
  /** How long to wait for OK to AT at each rate. */
  answerTimeoutMs?: number;
  commandTimeoutMs?: number;
  signal?: AbortSignal;
  trace?: AtEngineOptions['trace'];
}

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface ProbeCheck {
  name: 'port' | 'answer' | 'identity' | 'signal' | 'registration';
  status: CheckStatus;
  /** What was found, in a sentence. */
  text: string;
  /** What to do about it, when something is to be done. */
  advice?: string;
  code?: ErrorCode;
}

export interface ProbeReport {
  ok: boolean;
  port: string;
  baudRate?: number;
  driver?: ModemDriverName;
  identity?: ModemIdentity;
  signal?: SignalReading;
  registration?: Registration;
  checks: ProbeCheck[];
}

export const COMMON_BAUD_RATES = [19_200, 9_600, 115_200, 38_400, 57_600, 4_800];

const SKY = 'put the antenna outside with a clear view of the sky (no roof, walls or trees above it) and check its cable and connectors';

/**
 * Everything a technician at a centre with no Internet needs to know about a
 * modem, each finding with what to do about it. Never throws for a modem
 * problem: a failure is a check in the report.
 */
export async function probeModem(path: string, options: ProbeOptions = {}): Promise<ProbeReport> {
  const checks: ProbeCheck[] = [];
  const report: ProbeReport = { ok: false, port: path, checks };
  const first = options.baudRate ?? 19_200;
  let port: SerialPort;
  try {
    port = await openSerialPort({ path, baudRate: first });
  } catch (e) {
    checks.push(portFailure(e));
    return report;
  }
  checks.push({ name: 'port', status: 'ok', text: `opened ${path}` });
  const rates = [first, ...(options.fallbackBaudRates ?? COMMON_BAUD_RATES).filter((r) => r !== first)];
  const baudRate = await findBaudRate(port, rates, options);
  if (baudRate === undefined) {
    await closeSerialPort(port);
    checks.push({
      name: 'answer', status: 'fail', code: 'E_MODEM_SILENT',
      text: `the modem on ${path} does not answer AT at ${rates.join(', ')} bit/s`,
      advice: "check that the terminal is switched on (display or LED lit), that the serial cable is plugged in at both ends and is the right kind (a USB adapter: is this its /dev/ttyUSB port?), and the terminal's baud rate",
    });
    return report;
  }
  report.baudRate = baudRate;
  checks.push(baudRate === first
    ? { name: 'answer', status: 'ok', text: `the modem answers at ${baudRate} bit/s` }
    : { name: 'answer', status: 'warn', text: `the modem answers at ${baudRate} bit/s, not at ${first}`, advice: `set the link's baudRate to ${baudRate} in the agent config` });

  // The probe only asks: it never changes the bearer or the PDP context, so it runs no driver init.
  const modem = Modem.over(port, {
    port: path, driver: { ...createModemDriver('hayes'), initCommands: () => [] }, initAttempts: 1, commandTimeoutMs: options.commandTimeoutMs, trace: options.trace,
  });
  try {
    const identity = await modem.identify(options.signal).catch(() => undefined);
    const driverName = options.driver ?? guessModemDriver(identity ?? {});
    const driver = createModemDriver(driverName);
    report.driver = driverName;
    checks.push(identityCheck(identity, driver, options.driver));
    if (identity) report.identity = identity;
    const signal = await ask(modem, driver.signalCommand, driver.signalTimeoutMs, options).then((lines) => driver.parseSignal(lines)).catch((e: unknown) => e as Error);
    if (!(signal instanceof Error)) report.signal = signal;
    checks.push(signalCheck(signal));
    const registration = await ask(modem, driver.registrationCommand, undefined, options).then((lines) => driver.parseRegistration(lines)).catch((e: unknown) => e as Error);
    if (!(registration instanceof Error)) report.registration = registration;
    checks.push(registrationCheck(registration, signal instanceof Error ? undefined : signal));
  } finally {
    await modem.close();
  }
  report.ok = checks.every((c) => c.status !== 'fail');
  return report;
}

async function ask(modem: Modem, command: string, timeoutMs: number | undefined, options: ProbeOptions): Promise<string[]> {
  const answer = await modem.engine.command(command, { timeoutMs, signal: options.signal });
  return answer.lines;
}

async function findBaudRate(port: SerialPort, rates: number[], options: ProbeOptions): Promise<number | undefined> {
  const engine = new AtEngine(port, { commandTimeoutMs: options.answerTimeoutMs ?? 1500, trace: options.trace });
  try {
    for (const rate of rates) {
      if (port.baudRate !== rate) await new Promise<void>((resolve, reject) => port.update({ baudRate: rate }, (e) => (e ? reject(e) : resolve())));
      try {
        await engine.command('AT', { signal: options.signal });
        return rate;
      } catch (e) {
        // ERROR is an answer too: junk left in the modem's buffer spoilt the line, but it is listening at this rate.
        if (isTamtamError(e, 'E_MODEM_ERROR')) return rate;
        if (isTamtamError(e, 'E_ABORTED') || isTamtamError(e, 'E_LINK_DOWN')) throw e;
      }
    }
    return undefined;
  } finally {
    engine.detach();
  }
}

function portFailure(e: unknown): ProbeCheck {
  const message = e instanceof Error ? e.message : String(e);
  if (isTamtamError(e, 'E_PORT_NOT_FOUND')) {
    return { name: 'port', status: 'fail', code: e.code, text: message, advice: "plug in the modem's cable or USB adapter, then run the probe on one of the ports listed" };
  }
  if (isTamtamError(e, 'E_PORT_BUSY')) {
    return { name: 'port', status: 'fail', code: e.code, text: message, advice: "stop the program that holds the port (if it is the tamtam agent, stop its service first), then probe again" };
  }
  return { name: 'port', status: 'fail', code: isTamtamError(e) ? e.code : 'E_IO', text: message };
}

function identityCheck(identity: ModemIdentity | undefined, driver: ModemDriver, configured: ModemDriverName | undefined): ProbeCheck {
  if (!identity || (!identity.model && !identity.manufacturer)) {
    return { name: 'identity', status: 'warn', text: 'the modem does not say what it is (AT+CGMI/AT+CGMM)', advice: `probed with the ${driver.label} driver; give --driver if that is not right` };
  }
  const what = [identity.manufacturer, identity.model].filter(Boolean).join(' ');
  // Iridium's +CGMR runs to six lines; the first, the call processor version, is the one support asks for.
  const extra = [identity.imei ? `IMEI ${identity.imei}` : '', identity.revision ? `revision ${identity.revision.split('; ')[0]}` : ''].filter(Boolean).join(', ');
  const text = `${what}${extra ? ` (${extra})` : ''}`;
  const guessed = guessModemDriver(identity);
  if (configured && guessed !== 'hayes' && guessed !== configured) {
    return { name: 'identity', status: 'warn', text, advice: `this looks like a modem for the ${guessed} driver, not ${configured}: check the link's driver in the agent config` };
  }
  return { name: 'identity', status: 'ok', text };
}

function signalCheck(signal: SignalReading | Error): ProbeCheck {
  if (signal instanceof Error) return { name: 'signal', status: 'warn', text: `the modem did not report its signal: ${signal.message}` };
  const text = `signal ${signal.bars}/5 bars (${signal.word}${signal.dbm === undefined ? '' : `, ${signal.dbm} dBm`})`;
  if (signal.word === 'unknown') return { name: 'signal', status: 'warn', text: 'signal unknown: the modem has not measured it yet (no network in sight?)', advice: SKY };
  if (signal.word === 'none') return { name: 'signal', status: 'fail', code: 'E_DIAL_FAILED', text: `no signal (${signal.raw})`, advice: SKY };
  if (signal.word === 'weak') return { name: 'signal', status: 'warn', text, advice: `calls may drop: ${SKY}` };
  return { name: 'signal', status: 'ok', text };
}

function registrationCheck(registration: Registration | Error, signal: SignalReading | undefined): ProbeCheck {
  if (registration instanceof Error) {
    const code = isTamtamError(registration) ? registration.details?.code : undefined;
    if (code === 10) return { name: 'registration', status: 'fail', code: 'E_MODEM_ERROR', text: 'no SIM card in the modem (+CME ERROR: 10)', advice: 'insert the SIM card (terminal switched off), then probe again' };
    return { name: 'registration', status: 'warn', text: `the modem did not report its registration: ${registration.message}` };
  }
  const noSignal = signal !== undefined && (signal.word === 'none' || signal.word === 'unknown');
  switch (registration.state) {
    case 'home':
      return { name: 'registration', status: 'ok', text: 'registered on the network' };
    case 'roaming':
      return { name: 'registration', status: 'ok', text: 'registered on the network (roaming)' };
    case 'searching':
      return { name: 'registration', status: 'warn', text: 'not registered yet: searching for the network', advice: noSignal ? SKY : 'wait a minute and probe again' };
    case 'denied':
      return { name: 'registration', status: 'fail', code: 'E_DIAL_FAILED', text: 'the network refused the SIM (registration denied)', advice: 'ask the service provider whether the SIM is activated and its account in order' };
    case 'not-registered':
      return { name: 'registration', status: 'fail', code: 'E_DIAL_FAILED', text: 'not registered on the network and not searching', advice: noSignal ? SKY : 'check the SIM: inserted, PIN disabled, activated by the service provider' };
    default:
      return { name: 'registration', status: 'warn', text: `registration state unknown (${registration.raw})` };
  }
}
