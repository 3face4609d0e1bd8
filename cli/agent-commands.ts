import { join, resolve } from 'node:path';
import { agentStatus, formatAgentStatus } from '../agent/agent-status.js';
import { AgentRuntime } from '../agent/agent-runtime.js';
import { loadAgentConfig, writeAgentConfig, type AgentConfigInput } from '../agent/config.js';
import type { LinkConfigInput, ModemDriverName } from '../agent/link/link-config.js';
import { openSource } from '../agent/source/source-adapter.js';
import { Spool } from '../agent/spool/spool.js';
import { AgentState } from '../agent/state/agent-state.js';
import { TamtamError } from '../protocol/index.js';
import { optionalList, optionalString, requireOption, type CommandContext, type CommandGroup } from './command.js';
import { doctorCommand } from './agent-doctor-command.js';
import { PROGRESS_HELP, jsonLog, progressOptions, startProgress, type ProgressHandle } from './agent-progress.js';
import { setupCommand } from './agent-setup-command.js';

const configOption = { config: { type: 'string' as const, short: 'c' } };
const configPath = (ctx: CommandContext) => optionalString(ctx, 'config') ?? process.env.TAMTAM_AGENT_CONFIG ?? 'tamtam-agent.json';


/** MQTT unless --modem names a serial port; --ppp carries MQTT over the modem's call, --stream-host/--stream-port reach the hub's stream endpoint over TCP. */
function linkInput(ctx: CommandContext): LinkConfigInput {
  const profile = optionalString(ctx, 'profile');
  const modemPort = optionalString(ctx, 'modem');
  const mqtt = () => ({
    url: requireOption(ctx, 'broker', "the hub's broker, e.g. mqtt://hub.example.org:1883"),
    ...(optionalString(ctx, 'username') ? { username: optionalString(ctx, 'username')! } : {}),
    ...(optionalString(ctx, 'password') ? { password: optionalString(ctx, 'password')! } : {}),
  });
  const withProfile = <T extends object>(link: T) => (profile ? { ...link, profile } : link);
  if (modemPort) {
    const driver = (optionalString(ctx, 'driver') ?? (ctx.values.ppp ? 'thuraya-gmprs' : 'iridium-csd')) as ModemDriverName;
    const modem = { port: modemPort, driver, ...(optionalString(ctx, 'number') ? { number: optionalString(ctx, 'number')! } : {}), ...(optionalString(ctx, 'apn') ? { apn: optionalString(ctx, 'apn')! } : {}) };
    return ctx.values.ppp ? withProfile({ kind: 'ppp' as const, modem, ...mqtt() }) : withProfile({ kind: 'modem' as const, modem });
  }
  const sbdPort = optionalString(ctx, 'sbd');
  if (sbdPort) return withProfile({ kind: 'sbd' as const, port: sbdPort });
  const streamHost = optionalString(ctx, 'stream-host');
  if (streamHost) return withProfile({ kind: 'tcp' as const, host: streamHost, port: Number(requireOption(ctx, 'stream-port', "the hub's stream endpoint port")) });
  return withProfile({ kind: 'mqtt' as const, ...mqtt() });
}

function init(ctx: CommandContext): void {
  const path = configPath(ctx);
  const sqlite = optionalString(ctx, 'sqlite');
  const postgres = optionalString(ctx, 'postgres');
  if (Boolean(sqlite) === Boolean(postgres)) throw new TamtamError('E_USAGE', "give the centre's database as --sqlite FILE or --postgres URL (one of them)");
  const dicts = new Map(optionalList(ctx, 'dict').map((d) => {
    const at = d.indexOf('=');
    if (at < 1) throw new TamtamError('E_USAGE', `--dict takes TABLE=FILE, not '${d}'`);
    return [d.slice(0, at), resolve(d.slice(at + 1))] as const;
  }));
  const tables = optionalList(ctx, 'table');
  if (tables.length === 0) throw new TamtamError('E_USAGE', 'give at least one --table to sync');
  const cfg: AgentConfigInput = {
    centre: requireOption(ctx, 'centre', "the centre's matricule, as the hub operator gave it"),
    dataDir: resolve(optionalString(ctx, 'data-dir') ?? 'tamtam-agent-data'),
    source: sqlite ? { kind: 'sqlite', path: resolve(sqlite) } : { kind: 'postgres', url: postgres! },
    tables: tables.map((name) => (dicts.has(name) ? { name, dictionary: dicts.get(name)! } : { name })),
    link: linkInput(ctx),
  };
  writeAgentConfig(path, cfg);
  const broker = cfg.link.kind === 'mqtt' || cfg.link.kind === 'ppp' ? '' : ' --broker URL';
  ctx.out(ctx.json ? JSON.stringify({ config: resolve(path) }) : `wrote ${path}. Next: 'tamtam agent enrol --config ${path} --token TOKEN${broker}' with the token from the hub operator.`);
}

