import { join, resolve } from 'node:path';
import { agentStatus, formatAgentStatus } from '../agent/agent-status.js';
import { AgentRuntime } from '../agent/agent-runtime.js';
import { loadAgentConfig, writeAgentConfig, type AgentConfigInput } from '../agent/config.js';
import { openSource } from '../agent/source/source-adapter.js';
import { Spool } from '../agent/spool/spool.js';
import { AgentState } from '../agent/state/agent-state.js';
import { TamtamError } from '../protocol/index.js';
import { optionalList, optionalString, requireOption, type CommandContext, type CommandGroup } from './command.js';

const configOption = { config: { type: 'string' as const, short: 'c' } };
const configPath = (ctx: CommandContext) => optionalString(ctx, 'config') ?? process.env.TAMTAM_AGENT_CONFIG ?? 'tamtam-agent.json';
const logLine = (ctx: CommandContext) => (event: string, fields: Record<string, unknown> = {}) => ctx.err(JSON.stringify({ t: new Date().toISOString(), event, ...fields }));


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
    link: {
      kind: 'mqtt', url: requireOption(ctx, 'broker', "the hub's broker, e.g. mqtt://hub.example.org:1883"),
      ...(optionalString(ctx, 'username') ? { username: optionalString(ctx, 'username')! } : {}),
      ...(optionalString(ctx, 'password') ? { password: optionalString(ctx, 'password')! } : {}),
    },
  };
  writeAgentConfig(path, cfg);
  ctx.out(ctx.json ? JSON.stringify({ config: resolve(path) }) : `wrote ${path}. Next: 'tamtam agent enrol --config ${path} --token TOKEN' with the token from the hub operator.`);
}

async function enrolCommand(ctx: CommandContext): Promise<void> {
  const cfg = loadAgentConfig(configPath(ctx));
  const timeout = Number(optionalString(ctx, 'timeout') ?? 60);
  // Key generation and CSRs need all of node-forge; the daemon never does.
  const { enrol } = await import('../agent/enrolment/enrol-client.js');
  const result = await enrol({
    url: cfg.link.url, centre: cfg.centre, token: requireOption(ctx, 'token', 'the one-time enrolment token from the hub operator'),
    keyPath: cfg.privateKey, certPath: cfg.certificate, hubCertPath: cfg.hubCertificate, caPath: join(cfg.dataDir, 'keys', 'ca.crt'),
    username: cfg.link.username, password: cfg.link.password, timeoutMs: timeout * 1000,
  });
  ctx.out(ctx.json ? JSON.stringify(result) : `enrolled ${cfg.centre}: certificate ${result.certPath}, key ${result.keyPath}, hub certificate ${result.hubCertPath}`);
}

async function run(ctx: CommandContext): Promise<void> {
  const agent = await AgentRuntime.open(loadAgentConfig(configPath(ctx)), { log: logLine(ctx) });
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  ctx.err(`agent ${agent.config.centre} running; Ctrl-C stops it (it may be killed at any time: nothing is lost)`);
  try {
    await agent.run(stop.signal);
  } finally {
    await agent.close();
  }
}

async function sync(ctx: CommandContext): Promise<void> {
  const agent = await AgentRuntime.open(loadAgentConfig(configPath(ctx)), { log: ctx.json ? undefined : logLine(ctx) });
  try {
    const report = await agent.syncOnce({ timeoutMs: Number(optionalString(ctx, 'timeout') ?? 120) * 1000 });
    const summary = { packedSdcs: report.packed.sdcs.length, packedRecords: report.packed.records, sent: report.sent, receipts: report.receipts, waiting: report.waiting };
    ctx.out(ctx.json ? JSON.stringify(summary) : `packed ${summary.packedRecords} records in ${summary.packedSdcs} SDCs, sent ${summary.sent}, ${summary.receipts} receipts; ${summary.waiting} SDCs still wait for a receipt`);
    if (report.waiting > 0) throw new TamtamError('E_TIMEOUT', `${report.waiting} SDCs got no receipt in time; they stay in the outbox and go again next time`, { retryable: true });
  } finally {
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
      name: 'init', summary: 'write the agent config file', usage: '--centre M (--sqlite FILE | --postgres URL) --table T [--table T2] --broker URL [--dict T=FILE]',
      help: `--config FILE     config file to write (default ./tamtam-agent.json or $TAMTAM_AGENT_CONFIG)
--centre M        the centre's matricule, from the hub operator
--sqlite FILE     the centre's SQLite database, or
--postgres URL    the centre's PostgreSQL
--table T         a table to sync (it must have numero and status); repeat for more
--dict T=FILE     a compression dictionary for table T (from the hub operator)
--broker URL      the hub's MQTT broker, e.g. mqtt://hub.example.org:1883
--username, --password   the centre's broker credentials, if the broker wants them
--data-dir D      where the agent keeps its state, spool and keys (default ./tamtam-agent-data)`,
      options: { ...configOption, centre: { type: 'string' }, sqlite: { type: 'string' }, postgres: { type: 'string' }, table: { type: 'string', multiple: true }, dict: { type: 'string', multiple: true }, broker: { type: 'string' }, username: { type: 'string' }, password: { type: 'string' }, 'data-dir': { type: 'string' } },
      run: init,
    },
    { name: 'enrol', summary: "make the centre's key, send its request with the token, install the certificate", usage: '--token TOKEN [--config FILE] [--timeout S]', options: { ...configOption, token: { type: 'string' }, timeout: { type: 'string' } }, run: enrolCommand },
    { name: 'run', summary: 'the daemon: packs validated records and sends them as the link allows', usage: '[--config FILE]', options: configOption, run },
    { name: 'sync', summary: 'one session: pack everything validated, send, wait for receipts, stop', usage: '--once [--config FILE] [--timeout S]', options: { ...configOption, once: { type: 'boolean' }, timeout: { type: 'string' } }, run: sync },
    { name: 'status', summary: 'backlog by status, SDCs waiting, last receipt, rejected records, link usage', usage: '[--config FILE] [--json]', options: configOption, run: status },
  ],
};
