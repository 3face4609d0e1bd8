import { Class, Type, children, implicitBytes, primitive, rawDer, seq, toDer, binaryToBytes, type Asn1 } from '../asn1.js';
import { bytesEqual, toHex } from '../bytes.js';
import type { Certificate } from '../certificate.js';
import { TamtamError } from '../errors.js';

/**
 * How CMS names a certificate without carrying it: by subject key identifier
 * (20 bytes, preferred) or by issuer and serial number (certificates from
 * another CA may lack the key identifier).
 */
export type CertId =
  | { kind: 'keyId'; keyId: Uint8Array }
  | { kind: 'issuerSerial'; issuerDer: Uint8Array; serialDer: Uint8Array };

export function certIdOf(cert: Certificate): CertId {
  return cert.subjectKeyId
    ? { kind: 'keyId', keyId: cert.subjectKeyId }
    : { kind: 'issuerSerial', issuerDer: cert.issuerDer, serialDer: cert.serialDer };
}

/** CMS version number that goes with the identifier choice (SignerInfo and KeyTransRecipientInfo alike differ by 2). */
export const usesKeyId = (id: CertId) => id.kind === 'keyId';

export function encodeCertId(id: CertId): Asn1 {
  return id.kind === 'keyId' ? implicitBytes(0, id.keyId) : seq([rawDer(id.issuerDer), rawDer(id.serialDer)]);
}

export function decodeCertId(node: Asn1 | undefined, what: string): CertId {
  if (node && node.tagClass === Class.CONTEXT_SPECIFIC && node.type === 0 && !node.constructed) {
    const keyId = binaryToBytes(primitive(node, what, Class.CONTEXT_SPECIFIC));
    if (keyId.length === 0 || keyId.length > 64) throw new TamtamError('E_MALFORMED', `${what}: key identifier of ${keyId.length} bytes`);
    return { kind: 'keyId', keyId };
  }
  if (node && node.tagClass === Class.UNIVERSAL && node.type === Type.SEQUENCE) {
    const [issuer, serial] = children(node, what);
    if (!issuer || !serial || serial.type !== Type.INTEGER) throw new TamtamError('E_MALFORMED', `${what}: bad issuer and serial number`);
    return { kind: 'issuerSerial', issuerDer: toDer(issuer), serialDer: toDer(serial) };
  }
  throw new TamtamError('E_MALFORMED', `${what}: neither a key identifier nor an issuer and serial number`);
}

export function certMatches(cert: Certificate, id: CertId): boolean {
  if (id.kind === 'keyId') return cert.subjectKeyId !== undefined && bytesEqual(cert.subjectKeyId, id.keyId);
  return bytesEqual(cert.issuerDer, id.issuerDer) && bytesEqual(cert.serialDer, id.serialDer);
}

export function describeCertId(id: CertId): string {
  return id.kind === 'keyId' ? `key id ${toHex(id.keyId)}` : `issuer+serial ${toHex(id.serialDer.subarray(2))}`;
}
