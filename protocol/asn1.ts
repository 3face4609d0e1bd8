import { createRequire } from 'node:module';
import type forge from 'node-forge';
import { TamtamError } from './errors.js';

/**
 * Thin bridge to node-forge's ASN.1 (which works on binary strings) from the
 * Uint8Array world of the rest of the code, plus the few builders CMS needs.
 * Only forge's ASN.1 module is loaded: all of forge costs a resident agent
 * ten times the memory, for key and certificate code it uses only at enrolment.
 */
export const asn1 = createRequire(import.meta.url)('node-forge/lib/asn1.js') as typeof forge.asn1;
export type Asn1 = forge.asn1.Asn1;
export const { Class, Type } = asn1;

export function bytesToBinary(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

export function binaryToBytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

/** Parses strict DER; anything forge rejects becomes E_MALFORMED naming `what`. */
export function parseDer(der: Uint8Array, what: string): Asn1 {
  try {
    // forge's typings only know the old boolean argument; the options object is what the code reads.
    return asn1.fromDer(bytesToBinary(der), { strict: true, parseAllBytes: true, decodeBitStrings: false } as unknown as boolean);
  } catch (e) {
    throw new TamtamError('E_MALFORMED', `${what} is not valid DER: ${(e as Error).message}`, { cause: e });
  }
}

export function toDer(node: Asn1): Uint8Array {
  return binaryToBytes(asn1.toDer(node).getBytes());
}

export const seq = (items: Asn1[]): Asn1 => asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, items);
export const set = (items: Asn1[]): Asn1 => asn1.create(Class.UNIVERSAL, Type.SET, true, items);
export const oid = (dotted: string): Asn1 => asn1.create(Class.UNIVERSAL, Type.OID, false, asn1.oidToDer(dotted).getBytes());
export const int = (n: number): Asn1 => asn1.create(Class.UNIVERSAL, Type.INTEGER, false, asn1.integerToDer(n).getBytes());
export const nul = (): Asn1 => asn1.create(Class.UNIVERSAL, Type.NULL, false, '');
export const octets = (b: Uint8Array): Asn1 => asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, bytesToBinary(b));
/** `[n] IMPLICIT` primitive holding raw bytes. */
export const implicitBytes = (tag: number, b: Uint8Array): Asn1 => asn1.create(Class.CONTEXT_SPECIFIC, tag, false, bytesToBinary(b));
/** `[n] EXPLICIT` wrapper. */
export const explicit = (tag: number, inner: Asn1): Asn1 => asn1.create(Class.CONTEXT_SPECIFIC, tag, true, [inner]);
/** A node whose encoding is the given DER, kept byte for byte (issuer names, parameters). */
export const rawDer = (der: Uint8Array): Asn1 => parseDer(der, 'embedded DER');

export function children(node: Asn1, what: string): Asn1[] {
  if (!node.constructed || !Array.isArray(node.value)) throw new TamtamError('E_MALFORMED', `${what}: expected a constructed value`);
  return node.value as Asn1[];
}

export function primitive(node: Asn1 | undefined, what: string, tagClass: number = Class.UNIVERSAL, type?: number): string {
  if (!node || node.constructed || typeof node.value !== 'string' || node.tagClass !== tagClass || (type !== undefined && node.type !== type)) {
    throw new TamtamError('E_MALFORMED', `${what}: unexpected ASN.1 element`);
  }
  return node.value;
}

export function expectOid(node: Asn1 | undefined, what: string): string {
  return asn1.derToOid(primitive(node, what, Class.UNIVERSAL, Type.OID));
}

export function expectInt(node: Asn1 | undefined, what: string): number {
  const v = primitive(node, what, Class.UNIVERSAL, Type.INTEGER);
  if (v.length === 0 || v.length > 4) throw new TamtamError('E_MALFORMED', `${what}: integer out of range`);
  return asn1.derToInteger(v);
}

export function expectSeq(node: Asn1 | undefined, what: string, min = 0, max = Infinity): Asn1[] {
  if (!node || node.tagClass !== Class.UNIVERSAL || (node.type !== Type.SEQUENCE && node.type !== Type.SET)) {
    throw new TamtamError('E_MALFORMED', `${what}: expected a SEQUENCE`);
  }
  const items = children(node, what);
  if (items.length < min || items.length > max) throw new TamtamError('E_MALFORMED', `${what}: ${items.length} elements, expected ${min}..${max}`);
  return items;
}

export const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  sha256: '2.16.840.1.101.3.4.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  rsaesOaep: '1.2.840.113549.1.1.7',
  mgf1: '1.2.840.113549.1.1.8',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  subjectKeyIdentifier: '2.5.29.14',
  commonName: '2.5.4.3',
} as const;

/** The single element inside an `[tag] EXPLICIT` wrapper. */
export function expectExplicit(node: Asn1 | undefined, tag: number, what: string): Asn1 {
  if (!node || node.tagClass !== Class.CONTEXT_SPECIFIC || node.type !== tag || !node.constructed) throw new TamtamError('E_MALFORMED', `${what}: expected [${tag}]`);
  const items = children(node, what);
  if (items.length !== 1) throw new TamtamError('E_MALFORMED', `${what}: [${tag}] holds ${items.length} elements`);
  return items[0];
}
