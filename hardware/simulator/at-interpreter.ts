/**
 * The command state of a simulated Hayes-style modem: assembles command lines
 * from the DTE's bytes (echo, backspace, `A/`), splits a line such as
 * `ATE0V1&K3+CBST=71,0,1;+CSQ` into commands through a table, runs them in
 * order and answers with the final result code in the V/Q format chosen.
 *
 * The table is what makes it extensible: a command is a sticky regular
 * expression plus a handler, so Iridium SBD commands (AT+SBDWB, AT+SBDIX)
 * are one more array of entries (ModemSimulatorOptions.extraCommands, tried
 * before the built-in Hayes table of hayes-commands.ts). A handler may be async (dialling) and then
 * sees an AbortSignal fired when the DTE types a character, as a real modem
 * abandons a dial on any key; a handler that needs raw bytes (AT+SBDWB's
 * binary message) takes them with `io.readRaw`.
 */

export interface AtSettings {
  echo: boolean;
  /** V1: words; V0: numbers. */
  verbose: boolean;
  /** Q1: no result codes at all. */
  quiet: boolean;
  /** S-registers by number (S2 escape character, S12 guard time in 1/50 s, ...). */
  registers: Map<number, number>;
}

export function defaultAtSettings(): AtSettings {
  return { echo: true, verbose: true, quiet: false, registers: new Map([[0, 0], [2, 43], [3, 13], [4, 10], [5, 8], [7, 50], [12, 50]]) };
}

export interface AtIo {
  /** Information text shown before the final result code. */
  info(...lines: string[]): void;
  /** Bytes to the DTE as they are, e.g. an SBD `READY` prompt. */
  writeRaw(bytes: string | Buffer): void;
  /** The next `count` bytes from the DTE, unechoed; undefined if they do not arrive within `timeoutMs`. */
  readRaw(count: number, timeoutMs: number): Promise<Buffer | undefined>;
  /** Fired when the DTE types while a long command runs. */
  readonly signal: AbortSignal;
  readonly settings: AtSettings;
}

/**
 * A handler returns nothing (or 'OK') to go on with the rest of the line, or
 * the result code that ends it: 'ERROR', 'NO CARRIER', 'CONNECT 9600', ...
 */
export type AtHandler<C> = (context: C, io: AtIo, match: RegExpExecArray) => string | void | Promise<string | void>;

export interface AtCommand<C> {
  /** Matched at the current position of the line, so it must carry the `y` flag; `i` makes it case-insensitive. */
  pattern: RegExp;
  run: AtHandler<C>;
}

export interface AtInterpreterOptions<C> {
  commands: readonly AtCommand<C>[];
  context: C;
  settings: AtSettings;
  /** Bytes to the DTE. */
  write: (bytes: string | Buffer) => void;
  /** Every command line received, as typed without its terminator. */
  onLine?: (line: string) => void;
}

const NUMERIC: Record<string, number> = {
  OK: 0, CONNECT: 1, RING: 2, 'NO CARRIER': 3, ERROR: 4, 'NO DIALTONE': 6, BUSY: 7, 'NO ANSWER': 8,
  'CONNECT 2400': 10, 'CONNECT 4800': 11, 'CONNECT 9600': 12, 'CONNECT 19200': 14,
};
const MAX_LINE = 1024;
const CR = 13;
const LF = 10;
const BACKSPACE = 8;

export class AtInterpreter<C> {
  private readonly options: AtInterpreterOptions<C>;
  private line = '';
  private lastLine = '';
  private running: AbortController | undefined;
  private rawWanted: { count: number; parts: Buffer[]; got: number; done: (bytes: Buffer | undefined) => void } | undefined;
  private afterCr = false;
  /** Echo is collected per chunk so a typed line costs one write, and flushed before any answer. */
  private echoed: number[] = [];

  constructor(options: AtInterpreterOptions<C>) {
    this.options = options;
  }

  /** A result code not caused by a command line: NO CARRIER on a drop, OK after the escape sequence. */
  unsolicited(code: string): void {
    this.writeResult(code);
  }

  feed(bytes: Buffer): void {
    for (let i = 0; i < bytes.length; i++) {
      if (this.rawWanted) {
        i += this.feedRaw(bytes.subarray(i)) - 1;
        continue;
      }
      const byte = bytes[i];
      if (this.running) {
        // A lone LF is the tail of the CRLF that ended the running line, not a key press.
        if (byte !== CR && byte !== LF) this.running.abort();
        continue;
      }
      this.feedCommandByte(byte);
    }
    this.flushEcho();
  }

  private flushEcho(): void {
    if (this.echoed.length === 0) return;
    const bytes = Buffer.from(this.echoed);
    this.echoed = [];
    this.options.write(bytes);
  }

