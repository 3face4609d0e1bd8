import { X509Certificate, type KeyObject } from 'node:crypto';
import { asn1, Class, Type, OID, children, parseDer, primitive, toDer, binaryToBytes, type Asn1 } from './asn1.js';
import { TamtamError } from './errors.js';
import { isArmoured, pemDecode, pemEncode } from './pem.js';

/** What the SDC code needs from a certificate, read once. */
export interface Certificate {
  der: Uint8Array;
  x509: X509Certificate;
  publicKey: KeyObject;
  /** Subject key identifier extension, when the certificate has one. */
  subjectKeyId: Uint8Array | undefined;
  /** DER of the issuer Name, byte for byte as in the certificate. */
  issuerDer: Uint8Array;
  /** DER of the serialNumber INTEGER, tag and length included. */
  serialDer: Uint8Array;
  serialHex: string;
  subjectCn: string | undefined;
  notBefore: Date;
  notAfter: Date;
}

function readSki(extensions: Asn1 | undefined): Uint8Array | undefined {
  if (!extensions) return undefined;
  for (const ext of children(children(extensions, 'extensions')[0], 'extensions')) {
    const parts = children(ext, 'extension');
    if (asn1.derToOid(primitive(parts[0], 'extension id')) !== OID.subjectKeyIdentifier) continue;
    const wrapped = primitive(parts[parts.length - 1], 'extension value', Class.UNIVERSAL, Type.OCTETSTRING);
    const inner = parseDer(binaryToBytes(wrapped), 'subject key identifier');
    return binaryToBytes(primitive(inner, 'subject key identifier', Class.UNIVERSAL, Type.OCTETSTRING));
  }
  return undefined;
}

function readCn(name: Asn1): string | undefined {
  for (const rdn of children(name, 'name')) {
    for (const atv of children(rdn, 'rdn')) {
      const [type, value] = children(atv, 'attribute');
      if (asn1.derToOid(primitive(type, 'attribute type')) === OID.commonName) {
        return Buffer.from(primitive(value, 'common name'), 'latin1').toString('utf8');
      }
    }
  }
  return undefined;
}

/** Parses a certificate from DER or PEM. Throws E_BAD_CERT with what is wrong. */
export function parseCertificate(input: Uint8Array | string): Certificate {
  let der: Uint8Array;
  if (typeof input === 'string') der = pemDecode(input, 'CERTIFICATE').der;
  else if (isArmoured(input)) der = pemDecode(Buffer.from(input).toString('utf8'), 'CERTIFICATE').der;
  else der = input;
  try {
    const x509 = new X509Certificate(der);
    const cert = parseDer(der, 'certificate');
    const tbs = children(children(cert, 'certificate')[0], 'tbsCertificate');
    const offset = tbs[0].tagClass === Class.CONTEXT_SPECIFIC && tbs[0].type === 0 ? 1 : 0;
    const serial = tbs[offset];
    const issuer = tbs[offset + 2];
    const subject = tbs[offset + 4];
    const extensions = tbs.find((n) => n.tagClass === Class.CONTEXT_SPECIFIC && n.type === 3);
    return {
      der,
      x509,
      publicKey: x509.publicKey,
      subjectKeyId: readSki(extensions),
      issuerDer: toDer(issuer),
      serialDer: toDer(serial),
      serialHex: x509.serialNumber.toLowerCase(),
      subjectCn: readCn(subject),
      notBefore: new Date(x509.validFrom),
      notAfter: new Date(x509.validTo),
    };
  } catch (e) {
    if (e instanceof TamtamError && e.code === 'E_BAD_CERT') throw e;
    throw new TamtamError('E_BAD_CERT', `not a usable X.509 certificate: ${(e as Error).message}`, { cause: e });
  }
}

export function certificateToPem(cert: Certificate): string {
  return pemEncode(cert.der, 'CERTIFICATE');
}
