import { copyFileSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseJsonLines, readInput } from '../common/read-input.js';
import { TamtamError } from '../protocol/errors.js';
import { createCentralTable, inferColumns } from '../hub/central-tables.js';
import { centralSummary } from '../hub/central-summary.js';
import { withHubDatabase } from '../hub/hub-access.js';
import { DEFAULT_HTTP_PORT, hubPaths, initHubHome, loadHubHome } from '../hub/hub-home.js';
import { jsonLog, startHub } from '../hub/hub-runtime.js';
import { listQuarantine } from '../hub/ingest/quarantine.js';
import { CentreRegistry, type Centre, type CentreStatusCode } from '../hub/registry/centre-registry.js';
import { decodeDictionary } from '../protocol/index.js';
import { optionalList, optionalString, requireOption, requirePositional, type CommandContext, type CommandGroup } from './command.js';
import { staffCommands } from './staff-commands.js';

const dirOption = { dir: { type: 'string' as const } };
const hubDir = (ctx: CommandContext) => optionalString(ctx, 'dir') ?? process.env.TAMTAM_HUB_DIR ?? 'tamtam-hub';
const withRegistry = <T>(ctx: CommandContext, fn: (r: CentreRegistry) => Promise<T>) => withHubDatabase(loadHubHome(hubDir(ctx)), (db) => fn(new CentreRegistry(db)));
const STATUS = ['suspended', 'some services', 'all but data', 'all'];

function centreView(c: Centre) {
  return {
    matricule: c.matricule, name: c.name, city: c.city, phone: c.phone, email: c.email, status: c.status, statusName: STATUS[c.status],
    enrolled: c.certPem !== null, certificateExpires: c.certNotAfter?.toISOString() ?? null, credit: c.credit, monthlyBudgetUsd: c.monthlyBudgetUsd,
    lastContact: c.lastContactAt?.toISOString() ?? null, lastSequence: c.lastSequence?.toString() ?? null,
  };
}

function printCentre(ctx: CommandContext, c: Centre): void {
  const v = centreView(c);
  if (ctx.json) return ctx.out(JSON.stringify(v));
  ctx.out(Object.entries(v).map(([k, x]) => `${k.padEnd(19)} ${x ?? '-'}`).join('\n'));
}

function portNumber(v: string, option: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new TamtamError('E_USAGE', `${option} takes a port number from 0 to 65535, not '${v}'`);
  return n;
}

/** A budget as typed: USD, or 'none' for no budget. */
function budgetValue(v: string, option: string): number | null {
  if (v === 'none') return null;
  if (!/^\d{1,9}(\.\d{1,2})?$/.test(v)) throw new TamtamError('E_USAGE', `${option} takes an amount in USD such as 250 or 99.50, or none, not '${v}'`);
  return Number(v);
}

function httpOption(ctx: CommandContext) {
  if (ctx.values['no-http'] === true) {
    if (optionalString(ctx, 'http-port') || optionalString(ctx, 'http-host')) throw new TamtamError('E_USAGE', '--no-http goes without --http-port and --http-host');
    return {};
  }
  const port = optionalString(ctx, 'http-port');
  const host = optionalString(ctx, 'http-host');
  return { http: { port: port ? portNumber(port, '--http-port') : DEFAULT_HTTP_PORT, ...(host ? { host } : {}) } };
}

