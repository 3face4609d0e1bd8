import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { AgentRuntime } from '../agent/agent-runtime.js';
import { loadAgentConfig } from '../agent/config.js';
import type { StickReport } from '../agent/t2d/stick-exchange.js';
import { STICK_FOLDER, Stick } from '../common/t2d-stick.js';
import { withHubDatabase } from '../hub/hub-access.js';
import { loadHubHome } from '../hub/hub-home.js';
import { PgOutboundStore } from '../hub/db/pg-outbound-store.js';
import { quietLog, type HubLog } from '../hub/hub-runtime.js';
import { IngestPipeline } from '../hub/ingest/ingest-pipeline.js';
import { CentreRegistry } from '../hub/registry/centre-registry.js';
import { importStick, type StickImportReport } from '../hub/t2d/stick-import.js';
import { loadCompressor } from '../protocol/compressor.js';
import { TamtamError, isTamtamError } from '../protocol/errors.js';
import { optionalString, requirePositional, type CommandContext, type CommandGroup } from './command.js';

/** The mount point, also when given the stick's tamtam/ folder itself. */
function stickRoot(ctx: CommandContext): string {
  const dir = resolve(requirePositional(ctx, 0, "the stick's folder (where it is mounted, e.g. /media/usb0)"));
  return !existsSync(join(dir, STICK_FOLDER)) && basename(dir) === STICK_FOLDER ? dirname(dir) : dir;
}

/** Per-file lines on stderr as they happen, so a long import shows progress; the summary goes to stdout. */
const progress = (ctx: CommandContext): HubLog => ({
  info: (event, f = {}) => {
    if (event === 'stick_sdc') ctx.err(`  ${f.file}: ${f.outcome}${f.centre ? ` (centre ${f.centre}, SDC ${f.sequence ?? '?'})` : ''}${f.receipt ? ` -> ${f.receipt}` : ''}`);
  },
  error: (event, f = {}) => ctx.err(`  ${f.file ?? ''} ${event}: ${f.reason} [${f.code}]`),
});

export function formatImportReport(r: StickImportReport): string {
  const lines = [`stick ${r.root}: ${r.files.length} SDC file(s) read`];
  for (const c of r.centres) {
    lines.push(`  ${c.centre}: read ${c.read}, merged ${c.merged} SDC(s) (${c.records} records, ${c.duplicates} already there), answered before ${c.replays}, `
      + `refused ${c.refused}, quarantined ${c.quarantined}, failed ${c.failed}; receipts written ${c.receiptsWritten}`);
    for (const p of c.problems) lines.push(`    ${p.file}: ${p.outcome}${p.code ? ` [${p.code}]` : ''}: ${p.reason}`);
  }
  for (const n of r.notices) lines.push(`  note: ${n}`);
  if (r.receiptError) lines.push(`  receipts not written [${r.receiptError.code}]: ${r.receiptError.message}`);
  if (r.error) lines.push(`  the stick could not be read [${r.error.code}]: ${r.error.message}`);
  lines.push('you can remove the stick now');
  return lines.join('\n');
}

async function importCommand(ctx: CommandContext): Promise<void> {
  const root = stickRoot(ctx);
  const home = loadHubHome(optionalString(ctx, 'dir') ?? process.env.TAMTAM_HUB_DIR ?? 'tamtam-hub');
  const stick = Stick.open(root);
  if (!existsSync(join(root, STICK_FOLDER))) ctx.err(`note: ${root} has no ${STICK_FOLDER}/ folder: no centre has written on it yet`);
  const report = await withHubDatabase(home, async (db) => {
    const pipeline = new IngestPipeline({
      db, registry: new CentreRegistry(db), compressor: await loadCompressor(), hubKey: home.hubKey, hubCert: home.hubCert, hubId: home.config.hubId,
      dictionaries: (id) => home.dictionaries.find((d) => d.id === id),
    });
    return importStick(stick, { pipeline, outbound: new PgOutboundStore(db), log: ctx.json ? quietLog : progress(ctx) });
  });
  const failed = report.error ?? report.receiptError ?? (report.files.some((f) => f.outcome === 'failed') ? { code: 'E_IO' as const, message: 'some SDCs could not be taken' } : undefined);
  if (!ctx.json) ctx.out(formatImportReport(report));
  else if (!failed) ctx.out(JSON.stringify(report));
  // One JSON document on stdout either way: the report, or the error carrying it.
  if (failed) throw new TamtamError(failed.code, `${failed.message}; what was not done is done at the next import`, { details: { report } });
}

