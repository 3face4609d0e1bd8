/**
 * Pure pieces of the AT dialogue: bytes in, lines and verdicts out. No port,
 * no timers, so every odd thing a modem sends can be tested byte by byte.
 */

export type FinalResult =
  | { type: 'ok' }
  | { type: 'error'; code?: number; source: 'ERROR' | 'CME' | 'CMS' }
  | { type: 'connect'; rate?: number; text: string }
  | { type: 'no-carrier' | 'busy' | 'no-answer' | 'no-dialtone' }
  | { type: 'ready' };

export type LineKind =
  | { kind: 'final'; result: FinalResult }
  | { kind: 'echo' }
  | { kind: 'intermediate' }
  | { kind: 'unsolicited' };

/** The command waiting for its answer, as the classifier needs to know it. */
export interface WaitingCommand {
  command: string;
  /** A line that counts as an answer of its own, e.g. READY after AT+SBDWB. */
  prompt?: string;
}

const CR = 0x0d;
const LF = 0x0a;

/**
 * Cuts incoming bytes into lines at CR, LF or CRLF, dropping the empty lines
 * that verbose result codes are wrapped in. One line at a time, so that the
 * caller can stop at CONNECT and take the bytes after it as call data.
 */
export class AtLineSplitter {
  private buffer: Uint8Array = new Uint8Array(0);
  private crPending = false;

  /** The last line ended in a CR whose LF has not come yet: that LF belongs to the line, not to what follows. */
  get danglingCr(): boolean {
    return this.crPending && this.buffer.length === 0;
  }

  push(bytes: Uint8Array): void {
    if (this.crPending && bytes[0] === LF) bytes = bytes.subarray(1);
    this.crPending = false;
    if (bytes.length === 0) return;
    const next = new Uint8Array(this.buffer.length + bytes.length);
    next.set(this.buffer, 0);
    next.set(bytes, this.buffer.length);
    this.buffer = next;
  }

  /** The next complete, non-empty line, without its terminator. */
  next(): string | undefined {
    for (;;) {
      let end = -1;
      for (let i = 0; i < this.buffer.length; i++) {
        if (this.buffer[i] === CR || this.buffer[i] === LF) {
          end = i;
          break;
        }
      }
      if (end < 0) return undefined;
      const line = Buffer.from(this.buffer.subarray(0, end)).toString('latin1').trim();
      // A CR's LF may come in the next read: push() drops it then.
      const skip = this.buffer[end] === CR && this.buffer[end + 1] === LF ? 2 : 1;
      this.crPending = this.buffer[end] === CR && end + 1 === this.buffer.length;
      this.buffer = this.buffer.subarray(end + skip);
      if (line !== '') return line;
    }
  }

  /** A line still waiting for its terminator: some prompts ('> ') never get one. */
  partial(): string {
    return Buffer.from(this.buffer).toString('latin1');
  }

  /** Hands out and forgets the bytes not yet cut into lines. */
  takeRest(): Uint8Array {
    const rest = this.buffer;
    this.buffer = new Uint8Array(0);
    return rest;
  }
}

const DIAL_FAILURES: Record<string, FinalResult> = {
  'NO CARRIER': { type: 'no-carrier' },
  BUSY: { type: 'busy' },
  'NO ANSWER': { type: 'no-answer' },
  'NO DIALTONE': { type: 'no-dialtone' },
  'NO DIAL TONE': { type: 'no-dialtone' },
};

/** Numeric (ATV0) result codes, for a modem met before ATV1 took effect. */
const NUMERIC: Record<string, FinalResult> = {
  '0': { type: 'ok' },
  '1': { type: 'connect', text: 'CONNECT' },
  '3': { type: 'no-carrier' },
  '4': { type: 'error', source: 'ERROR' },
  '6': { type: 'no-dialtone' },
  '7': { type: 'busy' },
  '8': { type: 'no-answer' },
};

/** Recognises a final result code; undefined for any other line. */
export function parseFinalResult(line: string, options: { numeric?: boolean } = {}): FinalResult | undefined {
  const text = line.trim().toUpperCase();
  if (text === 'OK') return { type: 'ok' };
  if (text === 'ERROR') return { type: 'error', source: 'ERROR' };
  if (text === 'READY') return { type: 'ready' };
  const cm = /^\+CM([ES]) ERROR:\s*(.*)$/.exec(text);
  if (cm) {
    const code = /^\d+$/.test(cm[2]) ? Number(cm[2]) : undefined;
    return { type: 'error', source: cm[1] === 'E' ? 'CME' : 'CMS', ...(code === undefined ? {} : { code }) };
  }
  const connect = /^CONNECT(?:\s+(\d+))?/.exec(text);
  if (connect) return { type: 'connect', text: line.trim(), ...(connect[1] ? { rate: Number(connect[1]) } : {}) };
  if (DIAL_FAILURES[text]) return DIAL_FAILURES[text];
  if (options.numeric && NUMERIC[text]) return NUMERIC[text];
  return undefined;
}