async function enrolCommand(ctx: CommandContext): Promise<void> {
  const cfg = loadAgentConfig(configPath(ctx));
  const timeout = Number(optionalString(ctx, 'timeout') ?? 60);
  // Key generation and CSRs need all of node-forge; the daemon never does.
  const { enrol } = await import('../agent/enrolment/enrol-client.js');
  // Enrolment is a request and an answer over MQTT; a centre whose link is a modem call enrols once where the broker can be reached.
  const broker = optionalString(ctx, 'broker');
  const mqtt = cfg.link.kind === 'mqtt' || cfg.link.kind === 'ppp' ? cfg.link : undefined;
  if (!broker && !mqtt) {
    throw new TamtamError('E_USAGE', `this centre's link is a ${cfg.link.kind} call, and enrolment runs over MQTT: give the hub's broker with --broker URL (from a laptop with Internet, or the terminal's IP service)`);
  }
  const result = await enrol({
    url: broker ?? mqtt!.url, centre: cfg.centre, token: requireOption(ctx, 'token', 'the one-time enrolment token from the hub operator'),
    keyPath: cfg.privateKey, certPath: cfg.certificate, hubCertPath: cfg.hubCertificate, caPath: join(cfg.dataDir, 'keys', 'ca.crt'),
    username: mqtt?.username, password: mqtt?.password, timeoutMs: timeout * 1000,
  });
  ctx.out(ctx.json ? JSON.stringify(result) : `enrolled ${cfg.centre}: certificate ${result.certPath}, key ${result.keyPath}, hub certificate ${result.hubCertPath}`);
}

