/**
 * A satellite / dial-up modem (Iridium 9522B/9555, Thuraya, plain Hayes) on a
 * pseudo-terminal, driven by the agent through the real `serialport` exactly
 * as it would drive /dev/ttyUSB0. A dialled call is delivered to a TCP
 * endpoint (as Iridium RUDICS delivers a data call to a server) across two
 * throttled pipes with the link's rate, latency and bit errors.
 *
 *   const modem = await ModemSimulator.start({ target: () => ({ host: '127.0.0.1', port }), upKbps: 100, rttMs: 20 });
 *   const port = new SerialPort({ path: modem.path, baudRate: 19200 });
 *
 * API
 *   static start(options: ModemSimulatorOptions): Promise<ModemSimulator>   (options: see modem-options.ts)
 *   path: string                 the DTE side; open and close it as often as you like
 *   commands: readonly string[]  every AT command line received, as typed
 *   state: 'command' | 'data' | 'online-command'
 *   stats(): ModemStats          bytes carried up/down, calls, drops, bit errors injected
 *   setSignal(n: number): void   +CSQ from now on (0: dials fail)
 *   dropCall(): boolean          cut the call now (NO CARRIER); false if there was none
 *   close(): Promise<void>       ends any call, closes the port, kills socat, removes the temp dir
 * Events
 *   'command' (line)  'connect' (number)  'hangup' (reason: HangupReason)  'log' (message)
 *
 * Dialogue: see at-interpreter.ts and hayes-commands.ts; SBD commands plug in
 * through `extraCommands`.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { AtInterpreter, defaultAtSettings, type AtSettings } from './at-interpreter.js';
import { DataCall } from './data-call.js';
import { DceSide } from './dce-side.js';
import { EscapeDetector } from './escape-detector.js';
import { defaultAmpersand, hayesCommands, type ModemContext } from './hayes-commands.js';
import { checkSignal, resolveModemOptions, type ModemSimulatorOptions, type ResolvedModemOptions } from './modem-options.js';
import { placeCall } from './place-call.js';
import { PtyPair } from './pty-pair.js';
import { pipeHighWater } from './throttled-pipe.js';

export type { ModemSimulatorOptions } from './modem-options.js';
export type HangupReason = 'hangup' | 'remote' | 'dropped' | 'timer' | 'dte-closed' | 'closed';
export interface ModemStats {
  /** Bytes delivered to the far end. */
  bytesUp: number;
  /** Bytes delivered to the DTE. */
  bytesDown: number;
  /** Calls connected. */
  calls: number;
  /** Calls lost other than by ATH or close(): far end, dropCall(), dropEverySeconds, DTE closing its port. */
  drops: number;
  bitErrors: number;
}
export interface ModemEvents {
  command: [line: string];
  connect: [number: string];
  hangup: [reason: HangupReason];
  log: [message: string];
}

const CONNECT = 'CONNECT 9600';
/** How often a call checks that the DTE still has the port open (the DTR line a pty lacks). */
const DTE_WATCH_MS = 250;

export class ModemSimulator extends EventEmitter<ModemEvents> {
  readonly path: string;
  private readonly options: ResolvedModemOptions;
  private readonly pair: PtyPair;
  private dce!: DceSide;
  private readonly settings: AtSettings;
  private readonly interpreter: AtInterpreter<ModemContext>;
  private readonly context: ModemContext;
  private readonly escape: EscapeDetector;
  private readonly closing = new AbortController();
  private readonly lines: string[] = [];
  private readonly totals: ModemStats = { bytesUp: 0, bytesDown: 0, calls: 0, drops: 0, bitErrors: 0 };
  private signal: number;
  private call: DataCall | undefined;
  private mode: 'command' | 'data' | 'online-command' = 'command';
  private dropTimer: NodeJS.Timeout | undefined;
  private watchTimer: NodeJS.Timeout | undefined;

  static async start(options: ModemSimulatorOptions): Promise<ModemSimulator> {
    const resolved = resolveModemOptions(options);
    const pair = await PtyPair.start();
    const modem = new ModemSimulator(resolved, pair);
    try {
      modem.dce = await DceSide.open(pair, {
        baudRate: resolved.baudRate,
        highWaterMark: Math.max(128, pipeHighWater(resolved.upKbps)),
        onData: (bytes) => modem.fromDte(bytes),
        onRestart: () => modem.endCall('dropped'),
        log: (message) => modem.emit('log', message),
      });
    } catch (e) {
      await pair.close();
      throw e;
    }
    return modem;
  }

  private constructor(options: ResolvedModemOptions, pair: PtyPair) {
    super();
    this.options = options;
    this.pair = pair;
    this.path = pair.dtePath;
    this.signal = options.signal;
    this.settings = this.factorySettings();
    this.context = this.makeContext();
    this.interpreter = new AtInterpreter({
      commands: [...options.extraCommands, ...hayesCommands()],
      context: this.context,
      settings: this.settings,
      write: (bytes) => this.dce.write(bytes),
      onLine: (line) => {
        this.lines.push(line);
        this.emit('command', line);
      },
    });
    this.escape = new EscapeDetector({
      guardMs: () => (this.settings.registers.get(12) ?? 50) * 20,
      escapeChar: () => this.settings.registers.get(2) ?? 43,
      onData: (bytes) => {
        if (this.call && !this.call.sendUp(bytes)) this.dce.holdBack(true);
      },
      onEscape: () => this.onEscape(),
    });
  }

  get commands(): readonly string[] {
    return [...this.lines];
  }

