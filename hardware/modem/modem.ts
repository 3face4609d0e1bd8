import type { SerialPort } from 'serialport';
import type { ByteStream } from '../../common/byte-stream.js';
import { isTamtamError, TamtamError } from '../../protocol/errors.js';
import { AtEngine, type AtEngineOptions } from '../at/at-engine.js';
import { AsyncLock, sleep } from '../at/async-lock.js';
import { initWithRetries } from '../at/init-with-retries.js';
import { closeSerialPort, openSerialPort } from '../at/serial-port-open.js';
import { createModemDriver } from './drivers/create-modem-driver.js';
import { ModemCall } from './modem-call.js';
import { explainDialFailure, identityValue, type ModemDriver, type ModemDriverName, type ModemIdentity, type Registration, type SignalReading } from './modem-driver.js';

export interface ModemOptions {
  port: string;
  baudRate?: number;
  driver?: ModemDriverName | ModemDriver;
  number?: string;
  apn?: string;
  /** AT+CBST parameters when the driver's do not suit the gateway. */
  bearer?: string;
  /** RTS/CTS (AT&K3) when true, none (AT&K0) when false: three-wire cables have no RTS/CTS. */
  flowControl?: boolean;
  guardTimeMs?: number;
  /** How long OK may take after `+++` and its guard time. */
  escapeTimeoutMs?: number;
  commandTimeoutMs?: number;
  dialTimeoutMs?: number;
  /** Init is tried this many times, waiting initBackoffMs, then twice as long (at most 5 s), between tries. */
  initAttempts?: number;
  initBackoffMs?: number;
  trace?: AtEngineOptions['trace'];
}


/**
 * One modem on one port: the engine, the driver, and the rules around them,
 * so that drivers stay lists of commands. Init runs once (again after a
 * failure), retried with backoff; a lock keeps a probe's questions out of a
 * call, which holds the lock until it ends.
 */
export class Modem {
  readonly driver: ModemDriver;
  readonly engine: AtEngine;
  private readonly lock = new AsyncLock();
  private ready = false;
  private call: ModemCall | undefined;
  /** A call ended since the last command: the modem may still be reading data the call could not carry. */
  private afterCall = false;

  private constructor(readonly port: SerialPort, readonly options: ModemOptions) {
    this.driver = typeof options.driver === 'object' ? options.driver : createModemDriver(options.driver ?? 'hayes');
    this.engine = new AtEngine(port, { commandTimeoutMs: options.commandTimeoutMs, guardTimeMs: options.guardTimeMs, escapeTimeoutMs: options.escapeTimeoutMs, trace: options.trace });
  }

  /** Opens the port (locked, E_PORT_NOT_FOUND/E_PORT_BUSY explained) and wraps it. */
  static async open(options: ModemOptions): Promise<Modem> {
    const port = await openSerialPort({ path: options.port, baudRate: options.baudRate ?? 19_200, rtscts: options.flowControl ?? false });
    return new Modem(port, options);
  }

  /** Wraps a port already open (a probe that found the baud rate); the Modem owns it from now on. */
  static over(port: SerialPort, options: ModemOptions): Modem {
    return new Modem(port, options);
  }

  get inCall(): boolean {
    return this.call !== undefined;
  }

  init(signal?: AbortSignal): Promise<void> {
    return this.lock.run(() => this.initLocked(signal), signal);
  }

  identify(signal?: AbortSignal): Promise<ModemIdentity> {
    return this.locked(async () => {
      const ask = async (command: string) => {
        try {
          return identityValue((await this.engine.command(command, { signal })).lines);
        } catch (e) {
          if (isTamtamError(e, 'E_MODEM_ERROR')) return undefined;
          throw e;
        }
      };
      const identity: ModemIdentity = {};
      const manufacturer = await ask('AT+CGMI');
      const model = await ask('AT+CGMM');
      const revision = await ask('AT+CGMR');
      const imei = await ask('AT+CGSN');
      if (manufacturer) identity.manufacturer = manufacturer;
      if (model) identity.model = model;
      if (revision) identity.revision = revision;
      if (imei) identity.imei = imei;
      return identity;
    }, signal);
  }

  signal(signal?: AbortSignal): Promise<SignalReading> {
    return this.locked(async () => this.driver.parseSignal((await this.engine.command(this.driver.signalCommand, { signal, timeoutMs: this.driver.signalTimeoutMs })).lines), signal);
  }

  registration(signal?: AbortSignal): Promise<Registration> {
    return this.locked(async () => this.driver.parseRegistration((await this.engine.command(this.driver.registrationCommand, { signal })).lines), signal);
  }

