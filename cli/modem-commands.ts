import { TamtamError } from '../protocol/errors.js';
import { MODEM_DRIVER_NAMES } from '../hardware/modem/drivers/create-modem-driver.js';
import type { ModemDriverName } from '../hardware/modem/modem-driver.js';
import { probeModem, type ProbeReport } from '../hardware/modem/modem-probe.js';
import { optionalString, requirePositional, type CommandContext, type CommandGroup } from './command.js';

const MARK = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;

/** Plain text for a terminal at a centre: one line a finding, its advice indented under it. */
export function formatProbeReport(report: ProbeReport): string {
  const lines = [`Modem on ${report.port}${report.baudRate ? ` at ${report.baudRate} bit/s` : ''}${report.driver ? `, driver ${report.driver}` : ''}`];
  for (const check of report.checks) {
    lines.push(`  ${MARK[check.status]}  ${check.name.padEnd(12)} ${check.text}`);
    if (check.advice) lines.push(`        ${''.padEnd(12)} -> ${check.advice}`);
  }
  const warned = report.checks.some((c) => c.status === 'warn');
  lines.push(!report.ok ? 'The modem is not ready: see FAIL above.' : warned ? 'The modem can dial, but see WARN above.' : 'The modem is ready to dial.');
  return lines.join('\n');
}

function baudOption(ctx: CommandContext): number | undefined {
  const text = optionalString(ctx, 'baud');
  if (text === undefined) return undefined;
  const rate = Number(text);
  if (!Number.isInteger(rate) || rate < 300 || rate > 921_600) throw new TamtamError('E_USAGE', `--baud takes a baud rate such as 19200, not '${text}'`);
  return rate;
}

function driverOption(ctx: CommandContext): ModemDriverName | undefined {
  const name = optionalString(ctx, 'driver');
  if (name === undefined) return undefined;
  if (!MODEM_DRIVER_NAMES.includes(name as ModemDriverName)) throw new TamtamError('E_USAGE', `--driver takes one of ${MODEM_DRIVER_NAMES.join(', ')}, not '${name}'`);
  return name as ModemDriverName;
}

async function probe(ctx: CommandContext): Promise<void> {
  const port = requirePositional(ctx, 0, 'the serial port, e.g. /dev/ttyUSB0');
  const baudRate = baudOption(ctx);
  const driver = driverOption(ctx);
  const stop = new AbortController();
  const onSignal = () => stop.abort(new TamtamError('E_ABORTED', 'the probe was interrupted'));
  process.once('SIGINT', onSignal);
  let report: ProbeReport;
  try {
    report = await probeModem(port, { baudRate, driver, signal: stop.signal });
  } finally {
    process.off('SIGINT', onSignal);
  }
  const failed = report.checks.find((c) => c.status === 'fail');
  if (ctx.json) {
    // One JSON document on stdout either way: the report, or the error carrying it.
    if (!failed) ctx.out(JSON.stringify(report));
  } else {
    ctx.out(formatProbeReport(report));
  }
  if (failed) {
    throw new TamtamError(failed.code ?? 'E_IO', `${failed.text}${failed.advice ? `: ${failed.advice}` : ''}`, { details: { report } });
  }
}

export const modemGroup: CommandGroup = {
  name: 'modem',
  commands: [
    {
      name: 'probe',
      summary: 'find the modem on a serial port and say what works: model, IMEI, signal, registration',
      usage: '<port> [--baud N] [--driver iridium-csd|thuraya-gmprs|hayes] [--json]',
      help: `<port>            the serial port, e.g. /dev/ttyUSB0 (Linux) or COM3 (Windows)
--baud N          the baud rate to try first (default 19200); if the modem is silent,
                  19200, 9600, 115200, 38400, 57600 and 4800 are tried
--driver NAME     how to read the modem's answers; default: guessed from its model

Every finding is printed with what to do about it. Exit status 0 when the
modem is ready to dial (warnings allowed), 1 when something must be fixed.

Example: tamtam modem probe /dev/ttyUSB0 --driver iridium-csd`,
      options: { baud: { type: 'string' }, driver: { type: 'string' } },
      run: probe,
    },
  ],
};
