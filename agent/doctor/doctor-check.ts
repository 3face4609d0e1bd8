import { isTamtamError, type ErrorCode } from '../../protocol/errors.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

/** One finding of `tamtam agent doctor`, in words a field technician acts on. */
export interface DoctorCheck {
  /** Stable: scripts and the hub's dashboard find a check by it ('database', 'table:births', 'link'...). */
  id: string;
  title: string;
  status: CheckStatus;
  /** What was found, in a sentence. */
  detail: string;
  /** What to do about it; present on warnings and failures that someone can act on. */
  fix?: string;
  /** The error code behind a failure, when there is one. */
  code?: ErrorCode;
}

export interface DoctorReport {
  centre: string | null;
  at: string;
  /** No check failed (warnings allowed). */
  ok: boolean;
  checks: DoctorCheck[];
}

export type Finding = Omit<DoctorCheck, 'id' | 'title'>;

export const ok = (detail: string): Finding => ({ status: 'ok', detail });
export const warn = (detail: string, fix?: string, code?: ErrorCode): Finding => ({ status: 'warn', detail, ...(fix ? { fix } : {}), ...(code ? { code } : {}) });
export const fail = (detail: string, fix?: string, code?: ErrorCode): Finding => ({ status: 'fail', detail, ...(fix ? { fix } : {}), ...(code ? { code } : {}) });

export const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));
export const codeOf = (e: unknown): ErrorCode => (isTamtamError(e) ? e.code : 'E_INTERNAL');

/** `run` with a deadline: past it, its signal aborts and 'timeout' comes back, whatever `run` is still doing. */
export async function beforeDeadline<T>(timeoutMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<T | 'timeout'> {
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      stop.abort();
      resolve('timeout');
    }, timeoutMs);
  });
  try {
    return await Promise.race([run(stop.signal), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs one check with a deadline, so a database that never answers or a modem
 * that hangs cannot hold the doctor up: past it, the check fails with what it
 * was doing. A check that throws fails with the error's own message.
 */
export async function withDeadline(
  id: string, title: string, timeoutMs: number, run: (signal: AbortSignal) => Promise<Finding>, onTimeout: { detail: string; fix: string },
): Promise<DoctorCheck> {
  const finding = await beforeDeadline(timeoutMs, (signal) => run(signal).catch((e: unknown) => fail(messageOf(e), undefined, codeOf(e))));
  return { id, title, ...(finding === 'timeout' ? fail(`${onTimeout.detail} (no answer within ${Math.round(timeoutMs / 1000)} s)`, onTimeout.fix, 'E_TIMEOUT') : finding) };
}

const MB = 1024 * 1024;
export const megabytes = (bytes: number): string => (bytes >= 10 * 1024 * MB ? `${(bytes / 1024 / MB).toFixed(1)} GB` : `${Math.round(bytes / MB)} MB`);
