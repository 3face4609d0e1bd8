import { createHash, createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { generateKeyPair, subjectAttributes, type CsrSubject } from '../../agent/enrolment/key-pair.js';
import { binaryToBytes, bytesToBinary, children, parseDer, type Asn1 } from '../../protocol/asn1.js';
import { parseCertificate, type Certificate } from '../../protocol/certificate.js';
import { TamtamError } from '../../protocol/errors.js';
import { pemDecode } from '../../protocol/pem.js';

/** What an issued certificate may be used for. */
export type CertificateRole = 'centre' | 'hub';
export const certificateRoles: readonly CertificateRole[] = ['centre', 'hub'];

/** The hub's CA: its certificate and its (unencrypted PKCS#8) private key, as PEM. */
export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

/** Clock and randomness, injected so tests can make certificates of any age. */
export interface PkiEnvironment {
  now?: () => Date;
  random?: (n: number) => Uint8Array;
}

export interface CreateCaOptions extends PkiEnvironment {
  commonName: string;
  organization?: string;
  /** Default 3650. */
  days?: number;
  /** RSA modulus length; the CA key outlives every leaf, hence 3072 by default. */
  keyBits?: number;
}

export interface IssueOptions extends PkiEnvironment {
  role: CertificateRole;
  /** Default 825. The certificate never outlives the CA: the end date is cut to the CA's. */
  days?: number;
  /** Overrides the CSR's CN: the hub, not the centre, decides which matricule it certifies. */
  commonName?: string;
  organization?: string;
}

/** The subject names and public key of a CSR whose self-signature was checked. */
export interface CheckedCsr {
  subject: CsrSubject;
  publicKey: forge.pki.rsa.PublicKey;
}

const DAY_MS = 86_400_000;
// Present in forge since 0.x but missing from @types/node-forge.
const getTBSCertificate = (forge.pki as unknown as { getTBSCertificate(cert: forge.pki.Certificate): Asn1 }).getTBSCertificate;
const OID_SKI = '2.5.29.14';
const OID_AKI = '2.5.29.35';
const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';

/** RFC 5280 key identifier, method 1: SHA-1 of the subjectPublicKey BIT STRING contents. Works for any key type. */
export function subjectKeyIdentifier(spkiDer: Uint8Array): Uint8Array {
  const [, bitString] = children(parseDer(spkiDer, 'public key'), 'SubjectPublicKeyInfo');
  if (typeof bitString?.value !== 'string') throw new TamtamError('E_BAD_KEY', 'the public key has no subjectPublicKey BIT STRING');
  // With decodeBitStrings off, the value still starts with the unused-bits count byte, which the method excludes.
  return new Uint8Array(createHash('sha1').update(binaryToBytes(bitString.value).subarray(1)).digest());
}

function forgeSpkiDer(publicKey: forge.pki.rsa.PublicKey): Uint8Array {
  return binaryToBytes(forge.asn1.toDer(forge.pki.publicKeyToAsn1(publicKey)).getBytes());
}

/** A random positive serial of exactly `bytes` bytes: first byte 0x01..0x7f, so DER needs no sign padding. */
function randomSerialHex(random: (n: number) => Uint8Array, bytes = 16): string {
  const serial = Uint8Array.from(random(bytes));
  if (serial.length !== bytes) throw new TamtamError('E_INTERNAL', `random source gave ${serial.length} bytes, ${bytes} expected`);
  serial[0] = serial[0] & 0x7f || 0x01;
  return Buffer.from(serial).toString('hex');
}

function checkDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > 36_500) throw new TamtamError('E_BAD_INPUT', `validity of ${days} days is not a whole number between 1 and 36500`);
  return days;
}

function octetString(bytes: Uint8Array): Asn1 {
  return forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING, false, bytesToBinary(bytes));
}

function keyIdExtensions(subjectKeyId: Uint8Array, authorityKeyId: Uint8Array): object[] {
  // Given as ready values: forge would otherwise recompute the SKI its own way and only for RSA.
  const aki = forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.SEQUENCE, true, [
    forge.asn1.create(forge.asn1.Class.CONTEXT_SPECIFIC, 0, false, bytesToBinary(authorityKeyId)),
  ]);
  return [
    { id: OID_SKI, value: octetString(subjectKeyId) },
    { id: OID_AKI, value: aki },
  ];
}

function rsaPrivateKey(keyPem: string, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw new TamtamError('E_BAD_KEY', `${what} is not a readable private key: ${(e as Error).message}`, { cause: e });
  }
  if (key.asymmetricKeyType !== 'rsa') throw new TamtamError('E_BAD_KEY', `${what} is a ${key.asymmetricKeyType} key; the hub CA signs with RSA only. Create the CA with 'tamtam pki ca init'.`);
  return key;
}

