import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '../../common/pid-lock.js';
import { loadAgentConfig, loadTableSpecs, type AgentConfig } from '../config.js';
import type { SourceAdapter } from '../source/source-adapter.js';
import { AgentState } from '../state/agent-state.js';
import { certificateChecks } from './certificate-checks.js';
import { clockCheck } from './clock-check.js';
import { diskChecks, DEFAULT_DISK, type DiskThresholds } from './disk-checks.js';
import { fail, messageOf, ok, warn, codeOf, type DoctorCheck, type DoctorReport } from './doctor-check.js';
import { linkCheck, runningLinkCheck, skippedLinkCheck, usbCheck, type LinkSnapshot } from './link-checks.js';
import { sourceChecks } from './source-checks.js';

export interface DoctorOptions {
  /** A config already loaded (the running agent's); else `configPath` is loaded and checked. */
  config?: AgentConfig;
  configPath?: string;
  /** The running agent's state and source, reused instead of opened a second time. */
  state?: AgentState;
  source?: SourceAdapter;
  /** The running agent's link: reported as it is, never tested (that would take it from the agent). */
  link?: LinkSnapshot;
  /** Skip the link check (no call, no connection). */
  offline?: boolean;
  now?: () => number;
  /** Deadline of each check; default 15 s. */
  timeoutMs?: number;
  /** Deadline of the link test; default 30 s (a satellite modem takes seconds to read its signal). */
  linkTimeoutMs?: number;
  disk?: Partial<DiskThresholds>;
  buildYear?: number;
}

export interface DoctorResult extends DoctorReport {
  /** Records by status per table, read on the way (the diagnostic report carries them). */
  backlog: Record<string, Record<number, number>>;
}

/** The process holding the agent's data folder, if one does. */
export function runningAgent(config: AgentConfig): number | undefined {
  const path = join(config.dataDir, 'agent.lock');
  if (!existsSync(path)) return undefined;
  const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
  return Number.isInteger(pid) && pidAlive(pid) ? pid : undefined;
}

function configCheck(config: AgentConfig): DoctorCheck {
  const title = 'Agent config';
  try {
    loadTableSpecs(config);
  } catch (e) {
    return { id: 'config', title, ...fail(messageOf(e), 'correct or remove the "dictionary" of that table in the agent config (the hub operator gives the dictionary files)', codeOf(e)) };
  }
  const tables = config.tables.map((t) => t.name).join(', ');
  return { id: 'config', title, ...ok(`centre ${config.centre}, tables ${tables}, ${config.link.kind} link (profile ${config.link.profile.name}), data in ${config.dataDir}`) };
}

function openState(config: AgentConfig, now: () => number): AgentState | undefined {
  const path = join(config.dataDir, 'state.db');
  if (!existsSync(path)) return undefined;
  try {
    return AgentState.open(path, { clock: now });
  } catch {
    return undefined;
  }
}

/**
 * Every check of `tamtam agent doctor`, one after another (each with its own
 * deadline), so that a technician sees in one run what is wrong and what to
 * do. Never throws: a config that cannot be read is the one failing check.
 */
export async function runDoctor(o: DoctorOptions = {}): Promise<DoctorResult> {
  const now = o.now ?? Date.now;
  const timeoutMs = o.timeoutMs ?? 15_000;
  const checks: DoctorCheck[] = [];
  const report = (centre: string | null, backlog: DoctorResult['backlog'] = {}): DoctorResult =>
    ({ centre, at: new Date(now()).toISOString(), ok: checks.every((c) => c.status !== 'fail'), checks, backlog });
  let config = o.config;
  if (!config) {
    try {
      config = loadAgentConfig(o.configPath ?? 'tamtam-agent.json');
    } catch (e) {
      checks.push({ id: 'config', title: 'Agent config', ...fail(messageOf(e), "write one with 'tamtam agent init', or give its path with --config FILE", codeOf(e)) });
      return report(null);
    }
  }
  checks.push(configCheck(config));
  const pid = o.link ? undefined : runningAgent(config);
  if (!o.link) {
    checks.push({ id: 'agent', title: 'Agent running', ...(pid !== undefined
      ? ok(`the agent runs (process ${pid})`)
      : warn('the agent is not running: nothing is sent', "start it: 'tamtam agent run', or its service (systemctl start tamtam-agent)")) });
  }
  const state = o.state ?? openState(config, now);
  try {
    const { checks: sourceFound, backlog } = await sourceChecks(config, { source: o.source, timeoutMs });
    checks.push(...sourceFound);
    checks.push(...await diskChecks(config, { thresholds: { ...DEFAULT_DISK, ...o.disk }, timeoutMs }));
    const certs = certificateChecks(config, now());
    checks.push(...certs.checks);
    checks.push(clockCheck(now(), { facts: certs.facts, ...(state ? { state } : {}), ...(o.buildYear ? { buildYear: o.buildYear } : {}) }));
    if (o.link) checks.push(runningLinkCheck(o.link));
    else if (o.offline) checks.push(skippedLinkCheck(config, 'offline (--offline)'));
    else if (pid !== undefined) {
      checks.push(skippedLinkCheck(config, `it is in use by the running agent (process ${pid})`, "'tamtam agent status' shows how it is doing; stop the agent to have the doctor test the link"));
    } else checks.push(await linkCheck(config, o.linkTimeoutMs ?? 30_000));
    const usb = usbCheck(config);
    if (usb) checks.push(usb);
    return report(config.centre, backlog);
  } finally {
    if (state && state !== o.state) state.close();
  }
}