  get state(): 'command' | 'data' | 'online-command' {
    return this.mode;
  }

  stats(): ModemStats {
    const current = this.call?.stats() ?? { bytesUp: 0, bytesDown: 0, bitErrors: 0 };
    return {
      ...this.totals,
      bytesUp: this.totals.bytesUp + current.bytesUp,
      bytesDown: this.totals.bytesDown + current.bytesDown,
      bitErrors: this.totals.bitErrors + current.bitErrors,
    };
  }

  setSignal(n: number): void {
    this.signal = checkSignal(this.options.identity, n);
  }

  dropCall(): boolean {
    return this.endCall('dropped');
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    this.endCall('closed');
    await this.dce.close();
    await this.pair.close();
  }

  private factorySettings(): AtSettings {
    const settings = defaultAtSettings();
    // S12 counts fiftieths of a second; a fractional value keeps a short test guard time exact.
    settings.registers.set(12, this.options.guardTimeMs / 20);
    return settings;
  }

  private makeContext(): ModemContext {
    return {
      identity: this.options.identity,
      imei: this.options.imei,
      signal: () => this.signal,
      registration: () => this.options.registration,
      cregMode: 0,
      bearer: [71, 0, 1],
      pdpContexts: new Map(),
      ampersand: defaultAmpersand(),
      inCall: () => this.call !== undefined,
      dial: (number, abort) => this.dial(number, abort),
      hangUp: () => {
        this.endCall('hangup');
      },
      factorySettings: () => this.factorySettings(),
      resume: () => this.resume(),
    };
  }

  private fromDte(bytes: Buffer): void {
    if (this.options.silent) return;
    if (this.mode === 'data') this.escape.feed(bytes);
    else this.interpreter.feed(bytes);
  }

  private async dial(number: string, abort: AbortSignal): Promise<string> {
    const { failDial, identity, registration, target, connectDelayMs } = this.options;
    const noNetwork = this.signal === 0 || this.signal === identity.signalRange.unknown || (registration !== 1 && registration !== 5);
    const failure = failDial ?? (noNetwork ? 'NO CARRIER' : undefined);
    // The DTE is typing ATD, so it holds the port now: whether /proc shows it tells if DTR can be watched.
    const dteVisible = this.pair.dteHeld();
    const outcome = await placeCall({
      failure,
      target: failure === undefined ? target(number) : undefined,
      connectDelayMs,
      signal: AbortSignal.any([abort, this.closing.signal]),
      log: (message) => this.emit('log', `dial ${number}: ${message}`),
    });
    const watchable = (await dteVisible) === true;
    if (typeof outcome === 'string') return outcome;
    if (this.closing.signal.aborted || abort.aborted) {
      outcome.destroy();
      return 'NO CARRIER';
    }
    this.startCall(outcome, number, watchable);
    return CONNECT;
  }

  private startCall(socket: Socket, number: string, watchDte: boolean): void {
    const { upKbps, downKbps, rttMs, ber, random, dropEverySeconds } = this.options;
    const call = new DataCall({
      socket, upKbps, downKbps, latencyMs: rttMs / 2, ber, random,
      toDte: (bytes) => this.dce.write(bytes),
      onUpDrain: () => this.dce.holdBack(false),
      onRemoteEnd: () => this.endCall('remote'),
    });
    this.call = call;
    this.mode = 'data';
    this.escape.reset();
    this.totals.calls++;
    if (dropEverySeconds !== undefined) this.dropTimer = setTimeout(() => this.endCall('timer'), dropEverySeconds * 1000);
    if (watchDte) this.watchDte(call);
    this.emit('connect', number);
  }

  /**
   * Drops the call once the DTE has closed its port, as DTR falling would
   * (&D2). Only called when /proc showed the DTE holding the port at dial
   * time, so an agent hidden from /proc (another user) is never cut off.
   */
  private watchDte(call: DataCall): void {
    const check = async () => {
      if (this.call !== call) return;
      const held = await this.pair.dteHeld();
      if (this.call !== call) return;
      if (held === false && this.context.ampersand.get('D') !== 0) {
        this.endCall('dte-closed');
        return;
      }
      this.watchTimer = setTimeout(check, DTE_WATCH_MS);
    };
    this.watchTimer = setTimeout(check, DTE_WATCH_MS);
  }

  private onEscape(): void {
    if (this.mode !== 'data' || !this.call) return;
    this.mode = 'online-command';
    this.call.hold();
    this.interpreter.unsolicited('OK');
  }

  private resume(): string {
    const call = this.call;
    if (!call) return 'NO CARRIER';
    this.mode = 'data';
    this.escape.reset();
    // The held bytes must follow the CONNECT result code, which is written when this handler returns.
    queueMicrotask(() => call.release());
    return CONNECT;
  }

  private endCall(reason: HangupReason): boolean {
    const call = this.call;
    if (!call) return false;
    this.call = undefined;
    clearTimeout(this.dropTimer);
    clearTimeout(this.watchTimer);
    this.escape.cancel();
    const carried = call.stats();
    this.totals.bytesUp += carried.bytesUp;
    this.totals.bytesDown += carried.bytesDown;
    this.totals.bitErrors += carried.bitErrors;
    call.end();
    this.mode = 'command';
    this.dce.holdBack(false);
    if (reason !== 'hangup' && reason !== 'closed') this.totals.drops++;
    // Nobody listens after close() or once the DTE has closed its port.
    if (reason === 'remote' || reason === 'dropped' || reason === 'timer') this.interpreter.unsolicited('NO CARRIER');
    this.emit('hangup', reason);
    return true;
  }
}
