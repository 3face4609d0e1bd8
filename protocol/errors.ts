/**
 * One error type for the whole project. Callers branch on `code`, never on the
 * message: messages are written for people (what is wrong, what to do) and may
 * change, codes are stable and listed in protocol/FORMAT.md.
 */
export type ErrorCode =
  // input that is not what it claims to be
  | 'E_BAD_MAGIC'
  | 'E_BAD_VERSION'
  | 'E_TRUNCATED'
  | 'E_MALFORMED'
  | 'E_TOO_LARGE'
  | 'E_BAD_CRC'
  | 'E_BAD_HASH'
  | 'E_BAD_ARMOUR'
  | 'E_HEADER_MISMATCH'
  | 'E_DECOMPRESS'
  | 'E_UNKNOWN_DICT'
  // cryptography and trust
  | 'E_BAD_SIGNATURE'
  | 'E_UNKNOWN_SIGNER'
  | 'E_WRONG_RECIPIENT'
  | 'E_DECRYPT'
  | 'E_UNSUPPORTED_ALGORITHM'
  | 'E_BAD_CERT'
  | 'E_CERT_EXPIRED'
  | 'E_UNTRUSTED_CERT'
  | 'E_BAD_KEY'
  | 'E_BAD_TOKEN' | 'E_SUSPENDED'
  // usage and environment
  | 'E_USAGE'
  | 'E_BAD_INPUT'
  | 'E_IO'
  | 'E_CONFIG'
  | 'E_NO_SPACE'
  | 'E_READ_ONLY'
  // staff access to the hub's HTTP API
  | 'E_AUTH'
  | 'E_FORBIDDEN'
  | 'E_NOT_FOUND'
  // links and peers
  | 'E_LINK_DOWN'
  | 'E_PORT_NOT_FOUND'
  | 'E_PORT_BUSY'
  | 'E_MODEM_SILENT'
  | 'E_MODEM_ERROR'
  | 'E_DIAL_FAILED'
  | 'E_TIMEOUT'
  | 'E_ABORTED'
  | 'E_INTERNAL';

export interface ErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  /** Extra facts for logs and --json output; never parsed by callers. */
  details?: Record<string, unknown>;
}

export class TamtamError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TamtamError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, retryable: this.retryable, ...(this.details ? { details: this.details } : {}) };
  }
}

export function isTamtamError(e: unknown, code?: ErrorCode): e is TamtamError {
  return e instanceof TamtamError && (code === undefined || e.code === code);
}

/** Wraps anything thrown by a library into a TamtamError with the given code, keeping the original as cause. */
export function wrapError(e: unknown, code: ErrorCode, message: string, options: Omit<ErrorOptions, 'cause'> = {}): TamtamError {
  if (e instanceof TamtamError) return e;
  return new TamtamError(code, message, { ...options, cause: e });
}