/** Lines a modem sends on its own, whatever command is running. */
const ALWAYS_UNSOLICITED = /^(RING|SBDRING|\+CRING:|\+CIEV:|\+CLIP:|\+CMTI:|\+CDSI:|\+AREG:|\+CUSD:|\+CGEV:)/i;

/** `+CREG: 0,1` → `+CREG`: the prefix an information response starts with. */
function infoPrefix(line: string): string | undefined {
  return /^(\+[A-Z0-9]+):/i.exec(line)?.[1]?.toUpperCase();
}

/**
 * What a line means given the command waiting for an answer. A `+XXX:` line
 * is that command's answer when it asked about XXX, and news otherwise: a
 * `+CREG: 2` arriving during AT+CSQ is the network speaking, not the answer.
 */
export function classifyLine(line: string, pending?: WaitingCommand): LineKind {
  const text = line.trim();
  if (!pending) {
    return { kind: 'unsolicited' };
  }
  if (pending.prompt !== undefined && text.toUpperCase() === pending.prompt.toUpperCase()) {
    return { kind: 'final', result: parseFinalResult(text) ?? { type: 'ready' } };
  }
  const result = parseFinalResult(text);
  if (result && result.type !== 'ready') return { kind: 'final', result };
  if (isEcho(text, pending.command)) return { kind: 'echo' };
  if (/^RING$/i.test(text) || ALWAYS_UNSOLICITED.test(text)) return { kind: 'unsolicited' };
  const prefix = infoPrefix(text);
  if (prefix && !pending.command.toUpperCase().includes(prefix)) return { kind: 'unsolicited' };
  return { kind: 'intermediate' };
}

/** Echo is the command line as sent; some modems echo it with the `AT` in another case. */
export function isEcho(line: string, command: string): boolean {
  return line.trim().toUpperCase() === command.trim().toUpperCase();
}

/** A readable name for a result, for messages. */
export function describeFinal(result: FinalResult): string {
  switch (result.type) {
    case 'ok': return 'OK';
    case 'ready': return 'READY';
    case 'connect': return result.text;
    case 'error': return result.source === 'ERROR' ? 'ERROR' : `+${result.source} ERROR${result.code === undefined ? '' : `: ${result.code}`}`;
    default: return result.type.toUpperCase().replace('-', ' ');
  }
}

/** What the modem says in the data stream when the call ends. */
export const NO_CARRIER = '\r\nNO CARRIER\r\n';

/**
 * Watches call data for a modem's own words (NO CARRIER, or OK after an
 * escape). A pattern may be cut between two reads, so the bytes that could
 * start one are held back until the next read or flush(); everything before
 * a pattern is still data.
 */
export class SequenceScanner {
  private held: Buffer = Buffer.alloc(0);
  private readonly patterns: { text: string; bytes: Buffer }[];

  constructor(patterns: string[]) {
    this.patterns = patterns.map((text) => ({ text, bytes: Buffer.from(text, 'latin1') }));
  }

  push(bytes: Uint8Array): { data: Uint8Array; match?: string; rest?: Uint8Array } {
    const buf = Buffer.concat([this.held, bytes]);
    let best: { at: number; text: string; length: number } | undefined;
    for (const p of this.patterns) {
      const at = buf.indexOf(p.bytes);
      if (at >= 0 && (!best || at < best.at)) best = { at, text: p.text, length: p.bytes.length };
    }
    if (best) {
      this.held = Buffer.alloc(0);
      return { data: buf.subarray(0, best.at), match: best.text, rest: buf.subarray(best.at + best.length) };
    }
    const keep = this.longestPrefixTail(buf);
    this.held = Buffer.from(buf.subarray(buf.length - keep));
    return { data: buf.subarray(0, buf.length - keep) };
  }

  /** True when bytes are held back waiting to see whether a pattern follows. */
  get holding(): boolean {
    return this.held.length > 0;
  }

  /** Gives up waiting: the held bytes were data after all. */
  flush(): Uint8Array {
    const out = this.held;
    this.held = Buffer.alloc(0);
    return out;
  }

  private longestPrefixTail(buf: Buffer): number {
    let keep = 0;
    for (const { bytes } of this.patterns) {
      for (let k = Math.min(bytes.length - 1, buf.length); k > keep; k--) {
        if (buf.subarray(buf.length - k).equals(bytes.subarray(0, k))) {
          keep = k;
          break;
        }
      }
    }
    return keep;
  }
}
