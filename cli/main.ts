import { stderr, stdout } from 'node:process';
import { TamtamError } from '../protocol/errors.js';
import { commandHelp, groupHelp, parseCommandArgs, type CommandGroup } from './command.js';
import { groups, type GroupEntry } from './groups.js';

function mainHelp(all: GroupEntry[]): string {
  const width = Math.max(...all.map((g) => g.name.length));
  return [
    'tamtam: store-and-forward sync of validated records to a central PostgreSQL',
    '',
    'Usage: tamtam <group> <command> [options]',
    '',
    'Groups:',
    ...all.map((g) => `  ${g.name.padEnd(width)}  ${g.summary}`),
    '',
    "Run 'tamtam <group> --help' for its commands.",
  ].join('\n');
}

/** Runs one command line; returns the exit code. Exported for tests that run the CLI in-process. */
export async function runCli(
  args: string[],
  out: (s: string) => void = (s) => void stdout.write(s + '\n'),
  err: (s: string) => void = (s) => void stderr.write(s + '\n'),
): Promise<number> {
  const [groupName, commandName, ...rest] = args;
  if (groupName === undefined || groupName === '--help' || groupName === '-h' || groupName === 'help') {
    out(mainHelp(groups));
    return groupName === undefined ? 1 : 0;
  }
  const entry = groups.find((g) => g.name === groupName);
  if (!entry) {
    err(`tamtam: unknown group '${groupName}'.\n\n${mainHelp(groups)}`);
    return 2;
  }
  const group = await entry.load();
  if (commandName === undefined || commandName === '--help' || commandName === '-h') {
    out(groupHelp(group, entry.summary));
    return commandName === undefined ? 1 : 0;
  }
  // `sdc dict train`: a command name may be two words.
  let command = group.commands.find((c) => c.name === commandName);
  let remaining = rest;
  if (!command && rest[0] !== undefined) {
    command = group.commands.find((c) => c.name === `${commandName} ${rest[0]}`);
    remaining = rest.slice(1);
  }
  if (!command) {
    err(`tamtam ${group.name}: unknown command '${commandName}'.\n\n${groupHelp(group, entry.summary)}`);
    return 2;
  }
  let json = remaining.includes('--json');
  try {
    const parsed = parseCommandArgs(group, command, remaining);
    if (parsed.values.help) {
      out(commandHelp(group, command));
      return 0;
    }
    json = parsed.values.json === true;
    await command.run({ values: parsed.values, positionals: parsed.positionals, json, out, err });
    return 0;
  } catch (e) {
    if (e instanceof TamtamError) {
      if (json) out(JSON.stringify({ error: e.toJSON() }));
      else err(`tamtam ${group.name} ${command.name}: ${e.message} [${e.code}]`);
      return e.code === 'E_USAGE' ? 2 : 1;
    }
    err(`tamtam ${group.name} ${command.name}: unexpected failure: ${(e as Error)?.stack ?? String(e)}`);
    return 70;
  }
}
