import { readFileSync } from 'node:fs';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { parseCertificate, type Certificate } from '../protocol/certificate.js';
import { TamtamError, isTamtamError } from '../protocol/errors.js';
import type { Value } from '../protocol/batch/batch.js';

/** Reads a file the user named, saying which option named it when it cannot be read. */
export function readInput(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a folder' : (e as Error).message;
    throw new TamtamError('E_IO', `cannot read ${what} ${path}: ${why}`, { cause: e });
  }
}

export function readCertificate(path: string, what: string): Certificate {
  try {
    return parseCertificate(readInput(path, what));
  } catch (e) {
    if (isTamtamError(e, 'E_IO')) throw e;
    throw new TamtamError('E_BAD_CERT', `${what} ${path} is not a certificate (PEM or DER): ${(e as Error).message}`, { cause: e });
  }
}

export function readPrivateKey(path: string, what: string): KeyObject {
  const bytes = readInput(path, what);
  try {
    return createPrivateKey({ key: Buffer.from(bytes), format: bytes[0] === 0x30 ? 'der' : 'pem', ...(bytes[0] === 0x30 ? { type: 'pkcs8' as const } : {}) });
  } catch (e) {
    throw new TamtamError('E_BAD_KEY', `${what} ${path} is not an unencrypted private key (PEM or PKCS#8 DER): ${(e as Error).message}`, { cause: e });
  }
}

const isValue = (v: unknown): v is Value => v === null || ['string', 'number', 'boolean'].includes(typeof v);

/** Parses JSON lines of flat objects; a bad line is named by its number. */
export function parseJsonLines(text: string, what: string): Record<string, Value>[] {
  const out: Record<string, Value>[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new TamtamError('E_BAD_INPUT', `${what} line ${i + 1} is not JSON: ${(e as Error).message}`, { cause: e });
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new TamtamError('E_BAD_INPUT', `${what} line ${i + 1} is not a JSON object`);
    for (const [k, v] of Object.entries(obj)) {
      if (!isValue(v)) throw new TamtamError('E_BAD_INPUT', `${what} line ${i + 1}: field '${k}' holds a nested ${Array.isArray(v) ? 'array' : 'object'}; records are flat`);
    }
    out.push(obj as Record<string, Value>);
  }
  return out;
}
