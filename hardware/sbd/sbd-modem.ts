import type { SerialPort } from 'serialport';
import { isTamtamError, TamtamError } from '../../protocol/errors.js';
import { AtEngine, type AtEngineOptions, type AtResponse } from '../at/at-engine.js';
import { AsyncLock } from '../at/async-lock.js';
import { initWithRetries } from '../at/init-with-retries.js';
import { closeSerialPort, openSerialPort } from '../at/serial-port-open.js';
import { parseCsq, type SignalReading } from '../modem/modem-driver.js';
import {
  parseClearResult, parseMsstm, parseSbdix, parseWriteResult, SBD_MO_LIMIT, withChecksum, WRITE_RESULT_MEANING,
  type SbdixResult, type SbdWriteResult, type SystemTime,
} from './sbd-answers.js';
import { readSbdrb } from './sbd-read-binary.js';

export interface SbdModemOptions {
  port: string;
  /** 19200 is what 9602/9603 boards ship with. */
  baudRate?: number;
  commandTimeoutMs?: number;
  /** AT+SBDIX waits for a satellite and the gateway: tens of seconds. */
  sessionTimeoutMs?: number;
  /** AT+CSQ on a 9603 waits for a fresh reading: seconds. */
  signalTimeoutMs?: number;
  /** A write result 1 or 2 (bytes lost or garbled on the serial line) is tried again this many times in all. */
  writeAttempts?: number;
  /** The Iridium time epoch in force (see sbd-answers.ts); default the May 2014 one. */
  iridiumEpochMs?: number;
  initAttempts?: number;
  initBackoffMs?: number;
  trace?: AtEngineOptions['trace'];
}

const INIT = ['AT', 'ATE0', 'ATV1', 'AT&K0', 'AT+SBDMTA=1', 'AT+SBDAREG=0'];

/**
 * An Iridium 9602/9603 SBD transceiver on one port, after the Modem wrapper:
 * init once (again after a failure) with bounded retries, and a lock so that
 * a mailbox check never interleaves with a write. Failures come back as
 * TamtamErrors saying what to check.
 */
export class SbdModem {
  private engine: AtEngine;
  private readonly lock = new AsyncLock();
  private ready = false;
  private readonly ringListeners = new Set<() => void>();
  private unsubscribe: () => void;

  private constructor(readonly port: SerialPort, readonly options: SbdModemOptions) {
    this.engine = this.makeEngine();
    this.unsubscribe = this.listen();
  }

  static async open(options: SbdModemOptions): Promise<SbdModem> {
    const port = await openSerialPort({ path: options.port, baudRate: options.baudRate ?? 19_200, rtscts: false });
    return new SbdModem(port, options);
  }

  static over(port: SerialPort, options: SbdModemOptions): SbdModem {
    return new SbdModem(port, options);
  }

  /** SBDRING: the gateway holds a message for us (ring alerts are on after init); answer with sessionIx(true). */
  onRing(listener: () => void): () => void {
    this.ringListeners.add(listener);
    return () => this.ringListeners.delete(listener);
  }

  init(signal?: AbortSignal): Promise<void> {
    return this.lock.run(() => this.initLocked(signal), signal);
  }