async function init(ctx: CommandContext): Promise<void> {
  const port = optionalString(ctx, 'mqtt-port');
  const streamPort = optionalString(ctx, 'stream-port');
  const directIpPort = optionalString(ctx, 'directip-port');
  const gateway = optionalString(ctx, 'sbd-gateway');
  if (Boolean(directIpPort) !== Boolean(gateway)) throw new TamtamError('E_USAGE', 'Iridium SBD needs both --directip-port N (where the gateway delivers) and --sbd-gateway HOST:PORT (the gateway\'s MT endpoint)');
  const [gatewayHost, gatewayPort] = gateway ? [gateway.slice(0, gateway.lastIndexOf(':')), gateway.slice(gateway.lastIndexOf(':') + 1)] : ['', ''];
  const home = initHubHome(hubDir(ctx), {
    ...(streamPort ? { streamPort: portNumber(streamPort, '--stream-port') } : {}), streamHost: optionalString(ctx, 'stream-host'),
    ...(directIpPort ? { directIp: { port: portNumber(directIpPort, '--directip-port'), gateway: { host: gatewayHost || '127.0.0.1', port: portNumber(gatewayPort, '--sbd-gateway') } } } : {}),
    hubId: optionalString(ctx, 'hub-id'), databaseUrl: optionalString(ctx, 'database-url'), brokerUrl: optionalString(ctx, 'broker-url'),
    brokerUsername: optionalString(ctx, 'broker-username'), brokerPassword: optionalString(ctx, 'broker-password'),
    ...(port ? { mqttPort: portNumber(port, '--mqtt-port') } : {}), force: ctx.values.force === true, t2dRoots: optionalList(ctx, 't2d-root'),
    ...httpOption(ctx),
  });
  const p = hubPaths(home.dir);
  if (ctx.json) return ctx.out(JSON.stringify({ dir: home.dir, hubId: home.config.hubId, caCert: p.caCert, hubCert: p.hubCert }));
  ctx.out([
    `hub folder ${home.dir} ready (hub id ${home.config.hubId})`,
    `  CA certificate   ${p.caCert}   (give it to every centre)`,
    `  hub certificate  ${p.hubCert}  (centres encrypt for it)`,
    `  database         ${home.config.databaseUrl ? 'external' : 'embedded, in pgdata/'}`,
    `  broker           ${home.config.brokerUrl ?? `embedded, on 127.0.0.1:${home.config.mqttPort}`}`,
    `  modem calls      ${home.config.streamPort === undefined ? 'none (--stream-port N takes them)' : `TCP ${home.config.streamHost ?? '127.0.0.1'}:${home.config.streamPort}`}`,
    `  dashboard        ${home.config.http ? `http://${home.config.http.host ?? '127.0.0.1'}:${home.config.http.port}/ (staff log in: 'tamtam hub staff add NAME --role admin')` : 'none (--http-port N serves it)'}`,
    `  USB sticks       ${home.config.t2dRoots ? `imported when mounted under ${home.config.t2dRoots.join(', ')}` : "none watched (--t2d-root DIR; or 'tamtam t2d import DIR' by hand)"}`,
    `Next: 'tamtam hub table create <table> --like sample.jsonl', 'tamtam hub centre add --name ...', 'tamtam hub start'.`,
  ].join('\n'));
}

