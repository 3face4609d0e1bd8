import type { AtCommand, AtIo, AtSettings } from './at-interpreter.js';
import type { ModemIdentity } from './modem-identity.js';

/** What the command table needs from the modem it runs in. */
export interface ModemContext {
  readonly identity: ModemIdentity;
  readonly imei: string;
  signal(): number;
  registration(): number;
  /** +CREG=<n>: unsolicited registration report mode (stored, reports are not sent). */
  cregMode: number;
  /** +CBST=<speed>,<name>,<ce>. */
  bearer: [number, number, number];
  /** +CGDCONT contexts by cid. */
  pdpContexts: Map<number, { type: string; apn: string }>;
  /** &K, &D, &C, ... by letter. &D decides what the DTE closing its port does to a call. */
  ampersand: Map<string, number>;
  /** Whether a call is connected (in data mode or held in online command mode). */
  inCall(): boolean;
  /** Places a call; resolves with the result code, 'CONNECT 9600' once the modem is in data mode. */
  dial(number: string, abort: AbortSignal): Promise<string>;
  hangUp(): void;
  /** What ATZ and AT&F restore. */
  factorySettings(): AtSettings;
  /** ATO: the result code of going back on line. */
  resume(): string;
}

export function defaultAmpersand(): Map<string, number> {
  return new Map([['K', 3], ['D', 2], ['C', 1]]);
}

/** GSM 07.07 bearer speeds a circuit-switched satellite modem accepts (V.22bis/V.32 and V.110 at 300..9600). */
const CBST_SPEEDS = new Set([0, 1, 2, 4, 6, 7, 65, 66, 68, 70, 71]);
const END = '(?=;|$)';

function command(source: string, run: AtCommand<ModemContext>['run']): AtCommand<ModemContext> {
  return { pattern: new RegExp(source, 'iy'), run };
}

/** V.250: a basic command's missing number means 0. */
const value = (text: string | undefined) => Number(text || 0);

function factoryReset(context: ModemContext, io: AtIo): void {
  context.hangUp();
  Object.assign(io.settings, context.factorySettings());
  context.ampersand.clear();
  for (const [letter, n] of defaultAmpersand()) context.ampersand.set(letter, n);
}

/** Dial modifiers (T tone, P pulse, W wait, comma pause, ...) carry nothing for a satellite call. */
function dialledNumber(dialString: string): string | undefined {
  const digits = dialString.replace(/^[TP]/i, '').replace(/[TPW,!@\-()]/gi, '');
  return /^[0-9*#+]+$/.test(digits) ? digits : undefined;
}

/**
 * The Hayes/V.250 basic commands and the GSM 07.07 ones a satellite data
 * modem answers. Model-specific text comes from the context's identity.
 */
export function hayesCommands(): AtCommand<ModemContext>[] {
  return [
    command(`\\+(?:CGMI|GMI)${END}`, (c, io) => io.info(c.identity.manufacturer)),
    command(`\\+(?:CGMM|GMM)${END}`, (c, io) => io.info(c.identity.model)),
    command(`\\+(?:CGMR|GMR)${END}`, (c, io) => io.info(...c.identity.revision)),
    command(`\\+(?:CGSN|GSN)${END}`, (c, io) => io.info(c.imei)),
    command(`\\+CSQ(F?)${END}`, (c, io, m) => {
      const iridium = c.identity.signalRange.max === 5;
      if (m[1] && !iridium) return 'ERROR';
      io.info(m[1] ? `+CSQF:${c.signal()}` : c.identity.csq(c.signal()));
    }),
    command(`\\+CSQ=\\?${END}`, (c, io) => io.info(c.identity.signalRange.max === 5 ? '+CSQ:(0-5)' : '+CSQ: (0-31,99),(99)')),
    command(`\\+CREG\\?${END}`, (c, io) => io.info(`+CREG: ${c.cregMode},${c.registration()}`)),
    command(`\\+CREG=([0-2]?)${END}`, (c, _io, m) => {
      c.cregMode = value(m[1]);
    }),
    command(`\\+CBST\\?${END}`, (c, io) => io.info(`+CBST: ${c.bearer.join(',')}`)),
    command(`\\+CBST=\\?${END}`, (_c, io) => io.info('+CBST: (0-2,4,6,7,65,66,68,70,71),(0),(1)')),
    command(`\\+CBST=(\\d+)(?:,(\\d+)(?:,(\\d+))?)?${END}`, (c, _io, m) => {
      const bearer: [number, number, number] = [Number(m[1]), value(m[2]), m[3] === undefined ? 1 : Number(m[3])];
      // Only asynchronous (name 0), non-transparent (ce 1) data is offered on these networks.
      if (!CBST_SPEEDS.has(bearer[0]) || bearer[1] !== 0 || bearer[2] !== 1) return 'ERROR';
      c.bearer = bearer;
    }),
    command(`\\+CGDCONT\\?${END}`, (c, io) => {
      const lines = [...c.pdpContexts].map(([cid, ctx]) => `+CGDCONT: ${cid},"${ctx.type}","${ctx.apn}","",0,0`);
      if (lines.length > 0) io.info(...lines);
    }),
    command(`\\+CGDCONT=(\\d+)(?:,"([^"]*)"(?:,"([^"]*)")?)?(?:,[^;]*)?${END}`, (c, _io, m) => {
      const cid = Number(m[1]);
      if (cid < 1 || cid > 16) return 'ERROR';
      if (m[2] === undefined) c.pdpContexts.delete(cid);
      else c.pdpContexts.set(cid, { type: m[2], apn: m[3] ?? '' });
    }),
    command(`\\+CMEE=[0-2]?${END}`, () => undefined),
    command('E([01]?)', (_c, io, m) => {
      io.settings.echo = value(m[1]) === 1;
    }),
    command('V([01]?)', (_c, io, m) => {
      io.settings.verbose = value(m[1]) === 1;
    }),
    command('Q([01]?)', (_c, io, m) => {
      io.settings.quiet = value(m[1]) === 1;
    }),
    command('(?:Z|&F)([01]?)', (c, io) => factoryReset(c, io)),
    command('&([KDCWY])(\\d?)', (c, _io, m) => {
      const letter = m[1].toUpperCase();
      const n = value(m[2]);
      if (letter === 'K' && ![0, 3, 4, 6].includes(n)) return 'ERROR';
      if ((letter === 'D' && n > 3) || (letter === 'C' && n > 1)) return 'ERROR';
      c.ampersand.set(letter, n);
    }),
    command('[XLM](\\d?)', () => undefined),
    command('I(\\d?)', (c, io, m) => {
      const text = c.identity.info[value(m[1])];
      if (text === undefined) return 'ERROR';
      io.info(text);
    }),
    command('S(\\d+)=(\\d*)', (_c, io, m) => {
      const register = Number(m[1]);
      const n = value(m[2]);
      if (register > 127 || n > 255) return 'ERROR';
      io.settings.registers.set(register, n);
    }),
    command('S(\\d+)\\?', (_c, io, m) => io.info(String(Math.round(io.settings.registers.get(Number(m[1])) ?? 0)).padStart(3, '0'))),
    command('H(0?)', (c) => c.hangUp()),
    command('O(0?)', (c) => c.resume()),
    command('A', () => 'NO CARRIER'),
    command('D(.*)', (c, io, m) => {
      const dialString = m[1];
      // A trailing ';' asks for a voice call, which a data simulator cannot place.
      if (dialString.endsWith(';') || c.inCall()) return 'ERROR';
      const number = dialledNumber(dialString);
      if (number === undefined) return 'ERROR';
      return c.dial(number, io.signal);
    }),
  ];
}
