import { abortError } from './async-lock.js';
import { TamtamError } from '../../protocol/errors.js';
import { describeFinal, type FinalResult } from './at-lines.js';

export interface AtResponse {
  /** Information lines, without echo and unsolicited lines. */
  lines: string[];
  /** The final result as the modem wrote it: 'OK', 'CONNECT 9600', 'READY'. */
  final: string;
  result: FinalResult;
}

export interface PendingHooks {
  /** The error for no (complete) answer in time: silence and half an answer mean different things. */
  timedOut(pending: PendingCommand): Error;
  /** The caller gave up; the modem's answer is still to come. */
  aborted(pending: PendingCommand): void;
  /** Settled either way. */
  done(pending: PendingCommand): void;
}

/**
 * One command waiting for its answer: its lines so far, its deadline, its
 * caller's AbortSignal. Settles once, on the final result, an error, the
 * deadline or the abort.
 */
export class PendingCommand {
  readonly lines: string[] = [];
  /** Whether the modem sent anything since the command went out. */
  heard = false;
  readonly result: Promise<AtResponse>;
  private settle!: (value: AtResponse | Error) => void;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort: () => void;

  constructor(
    readonly command: string,
    private readonly options: { timeoutMs: number; signal?: AbortSignal | undefined; prompt?: string | undefined; payload?: Uint8Array | undefined },
    hooks: PendingHooks,
  ) {
    this.result = new Promise<AtResponse>((resolve, reject) => {
      this.settle = (value) => {
        clearTimeout(this.timer);
        options.signal?.removeEventListener('abort', this.onAbort);
        hooks.done(this);
        if (value instanceof Error) reject(value);
        else resolve(value);
      };
    });
    this.timer = setTimeout(() => this.finish(hooks.timedOut(this)), options.timeoutMs);
    this.onAbort = () => {
      this.finish(abortError(options.signal!, command));
      hooks.aborted(this);
    };
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  get prompt(): string | undefined {
    return this.options.prompt;
  }

  /** The bytes to write on the prompt, handed out once. */
  takePayload(): Uint8Array | undefined {
    const payload = this.options.payload;
    this.options.payload = undefined;
    return payload;
  }

  finish(result: FinalResult | Error, text?: string): void {
    if (result instanceof Error) return this.settle(result);
    const final = text ?? describeFinal(result);
    if (result.type === 'ok' || result.type === 'connect' || result.type === 'ready') return this.settle({ lines: this.lines, final, result });
    this.settle(atResultError(this.command, result, final, this.lines));
  }
}

/** ERROR and +CME ERROR are refusals; NO CARRIER, BUSY... are a dial that did not get through, worth trying again. */
function atResultError(command: string, result: FinalResult, final: string, lines: string[]): TamtamError {
  if (result.type === 'error') {
    return new TamtamError('E_MODEM_ERROR', `the modem refused ${command}: ${final}`, {
      details: { command, result: final, lines, ...(result.code === undefined ? {} : { code: result.code }) },
    });
  }
  return new TamtamError('E_DIAL_FAILED', `${command} failed: ${final}`, { retryable: true, details: { command, result: final } });
}

/** Silence and a half answer call for different checks: the first is power, cable or baud rate. */
export function noAnswerError(port: { path: string; baudRate: number }, command: string, timeoutMs: number, heard: boolean, lines: string[]): TamtamError {
  const { path, baudRate } = port;
  if (heard) {
    return new TamtamError('E_TIMEOUT', `the modem on ${path} began answering ${command} but did not finish within ${timeoutMs / 1000} s`, {
      retryable: true, details: { command, lines },
    });
  }
  return new TamtamError('E_MODEM_SILENT', `the modem on ${path} did not answer ${command} within ${timeoutMs / 1000} s: check that it is powered on, that the cable is plugged in at both ends, and the baud rate (${baudRate})`, {
    retryable: true, details: { command, path, baudRate },
  });
}
