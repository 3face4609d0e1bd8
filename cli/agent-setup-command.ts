import { resolve } from 'node:path';
import { TamtamError } from '../protocol/errors.js';
import { optionalList, optionalString, type Command, type CommandContext } from './command.js';

function timeoutOption(ctx: CommandContext): number | undefined {
  const text = optionalString(ctx, 'timeout');
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new TamtamError('E_USAGE', `--timeout takes seconds, e.g. 120, not '${text}'`);
  return seconds;
}

async function setup(ctx: CommandContext): Promise<void> {
  // Loaded only here: the daemon never carries the set-up's code.
  const [{ runSetup }, { formatSetupSummary }, { LinePrompter, DefaultsPrompter }] = await Promise.all([
    import('../agent/setup/setup-flow.js'), import('../agent/setup/setup-summary.js'), import('../agent/setup/prompter.js'),
  ]);
  const s = (name: string) => optionalString(ctx, name);
  const configPath = resolve(s('config') ?? process.env.TAMTAM_AGENT_CONFIG ?? 'tamtam-agent.json');
  // Questions go where the technician reads them; with --json stdout is kept for the one JSON document.
  const output = ctx.json ? process.stderr : process.stdout;
  const prompter = ctx.values.yes ? new DefaultsPrompter(output) : new LinePrompter(process.stdin, output);
  try {
    const result = await runSetup({
      configPath, cwd: process.cwd(), centre: s('centre'), token: s('token'), broker: s('broker'), username: s('username'), password: s('password'),
      sqlite: s('sqlite'), postgres: s('postgres'), tables: optionalList(ctx, 'table'), modem: s('modem'), driver: s('driver'), number: s('number'), apn: s('apn'),
      ppp: ctx.values.ppp === true, sbd: s('sbd'), streamHost: s('stream-host'), streamPort: s('stream-port'), profile: s('profile'), dataDir: s('data-dir'), ca: s('ca'),
      probe: optionalList(ctx, 'probe'), scan: ctx.values['no-scan'] !== true, test: ctx.values['no-test'] !== true, timeoutSeconds: timeoutOption(ctx),
      command: 'tamtam', execStart: `${process.execPath} ${resolve(process.argv[1] ?? 'tamtam')}`,
    }, prompter);
    ctx.out(ctx.json ? JSON.stringify(result) : `\n${formatSetupSummary(result)}`);
  } finally {
    prompter.close();
  }
}

export const setupCommand: Command = {
  name: 'setup',
  summary: 'set up this centre step by step: finds the database and the modem, asks the rest, enrols, sends a test SDC',
  usage: '[--config FILE] [--yes] [--centre M] [--token T] [--broker URL] [--sqlite FILE | --postgres URL] [--table T] [--modem PORT | --sbd PORT]',
  help: `Asks only what it cannot find out, each question with an example and its
default in [brackets] (Enter takes it). Finds by itself: the centre's database
in this folder (*.db, *.sqlite) and its tables with numero and status, a modem
on the serial ports (Iridium data, Iridium SBD 9602/9603, Thuraya), mounted
USB sticks, and an existing config (its answers are kept). Then it writes the
config, enrols with the hub (if there is no certificate yet), sends a test SDC
and waits for its receipt. If enrolment or the test fails, the config is kept
and the message says what to check and the command to run next.

Every answer can be given as an option (the same as 'tamtam agent init'):
--config FILE     config file to write (default ./tamtam-agent.json or $TAMTAM_AGENT_CONFIG)
--centre M        the centre's matricule, from the hub operator
--token T         the one-time enrolment token, from the hub operator (tt_...)
--ca FILE         the hub's CA certificate, if the operator gave one: the hub's answer must match it
--sqlite FILE | --postgres URL   the centre's database
--table T         a table to sync; repeat for more (default: asked when several are found)
--broker URL      the hub's MQTT broker, e.g. mqtt://hub.example.org:1883 (for a modem centre: used once, to enrol)
--username, --password   broker credentials, if the broker wants them
--modem PORT      dial the hub through the modem on PORT; --driver D, --number N, --ppp, --apn APN as for init
--sbd PORT        Iridium Short Burst Data through the 9602/9603 on PORT
--stream-host H, --stream-port N   the hub's stream endpoint over TCP
--profile P       link profile (internet, iridium-certus-100, thuraya-ip, ...)
--data-dir D      the agent's state, outbox and keys (default: tamtam-agent-data beside the config)
--probe PORT      also look for a modem on PORT (repeatable); --no-scan: only there
--no-test         write and enrol, but send no test SDC
--timeout S       how long the test may take (default 60 s on MQTT, 300 s on a call, 600 s on SBD)
--yes             take every default and ask nothing; a missing answer stops with the option to give

Example, nothing asked:
  tamtam agent setup --yes --centre CM-CE-YDE-0001 --token tt_... --broker mqtt://hub.example.org:1883`,
  options: {
    config: { type: 'string', short: 'c' }, yes: { type: 'boolean', short: 'y' }, centre: { type: 'string' }, token: { type: 'string' }, ca: { type: 'string' },
    sqlite: { type: 'string' }, postgres: { type: 'string' }, table: { type: 'string', multiple: true }, broker: { type: 'string' }, username: { type: 'string' }, password: { type: 'string' },
    modem: { type: 'string' }, driver: { type: 'string' }, number: { type: 'string' }, apn: { type: 'string' }, ppp: { type: 'boolean' }, sbd: { type: 'string' },
    'stream-host': { type: 'string' }, 'stream-port': { type: 'string' }, profile: { type: 'string' }, 'data-dir': { type: 'string' },
    probe: { type: 'string', multiple: true }, 'no-scan': { type: 'boolean' }, 'no-test': { type: 'boolean' }, timeout: { type: 'string' },
  },
  run: setup,
};
