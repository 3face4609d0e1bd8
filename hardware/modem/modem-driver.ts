import { TamtamError } from '../../protocol/errors.js';

/**
 * A modem dialect: what to send to a given kind of terminal and how to read
 * its answers. Pure data and parsers, like a kysely dialect: the Modem wrapper
 * does the talking, the once-only init, the retries and the locking.
 */
export interface ModemDriver {
  readonly name: ModemDriverName;
  readonly label: string;
  /** What the call carries after CONNECT: chunk frames as they are, or PPP for pppd. */
  readonly dataMode: 'raw' | 'ppp';
  /** Dialled when the config gives no number. */
  readonly defaultNumber?: string;
  /** Run after the common ATE0/V1/Q0/&K: bearer, PDP context... */
  initCommands(settings: DriverSettings): string[];
  dialCommand(number: string): string;
  readonly signalCommand: string;
  /** AT+CSQ on Iridium waits for a satellite: seconds, not milliseconds. */
  readonly signalTimeoutMs: number;
  parseSignal(lines: string[]): SignalReading;
  readonly registrationCommand: string;
  parseRegistration(lines: string[]): Registration;
}

export type ModemDriverName = 'hayes' | 'iridium-csd' | 'thuraya-gmprs';

export interface DriverSettings {
  apn?: string;
  /** AT+CBST parameters overriding the driver's, e.g. '6,0,1'. */
  bearer?: string;
}

export type SignalWord = 'unknown' | 'none' | 'weak' | 'fair' | 'good' | 'excellent';

export interface SignalReading {
  /** 0..5, as a terminal's display shows them. */
  bars: number;
  percent: number;
  word: SignalWord;
  /** GSM-style modems only (rssi 0..31 → -113..-51 dBm). */
  dbm?: number;
  raw: string;
}

export type RegistrationState = 'home' | 'roaming' | 'searching' | 'denied' | 'not-registered' | 'unknown';

export interface Registration {
  state: RegistrationState;
  registered: boolean;
  /** The 3GPP <stat> number. */
  stat: number;
  raw: string;
}

export interface ModemIdentity {
  manufacturer?: string;
  model?: string;
  revision?: string;
  imei?: string;
}

const WORDS: SignalWord[] = ['none', 'weak', 'fair', 'good', 'good', 'excellent'];

function reading(bars: number, raw: string, dbm?: number): SignalReading {
  return { bars, percent: bars * 20, word: WORDS[bars], raw, ...(dbm === undefined ? {} : { dbm }) };
}

/**
 * Reads `+CSQ:<n>` (Iridium, 0..5 bars) or `+CSQ: <rssi>,<ber>` (GSM 07.07,
 * rssi 0..31, 99 unknown). The number of fields tells which, so a driver that
 * met an unexpected modem still reads it right.
 */
export function parseCsq(lines: string[]): SignalReading {
  const line = lines.find((l) => /^\+CSQF?:/i.test(l));
  const m = line ? /^\+CSQF?:\s*(\d+)(?:\s*,\s*(\d+))?/i.exec(line) : null;
  if (!line || !m) throw new TamtamError('E_MODEM_ERROR', `unexpected answer to AT+CSQ: ${lines.join(' | ') || '(nothing)'}`, { details: { lines } });
  const value = Number(m[1]);
  if (m[2] === undefined) return reading(Math.max(0, Math.min(5, value)), line);
  if (value === 99 || value > 31) return { bars: 0, percent: 0, word: 'unknown', raw: line };
  const bars = value === 0 ? 0 : value < 10 ? 1 : value < 15 ? 2 : value < 20 ? 3 : value < 25 ? 4 : 5;
  return reading(bars, line, -113 + 2 * value);
}

const STATES: RegistrationState[] = ['not-registered', 'home', 'searching', 'denied', 'unknown', 'roaming'];

/**
 * Reads `+CREG: <n>,<stat>[,<lac>,<ci>]` (the answer to AT+CREG?) or the
 * unsolicited `+CREG: <stat>[,"lac","ci"]`: a second unquoted number means
 * the first one is the report mode.
 */
export function parseCreg(lines: string[]): Registration {
  const line = lines.find((l) => /^\+C(?:G)?REG:/i.test(l));
  const fields = line?.replace(/^\+C(?:G)?REG:\s*/i, '').split(',').map((f) => f.trim()) ?? [];
  const statText = fields.length >= 2 && /^\d+$/.test(fields[1]) ? fields[1] : fields[0];
  if (!line || statText === undefined || !/^\d+$/.test(statText)) {
    throw new TamtamError('E_MODEM_ERROR', `unexpected answer to AT+CREG?: ${lines.join(' | ') || '(nothing)'}`, { details: { lines } });
  }
  const stat = Number(statText);
  const state = STATES[stat] ?? 'unknown';
  return { state, registered: state === 'home' || state === 'roaming', stat, raw: line };
}

/** `+CGMI: "Iridium"` and `Iridium` alike; multi-line answers (Iridium's +CGMR) joined. */
export function identityValue(lines: string[]): string | undefined {
  const parts = lines.map((l) => l.replace(/^\+\w+:\s*/, '').replace(/^"(.*)"$/, '$1').trim()).filter(Boolean);
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/** The common part of every driver: 07.07 signal and registration. */
export const GSM_0707 = {
  signalCommand: 'AT+CSQ',
  signalTimeoutMs: 10_000,
  parseSignal: parseCsq,
  registrationCommand: 'AT+CREG?',
  parseRegistration: parseCreg,
} as const;

/** A dial string keeps only what ATD understands; anything else is a typo in the config. */
export function checkDialNumber(number: string): string {
  const trimmed = number.trim();
  if (!/^[0-9*#+,WPTwpt]+$/.test(trimmed)) {
    throw new TamtamError('E_CONFIG', `'${number}' is not a number a modem can dial (digits, +, *, #, comma for a pause)`);
  }
  return trimmed;
}

/**
 * Turns a dial's result code into what it most likely means at a remote
 * centre, using the signal read just after: NO CARRIER with no signal is the
 * antenna, with a good one it is the number or the far end.
 */
export function explainDialFailure(e: TamtamError, number: string, signal: SignalReading | undefined): TamtamError {
  const result = String(e.details?.result ?? 'NO CARRIER').toUpperCase();
  const noSignal = signal !== undefined && signal.word === 'none';
  const signalText = signal === undefined ? '' : ` (signal: ${signal.bars}/5 bars, ${signal.word})`;
  const sky = 'the modem has no signal: the antenna needs a clear view of the sky, away from walls and trees; check the antenna cable';
  let meaning: string;
  switch (result) {
    case 'BUSY':
      meaning = `${number} is busy: the hub's line or gateway is taken by another call; the call will be tried again`;
      break;
    case 'NO ANSWER':
      meaning = noSignal ? sky : `nobody answered ${number}: is the number right, and is the hub's modem or gateway up?`;
      break;
    case 'NO DIALTONE':
      meaning = noSignal ? sky : 'the modem has no network to dial on: check the signal, and that the SIM is registered (activated, credit)';
      break;
    default:
      meaning = noSignal ? sky : `the call to ${number} did not connect: a wrong number, a data service not activated on the SIM, or the link faded during set-up`;
  }
  return new TamtamError('E_DIAL_FAILED', `dialling ${number} failed with ${result}${signalText}: ${meaning}`, {
    cause: e, retryable: true, details: { ...e.details, number, ...(signal ? { signal } : {}) },
  });
}