  private feedCommandByte(byte: number): void {
    const settings = this.options.settings;
    const wasAfterCr = this.afterCr;
    this.afterCr = byte === CR;
    if (settings.echo) this.echoed.push(byte);
    if (byte === LF && wasAfterCr) return;
    if (byte === CR || byte === LF) {
      const line = this.line;
      this.line = '';
      if (/^at/i.test(line)) {
        this.flushEcho();
        this.startLine(line);
      }
      return;
    }
    if (byte === BACKSPACE || byte === (settings.registers.get(5) ?? BACKSPACE)) {
      this.line = this.line.slice(0, -1);
      return;
    }
    if (this.line.length === 0 && byte !== 0x41 && byte !== 0x61) return; // wait for the 'A' that starts a command
    if (this.line.length === 1 && byte === 0x2f) {
      this.line = '';
      if (this.lastLine) {
        this.flushEcho();
        this.startLine(this.lastLine);
      }
      return;
    }
    if (this.line.length < MAX_LINE) this.line += String.fromCharCode(byte);
  }

  private feedRaw(bytes: Buffer): number {
    const wanted = this.rawWanted!;
    const take = Math.min(bytes.length, wanted.count - wanted.got);
    wanted.parts.push(Buffer.from(bytes.subarray(0, take)));
    wanted.got += take;
    if (wanted.got === wanted.count) {
      this.rawWanted = undefined;
      wanted.done(Buffer.concat(wanted.parts));
    }
    return take;
  }

  private startLine(line: string): void {
    this.lastLine = line;
    this.options.onLine?.(line);
    const controller = new AbortController();
    this.running = controller;
    const body = line.slice(2);
    if (body.length >= MAX_LINE - 2) return this.finishLine('ERROR');
    this.continueLine(withoutSpaces(body), 0, this.io(controller.signal));
  }

  /**
   * Runs the line's commands synchronously until one returns a promise, so a
   * DTE that types ahead ("ATE0\rAT\r" in one write) is not taken for a key
   * press aborting the first line; only a long command sees such bytes.
   */
  private continueLine(text: string, from: number, io: AtIo): void {
    let position = from;
    while (position < text.length) {
      if (text[position] === ';') {
        position++;
        continue;
      }
      const found = this.match(text, position);
      if (!found) return this.finishLine('ERROR');
      position = found.match.index + found.match[0].length;
      let result: string | void | Promise<string | void>;
      try {
        result = found.command.run(this.options.context, io, found.match);
      } catch {
        return this.finishLine('ERROR');
      }
      if (result instanceof Promise) {
        const next = position;
        result.then(
          (code) => (code !== undefined && code !== 'OK' ? this.finishLine(code) : this.continueLine(text, next, io)),
          () => this.finishLine('ERROR'),
        );
        return;
      }
      if (result !== undefined && result !== 'OK') return this.finishLine(result);
    }
    this.finishLine('OK');
  }

  private finishLine(result: string): void {
    this.running = undefined;
    this.rawWanted = undefined;
    this.writeResult(result);
  }

  private match(text: string, position: number): { command: AtCommand<C>; match: RegExpExecArray } | undefined {
    for (const command of this.options.commands) {
      command.pattern.lastIndex = position;
      const match = command.pattern.exec(text);
      if (match && match.index === position) return { command, match };
    }
    return undefined;
  }

  private io(signal: AbortSignal): AtIo {
    return {
      info: (...lines) => this.options.write(this.options.settings.verbose ? `\r\n${lines.join('\r\n')}\r\n` : `${lines.join('\r\n')}\r\n`),
      writeRaw: (bytes) => this.options.write(bytes),
      readRaw: (count, timeoutMs) => new Promise((resolve) => {
        if (count <= 0) return resolve(Buffer.alloc(0));
        const timer = setTimeout(() => {
          this.rawWanted = undefined;
          resolve(undefined);
        }, timeoutMs);
        this.rawWanted = { count, parts: [], got: 0, done: (bytes) => { clearTimeout(timer); resolve(bytes); } };
      }),
      signal,
      settings: this.options.settings,
    };
  }

  private writeResult(code: string): void {
    const settings = this.options.settings;
    if (settings.quiet) return;
    if (settings.verbose) this.options.write(`\r\n${code}\r\n`);
    else this.options.write(`${NUMERIC[code] ?? NUMERIC[code.split(' ')[0]] ?? 4}\r`);
  }
}

/** V.250: spaces are ignored except inside quoted strings. */
function withoutSpaces(text: string): string {
  let out = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (ch !== ' ' || quoted) out += ch;
  }
  return out;
}
