import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { parseCertificate, type Certificate } from '../../protocol/certificate.js';
import { TamtamError } from '../../protocol/errors.js';
import { pemDecodeAll, pemEncode } from '../../protocol/pem.js';

/** Why a certificate was accepted. */
export type TrustKind = 'ca' | 'pinned';

export interface VerifyOptions {
  /** Default: the store's clock. */
  now?: Date;
  /** Intermediate CA certificates that may sit between the leaf and a trusted CA, as PEM text or DER. */
  chain?: string | Uint8Array | (string | Uint8Array)[];
}

export interface VerifyResult {
  certificate: Certificate;
  subject: string;
  issuer: string;
  trust: TrustKind;
  /** Subject of the trusted CA that ends the chain, or of the pinned certificate itself. */
  anchor: string;
  /** Subjects from the leaf up to the anchor, both included. */
  path: string[];
}

const MAX_CHAIN = 8;
export const CA_CERT_FILE = 'ca.crt';
export const TRUSTED_DIR = 'trusted';

/** node prints names one attribute a line; a person reads them better on one. */
export function oneLineName(name: string): string {
  return name.split('\n').filter((s) => s !== '').join(', ');
}

/** Reads a certificate from PEM or DER, as E_BAD_CERT naming `what` when it cannot. */
export function readCertificate(input: string | Uint8Array, what = 'the certificate'): Certificate {
  try {
    return parseCertificate(input);
  } catch (e) {
    throw new TamtamError('E_BAD_CERT', `${what} is not a readable X.509 certificate (${(e as Error).message}); give a PEM file that starts with -----BEGIN CERTIFICATE-----, or DER`, { cause: e });
  }
}

