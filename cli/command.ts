import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TamtamError } from '../protocol/errors.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** What a command sees: parsed options, positionals and where to write. */
export interface CommandContext {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
  json: boolean;
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface Command {
  name: string;
  summary: string;
  /** Usage line after `tamtam <group> <name>`, e.g. `<file> --key K`. */
  usage: string;
  /** Longer text for --help: what each option means, an example. */
  help?: string;
  options?: OptionSpec;
  run(ctx: CommandContext): Promise<void> | void;
}

export interface CommandGroup {
  name: string;
  commands: Command[];
}

const commonOptions: OptionSpec = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
};

export function groupHelp(group: CommandGroup, summary: string): string {
  const width = Math.max(...group.commands.map((c) => c.name.length));
  return [
    `tamtam ${group.name}: ${summary}`,
    '',
    'Commands:',
    ...group.commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `Run 'tamtam ${group.name} <command> --help' for a command's options.`,
  ].join('\n');
}

export function commandHelp(group: CommandGroup, command: Command): string {
  const lines = [`Usage: tamtam ${group.name} ${command.name} ${command.usage}`.trimEnd(), '', command.summary];
  if (command.help) lines.push('', command.help.trim());
  lines.push('', 'Common options:', '  --json      machine-readable output on stdout', '  -h, --help  this text');
  return lines.join('\n');
}

/** Parses argv for one command, turning parseArgs' errors into E_USAGE with a hint. */
export function parseCommandArgs(group: CommandGroup, command: Command, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: { ...commonOptions, ...command.options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new TamtamError('E_USAGE', `${(e as Error).message}. Run 'tamtam ${group.name} ${command.name} --help'.`, { cause: e });
  }
}

/** Reads a required string option, failing with a message that names the option. */
export function requireOption(ctx: CommandContext, name: string, what: string): string {
  const v = ctx.values[name];
  if (typeof v !== 'string' || v === '') throw new TamtamError('E_USAGE', `missing --${name} (${what})`);
  return v;
}

export function optionalString(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A repeatable option's values, none when absent. */
export function optionalList(ctx: CommandContext, name: string): string[] {
  const v = ctx.values[name];
  return Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
}

export function requirePositional(ctx: CommandContext, index: number, what: string): string {
  const v = ctx.positionals[index];
  if (v === undefined) throw new TamtamError('E_USAGE', `missing ${what}`);
  return v;
}
