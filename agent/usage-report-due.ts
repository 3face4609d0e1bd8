import type { AgentState } from './state/agent-state.js';

/** The state key of the last usage report's time; also read by UsageReporter. */
export const USAGE_REPORT_AT = 'usage_report_at';

/**
 * Whether a usage report is due, every `everySeconds` (0 = never). Apart from
 * the reporter so the daemon can ask without loading the codec and the keys.
 */
export function usageReportDue(state: AgentState, everySeconds: number): boolean {
  if (everySeconds <= 0) return false;
  const seen = state.meta(USAGE_REPORT_AT);
  // The first report waits a whole period: a new centre has nothing to say yet, and its first syncs stay just its records.
  if (seen === undefined) {
    state.setMeta(USAGE_REPORT_AT, String(state.clock()));
    return false;
  }
  return state.clock() - Number(seen) >= everySeconds * 1000;
}