  /** Loads the MO buffer; throws E_TOO_LARGE for a size the transceiver refuses, E_BAD_CRC/E_TIMEOUT when the line keeps garbling it. */
  async writeMo(bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (bytes.length < 1 || bytes.length > SBD_MO_LIMIT) {
      throw new TamtamError('E_TOO_LARGE', `an SBD message must be 1..${SBD_MO_LIMIT} bytes, this one is ${bytes.length}`, { details: { length: bytes.length } });
    }
    const attempts = this.options.writeAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      const result = await this.writeMoWire(bytes.length, withChecksum(bytes), signal);
      if (result === 0) return;
      if (result === 3) throw new TamtamError('E_TOO_LARGE', `the transceiver refused a ${bytes.length}-byte message: ${WRITE_RESULT_MEANING[3]}`);
      if (attempt >= attempts) {
        throw new TamtamError(result === 2 ? 'E_BAD_CRC' : 'E_TIMEOUT', `AT+SBDWB failed ${attempts} times: ${WRITE_RESULT_MEANING[result]}; check the serial cable and baud rate`, { retryable: true, details: { result } });
      }
    }
  }

  /** AT+SBDWB=<declared>, then `wire` (message and checksum) on READY: the result code as the transceiver gives it. */
  writeMoWire(declared: number, wire: Uint8Array, signal?: AbortSignal): Promise<SbdWriteResult> {
    return this.locked(async () => {
      let lines: string[];
      try {
        lines = (await this.engine.command(`AT+SBDWB=${declared}`, { signal, prompt: 'READY', payload: wire, timeoutMs: this.writeTimeoutMs() })).lines;
      } catch (e) {
        // Result 1 comes without OK on some firmware: the command then times out holding the 1.
        const heard = isTamtamError(e, 'E_TIMEOUT') ? (e.details?.lines as string[] | undefined) : undefined;
        if (heard && parseWriteResult(heard) === 1) return 1;
        throw e;
      }
      const result = parseWriteResult(lines);
      if (result === undefined) throw new TamtamError('E_MODEM_ERROR', `unexpected answer to AT+SBDWB: ${lines.join(' | ') || '(nothing)'}`, { details: { lines } });
      return result;
    }, signal);
  }

  /** One SBD session: sends the MO buffer (if loaded) and checks the mailbox. answerRing: AT+SBDIXA, the answer to an SBDRING. */
  sessionIx(answerRing = false, signal?: AbortSignal): Promise<SbdixResult> {
    return this.locked(async () => {
      const command = answerRing ? 'AT+SBDIXA' : 'AT+SBDIX';
      return parseSbdix((await this.engine.command(command, { signal, timeoutMs: this.options.sessionTimeoutMs ?? 90_000 })).lines);
    }, signal);
  }

  /** The MT buffer's message, its checksum verified (read again once if the line garbled it). */
  readMt(signal?: AbortSignal): Promise<Uint8Array> {
    return this.locked(async () => {
      try {
        return await this.readBinaryLocked();
      } catch (e) {
        if (!isTamtamError(e, 'E_BAD_CRC')) throw e;
        return this.readBinaryLocked();
      }
    }, signal);
  }

  /** AT+SBDD0 clears the MO buffer, 1 the MT buffer, 2 both. */
  clearBuffers(which: 0 | 1 | 2, signal?: AbortSignal): Promise<void> {
    return this.locked(async () => {
      const lines = (await this.engine.command(`AT+SBDD${which}`, { signal })).lines;
      if (!parseClearResult(lines)) throw new TamtamError('E_MODEM_ERROR', `the transceiver could not clear its SBD buffer (AT+SBDD${which} answered ${lines.join(' | ')})`, { details: { lines } });
    }, signal);
  }

  imei(signal?: AbortSignal): Promise<string> {
    return this.ask('AT+CGSN', signal).then((r) => r.lines.find((l) => /^\d{15}$/.test(l.trim()))?.trim() ?? r.lines.join(' '));
  }

  revision(signal?: AbortSignal): Promise<string[]> {
    return this.ask('AT+CGMR', signal).then((r) => r.lines);
  }

  /** AT+CSQ, 0..5 bars; on a 9603 it takes seconds. */
  signal(signal?: AbortSignal): Promise<SignalReading> {
    return this.ask('AT+CSQ', signal, this.options.signalTimeoutMs ?? 60_000).then((r) => parseCsq(r.lines));
  }

  /** AT+CSQF: the last reading, at once. */
  signalFast(signal?: AbortSignal): Promise<SignalReading> {
    return this.ask('AT+CSQF', signal).then((r) => parseCsq(r.lines));
  }

  systemTime(signal?: AbortSignal): Promise<SystemTime> {
    return this.ask('AT-MSSTM', signal).then((r) => parseMsstm(r.lines, this.options.iridiumEpochMs));
  }

  async close(): Promise<void> {
    await closeSerialPort(this.port);
    this.unsubscribe();
    this.engine.detach();
  }

  private ask(command: string, signal?: AbortSignal, timeoutMs?: number): Promise<AtResponse> {
    return this.locked(() => this.engine.command(command, { signal, ...(timeoutMs === undefined ? {} : { timeoutMs }) }), signal);
  }

  private locked<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.lock.run(async () => {
      await this.initLocked(signal);
      return fn();
    }, signal);
  }

  private async initLocked(signal?: AbortSignal): Promise<void> {
    if (this.ready) return;
    await initWithRetries(this.engine, INIT, { attempts: this.options.initAttempts, backoffMs: this.options.initBackoffMs }, signal);
    this.ready = true;
  }

  private async readBinaryLocked(): Promise<Uint8Array> {
    // The line reader lets go of the port for the binary answer and a fresh one takes over after it.
    this.unsubscribe();
    this.engine.detach();
    try {
      return await readSbdrb(this.port, this.options.commandTimeoutMs ?? 5000, this.options.trace);
    } finally {
      this.engine = this.makeEngine();
      this.unsubscribe = this.listen();
    }
  }

  private writeTimeoutMs(): number {
    // The transceiver waits up to 60 s for the announced bytes before answering 1.
    return Math.max(this.options.commandTimeoutMs ?? 5000, 65_000);
  }

  private makeEngine(): AtEngine {
    const o = this.options;
    return new AtEngine(this.port, { commandTimeoutMs: o.commandTimeoutMs, trace: o.trace });
  }

  private listen(): () => void {
    return this.engine.onUnsolicited((line) => {
      if (/^SBDRING$/i.test(line.trim())) for (const listener of this.ringListeners) listener();
    });
  }
}
