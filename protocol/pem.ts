import { TamtamError } from './errors.js';

/** PEM-style text armour: `-----BEGIN LABEL-----`, optional `Key: value` lines, base64 at 64 columns. */
export interface Armoured {
  label: string;
  headers: Record<string, string>;
  der: Uint8Array;
}

export function pemEncode(der: Uint8Array, label: string, headers: Record<string, string> = {}): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines = [`-----BEGIN ${label}-----`];
  const headerLines = Object.entries(headers).map(([k, v]) => `${k}: ${v.replace(/[\r\n]/g, ' ')}`);
  if (headerLines.length > 0) lines.push(...headerLines, '');
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  lines.push(`-----END ${label}-----`, '');
  return lines.join('\n');
}

const BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n/g;

/** Finds every armoured block in a text; `label` filters by label. */
export function pemDecodeAll(text: string, label?: string): Armoured[] {
  const found: Armoured[] = [];
  BEGIN.lastIndex = 0;
  for (let m = BEGIN.exec(text); m !== null; m = BEGIN.exec(text)) {
    const blockLabel = m[1];
    const endMarker = `-----END ${blockLabel}-----`;
    const end = text.indexOf(endMarker, BEGIN.lastIndex);
    if (end < 0) throw new TamtamError('E_BAD_ARMOUR', `armour '${blockLabel}' has no END line; the text was cut short, copy the whole block`);
    const body = text.slice(BEGIN.lastIndex, end);
    BEGIN.lastIndex = end + endMarker.length;
    if (label !== undefined && blockLabel !== label) continue;
    const headers: Record<string, string> = {};
    const b64: string[] = [];
    for (const raw of body.split(/\r?\n/)) {
      const line = raw.trim();
      if (line === '') continue;
      const h = /^([A-Za-z0-9-]+): ?(.*)$/.exec(line);
      if (h && b64.length === 0) headers[h[1]] = h[2];
      else if (/^[A-Za-z0-9+/=]+$/.test(line)) b64.push(line);
      else throw new TamtamError('E_BAD_ARMOUR', `armour '${blockLabel}' holds a line that is not base64: '${line.slice(0, 40)}'`);
    }
    const joined = b64.join('');
    if (joined.length % 4 !== 0) throw new TamtamError('E_BAD_ARMOUR', `armour '${blockLabel}' has a base64 body of bad length; a line is missing or cut`);
    found.push({ label: blockLabel, headers, der: new Uint8Array(Buffer.from(joined, 'base64')) });
  }
  return found;
}

export function pemDecode(text: string, label: string): Armoured {
  const all = pemDecodeAll(text, label);
  if (all.length === 0) throw new TamtamError('E_BAD_ARMOUR', `no '-----BEGIN ${label}-----' block found`);
  return all[0];
}

export function isArmoured(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 64)).toString('latin1').trimStart();
  return head.startsWith('-----BEGIN ');
}
