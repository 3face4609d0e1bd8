import type { AgentRuntime } from '../agent/agent-runtime.js';
import { TamtamError } from '../protocol/errors.js';
import { optionalString, type CommandContext } from './command.js';

/** The progress options of `agent sync` and `agent run`. */
export const progressOptions = {
  progress: { type: 'boolean' as const }, 'no-progress': { type: 'boolean' as const }, 'progress-every': { type: 'string' as const },
};

export const PROGRESS_HELP = `--progress        show progress: a bar with acts, bytes, speed and time left, on any link
                  (the default on a terminal); elsewhere a JSON line "progress" on stderr
--progress-every S  without a terminal, a progress line every S seconds (default 10)
--no-progress     no progress, even on a terminal`;

export interface ProgressHandle {
  /** A log line, above the bar. */
  print(line: string): void;
  stop(): Promise<void>;
}

function seconds(ctx: CommandContext, name: string, fallback: number): number {
  const text = optionalString(ctx, name);
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0) throw new TamtamError('E_USAGE', `--${name} takes a number of seconds, e.g. 10, not '${text}'`);
  return v;
}

function minActsOption(ctx: CommandContext): number {
  const text = optionalString(ctx, 'progress-min');
  if (text === undefined) return 500;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new TamtamError('E_USAGE', `--progress-min takes a number of acts, e.g. 500, not '${text}'`);
  return Number(text);
}

/**
 * Starts the progress view when asked for, or by default on a terminal: for
 * one sync, from start to stop; for the daemon, while more than
 * --progress-min acts go out.
 */
export async function startProgress(ctx: CommandContext, agent: AgentRuntime, mode: 'sync' | 'daemon'): Promise<ProgressHandle | undefined> {
  const logEveryMs = seconds(ctx, 'progress-every', 10) * 1000;
  const minActs = mode === 'daemon' ? minActsOption(ctx) : 0;
  const terminal = process.stderr.isTTY ? process.stderr : undefined;
  if (ctx.values['no-progress'] === true || (ctx.values.progress !== true && !terminal)) return undefined;
  // Loaded only when shown: a daemon under systemd never carries it.
  const { ProgressReporter } = await import('../agent/progress/progress-reporter.js');
  const reporter = new ProgressReporter(agent, { output: { ...(terminal ? { terminal } : {}), line: ctx.err }, logEveryMs, minActs });
  await reporter.start();
  return reporter;
}

/** JSON log lines, as the agent's other commands write them, through a sink that may change (to print above a bar). */
export function jsonLog(sink: () => (line: string) => void) {
  return (event: string, fields: Record<string, unknown> = {}) => sink()(JSON.stringify({ t: new Date().toISOString(), event, ...fields }));
}
