import { TamtamError } from '../../protocol/errors.js';
import type { AtCommand } from './at-interpreter.js';
import type { ModemContext } from './hayes-commands.js';
import { modemIdentity, type ModemIdentity, type ModemModel } from './modem-identity.js';

export type DialFailure = 'NO CARRIER' | 'BUSY' | 'NO ANSWER' | 'NO DIALTONE';

export interface ModemSimulatorOptions {
  /** Where a dialled number's call is delivered over TCP (as Iridium RUDICS delivers to a server); undefined: NO CARRIER. */
  target: (number: string) => { host: string; port: number } | undefined;
  /** What the identity commands answer and how +CSQ reads. Default 'iridium'. */
  model?: ModemModel;
  /** 15 digits, answered to AT+CGSN. */
  imei?: string;
  /** Iridium: bars 0..5 (default 5); thuraya/hayes: RSSI 0..31 or 99 unknown (default 25). 0 or 99: dials fail. */
  signal?: number;
  /** +CREG status: 0 not registered, 1 home, 2 searching, 3 denied, 5 roaming. Default 1; dials fail unless 1 or 5. */
  registration?: 0 | 1 | 2 | 3 | 5;
  /** Link rates, kbps. Default 2.4 each (Iridium circuit-switched data). */
  upKbps?: number;
  downKbps?: number;
  /** Round-trip time; each direction gets half. Default 1500. */
  rttMs?: number;
  /** From ATD to the result code. Default rttMs. */
  connectDelayMs?: number;
  /** Drop every call after this long connected. */
  dropEverySeconds?: number;
  /** Bit error rate on data-mode bytes, both ways. Default 0. */
  ber?: number;
  /** Source of randomness for bit errors; inject a seeded one for reproducible tests. */
  random?: () => number;
  /** Escape guard time (S12). Default 1000 ms (S12=50). */
  guardTimeMs?: number;
  /** A dead modem: reads everything, answers nothing. */
  silent?: boolean;
  /** Every dial fails this way. */
  failDial?: DialFailure;
  /** The rate the simulator opens its side at. Default 19200. */
  baudRate?: number;
  /** More commands (Iridium SBD, say), tried before the built-in ones so they may also replace them. */
  extraCommands?: readonly AtCommand<ModemContext>[];
}

export interface ResolvedModemOptions {
  target: ModemSimulatorOptions['target'];
  identity: ModemIdentity;
  imei: string;
  signal: number;
  registration: number;
  upKbps: number;
  downKbps: number;
  rttMs: number;
  connectDelayMs: number;
  dropEverySeconds: number | undefined;
  ber: number;
  random: () => number;
  guardTimeMs: number;
  silent: boolean;
  failDial: DialFailure | undefined;
  baudRate: number;
  extraCommands: readonly AtCommand<ModemContext>[];
}

const DIAL_FAILURES: readonly DialFailure[] = ['NO CARRIER', 'BUSY', 'NO ANSWER', 'NO DIALTONE'];

function bad(what: string): TamtamError {
  return new TamtamError('E_CONFIG', `modem simulator: ${what}`);
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) throw bad(`${name} must be a positive number, got ${value}`);
  return v;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < 0) throw bad(`${name} must be zero or more, got ${value}`);
  return v;
}

/** Checks a signal value against what the model can report. */
export function checkSignal(identity: ModemIdentity, signal: number): number {
  const { min, max, unknown } = identity.signalRange;
  if (!Number.isInteger(signal) || ((signal < min || signal > max) && signal !== unknown)) {
    throw bad(`signal ${signal} is out of range for this model: use ${min}..${max}${unknown === undefined ? '' : ` or ${unknown}`}`);
  }
  return signal;
}

export function resolveModemOptions(options: ModemSimulatorOptions): ResolvedModemOptions {
  if (typeof options.target !== 'function') throw bad('target(number) is required: it tells where a dialled call is delivered');
  const model = options.model ?? 'iridium';
  if (!['iridium', 'thuraya', 'hayes'].includes(model)) throw bad(`unknown model ${String(model)}: use iridium, thuraya or hayes`);
  const identity = modemIdentity(model);
  const imei = options.imei ?? '300534061234560';
  if (!/^\d{15}$/.test(imei)) throw bad(`imei must be 15 digits, got ${imei}`);
  const registration = options.registration ?? 1;
  if (![0, 1, 2, 3, 5].includes(registration)) throw bad(`registration must be 0, 1, 2, 3 or 5, got ${registration}`);
  const ber = nonNegative('ber', options.ber, 0);
  if (ber > 1) throw bad(`ber is a probability (0..1), got ${ber}`);
  if (options.failDial !== undefined && !DIAL_FAILURES.includes(options.failDial)) throw bad(`failDial must be one of ${DIAL_FAILURES.join(', ')}`);
  const rttMs = nonNegative('rttMs', options.rttMs, 1500);
  return {
    target: options.target,
    identity,
    imei,
    signal: checkSignal(identity, options.signal ?? identity.defaultSignal),
    registration,
    upKbps: positive('upKbps', options.upKbps, 2.4),
    downKbps: positive('downKbps', options.downKbps, 2.4),
    rttMs,
    connectDelayMs: nonNegative('connectDelayMs', options.connectDelayMs, rttMs),
    dropEverySeconds: options.dropEverySeconds === undefined ? undefined : positive('dropEverySeconds', options.dropEverySeconds, 0),
    ber,
    random: options.random ?? Math.random,
    guardTimeMs: nonNegative('guardTimeMs', options.guardTimeMs, 1000),
    silent: options.silent ?? false,
    failDial: options.failDial,
    baudRate: positive('baudRate', options.baudRate, 19200),
    extraCommands: options.extraCommands ?? [],
  };
}