function sameDer(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

function checkDates(cert: Certificate, now: Date, role: string): void {
  const subject = oneLineName(cert.x509.subject);
  const span = `valid from ${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()}`;
  const details = { subject, notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString(), now: now.toISOString() };
  if (now < cert.notBefore) {
    throw new TamtamError('E_CERT_EXPIRED', `${role} '${subject}' is not valid yet: ${span}, and it is now ${now.toISOString()}. Check this computer's clock and the clock of the machine that issued it.`, { details });
  }
  if (now > cert.notAfter) {
    throw new TamtamError('E_CERT_EXPIRED', `${role} '${subject}' has expired: ${span}, and it is now ${now.toISOString()}. Issue a new certificate ('tamtam pki issue') and install it.`, { details });
  }
}

function chainCertificates(chain: VerifyOptions['chain']): Certificate[] {
  if (chain === undefined) return [];
  const items = Array.isArray(chain) ? chain : [chain];
  const certs: Certificate[] = [];
  for (const item of items) {
    if (typeof item === 'string') {
      const blocks = pemDecodeAll(item, 'CERTIFICATE');
      if (blocks.length === 0) throw new TamtamError('E_BAD_CERT', 'the chain holds no -----BEGIN CERTIFICATE----- block; give the intermediate CA certificates as PEM');
      for (const b of blocks) certs.push(readCertificate(b.der, 'a chain certificate'));
    } else {
      certs.push(readCertificate(item, 'a chain certificate'));
    }
  }
  return certs;
}

function issuedBy(issuer: Certificate, child: Certificate): boolean {
  // `a.checkIssued(b)` asks whether b issued a: it compares names and key
  // identifiers, and requires keyCertSign when the issuer has a keyUsage.
  return issuer.x509.ca && child.x509.checkIssued(issuer.x509);
}

/**
 * The certificates the hub accepts centres' certificates from: its own CA,
 * other CAs the operator registered, and single certificates pinned as they
 * are (a centre that brings a certificate from a CA the hub will not trust
 * as a whole, as XMServer allowed).
 */
export class TrustStore {
  readonly hubCa: Certificate;
  private readonly extraCas: Certificate[] = [];
  private readonly pins: Certificate[] = [];
  private readonly clock: () => Date;

  constructor(hubCa: string | Uint8Array, options: { now?: () => Date } = {}) {
    this.hubCa = readCertificate(hubCa, 'the hub CA certificate');
    if (!this.hubCa.x509.ca) throw new TamtamError('E_BAD_CERT', `the hub CA certificate '${oneLineName(this.hubCa.x509.subject)}' is not a CA (basicConstraints CA:true is missing)`);
    this.clock = options.now ?? (() => new Date());
  }

  get cas(): readonly Certificate[] {
    return [this.hubCa, ...this.extraCas];
  }

  get pinned(): readonly Certificate[] {
    return this.pins;
  }

  private has(cert: Certificate): boolean {
    return [...this.cas, ...this.pins].some((c) => sameDer(c.der, cert.der));
  }

  /** Trusts every certificate a foreign CA issues. Returns false when it was already trusted. */
  addCa(input: string | Uint8Array): boolean {
    const cert = readCertificate(input, 'the CA certificate');
    if (!cert.x509.ca) throw new TamtamError('E_BAD_CERT', `'${oneLineName(cert.x509.subject)}' is not a CA certificate; pin it as a single certificate instead`);
    if (this.has(cert)) return false;
    this.extraCas.push(cert);
    return true;
  }

  /** Trusts this exact certificate (byte for byte) and nothing it might sign. Returns false when it was already trusted. */
  pin(input: string | Uint8Array): boolean {
    const cert = readCertificate(input, 'the certificate to pin');
    if (this.has(cert)) return false;
    this.pins.push(cert);
    return true;
  }

  /** Adds a CA certificate as a CA, anything else as a pinned certificate. */
  register(input: string | Uint8Array): { kind: TrustKind; added: boolean; certificate: Certificate } {
    const cert = readCertificate(input);
    const kind: TrustKind = cert.x509.ca ? 'ca' : 'pinned';
    const added = kind === 'ca' ? this.addCa(cert.der) : this.pin(cert.der);
    return { kind, added, certificate: cert };
  }

  /** Checks dates and the chain up to a trusted CA (or an exact pin); throws E_CERT_EXPIRED, E_UNTRUSTED_CERT or E_BAD_CERT. */
  verify(input: string | Uint8Array, options: VerifyOptions = {}): VerifyResult {
    const now = options.now ?? this.clock();
    const leaf = readCertificate(input);
    const leafSubject = oneLineName(leaf.x509.subject);
    checkDates(leaf, now, 'the certificate');
    const result = (trust: TrustKind, path: Certificate[]): VerifyResult => ({
      certificate: leaf,
      subject: leafSubject,
      issuer: oneLineName(leaf.x509.issuer),
      trust,
      anchor: oneLineName(path[path.length - 1].x509.subject),
      path: path.map((c) => oneLineName(c.x509.subject)),
    });
    if (this.pins.some((p) => sameDer(p.der, leaf.der))) return result('pinned', [leaf]);

    const intermediates = chainCertificates(options.chain);
    const path = [leaf];
    let current = leaf;
    for (let depth = 0; depth <= MAX_CHAIN; depth++) {
      const anchor = this.cas.find((ca) => issuedBy(ca, current));
      if (anchor) {
        if (!current.x509.verify(anchor.publicKey)) throw badSignature(current, anchor);
        if (!sameDer(anchor.der, current.der)) path.push(anchor);
        checkDates(anchor, now, 'the trusted CA certificate');
        return result('ca', path);
      }
      const next = intermediates.find((c) => !path.includes(c) && issuedBy(c, current));
      if (!next) break;
      if (!current.x509.verify(next.publicKey)) throw badSignature(current, next);
      checkDates(next, now, 'the intermediate CA certificate');
      path.push(next);
      current = next;
    }
    const issuer = oneLineName(current.x509.issuer);
    throw new TamtamError(
      'E_UNTRUSTED_CERT',
      `certificate '${oneLineName(current.x509.subject)}' was issued by '${issuer}', which this hub does not trust` +
        (current === leaf ? '' : ` (reached from '${leafSubject}' through the given chain)`) +
        `. If that CA is legitimate, register its certificate: 'tamtam pki register ISSUER-CA.crt --ca DIR' ` +
        `(and pass any intermediate CA certificates with --chain); or pin this centre's own certificate: 'tamtam pki register CENTRE.crt --ca DIR'.`,
      { details: { subject: leafSubject, issuer, path: path.map((c) => oneLineName(c.x509.subject)) } },
    );
  }

  /** Loads `dir/ca.crt` and every `dir/trusted/*.crt`. */
  static async load(dir: string, options: { now?: () => Date } = {}): Promise<TrustStore> {
    const caPath = join(dir, CA_CERT_FILE);
    const store = new TrustStore(await readCertFile(caPath, `no hub CA certificate at ${caPath}; create one with 'tamtam pki ca init --cn NAME --out ${dir}'`), options);
    let names: string[] = [];
    try {
      names = (await readdir(join(dir, TRUSTED_DIR))).filter((n) => n.endsWith('.crt')).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new TamtamError('E_IO', `cannot list ${join(dir, TRUSTED_DIR)}: ${(e as Error).message}`, { cause: e });
    }
    for (const name of names) {
      const path = join(dir, TRUSTED_DIR, name);
      const cert = readCertificate(await readCertFile(path, `cannot read ${path}`), path);
      if (cert.x509.ca) store.addCa(cert.der);
      else store.pin(cert.der);
    }
    return store;
  }

  /** Writes `dir/ca.crt` and one file per registered certificate; returns the files it wrote. Files already there are kept. */
  async save(dir: string): Promise<string[]> {
    const written: string[] = [];
    await mkdir(join(dir, TRUSTED_DIR), { recursive: true }).catch((e: Error) => {
      throw new TamtamError('E_IO', `cannot create ${join(dir, TRUSTED_DIR)}: ${e.message}`, { cause: e });
    });
    const entries: [string, Certificate][] = [
      [join(dir, CA_CERT_FILE), this.hubCa],
      ...this.extraCas.map((c): [string, Certificate] => [join(dir, TRUSTED_DIR, trustedFileName('ca', c)), c]),
      ...this.pins.map((c): [string, Certificate] => [join(dir, TRUSTED_DIR, trustedFileName('pinned', c)), c]),
    ];
    for (const [path, cert] of entries) {
      const pem = pemEncode(cert.der, 'CERTIFICATE');
      if ((await readFile(path, 'utf8').catch(() => undefined)) === pem) continue;
      writeFileAtomic(path, pem, 0o644);
      written.push(path);
    }
    return written;
  }
}

/** `pinned-ML-0042-3f2a….crt`: readable in a listing, and the hash keeps two certificates of one centre apart. */
export function trustedFileName(kind: TrustKind, cert: Certificate): string {
  const cn = (cert.subjectCn ?? 'unnamed').replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 48);
  const hash = createHash('sha256').update(cert.der).digest('hex').slice(0, 16);
  return `${kind}-${cn}-${hash}.crt`;
}

function badSignature(cert: Certificate, issuer: Certificate): TamtamError {
  return new TamtamError(
    'E_BAD_CERT',
    `the signature on '${oneLineName(cert.x509.subject)}' does not verify with the key of its issuer '${oneLineName(issuer.x509.subject)}': ` +
      'the certificate was altered, or comes from another CA with the same name. Ask for a fresh copy of the certificate.',
  );
}

async function readCertFile(path: string, missing: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new TamtamError('E_IO', (e as NodeJS.ErrnoException).code === 'ENOENT' ? missing : `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}
