/**
 * An Iridium 9603 SBD transceiver for ModemSimulator, as `extraCommands`:
 * MO and MT buffers, MOMSN/MTMSN, AT+SBDWB/SBDRB with their checksums,
 * AT+SBDIX/SBDIXA against a gateway port after a latency, AT+SBDD, ring
 * alerts, +CSQ/+CSQF, AT-MSSTM. Answers follow the ISU AT Command Reference.
 *
 *   const modem = await startSbdSimulator({ gateway, imei: '300234010753370', latencyMs: 20 });
 *   const port = new SerialPort({ path: modem.path, baudRate: 19200 });
 *   modem.ring();   // SBDRING, when ring alerts are on
 */
import type { AtCommand, AtIo } from './at-interpreter.js';
import type { ModemContext } from './hayes-commands.js';
import { ModemSimulator, type ModemSimulatorOptions } from './modem-simulator.js';

/** What the Iridium gateway does with a session, seen from the transceiver. */
export interface SbdGatewayPort {
  mo(imei: string, momsn: number, payload: Uint8Array): Promise<void>;
  /** The next message for this IMEI and how many remain after it. */
  mt(imei: string): Promise<{ payload: Uint8Array; queued: number } | undefined>;
}

export interface SbdSimulatorOptions {
  gateway: SbdGatewayPort;
  imei?: string;
  /** From AT+SBDIX to its answer. Default 200. */
  latencyMs?: number;
  /** MO status for a session (numbered from 1); undefined or 0 lets it succeed. */
  failures?: (session: number) => number | undefined;
  /** Bars 0..5; 0 fails every session with status 32. */
  signal?: number;
  /** How long AT+SBDWB waits for the announced bytes before answering 1. Default 60 s, as the reference says. */
  writeTimeoutMs?: number;
  silent?: boolean;
  /** Where AT-MSSTM counts from; default 2014-05-11 14:23:55 UTC. The count wraps at 32 bits. */
  iridiumEpochMs?: number;
  baudRate?: number;
}

export interface SbdState {
  mo: Uint8Array | undefined;
  mt: Uint8Array | undefined;
  /** The MOMSN the next session will use. */
  momsn: number;
  mtmsn: number;
  sessions: number;
  ringAlerts: boolean;
  autoRegistration: number;
  signal: number;
}

export const SBD_MODEL = 'IRIDIUM 9600 Family SBD Transceiver';
const MO_MAX = 340;
const END = '(?=;|$)';

function command(source: string, run: AtCommand<ModemContext>['run']): AtCommand<ModemContext> {
  return { pattern: new RegExp(source, 'iy'), run };
}

function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xffff;
  return sum;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

export function sbdCommands(options: SbdSimulatorOptions, state: SbdState, clock: () => number = Date.now): AtCommand<ModemContext>[] {
  const imei = options.imei ?? '300234010753370';
  const session = async (io: AtIo): Promise<void> => {
    state.sessions++;
    await delay(options.latencyMs ?? 200);
    const failed = options.failures?.(state.sessions) ?? (state.signal === 0 ? 32 : 0);
    if (failed >= 5) {
      io.info(`+SBDIX: ${failed}, ${state.momsn}, 2, 0, 0, 0`);
      return;
    }
    const momsn = state.momsn;
    if (state.mo) await options.gateway.mo(imei, momsn, state.mo);
    state.momsn = (state.momsn + 1) & 0xffff;
    const mt = await options.gateway.mt(imei);
    if (!mt) {
      io.info(`+SBDIX: ${failed}, ${momsn}, 0, 0, 0, 0`);
      return;
    }
    state.mt = mt.payload;
    state.mtmsn = (state.mtmsn + 1) & 0xffff;
    io.info(`+SBDIX: ${failed}, ${momsn}, 1, ${state.mtmsn}, ${mt.payload.length}, ${mt.queued}`);
  };
  return [
    command(`\\+SBDWB=(\\d+)${END}`, async (_c, io, m) => {
      const n = Number(m[1]);
      if (n < 1 || n > MO_MAX) return void io.info('3');
      io.writeRaw('READY\r\n');
      const wire = await io.readRaw(n + 2, options.writeTimeoutMs ?? 60_000);
      if (!wire) return void io.info('1');
      const message = wire.subarray(0, n);
      if (wire.readUInt16BE(n) !== checksum(message)) return void io.info('2');
      state.mo = new Uint8Array(message);
      io.info('0');
    }),
    command(`\\+SBDRB${END}`, (_c, io) => {
      const message = state.mt ?? new Uint8Array(0);
      const out = Buffer.alloc(message.length + 4);
      out.writeUInt16BE(message.length, 0);
      out.set(message, 2);
      out.writeUInt16BE(checksum(message), message.length + 2);
      io.writeRaw(out);
    }),
    command(`\\+SBDIXA?${END}`, (_c, io) => session(io)),
    command(`\\+SBDD([0-2])${END}`, (_c, io, m) => {
      if (m[1] !== '1') state.mo = undefined;
      if (m[1] !== '0') state.mt = undefined;
      io.info('0');
    }),
    command(`\\+SBDMTA=([01])${END}`, (_c, _io, m) => {
      state.ringAlerts = m[1] === '1';
    }),
    command(`\\+SBDAREG=([0-2])${END}`, (_c, _io, m) => {
      state.autoRegistration = Number(m[1]);
    }),
    command(`\\+CSQ(F?)${END}`, (_c, io, m) => io.info(`+CSQ${m[1].toUpperCase()}:${state.signal}`)),
    command(`\\+(?:CGMM|GMM)${END}`, (_c, io) => io.info(SBD_MODEL)),
    command(`-MSSTM${END}`, (_c, io) => {
      if (state.signal === 0) return void io.info('-MSSTM: no network service');
      const frames = Math.floor((clock() - (options.iridiumEpochMs ?? Date.UTC(2014, 4, 11, 14, 23, 55))) / 90) >>> 0;
      io.info(`-MSSTM: ${frames.toString(16).padStart(8, '0')}`);
    }),
  ];
}

export type SbdSimulator = ModemSimulator & {
  readonly sbd: SbdState;
  /** SBDRING, if ring alerts are on: the gateway has a message waiting. */
  ring(): boolean;
};

export async function startSbdSimulator(options: SbdSimulatorOptions): Promise<SbdSimulator> {
  const state: SbdState = { mo: undefined, mt: undefined, momsn: 0, mtmsn: 0, sessions: 0, ringAlerts: false, autoRegistration: 0, signal: options.signal ?? 5 };
  const simOptions: ModemSimulatorOptions = {
    target: () => undefined,
    model: 'iridium',
    imei: options.imei ?? '300234010753370',
    silent: options.silent ?? false,
    baudRate: options.baudRate ?? 19_200,
    extraCommands: sbdCommands(options, state),
  };
  const modem = await ModemSimulator.start(simOptions);
  // ModemSimulator writes unsolicited result codes only through its interpreter, which it keeps private.
  const interpreter = (modem as unknown as { interpreter: { unsolicited(code: string): void } }).interpreter;
  return Object.assign(modem, {
    sbd: state,
    ring: () => {
      if (!state.ringAlerts) return false;
      interpreter.unsolicited('SBDRING');
      return true;
    },
  });
}
