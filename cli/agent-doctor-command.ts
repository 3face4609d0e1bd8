import type { DoctorReport } from '../agent/doctor/doctor-check.js';
import { TamtamError } from '../protocol/errors.js';
import { optionalString, type Command, type CommandContext } from './command.js';

const MARK = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;

/** One line a check, what to do indented under each warning and failure: read at a centre, by someone who does not read logs. */
export function formatDoctorReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.title.length));
  const lines = [`Tamtam agent doctor${report.centre ? ` for centre ${report.centre}` : ''}, ${report.at}`];
  for (const c of report.checks) {
    lines.push(`  ${MARK[c.status]}  ${c.title.padEnd(width)}  ${c.detail}`);
    if (c.fix && c.status !== 'ok') lines.push(`        ${''.padEnd(width)}  -> ${c.fix}`);
  }
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  lines.push(failed > 0
    ? `${failed} problem(s) to fix (FAIL above, with what to do), ${warned} warning(s).`
    : warned > 0 ? `Nothing blocks the agent; ${warned} warning(s) above.` : 'Everything checked is fine.');
  return lines.join('\n');
}

async function doctor(ctx: CommandContext): Promise<void> {
  const { runDoctor } = await import('../agent/doctor/run-doctor.js');
  const configPath = optionalString(ctx, 'config') ?? process.env.TAMTAM_AGENT_CONFIG ?? 'tamtam-agent.json';
  const report = await runDoctor({ configPath, offline: ctx.values.offline === true });
  const failed = report.checks.filter((c) => c.status === 'fail');
  if (ctx.json) {
    // One JSON document on stdout either way: the report, or the error carrying it.
    if (failed.length === 0) ctx.out(JSON.stringify(report));
  } else {
    ctx.out(formatDoctorReport(report));
  }
  if (failed.length > 0) {
    const first = failed[0]!;
    throw new TamtamError(first.code ?? 'E_CONFIG', `${failed.length} check(s) failed: ${failed.map((c) => c.title).join(', ')}; first: ${first.detail}${first.fix ? ` -> ${first.fix}` : ''}`, { details: { report } });
  }
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check the database and tables, spool and disk, clock, certificates and the link; say what is wrong and what to do',
  usage: '[--config FILE] [--offline] [--json]',
  help: `--config FILE   the agent config (default ./tamtam-agent.json or $TAMTAM_AGENT_CONFIG)
--offline       do not test the link (no connection to the broker, no modem probe)

Checks, each with what to do when it is not right: the config; the centre's
database opens and each table has numero and status (records counted by
status); the spool is writable and the disk has room; the clock; the
centre's certificate (matches its key, issued by the hub's CA, days to
expiry) and the hub's; the link (MQTT: connects to the broker; modem: model,
signal, registration; SBD: signal; TCP: connects); USB stick folders.
While the agent runs, its link is not tested (it is in use).

Exit status 0 when nothing failed (warnings allowed), 1 otherwise.
Example: tamtam agent doctor --config /etc/tamtam/agent.json`,
  options: { config: { type: 'string', short: 'c' }, offline: { type: 'boolean' } },
  run: doctor,
};
