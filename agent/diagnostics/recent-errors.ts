import type { AgentState } from '../state/agent-state.js';

export type LogFn = (event: string, fields?: Record<string, unknown>) => void;

export interface RecentError {
  at: string;
  event: string;
  code: string;
  message: string;
}

const KEY = 'diagnostic.recent_errors';
export const RECENT_ERRORS_KEPT = 20;
/** The agent's log events that report something going wrong; the rest (packed, receipt, stick_done...) are its normal life. */
const ERROR_EVENT = /^(error|link_down|call_dropped|receipt_quarantined|diagnostic_quarantined|relay_refused)$|_error$|_failed$/;

export function isErrorEvent(event: string): boolean {
  return ERROR_EVENT.test(event);
}

export function recentErrors(state: AgentState): RecentError[] {
  try {
    const parsed = JSON.parse(state.meta(KEY) ?? '[]') as unknown;
    return Array.isArray(parsed) ? (parsed as RecentError[]) : [];
  } catch {
    return [];
  }
}

/**
 * Wraps the agent's log so its last error events are kept in its state,
 * where a diagnostic report finds them after a restart: nobody at a centre
 * reads logs, and the hub cannot. Keeping them never breaks the logging.
 */
export function keepRecentErrors(log: LogFn, state: () => AgentState | undefined, clock: () => number = Date.now): LogFn {
  return (event, fields = {}) => {
    log(event, fields);
    if (!isErrorEvent(event)) return;
    try {
      const s = state();
      if (!s) return;
      const message = String(fields.message ?? fields.reason ?? event).slice(0, 1000);
      const entry: RecentError = { at: new Date(clock()).toISOString(), event, code: String(fields.code ?? 'E_INTERNAL'), message };
      s.setMeta(KEY, JSON.stringify([...recentErrors(s), entry].slice(-RECENT_ERRORS_KEPT)));
    } catch {
      // No state yet, or it is closing (the agent stopping): the log line itself went out.
    }
  };
}
