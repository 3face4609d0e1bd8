import type { IncomingMessage, ServerResponse } from 'node:http';
import { TamtamError, type ErrorCode, type ErrorOptions } from '../../protocol/errors.js';

/** A TamtamError with the HTTP status it is answered with when the code's usual one does not fit (405, 413, 429, 503). */
export class HttpError extends TamtamError {
  constructor(readonly status: number, code: ErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  E_AUTH: 401,
  E_FORBIDDEN: 403,
  E_NOT_FOUND: 404,
  E_BAD_INPUT: 400,
  E_TOO_LARGE: 413,
};

/** Errors whose message is meant for the client; any other answers 500 with a generic message, its detail going to the log only. */
export function httpStatusOf(e: unknown): number {
  if (e instanceof HttpError) return e.status;
  if (e instanceof TamtamError) return STATUS[e.code] ?? 500;
  return 500;
}

export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** `{ error: { code, message } }`; a 500 says only that something failed and where to look. */
export function sendError(res: ServerResponse, e: unknown, headers: Record<string, string> = {}): void {
  const status = httpStatusOf(e);
  const error = status === 500
    ? { code: 'E_INTERNAL', message: "the hub failed to answer this request; its log says why (event 'http_error')" }
    : { code: (e as TamtamError).code, message: (e as TamtamError).message };
  sendJson(res, status, { error }, headers);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8', headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/**
 * The request's JSON body. Only `application/json` is taken: a cross-site
 * HTML form cannot send it, which with SameSite=Strict cookies closes CSRF.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpError(415, 'E_BAD_INPUT', `send the body as JSON with 'Content-Type: application/json' (got '${type || 'none'}')`);
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new HttpError(413, 'E_TOO_LARGE', `the body must be at most ${maxBytes} bytes`);
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      // The rest is read and dropped; the answer closes the connection (see the server's error path).
      req.off('data', onData);
      req.resume();
      reject(new HttpError(413, 'E_TOO_LARGE', `the body must be at most ${maxBytes} bytes`));
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new TamtamError('E_BAD_INPUT', 'the body is not valid JSON');
  }
}

/** A string field of a JSON object, bounded, or E_BAD_INPUT naming it. */
export function stringField(body: unknown, name: string, maxLength = 256): string {
  const v = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
  if (typeof v !== 'string' || v === '' || v.length > maxLength) {
    throw new TamtamError('E_BAD_INPUT', `'${name}' must be a text of 1 to ${maxLength} characters`);
  }
  return v;
}
