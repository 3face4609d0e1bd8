import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { TamtamError } from '../../protocol/errors.js';

/** A key pair as PEM text: the private key is unencrypted PKCS#8, the public key SPKI. */
export interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
}

/** The names a centre (or the hub) asks to be certified under. */
export interface CsrSubject {
  /** For a centre: its matricule. */
  commonName: string;
  organization?: string;
}

/**
 * Generates an RSA key pair with node's native code: forge's pure-JS key
 * generation takes seconds on the slow machines found in remote centres.
 */
export function generateKeyPair(modulusLength = 2048): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength,
    publicExponent: 0x10001,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/**
 * Reads a private key PEM into forge. forge reads unencrypted PKCS#8
 * ("PRIVATE KEY") and PKCS#1 ("RSA PRIVATE KEY") RSA keys only, so anything
 * else gets an E_BAD_KEY that says how to get a usable key.
 */
export function forgePrivateKey(privateKeyPem: string, what = 'the private key'): forge.pki.rsa.PrivateKey {
  try {
    return forge.pki.privateKeyFromPem(privateKeyPem) as forge.pki.rsa.PrivateKey;
  } catch (e) {
    throw new TamtamError(
      'E_BAD_KEY',
      `${what} is not an unencrypted RSA private key in PEM (PKCS#8 or PKCS#1): ${(e as Error).message}. ` +
        "Make a new one with 'tamtam pki key --out FILE.key'.",
      { cause: e },
    );
  }
}

// @types/node-forge types valueTagClass as a Class, but forge reads it as the value's Type tag.
const UTF8 = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;

/** Subject attributes as UTF8String, so matricules and names with accents survive intact. */
export function subjectAttributes(subject: CsrSubject): forge.pki.CertificateField[] {
  const cn = subject.commonName.trim();
  if (cn === '') throw new TamtamError('E_BAD_INPUT', 'the common name is empty; give the centre matricule (or the hub name) as the CN');
  const attrs: forge.pki.CertificateField[] = [{ shortName: 'CN', value: cn, valueTagClass: UTF8 }];
  const org = subject.organization?.trim();
  if (org) attrs.push({ shortName: 'O', value: org, valueTagClass: UTF8 });
  return attrs;
}

/** Builds a PKCS#10 certificate signing request, self-signed with SHA-256. */
export function createCsr(privateKeyPem: string, subject: CsrSubject): string {
  const key = forgePrivateKey(privateKeyPem);
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  csr.setSubject(subjectAttributes(subject));
  csr.sign(key, forge.md.sha256.create());
  return forge.pki.certificationRequestToPem(csr);
}

/** Writes a private key readable by its owner only (mode 0600), atomically: a power cut during enrolment leaves no half key. */
export function writePrivateKey(path: string, privateKeyPem: string): void {
  writeFileAtomic(path, privateKeyPem, 0o600);
}
