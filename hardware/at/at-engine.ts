import type { SerialPort } from 'serialport';
import { TamtamError } from '../../protocol/errors.js';
import { abortError, AsyncLock } from './async-lock.js';
import { AtLineSplitter, classifyLine } from './at-lines.js';
import { CallData, type CallEnd, type DataHandlers } from './call-data.js';
import { noAnswerError, PendingCommand, type AtResponse } from './pending-command.js';

export type { AtResponse, CallEnd, DataHandlers };

export interface AtEngineOptions {
  /** How long a command may take when the caller gives no timeout. */
  commandTimeoutMs?: number;
  /** Silence needed before and after `+++` (the modem's S12; 1 s on most). */
  guardTimeMs?: number;
  /** How long to wait for OK after the second guard time. */
  escapeTimeoutMs?: number;
  /** Bytes held back as a possible start of NO CARRIER are data after this much quiet. */
  dataIdleFlushMs?: number;
  /** Every line sent and received, for debugging a modem in the field. */
  trace?: (direction: 'tx' | 'rx', text: string) => void;
}

export interface CommandOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** A line that answers the command before its final result, e.g. READY for AT+SBDWB. */
  prompt?: string;
  /** Written on the prompt; the command then waits for its final result. Without it the prompt is the answer. */
  payload?: Uint8Array;
}

type Mode = 'command' | 'data' | 'closed';

/**
 * Speaks AT to one modem on an open port: one command at a time, echo on or
 * off, unsolicited lines to listeners, and after CONNECT the port's bytes as
 * a raw call until NO CARRIER. It knows no modem model: drivers say what to send.
 */
export class AtEngine {
  readonly guardTimeMs: number;
  private mode: Mode = 'command';
  private readonly lock = new AsyncLock();
  private readonly splitter = new AtLineSplitter();
  private readonly unsolicited = new Set<(line: string) => void>();
  private readonly commandTimeoutMs: number;
  private readonly escapeTimeoutMs: number;
  private readonly dataIdleFlushMs: number;
  private pending: PendingCommand | undefined;
  /** A cancelled command whose final result is still to come and must not be taken for the next one's. */
  private lingering: PendingCommand | undefined;
  private lingerDone: (() => void) | undefined;
  private call: CallData | undefined;
  private escaping: ((ok: boolean) => void) | undefined;
  private lastWriteAt = 0;
  private readonly onPortData = (chunk: Buffer) => this.receive(chunk);
  private readonly onPortClose = () => this.portClosed();
  // An unplugged USB adapter emits 'error'; 'close' follows and ends things.
  private readonly onPortError = () => undefined;

  constructor(readonly port: SerialPort, private readonly options: AtEngineOptions = {}) {
    this.commandTimeoutMs = options.commandTimeoutMs ?? 5000;
    this.guardTimeMs = options.guardTimeMs ?? 1000;
    this.escapeTimeoutMs = options.escapeTimeoutMs ?? 3000;
    this.dataIdleFlushMs = options.dataIdleFlushMs ?? 100;
    port.on('data', this.onPortData);
    port.on('close', this.onPortClose);
    port.on('error', this.onPortError);
  }

  get inCall(): boolean {
    return this.mode === 'data';
  }

  get isClosed(): boolean {
    return this.mode === 'closed';
  }

  /** Lines the modem sends on its own: RING, SBDRING, +CREG: 2... Returns the unsubscribe. */
  onUnsolicited(listener: (line: string) => void): () => void {
    this.unsolicited.add(listener);
    return () => this.unsolicited.delete(listener);
  }

  /**
   * Sends one command line (`AT` included) and collects its answer. Rejects with
   * E_MODEM_ERROR on ERROR, E_DIAL_FAILED on NO CARRIER/BUSY/NO ANSWER/NO DIALTONE,
   * E_MODEM_SILENT when not a byte came back, E_TIMEOUT when the answer never ended.
   */
  command(command: string, options: CommandOptions = {}): Promise<AtResponse> {
    return this.lock.run(async () => {
      if (this.lingering) await this.waitLingering();
      return this.execute(command, options);
    }, options.signal);
  }