/**
 * Signs with node's native RSA and puts `issuerName` into the TBS byte for byte.
 * forge re-encodes names from parsed attributes and garbles UTF8String values
 * on the way (it encodes them twice), which would break the issuer/subject
 * match with a CA whose name has accents.
 */
function signCertificate(cert: forge.pki.Certificate, issuerName: Asn1, caKey: KeyObject): string {
  const c = cert as forge.pki.Certificate & { tbsCertificate: Asn1; signatureOid: string; siginfo: { algorithmOid: string } };
  c.signatureOid = c.siginfo.algorithmOid = SHA256_WITH_RSA;
  const tbs = getTBSCertificate(cert);
  const parts = children(tbs, 'TBSCertificate');
  parts[3] = issuerName;
  c.tbsCertificate = tbs;
  cert.signature = bytesToBinary(sign('sha256', binaryToBytes(forge.asn1.toDer(tbs).getBytes()), caKey));
  return forge.pki.certificateToPem(cert);
}

function validity(now: Date, days: number): { notBefore: Date; notAfter: Date } {
  // UTCTime has whole seconds; dropping the milliseconds keeps notBefore <= now.
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS) };
}

/** Creates a self-signed CA for the hub, with a new RSA key. */
export function createCertificateAuthority(options: CreateCaOptions): CertificateAuthority {
  const now = (options.now ?? (() => new Date()))();
  const random = options.random ?? randomBytes;
  const { privateKeyPem, publicKeyPem } = generateKeyPair(options.keyBits ?? 3072);
  const publicKey = forge.pki.publicKeyFromPem(publicKeyPem) as forge.pki.rsa.PublicKey;
  const ski = subjectKeyIdentifier(pemDecode(publicKeyPem, 'PUBLIC KEY').der);
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerialHex(random);
  Object.assign(cert.validity, validity(now, checkDays(options.days ?? 3650)));
  const name = subjectAttributes({ commonName: options.commonName, organization: options.organization });
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ...keyIdExtensions(ski, ski),
  ]);
  return { certPem: signCertificate(cert, forge.pki.distinguishedNameToAsn1(cert.subject), rsaPrivateKey(privateKeyPem, 'the new CA key')), keyPem: privateKeyPem };
}

function attributeText(attr: forge.pki.CertificateField): string {
  const raw = String(attr.value ?? '');
  return attr.valueTagClass === (forge.asn1.Type.UTF8 as number) ? forge.util.decodeUtf8(raw) : raw;
}

/** Parses a PKCS#10 CSR and checks its self-signature, which proves the requester holds the private key. */
export function checkCsr(csrPem: string): CheckedCsr {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem);
  } catch (e) {
    const message = (e as Error).message;
    if (/not RSA/i.test(message)) throw new TamtamError('E_BAD_KEY', "the CSR's key is not RSA; the hub issues certificates for RSA keys only. Make the key with 'tamtam pki key'.", { cause: e });
    throw new TamtamError('E_BAD_INPUT', `not a readable PKCS#10 CSR (-----BEGIN CERTIFICATE REQUEST-----): ${message}. Make one with 'tamtam pki csr'.`, { cause: e });
  }
  let valid: boolean;
  try {
    valid = csr.verify();
  } catch (e) {
    throw new TamtamError('E_BAD_SIGNATURE', `the CSR's signature cannot be checked: ${(e as Error).message}`, { cause: e });
  }
  if (!valid) {
    throw new TamtamError(
      'E_BAD_SIGNATURE',
      'the CSR is not signed by the key it contains: it was altered after it was made, or damaged on the way. Make a new CSR on the centre and send it again.',
    );
  }
  const field = (shortName: string) => csr.subject.attributes.find((a) => a.shortName === shortName);
  const cn = field('CN');
  const org = field('O');
  return {
    subject: { commonName: cn ? attributeText(cn) : '', ...(org ? { organization: attributeText(org) } : {}) },
    publicKey: csr.publicKey as forge.pki.rsa.PublicKey,
  };
}

