import { createInterface, type Interface } from 'node:readline';
import type { Readable } from 'node:stream';
import { TamtamError } from '../../protocol/errors.js';

/** One question of the set-up: each says what is expected, with an example, and what Enter gives. */
export interface Question {
  text: string;
  /** Shown as "(e.g. ...)". */
  example?: string;
  /** Taken on an empty answer, shown in brackets; '' makes the question skippable. Absent: an answer is needed. */
  default?: string;
  /** The command-line option giving this answer, named when it cannot be asked (--yes, input ended). */
  option: string;
  /** A message saying what is wrong with the answer and what is expected, or undefined when it is good. */
  validate?: (answer: string) => string | undefined | Promise<string | undefined>;
}

export interface Choice<T> {
  label: string;
  value: T;
}

export interface ChoiceQuestion<T> {
  text: string;
  choices: Choice<T>[];
  /** 0-based; default the first. */
  defaultIndex?: number;
  option: string;
}

export interface Prompter {
  ask(q: Question): Promise<string>;
  choose<T>(q: ChoiceQuestion<T>): Promise<T>;
  confirm(q: { text: string; default: boolean; option: string }): Promise<boolean>;
  /** Information for the technician: what was found, what is being done. */
  say(line: string): void;
  close(): void;
}

/** Where questions and findings go: a terminal's stdout, or stderr when stdout carries --json. */
export interface PromptOutput {
  write(text: string): unknown;
}

export function promptText(q: Question): string {
  const example = q.example ? ` (e.g. ${q.example})` : '';
  const fallback = q.default === undefined ? '' : q.default === '' ? ' [Enter to skip]' : ` [${q.default}]`;
  return `${q.text}${example}${fallback}: `;
}

const YES = /^(y|yes|o|oui)$/i;
const NO = /^(n|no|non)$/i;

/**
 * Questions on a stream of lines: a terminal, or answers piped in (a script,
 * a test). Lines that come before their question wait in a queue, which
 * readline's own question() would drop. A bad answer is explained and the
 * question asked again; input that ends leaves an E_USAGE naming the option.
 */
export class LinePrompter implements Prompter {
  private readonly queue: string[] = [];
  private waiter: ((line: string | undefined) => void) | undefined;
  private ended = false;
  private readonly rl: Interface;
  /** Piped answers do not show by themselves: they are echoed, so the transcript reads as a dialogue. */
  private readonly echo: boolean;

  constructor(input: Readable & { isTTY?: boolean }, private readonly output: PromptOutput) {
    this.echo = input.isTTY !== true;
    this.rl = createInterface({ input, terminal: false, crlfDelay: Infinity });
    this.rl.on('line', (line) => {
      const wake = this.waiter;
      this.waiter = undefined;
      if (wake) wake(line);
      else this.queue.push(line);
    });
    this.rl.on('close', () => {
      this.ended = true;
      this.waiter?.(undefined);
      this.waiter = undefined;
    });
  }

  private next(): Promise<string | undefined> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  async ask(q: Question): Promise<string> {
    for (;;) {
      this.output.write(promptText(q));
      const line = await this.next();
      if (line === undefined) {
        this.output.write('\n');
        throw new TamtamError('E_USAGE', `the input ended before an answer to "${q.text}": give it with --${q.option}, or run the set-up in a terminal`);
      }
      if (this.echo) this.output.write(`${line}\n`);
      const answer = line.trim() === '' ? q.default ?? '' : line.trim();
      const problem = answer === '' ? (q.default === '' ? undefined : 'an answer is needed here') : await q.validate?.(answer);
      if (problem === undefined) return answer;
      this.output.write(`  -> ${problem}\n`);
    }
  }

  async choose<T>(q: ChoiceQuestion<T>): Promise<T> {
    const d = q.defaultIndex ?? 0;
    this.say(q.text);
    q.choices.forEach((c, i) => this.say(`  ${i + 1}) ${c.label}`));
    const n = q.choices.length;
    const answer = await this.ask({
      text: `Number, 1 to ${n}`, default: String(d + 1), option: q.option,
      validate: (a) => (/^\d+$/.test(a) && Number(a) >= 1 && Number(a) <= n ? undefined : `type a number from 1 to ${n}, or Enter for ${d + 1}`),
    });
    return q.choices[Number(answer) - 1]!.value;
  }

  async confirm(q: { text: string; default: boolean; option: string }): Promise<boolean> {
    const answer = await this.ask({
      text: `${q.text} (y/n)`, default: q.default ? 'y' : 'n', option: q.option, validate: (a) => (YES.test(a) || NO.test(a) ? undefined : 'answer y (yes) or n (no)'),
    });
    return YES.test(answer);
  }

  say(line: string): void {
    this.output.write(`${line}\n`);
  }

  close(): void {
    this.rl.close();
  }
}

/**
 * `--yes`: every question takes its default, and one that has none stops the
 * set-up with E_USAGE naming the option that answers it, since nobody is
 * there to ask.
 */
export class DefaultsPrompter implements Prompter {
  constructor(private readonly output: PromptOutput) {}

  async ask(q: Question): Promise<string> {
    if (q.default === undefined) {
      throw new TamtamError('E_USAGE', `missing --${q.option}: ${q.text}${q.example ? ` (e.g. ${q.example})` : ''}; with --yes the set-up takes defaults and cannot ask`, { details: { option: q.option } });
    }
    const problem = q.default === '' ? undefined : await q.validate?.(q.default);
    if (problem !== undefined) throw new TamtamError('E_USAGE', `--${q.option}: ${problem}`, { details: { option: q.option } });
    this.say(`${promptText(q)}${q.default}`);
    return q.default;
  }

  async choose<T>(q: ChoiceQuestion<T>): Promise<T> {
    const choice = q.choices[q.defaultIndex ?? 0]!;
    this.say(`${q.text} ${choice.label}`);
    return choice.value;
  }

  async confirm(q: { text: string; default: boolean; option: string }): Promise<boolean> {
    this.say(`${q.text} ${q.default ? 'yes' : 'no'}`);
    return q.default;
  }

  say(line: string): void {
    this.output.write(`${line}\n`);
  }

  close(): void {}
}