  /** Resolves once no command runs and a cancelled one got its final result (or gave up waiting). */
  settled(): Promise<void> {
    return this.lock.run(async () => {
      if (this.lingering) await this.waitLingering();
    });
  }

  /** Writes bytes as they are and resolves once the OS took them: call data, or a payload after a prompt. */
  writeRaw(bytes: Uint8Array): Promise<void> {
    if (this.mode === 'closed') return Promise.reject(portClosedError(this.port.path));
    return new Promise((resolve, reject) => {
      this.port.write(Buffer.from(bytes), (e) => {
        if (e) return reject(new TamtamError('E_LINK_DOWN', `writing to ${this.port.path} failed: ${e.message}`, { cause: e, retryable: true }));
        this.port.drain((d) => {
          this.lastWriteAt = Date.now();
          if (d) reject(new TamtamError('E_LINK_DOWN', `writing to ${this.port.path} failed: ${d.message}`, { cause: d, retryable: true }));
          else resolve();
        });
      });
    });
  }

  /** After CONNECT: the call's bytes go to `handlers`, including any that came with the CONNECT line. */
  enterDataMode(handlers: DataHandlers): void {
    if (this.mode !== 'data' || !this.call) throw new TamtamError('E_LINK_DOWN', 'the modem is not in a call', { retryable: true });
    this.call.attach(handlers);
  }

  /**
   * Guard time, `+++`, guard time, OK: back to command mode with the call still
   * up. Resolves false when no OK came (the caller may drop DTR instead).
   */
  async escape(): Promise<boolean> {
    if (this.mode !== 'data') return true;
    const quietFor = Date.now() - this.lastWriteAt;
    if (quietFor < this.guardTimeMs) await delay(this.guardTimeMs - quietFor);
    if (this.mode !== 'data' || !this.call) return true;
    const held = this.call.watchEscape(true);
    const answered = new Promise<boolean>((resolve) => (this.escaping = resolve));
    if (held) this.receive(held);
    const timer = setTimeout(() => this.escaping?.(false), this.guardTimeMs + this.escapeTimeoutMs);
    this.options.trace?.('tx', '+++');
    await this.writeRaw(Buffer.from('+++')).catch(() => this.escaping?.(false));
    const ok = await answered;
    clearTimeout(timer);
    this.escaping = undefined;
    if (this.mode === 'data' && this.call) {
      const late = this.call.watchEscape(false);
      if (late) this.receive(late);
    }
    return ok;
  }

  /** Assumes the modem left the call by other means (DTR dropped): what comes next is command talk. */
  forceCommandMode(): void {
    if (this.mode !== 'data') return;
    this.leaveData('no-carrier');
  }

  /** Stops listening to the port; it stays open for its owner to close. */
  detach(): void {
    this.port.off('data', this.onPortData);
    this.port.off('close', this.onPortClose);
    this.port.off('error', this.onPortError);
    this.call?.finish();
  }