async function start(ctx: CommandContext): Promise<void> {
  const hub = await startHub(loadHubHome(hubDir(ctx)), { log: jsonLog });
  ctx.err(`hub running: database ${hub.embeddedDatabase ? 'embedded' : 'external'}, broker ${hub.brokerUrl}. Ctrl-C stops it.`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await hub.stop();
}

async function centreAdd(ctx: CommandContext): Promise<void> {
  const status = optionalString(ctx, 'status');
  const budgetText = optionalString(ctx, 'budget');
  const budget = budgetText === undefined ? null : budgetValue(budgetText, '--budget');
  const { centre, token, expiresAt } = await withRegistry(ctx, async (r) => {
    const added = await r.add({
      name: requireOption(ctx, 'name', "the centre's name"), matricule: optionalString(ctx, 'matricule'), city: optionalString(ctx, 'city'),
      phone: optionalString(ctx, 'phone'), email: optionalString(ctx, 'email'), ...(status ? { status: Number(status) as CentreStatusCode } : {}),
      ...(optionalString(ctx, 'imei') ? { imei: optionalString(ctx, 'imei') } : {}),
    });
    if (budget !== null) await r.setBudget(added.centre.matricule, budget);
    return added;
  });
  if (ctx.json) return ctx.out(JSON.stringify({ matricule: centre.matricule, token, tokenExpires: expiresAt.toISOString() }));
  ctx.out(`centre ${centre.matricule} added (${centre.name})\nenrolment token: ${token}\n(one use, valid until ${expiresAt.toISOString()}; give it to the centre's technician for 'tamtam agent enrol')`);
}

async function centreList(ctx: CommandContext): Promise<void> {
  const status = optionalString(ctx, 'status');
  const { centres, total } = await withRegistry(ctx, (r) => r.list({
    search: optionalString(ctx, 'search'), limit: Number(optionalString(ctx, 'limit') ?? 50), offset: Number(optionalString(ctx, 'offset') ?? 0),
    ...(status ? { status: Number(status) as CentreStatusCode } : {}),
  }));
  if (ctx.json) return ctx.out(JSON.stringify({ total, centres: centres.map(centreView) }));
  ctx.out(`${total} centre(s)`);
  for (const c of centres) ctx.out(`${c.matricule.padEnd(20)} ${STATUS[c.status].padEnd(14)} ${c.certPem ? 'enrolled' : 'not enrolled'}  ${c.lastContactAt?.toISOString() ?? 'never'}  ${c.name}`);
}

const centreAction = (action: 'get' | 'suspend' | 'resume') => async (ctx: CommandContext) => {
  const matricule = requirePositional(ctx, 0, 'the centre matricule');
  const centre = await withRegistry(ctx, async (r) => (action === 'get' ? r.require(matricule) : r[action](matricule)));
  printCentre(ctx, centre);
};

async function centreBudget(ctx: CommandContext): Promise<void> {
  const matricule = requirePositional(ctx, 0, 'the centre matricule');
  const budget = budgetValue(requirePositional(ctx, 1, "the monthly budget in USD, or 'none'"), 'the budget');
  const set = await withRegistry(ctx, (r) => r.setBudget(matricule, budget));
  if (ctx.json) return ctx.out(JSON.stringify({ matricule, monthlyBudgetUsd: set }));
  ctx.out(set === null ? `centre ${matricule} has no monthly link budget` : `centre ${matricule}: monthly link budget ${set.toFixed(2)} USD (the dashboard flags the centre when its month's link cost goes over it)`);
}

async function tableCreate(ctx: CommandContext): Promise<void> {
  const name = requirePositional(ctx, 0, 'the table name');
  const like = requireOption(ctx, 'like', 'sample records (JSON lines) to take column names and types from');
  const columns = inferColumns(parseJsonLines(readFileSync(like, 'utf8'), like));
  await withHubDatabase(loadHubHome(hubDir(ctx)), (db) => createCentralTable(db, name, columns));
  ctx.out(ctx.json ? JSON.stringify({ table: name, columns }) : `central table ${name}: ${columns.length} columns from ${like}, plus the hub's own (hub_numero, centre, source numero, version, SDC, time received)`);
}

async function tables(ctx: CommandContext): Promise<void> {
  const counts = await withHubDatabase(loadHubHome(hubDir(ctx)), (db) => centralSummary(db));
  if (ctx.json) return ctx.out(JSON.stringify(counts));
  if (counts.length === 0) ctx.out('no records in the central tables yet');
  for (const c of counts) ctx.out(`${c.table.padEnd(14)} ${c.centre.padEnd(20)} ${String(c.records).padStart(8)} records ${String(c.versions).padStart(8)} versions  last ${c.lastReceived?.toISOString() ?? '-'}`);
}

async function dictAdd(ctx: CommandContext): Promise<void> {
  const file = requirePositional(ctx, 0, 'the dictionary file');
  const dict = decodeDictionary(readInput(file, 'dictionary'));
  const home = loadHubHome(hubDir(ctx));
  const target = join(hubPaths(home.dir).dictionaries, `${dict.table}-${dict.id.toString(16).padStart(8, '0')}.dict`);
  copyFileSync(file, target);
  ctx.out(`dictionary ${dict.id.toString(16).padStart(8, '0')} for ${dict.table} installed as ${basename(target)}; restart the hub to use it`);
}

async function quarantine(ctx: CommandContext): Promise<void> {
  const rows = await withHubDatabase(loadHubHome(hubDir(ctx)), (db) => listQuarantine(db, { sender: optionalString(ctx, 'sender'), limit: Number(optionalString(ctx, 'limit') ?? 50) }));
  if (ctx.json) return ctx.out(JSON.stringify(rows));
  if (rows.length === 0) ctx.out('quarantine is empty');
  for (const q of rows) ctx.out(`#${q.id} ${q.receivedAt.toISOString()} via ${q.via} from ${q.sender ?? '?'}: [${q.code}] ${q.reason}`);
}

const statusHelp = 'status: 0 suspended, 1 some services, 2 all but data services, 3 all (default)';

export const hubGroup: CommandGroup = {
  name: 'hub',
  commands: [
    {
      name: 'init', summary: 'create a hub folder: CA, hub certificate, configuration', usage: '[--dir D] [--database-url URL] [--broker-url URL] [--t2d-root DIR]',
      help: `--dir D              hub folder (default ./tamtam-hub or $TAMTAM_HUB_DIR)
--database-url URL   PostgreSQL; without it the hub runs an embedded PostgreSQL in D/pgdata
--broker-url URL     MQTT broker (Mosquitto, EMQX); without it the hub runs one on 127.0.0.1
--broker-username, --broker-password   the hub's own broker credentials
--mqtt-port N        port of the embedded broker (default 1883)
--stream-port N      TCP port taking modem calls (Iridium RUDICS delivers data calls there); none by default
--stream-host H      address it listens on (default 127.0.0.1)
--directip-port N, --sbd-gateway HOST:PORT   Iridium SBD: where the gateway delivers MO messages, and its MT endpoint
--t2d-root DIR       a folder where USB sticks get mounted (e.g. /media/tamtam): the running hub imports each stick
                     that appears there and writes the receipts back onto it; repeat for more
--http-port N        port of the staff dashboard, HTTP API and /metrics (default ${DEFAULT_HTTP_PORT})
--http-host H        address it listens on (default 127.0.0.1)
--no-http            no dashboard
--hub-id ID          the hub's sender id on receipts (default 'hub')
--force              replace an existing CA (every centre must enrol again)`,
      options: { ...dirOption, 'database-url': { type: 'string' }, 'broker-url': { type: 'string' }, 'broker-username': { type: 'string' }, 'broker-password': { type: 'string' }, 'mqtt-port': { type: 'string' }, 'stream-port': { type: 'string' }, 'stream-host': { type: 'string' }, 'directip-port': { type: 'string' }, 'sbd-gateway': { type: 'string' }, 't2d-root': { type: 'string', multiple: true }, 'hub-id': { type: 'string' }, force: { type: 'boolean' }, 'http-port': { type: 'string' }, 'http-host': { type: 'string' }, 'no-http': { type: 'boolean' } },
      run: init,
    },
    { name: 'start', summary: 'run the hub until Ctrl-C (logs are JSON lines on stderr)', usage: '[--dir D]', options: dirOption, run: start },
    {
      name: 'centre add', summary: 'register a centre; prints its matricule and a one-time enrolment token', usage: '--name N [--matricule M] [--city C] [--phone P] [--email E] [--status S] [--imei IMEI] [--budget USD]',
      help: `${statusHelp}
--imei IMEI   the centre's Iridium SBD modem, when it sends by Short Burst Data
--budget USD  its monthly link budget: the dashboard flags it when the month's link cost goes over`,
      options: { ...dirOption, name: { type: 'string' }, matricule: { type: 'string' }, city: { type: 'string' }, phone: { type: 'string' }, email: { type: 'string' }, status: { type: 'string' }, imei: { type: 'string' }, budget: { type: 'string' } },
      run: centreAdd,
    },
    { name: 'centre list', summary: 'list centres', usage: '[--status S] [--search TEXT] [--limit N] [--offset N]', help: statusHelp, options: { ...dirOption, status: { type: 'string' }, search: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' } }, run: centreList },
    { name: 'centre show', summary: "show one centre's record", usage: 'MATRICULE', options: dirOption, run: centreAction('get') },
    { name: 'centre suspend', summary: 'suspend a centre: its data SDCs are refused with a receipt saying so', usage: 'MATRICULE', options: dirOption, run: centreAction('suspend') },
    { name: 'centre resume', summary: 'give a suspended centre all services again', usage: 'MATRICULE', options: dirOption, run: centreAction('resume') },
    { name: 'centre budget', summary: "set a centre's monthly link budget in USD, or none", usage: 'MATRICULE USD|none', options: dirOption, run: centreBudget },
    { name: 'table create', summary: "create a central table with the columns of sample records", usage: 'NAME --like rows.jsonl', options: { ...dirOption, like: { type: 'string' } }, run: tableCreate },
    { name: 'tables', summary: 'what reached the central tables, per table and centre', usage: '[--json]', options: dirOption, run: tables },
    { name: 'dict add', summary: 'install a compression dictionary made with tamtam sdc dict train', usage: 'FILE', options: dirOption, run: dictAdd },
    { name: 'quarantine', summary: 'list SDCs that could not be opened or attributed, with why', usage: '[--sender ID] [--limit N]', options: { ...dirOption, sender: { type: 'string' }, limit: { type: 'string' } }, run: quarantine },
    ...staffCommands,
  ],
};