async function run(ctx: CommandContext): Promise<void> {
  let print = ctx.err;
  const path = configPath(ctx);
  const log = jsonLog(() => print);
  const agent = await AgentRuntime.open(loadAgentConfig(path), { log, worker: { configPath: path } });
  const stop = new AbortController();
  // Once only: a second signal takes Node's default and ends the daemon at once (its worker follows, nothing lost).
  const onSignal = (signal: NodeJS.Signals) => {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    log('stopping', { signal, message: 'stopping once the work under way ends; Ctrl-C again stops at once (nothing is lost)' });
    stop.abort();
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  ctx.err(`agent ${agent.config.centre} running; Ctrl-C stops it (it may be killed at any time: nothing is lost)`);
  let progress: ProgressHandle | undefined;
  try {
    const shown = (progress = await startProgress(ctx, agent, 'daemon'));
    if (shown) print = (line) => shown.print(line);
    await agent.run(stop.signal);
  } finally {
    await progress?.stop();
    await agent.close();
  }
}

async function sync(ctx: CommandContext): Promise<void> {
  let print = ctx.err;
  const agent = await AgentRuntime.open(loadAgentConfig(configPath(ctx)), { log: ctx.json ? undefined : jsonLog(() => print) });
  let progress: ProgressHandle | undefined;
  try {
    const shown = (progress = await startProgress(ctx, agent, 'sync'));
    if (shown) print = (line) => shown.print(line);
    const report = await agent.syncOnce({ timeoutMs: Number(optionalString(ctx, 'timeout') ?? 120) * 1000 });
    await progress?.stop();
    const summary = { packedSdcs: report.packed.sdcs.length, packedRecords: report.packed.records, sent: report.sent, receipts: report.receipts, waiting: report.waiting };
    ctx.out(ctx.json ? JSON.stringify(summary) : `packed ${summary.packedRecords} records in ${summary.packedSdcs} SDCs, sent ${summary.sent}, ${summary.receipts} receipts; ${summary.waiting} SDCs still wait for a receipt`);
    if (report.waiting > 0) throw new TamtamError('E_TIMEOUT', `${report.waiting} SDCs got no receipt in time; they stay in the outbox and go again next time`, { retryable: true });
  } finally {
    await progress?.stop();
    await agent.close();
  }
}

/** Reads the state without the agent's lock, so it works beside a running daemon. */
async function status(ctx: CommandContext): Promise<void> {
  const cfg = loadAgentConfig(configPath(ctx));
  const state = AgentState.open(join(cfg.dataDir, 'state.db'));
  const source = await openSource(cfg.source);
  try {
    const report = await agentStatus({
      centre: cfg.centre, state, source, spool: Spool.open(cfg.dataDir), tables: cfg.tables.map((t) => t.name), receiptTimeoutSeconds: cfg.batching.receiptTimeoutSeconds,
    });
    ctx.out(ctx.json ? JSON.stringify(report) : formatAgentStatus(report));
  } finally {
    await source.close();
    state.close();
  }
}

export const agentGroup: CommandGroup = {
  name: 'agent',
  commands: [
    {
      name: 'init', summary: 'write the agent config file', usage: '--centre M (--sqlite FILE | --postgres URL) --table T [--table T2] (--broker URL | --modem PORT) [--dict T=FILE]',
      help: `--config FILE     config file to write (default ./tamtam-agent.json or $TAMTAM_AGENT_CONFIG)
--centre M        the centre's matricule, from the hub operator
--sqlite FILE     the centre's SQLite database, or
--postgres URL    the centre's PostgreSQL
--table T         a table to sync (it must have numero and status); repeat for more
--dict T=FILE     a compression dictionary for table T (from the hub operator)
--broker URL      the hub's MQTT broker, e.g. mqtt://hub.example.org:1883
--username, --password   the centre's broker credentials, if the broker wants them
--modem PORT      no Internet: dial the hub through the satellite modem on PORT (e.g. /dev/ttyUSB0)
--driver D        iridium-csd (default), thuraya-gmprs or hayes; --number N overrides the number dialled
--ppp             carry MQTT over the modem's call with pppd (Thuraya GmPRS: give --apn APN and --broker)
--sbd PORT        Iridium Short Burst Data through the 9602/9603 on PORT (the hub operator registers its IMEI)
--stream-host H, --stream-port N   the hub's stream endpoint over TCP instead of MQTT
--profile P       link profile: internet, iridium-csd, iridium-certus-100, iridium-go-exec, iridium-sbd, thuraya-gmprs, thuraya-ip
--data-dir D      where the agent keeps its state, spool and keys (default ./tamtam-agent-data)`,
      options: { ...configOption, centre: { type: 'string' }, sqlite: { type: 'string' }, postgres: { type: 'string' }, table: { type: 'string', multiple: true }, dict: { type: 'string', multiple: true }, broker: { type: 'string' }, username: { type: 'string' }, password: { type: 'string' }, 'data-dir': { type: 'string' },
        modem: { type: 'string' }, driver: { type: 'string' }, number: { type: 'string' }, apn: { type: 'string' }, ppp: { type: 'boolean' }, 'stream-host': { type: 'string' }, 'stream-port': { type: 'string' }, profile: { type: 'string' }, sbd: { type: 'string' } },
      run: init,
    },
    { name: 'enrol', summary: "make the centre's key, send its request with the token, install the certificate", usage: '--token TOKEN [--config FILE] [--broker URL] [--timeout S]', options: { ...configOption, token: { type: 'string' }, broker: { type: 'string' }, timeout: { type: 'string' } }, run: enrolCommand },
    {
      name: 'run', summary: 'the daemon: packs validated records and sends them as the link allows', usage: '[--config FILE] [--progress | --no-progress] [--progress-min N]',
      help: `${PROGRESS_HELP}\n--progress-min N  show it only while more than N acts wait to go (default 500)`, options: { ...configOption, ...progressOptions, 'progress-min': { type: 'string' } }, run,
    },
    {
      name: 'sync', summary: 'one session: pack everything validated, send, wait for receipts, stop', usage: '--once [--config FILE] [--timeout S] [--progress | --no-progress]',
      help: PROGRESS_HELP, options: { ...configOption, once: { type: 'boolean' }, timeout: { type: 'string' }, ...progressOptions }, run: sync,
    },
    setupCommand,
    doctorCommand,
    { name: 'status', summary: 'backlog by status, SDCs waiting, last receipt, rejected records, link usage', usage: '[--config FILE] [--json]', options: configOption, run: status },
  ],
};