  /** Inits if needed, dials, and on CONNECT hands out the call; the modem is the call's until it ends. */
  async dial(signal?: AbortSignal): Promise<ByteStream> {
    const number = this.options.number ?? this.driver.defaultNumber;
    if (!number) throw new TamtamError('E_CONFIG', `the ${this.driver.label} driver has no default number: set link.modem.number`);
    const command = this.driver.dialCommand(number);
    const release = await this.lock.acquire(signal);
    try {
      await this.initLocked(signal);
      if (this.afterCall) await this.resync(signal);
      const answer = await this.engine.command(command, { signal, timeoutMs: this.options.dialTimeoutMs ?? 60_000 });
      const call = new ModemCall(this.engine, {
        hangUp: () => this.hangUp(),
        finished: () => {
          this.call = undefined;
          this.afterCall = true;
          release();
        },
      }, answer.final);
      this.call = call;
      this.engine.enterDataMode(call.handlers());
      return call;
    } catch (e) {
      if (isTamtamError(e, 'E_ABORTED') || signal?.aborted) {
        // The caller goes now; the modem stays locked until the cancelled dial has settled and, if it connected after all, is hung up.
        void this.settleAfterAbort().finally(release);
        throw e;
      }
      try {
        throw await this.afterFailedDial(e, number);
      } finally {
        release();
      }
    }
  }

  /** Hangs up a call in progress and closes the port. */
  async close(): Promise<void> {
    await this.call?.close().catch(() => undefined);
    // Closed before detaching, so that a command still waiting hears the port go rather than its timeout.
    await closeSerialPort(this.port);
    this.engine.detach();
  }

  private locked<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.lock.run(async () => {
      await this.initLocked(signal);
      return fn();
    }, signal);
  }

  private async initLocked(signal?: AbortSignal): Promise<void> {
    if (this.ready) return;
    const driverCommands = this.driver.initCommands({ apn: this.options.apn, bearer: this.options.bearer });
    const commands = ['AT', 'ATE0', 'ATV1', 'ATQ0', this.options.flowControl ? 'AT&K3' : 'AT&K0', ...driverCommands];
    await initWithRetries(this.engine, commands, {
      attempts: this.options.initAttempts, backoffMs: this.options.initBackoffMs,
      // A modem left online by a crashed agent hears nothing but data: escape it blindly.
      beforeRetry: async (e) => {
        if (e.code === 'E_MODEM_SILENT') await this.blindEscape(signal);
      },
    }, signal);
    this.ready = true;
  }

  /**
   * After a call, data written for it may still be on its way to the modem
   * (the OS's serial buffer, a dropped call's backlog) and reads to it as
   * command lines: a key arriving during ATD aborts the dial. So the port's
   * buffers are flushed and the modem must answer a plain AT with OK before
   * the next dial; the garbage's ERRORs are let pass.
   */
  private async resync(signal?: AbortSignal): Promise<void> {
    await new Promise<void>((resolve) => this.port.flush(() => resolve()));
    // Two OKs a guard time apart: the first may only mean the backlog had a pause in it.
    let oks = 0;
    for (let attempt = 1; oks < 2; attempt++) {
      try {
        await this.engine.command('AT', { signal, timeoutMs: Math.min(this.options.commandTimeoutMs ?? 5000, 2000) });
        oks++;
        if (oks < 2) await sleep(this.engine.guardTimeMs, signal);
      } catch (e) {
        if (signal?.aborted || !isTamtamError(e) || attempt >= 6) throw e;
        oks = 0;
      }
    }
    this.afterCall = false;
  }

  private async blindEscape(signal?: AbortSignal): Promise<void> {
    const guard = this.engine.guardTimeMs;
    await sleep(guard, signal);
    await this.engine.writeRaw(Buffer.from('+++')).catch(() => undefined);
    await sleep(guard, signal);
    await this.engine.command('ATH', { signal }).catch(() => undefined);
  }

  private async hangUp(): Promise<void> {
    if (!(await this.engine.escape())) {
      // No OK to +++: drop DTR, which hangs up a modem set to &D2, where the port can (a pty cannot).
      await setDtr(this.port, false);
      await sleep(this.engine.guardTimeMs);
      await setDtr(this.port, true);
      this.engine.forceCommandMode();
    }
    if (this.engine.isClosed) return;
    try {
      await this.engine.command('ATH');
    } catch {
      // The next dial starts with a fresh init, which sorts the modem out or says what is wrong.
      this.ready = false;
    }
  }

  private async settleAfterAbort(): Promise<void> {
    await this.engine.settled();
    if (this.engine.inCall) await this.hangUp().catch(() => undefined);
  }

  private async afterFailedDial(e: unknown, number: string): Promise<unknown> {
    if (this.engine.inCall) await this.hangUp().catch(() => undefined);
    if (isTamtamError(e, 'E_DIAL_FAILED')) {
      const reading = await this.engine.command(this.driver.signalCommand, { timeoutMs: this.options.commandTimeoutMs ?? 5000 })
        .then((r) => this.driver.parseSignal(r.lines)).catch(() => undefined);
      return explainDialFailure(e, number, reading);
    }
    if (isTamtamError(e, 'E_MODEM_SILENT') || isTamtamError(e, 'E_TIMEOUT')) {
      await this.engine.command('ATH').catch(() => undefined);
      if (e.details?.command !== undefined && /^ATD/i.test(String(e.details.command))) {
        return new TamtamError('E_TIMEOUT', `no CONNECT within ${(this.options.dialTimeoutMs ?? 60_000) / 1000} s after dialling ${number}; hung up, will try again`, { retryable: true, cause: e });
      }
      this.ready = false;
    }
    return e;
  }
}

function setDtr(port: SerialPort, dtr: boolean): Promise<void> {
  return new Promise((resolve) => port.set({ dtr }, () => resolve()));
}
