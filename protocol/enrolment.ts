import { TamtamError } from './errors.js';

/**
 * Enrolment over the link, before the centre has a certificate: the CSR and
 * the one-time token from the hub operator go up in clear JSON (the token is
 * the authentication; the CSR holds only a public key), the certificate comes
 * back with the CA and hub certificates the centre needs.
 */
export interface EnrolRequest {
  centre: string;
  token: string;
  csrPem: string;
}

export type EnrolReply =
  | { ok: true; certPem: string; caPem: string; hubCertPem: string }
  | { ok: false; code: string; message: string };

const text = new TextEncoder();

export function encodeEnrolMessage(m: EnrolRequest | EnrolReply): Uint8Array {
  return text.encode(JSON.stringify(m));
}

function parse(bytes: Uint8Array, what: string): Record<string, unknown> {
  if (bytes.length > 64 * 1024) throw new TamtamError('E_TOO_LARGE', `${what} of ${bytes.length} bytes is too large`);
  try {
    const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (e) {
    throw new TamtamError('E_MALFORMED', `${what} is not JSON: ${(e as Error).message}`, { cause: e });
  }
  throw new TamtamError('E_MALFORMED', `${what} is not a JSON object`);
}

const str = (o: Record<string, unknown>, k: string, what: string): string => {
  if (typeof o[k] !== 'string' || (o[k] as string).length === 0) throw new TamtamError('E_MALFORMED', `${what} lacks '${k}'`);
  return o[k] as string;
};

export function decodeEnrolRequest(bytes: Uint8Array): EnrolRequest {
  const o = parse(bytes, 'enrolment request');
  return { centre: str(o, 'centre', 'enrolment request'), token: str(o, 'token', 'enrolment request'), csrPem: str(o, 'csrPem', 'enrolment request') };
}

export function decodeEnrolReply(bytes: Uint8Array): EnrolReply {
  const o = parse(bytes, 'enrolment reply');
  if (o.ok === true) return { ok: true, certPem: str(o, 'certPem', 'enrolment reply'), caPem: str(o, 'caPem', 'enrolment reply'), hubCertPem: str(o, 'hubCertPem', 'enrolment reply') };
  return { ok: false, code: str(o, 'code', 'enrolment reply'), message: str(o, 'message', 'enrolment reply') };
}