  private execute(command: string, options: CommandOptions): Promise<AtResponse> {
    if (this.mode === 'closed') return Promise.reject(portClosedError(this.port.path));
    if (this.mode === 'data') return Promise.reject(new TamtamError('E_PORT_BUSY', `the modem on ${this.port.path} is in a call; ${command} must wait until it is hung up`, { retryable: true }));
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal, command));
    const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs;
    const giveUp = (p: PendingCommand) => {
      // Its final result may still come: it must be swallowed, not taken for the next command's. Any character cancels a dial.
      this.lingering = p;
      if (/^ATD/i.test(command)) void this.writeRaw(Buffer.from([0x1b])).catch(() => undefined);
    };
    const pending = new PendingCommand(command, { ...options, timeoutMs }, {
      timedOut: (p) => {
        if (p.heard || /^ATD/i.test(command)) giveUp(p);
        return noAnswerError(this.port, command, timeoutMs, p.heard, p.lines);
      },
      aborted: giveUp,
      done: (p) => {
        if (this.pending === p) this.pending = undefined;
      },
    });
    this.pending = pending;
    this.options.trace?.('tx', command);
    this.writeRaw(Buffer.from(`${command}\r`, 'latin1')).catch((e: unknown) => pending.finish(e as Error));
    return pending.result;
  }

  private receive(chunk: Buffer): void {
    if (this.pending) this.pending.heard = true;
    if (this.mode === 'data') return this.receiveData(chunk);
    if (this.mode === 'command') {
      this.splitter.push(chunk);
      this.drainLines();
    }
  }

  private drainLines(): void {
    for (let line = this.splitter.next(); line !== undefined; line = this.splitter.next()) {
      this.options.trace?.('rx', line);
      this.handleLine(line);
      if (this.mode === 'data') {
        const rest = this.splitter.takeRest();
        if (rest.length > 0) this.receiveData(Buffer.from(rest));
        return;
      }
    }
    const waiting = this.pending;
    // Some prompts ('> ') never get a line end.
    if (waiting?.prompt !== undefined && this.splitter.partial().trim() === waiting.prompt) {
      this.splitter.takeRest();
      this.handleLine(waiting.prompt);
    }
  }

  private handleLine(line: string): void {
    const pending = this.pending ?? this.lingering;
    const kind = classifyLine(line, pending);
    if (kind.kind === 'final') {
      if (kind.result.type === 'connect') this.startData();
      if (pending && pending === this.lingering) {
        this.lingering = undefined;
        this.lingerDone?.();
        return;
      }
      const payload = kind.result.type === 'ready' ? pending?.takePayload() : undefined;
      if (payload) {
        this.writeRaw(payload).catch((e: unknown) => pending!.finish(e as Error));
        return;
      }
      pending?.finish(kind.result, kind.result.type === 'connect' ? kind.result.text : undefined);
      return;
    }
    if (kind.kind === 'intermediate') {
      pending?.lines.push(line);
      return;
    }
    if (kind.kind === 'unsolicited') {
      // A CONNECT nobody waited for (a dial cancelled too late) still means the modem went online.
      if (!pending && /^CONNECT\b/i.test(line)) this.startData();
      for (const listener of this.unsolicited) listener(line);
    }
  }

  /** A cancelled dial's NO CARRIER normally comes at once; the wait is long only because a stale answer taken for the next command's is worse. */
  private waitLingering(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.lingering = undefined;
        done();
      }, Math.max(this.commandTimeoutMs, 5000));
      const done = () => {
        clearTimeout(timer);
        this.lingerDone = undefined;
        resolve();
      };
      this.lingerDone = done;
    });
  }

  private startData(): void {
    this.mode = 'data';
    this.call = new CallData(this.splitter.danglingCr, this.dataIdleFlushMs);
    this.lastWriteAt = Date.now();
  }

  private receiveData(chunk: Buffer): void {
    const { end, rest } = this.call!.push(chunk);
    if (!end) return;
    if (end === 'no-carrier') this.options.trace?.('rx', 'NO CARRIER');
    // After an escape the call is still up (online command mode) but its bytes no longer flow: no end to report.
    this.leaveData(end === 'no-carrier' ? 'no-carrier' : undefined);
    this.escaping?.(true);
    if (rest) this.receive(rest);
  }

  private leaveData(reason: CallEnd | undefined): void {
    const held = this.call?.finish(reason);
    this.call = undefined;
    this.mode = reason === 'port-closed' ? 'closed' : 'command';
    if (held && held.length > 0 && this.mode === 'command') this.splitter.push(held);
  }

  private portClosed(): void {
    if (this.mode === 'data') this.leaveData('port-closed');
    this.mode = 'closed';
    this.pending?.finish(portClosedError(this.port.path));
    this.escaping?.(false);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function portClosedError(path: string): TamtamError {
  return new TamtamError('E_LINK_DOWN', `serial port ${path} closed (modem unplugged or switched off?)`, { retryable: true });
}