/** Issues a certificate for the key in a CSR, signed by the CA. Returns the certificate as PEM. */
export function issueCertificate(ca: CertificateAuthority, csrPem: string, options: IssueOptions): string {
  if (!certificateRoles.includes(options.role)) throw new TamtamError('E_BAD_INPUT', `unknown role '${String(options.role)}'; use one of: ${certificateRoles.join(', ')}`);
  const now = (options.now ?? (() => new Date()))();
  const random = options.random ?? randomBytes;
  const days = checkDays(options.days ?? 825);
  const caCert = readCaCertificate(ca.certPem);
  const caKey = rsaPrivateKey(ca.keyPem, 'the CA key');
  if (!caCert.x509.checkPrivateKey(caKey)) throw new TamtamError('E_BAD_KEY', 'the CA key does not belong to the CA certificate; check that ca.key and ca.crt come from the same CA directory');
  if (!caCert.x509.ca) throw new TamtamError('E_BAD_CERT', `'${caCert.subjectCn}' is not a CA certificate (basicConstraints CA:true is missing)`);
  if (now < caCert.notBefore || now > caCert.notAfter) {
    throw new TamtamError('E_CERT_EXPIRED', `the CA certificate is valid from ${caCert.notBefore.toISOString()} to ${caCert.notAfter.toISOString()}, not at ${now.toISOString()}; check the clock, or create a new CA`);
  }
  const caKeyId = caCert.subjectKeyId ?? subjectKeyIdentifier(new Uint8Array(caCert.publicKey.export({ type: 'spki', format: 'der' })));

  const request = checkCsr(csrPem);
  const subject: CsrSubject = {
    commonName: options.commonName ?? request.subject.commonName,
    organization: options.organization ?? request.subject.organization,
  };
  const cert = forge.pki.createCertificate();
  cert.publicKey = request.publicKey;
  cert.serialNumber = randomSerialHex(random);
  const period = validity(now, days);
  if (period.notAfter > caCert.notAfter) period.notAfter = caCert.notAfter;
  Object.assign(cert.validity, period);
  cert.setSubject(subjectAttributes(subject));
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    options.role === 'hub' ? { name: 'extKeyUsage', serverAuth: true, clientAuth: true } : { name: 'extKeyUsage', clientAuth: true },
    ...keyIdExtensions(subjectKeyIdentifier(forgeSpkiDer(request.publicKey)), caKeyId),
  ]);
  return signCertificate(cert, caSubjectName(caCert.der), caKey);
}

function readCaCertificate(pem: string): Certificate {
  try {
    return parseCertificate(pem);
  } catch (e) {
    throw new TamtamError('E_BAD_CERT', `the CA certificate is not a readable X.509 certificate: ${(e as Error).message}`, { cause: e });
  }
}

function tbsParts(certDer: Uint8Array): { parts: Asn1[]; offset: number } {
  const parts = children(children(parseDer(certDer, 'certificate'), 'certificate')[0], 'TBSCertificate');
  const offset = parts[0].tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && parts[0].type === 0 ? 1 : 0;
  return { parts, offset };
}

function caSubjectName(caDer: Uint8Array): Asn1 {
  const { parts, offset } = tbsParts(caDer);
  return parts[offset + 4];
}

/** Reads the raw extensions of a certificate: id → DER of the extnValue contents, plus the critical flag. */
export function certificateExtensions(certDer: Uint8Array): Map<string, { critical: boolean; value: Uint8Array }> {
  const { parts } = tbsParts(certDer);
  const found = new Map<string, { critical: boolean; value: Uint8Array }>();
  const wrapper = parts.find((n) => n.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && n.type === 3);
  if (!wrapper) return found;
  for (const ext of children(children(wrapper, 'extensions')[0], 'extensions')) {
    const fields = children(ext, 'extension');
    const id = forge.asn1.derToOid(String(fields[0].value));
    const critical = fields.length === 3 && String(fields[1].value) !== '\x00';
    found.set(id, { critical, value: binaryToBytes(String(fields[fields.length - 1].value)) });
  }
  return found;
}

/** Subject and authority key identifiers, when the certificate carries them. */
export function certificateKeyIds(certDer: Uint8Array): { subjectKeyId?: Uint8Array; authorityKeyId?: Uint8Array } {
  const exts = certificateExtensions(certDer);
  const ski = exts.get(OID_SKI);
  const aki = exts.get(OID_AKI);
  const akiKeyId = aki ? children(parseDer(aki.value, 'authority key identifier'), 'authority key identifier').find((n) => n.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && n.type === 0) : undefined;
  return {
    ...(ski ? { subjectKeyId: binaryToBytes(String(parseDer(ski.value, 'subject key identifier').value)) } : {}),
    ...(akiKeyId ? { authorityKeyId: binaryToBytes(String(akiKeyId.value)) } : {}),
  };
}

const KEY_USAGE_BITS = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'];

/** Names of the keyUsage bits set in a certificate, in RFC 5280 order; empty when it has no keyUsage. */
export function certificateKeyUsage(certDer: Uint8Array): string[] {
  const ext = certificateExtensions(certDer).get('2.5.29.15');
  if (!ext) return [];
  const bits = binaryToBytes(String(parseDer(ext.value, 'key usage').value)).subarray(1);
  return KEY_USAGE_BITS.filter((_, i) => ((bits[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0);
}