async function exportCommand(ctx: CommandContext): Promise<void> {
  const root = stickRoot(ctx);
  const configPath = optionalString(ctx, 'config') ?? process.env.TAMTAM_AGENT_CONFIG ?? 'tamtam-agent.json';
  const config = loadAgentConfig(configPath);
  let agent: AgentRuntime;
  try {
    agent = await AgentRuntime.open(config, ctx.json ? {} : { log: (event, fields = {}) => ctx.err(JSON.stringify({ t: new Date().toISOString(), event, ...fields })) });
  } catch (e) {
    if (isTamtamError(e, 'E_CONFIG') && /in use by process/.test(e.message)) {
      throw new TamtamError('E_CONFIG', `${e.message}. That is the agent daemon: when its config has 't2d' set it exchanges with every stick inserted by itself; `
        + `otherwise stop it, run this command, and start it again`, { cause: e });
    }
    throw e;
  }
  try {
    // Whoever carries a stick out expects every validated record on it, as `agent sync --once` sends them all.
    const packed = await agent.pack(true);
    const report = await agent.exchangeWithStick(root);
    if (ctx.json && report.errors.length === 0) ctx.out(JSON.stringify({ ...report, packedSdcs: packed.sdcs.length, packedRecords: packed.records }));
    if (!ctx.json) ctx.out(formatExportReport(config.centre, report, packed.records));
    // What could be done was done; a problem (stick full, write-protected) still fails the command, carrying the report.
    const first = report.errors[0];
    if (first) throw new TamtamError(first.code, `${first.message}${report.errors.length > 1 ? ` (and ${report.errors.length - 1} more problem(s))` : ''}`, { details: { report } });
  } finally {
    await agent.close();
  }
}

function formatExportReport(centre: string, r: StickReport, packed: number): string {
  const lines = [
    `centre ${centre}, stick ${r.root}:`,
    `  validated records packed   ${packed}`,
    `  SDCs written for the hub   ${r.written}${r.alreadyThere ? ` (and ${r.alreadyThere} already on it)` : ''}`,
    `  receipts applied           ${r.receiptsApplied}${r.receiptsRepeated ? ` (and ${r.receiptsRepeated} repeats)` : ''}${r.receiptsQuarantined ? `, ${r.receiptsQuarantined} quarantined` : ''}`,
  ];
  if (r.withdrawn) lines.push(`  taken off the stick        ${r.withdrawn} (their receipt came by another link)`);
  if (r.relayedUp || r.relayedDown) lines.push(`  relayed for other centres  ${r.relayedUp} SDC(s) to the hub, ${r.relayedDown} receipt(s) onto the stick`);
  for (const n of r.notices) lines.push(`  note: ${n}`);
  for (const e of r.errors) lines.push(`  problem [${e.code}]: ${e.message}`);
  lines.push(r.pullable ? 'you can remove the stick now' : 'do NOT remove the stick yet');
  return lines.join('\n');
}

export const t2dGroup: CommandGroup = {
  name: 't2d',
  commands: [
    {
      name: 'import', summary: "hub: take every centre's SDCs from a stick (or any folder) and write their receipts back onto it", usage: '<dir> [--dir HUBDIR] [--json]',
      help: `<dir>         where the stick is mounted (e.g. /media/usb0); its tamtam/ folder is read
--dir HUBDIR  hub folder (default ./tamtam-hub or $TAMTAM_HUB_DIR); works beside a running hub
A running hub whose folder was set up with 'tamtam hub init --t2d-root DIR' does this by itself
for every stick mounted under DIR.`,
      options: { dir: { type: 'string' } }, run: importCommand,
    },
    {
      name: 'export', summary: "centre: pack every validated record, write the SDCs onto a stick, apply the hub's receipts found on it", usage: '<dir> [--config AGENTCONFIG] [--json]',
      help: `<dir>              where the stick is mounted (e.g. /media/usb0)
--config FILE      the agent's config (default ./tamtam-agent.json or $TAMTAM_AGENT_CONFIG)
An agent daemon whose config sets 't2d' does this by itself when a stick is inserted.`,
      options: { config: { type: 'string', short: 'c' } }, run: exportCommand,
    },
  ],
};
