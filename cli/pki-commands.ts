import { access, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createCsr, generateKeyPair, writePrivateKey } from '../agent/enrolment/key-pair.js';
import { writeFileAtomic } from '../common/atomic-write.js';
import { readInput } from '../common/read-input.js';
import {
  certificateKeyIds,
  certificateKeyUsage,
  certificateRoles,
  createCertificateAuthority,
  issueCertificate,
  subjectKeyIdentifier,
  type CertificateRole,
} from '../hub/pki/certificate-authority.js';
import { CA_CERT_FILE, oneLineName, readCertificate, TrustStore } from '../hub/pki/trust-store.js';
import { type Certificate } from '../protocol/certificate.js';
import { TamtamError } from '../protocol/errors.js';
import { pemDecode } from '../protocol/pem.js';
import { optionalString, requireOption, requirePositional, type Command, type CommandContext, type CommandGroup } from './command.js';

const CA_KEY_FILE = 'ca.key';

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
};

const hex = (b: Uint8Array | undefined): string | undefined => (b ? Buffer.from(b).toString('hex') : undefined);

function days(ctx: CommandContext): number | undefined {
  const raw = optionalString(ctx, 'days');
  if (raw === undefined) return undefined;
  if (!/^[1-9][0-9]{0,4}$/.test(raw)) throw new TamtamError('E_USAGE', `--days must be a whole number of days between 1 and 99999, not '${raw}'`);
  return Number(raw);
}

function onlyPositionals(ctx: CommandContext, count: number, usage: string): void {
  if (ctx.positionals.length > count) throw new TamtamError('E_USAGE', `unexpected argument '${ctx.positionals[count]}'; usage: ${usage}`);
}

const readText = (path: string, what: string): string => Buffer.from(readInput(path, what)).toString('utf8');

async function refuseOverwrite(path: string, ctx: CommandContext, why: string): Promise<void> {
  if (ctx.values.force === true) return;
  const exists = await access(path).then(() => true, () => false);
  if (exists) throw new TamtamError('E_IO', `${path} already exists and ${why}; choose another --out, or add --force to replace it`);
}

async function makeParent(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true }).catch((e: Error) => {
    throw new TamtamError('E_IO', `cannot create the directory ${dirname(path)}: ${e.message}`, { cause: e });
  });
}

/** One certificate as facts for `show`, `verify` and the commands that make one. */
function describe(cert: Certificate): Record<string, unknown> {
  const ids = certificateKeyIds(cert.der);
  return {
    subject: oneLineName(cert.x509.subject),
    issuer: oneLineName(cert.x509.issuer),
    serial: cert.serialHex,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    subjectKeyId: hex(ids.subjectKeyId),
    authorityKeyId: hex(ids.authorityKeyId),
    ca: cert.x509.ca,
    keyUsage: certificateKeyUsage(cert.der),
    extKeyUsage: (cert.x509.keyUsage ?? []).map((oid) => EKU_NAMES[oid] ?? oid),
    sha256: cert.x509.fingerprint256.replaceAll(':', '').toLowerCase(),
  };
}

function print(ctx: CommandContext, facts: Record<string, unknown>, heading?: string): void {
  if (ctx.json) {
    ctx.out(JSON.stringify(facts));
    return;
  }
  if (heading) ctx.out(heading);
  for (const [key, value] of Object.entries(facts)) {
    if (value === undefined) continue;
    ctx.out(`  ${key.padEnd(14)} ${Array.isArray(value) ? value.join(', ') || '(none)' : String(value)}`);
  }
}

const caInit: Command = {
  name: 'ca init',
  summary: "create the hub's certificate authority (a key and a self-signed certificate)",
  usage: '--cn NAME [--org O] [--days N] --out DIR [--force]',
  help: `
Options:
  --cn NAME     common name of the CA, e.g. 'Tamtam hub CA'
  --org O       organization, e.g. 'Direction de l'etat civil'
  --days N      validity in days (default 3650)
  --out DIR     directory to write DIR/ca.key (mode 0600, keep it secret) and DIR/ca.crt
  --force       replace an existing DIR/ca.key; every certificate issued with the old key stops being trusted

Example:
  tamtam pki ca init --cn 'Tamtam hub CA' --org 'Etat civil' --out /etc/tamtam/pki`,
  options: { cn: { type: 'string' }, org: { type: 'string' }, days: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } },
  async run(ctx) {
    onlyPositionals(ctx, 0, caInit.usage);
    const commonName = requireOption(ctx, 'cn', 'the name of the CA');
    const dir = requireOption(ctx, 'out', 'the directory for ca.key and ca.crt');
    const keyPath = join(dir, CA_KEY_FILE);
    await refuseOverwrite(keyPath, ctx, 'signs every certificate already issued');
    const ca = createCertificateAuthority({ commonName, organization: optionalString(ctx, 'org'), days: days(ctx) });
    await makeParent(keyPath);
    writePrivateKey(keyPath, ca.keyPem);
    writeFileAtomic(join(dir, CA_CERT_FILE), ca.certPem);
    print(ctx, { key: keyPath, cert: join(dir, CA_CERT_FILE), ...describe(readCertificate(ca.certPem)) }, `created the CA in ${dir}:`);
  },
};

const key: Command = {
  name: 'key',
  summary: 'generate an RSA-2048 private key on a centre (and, with --csr, the request to certify it)',
  usage: '--out FILE.key [--csr FILE.csr --cn NAME [--org O]] [--force]',
  help: `
Options:
  --out FILE.key  where to write the private key (PKCS#8 PEM, mode 0600); it never leaves the centre
  --csr FILE.csr  also write a certificate signing request to send to the hub
  --cn NAME       with --csr: the centre's matricule
  --org O         with --csr: organization (optional)
  --force         replace an existing key file; a certificate made for the old key becomes useless

Example:
  tamtam pki key --out centre.key --csr centre.csr --cn ML-0042`,
  options: { out: { type: 'string' }, csr: { type: 'string' }, cn: { type: 'string' }, org: { type: 'string' }, force: { type: 'boolean' } },
  async run(ctx) {
    onlyPositionals(ctx, 0, key.usage);
    const keyPath = requireOption(ctx, 'out', 'the file for the private key');
    const csrPath = optionalString(ctx, 'csr');
    const cn = optionalString(ctx, 'cn');
    if (csrPath !== undefined && !cn) throw new TamtamError('E_USAGE', "--csr needs --cn (the centre's matricule), e.g. --csr centre.csr --cn ML-0042");
    if (csrPath === undefined && cn !== undefined) throw new TamtamError('E_USAGE', '--cn is only used with --csr FILE.csr; add --csr, or make the CSR later with `tamtam pki csr`');
    await refuseOverwrite(keyPath, ctx, 'holds a key that may already be certified');
    const pair = generateKeyPair();
    await makeParent(keyPath);
    writePrivateKey(keyPath, pair.privateKeyPem);
    const facts: Record<string, unknown> = { key: keyPath, subjectKeyId: hex(subjectKeyIdentifier(pemDecode(pair.publicKeyPem, 'PUBLIC KEY').der)) };
    if (csrPath !== undefined && cn) {
      await makeParent(csrPath);
      writeFileAtomic(csrPath, createCsr(pair.privateKeyPem, { commonName: cn, organization: optionalString(ctx, 'org') }));
      facts.csr = csrPath;
      facts.subject = `CN=${cn}`;
    }
    print(ctx, facts, 'generated an RSA-2048 key:');
  },
};

const csr: Command = {
  name: 'csr',
  summary: 'make a certificate signing request for an existing key',
  usage: '--key FILE.key --cn NAME [--org O] --out FILE.csr',
  help: `
Options:
  --key FILE.key  the centre's private key (from 'tamtam pki key')
  --cn NAME       the centre's matricule (or the hub's name)
  --org O         organization (optional)
  --out FILE.csr  where to write the request; send it to the hub operator

Example:
  tamtam pki csr --key centre.key --cn ML-0042 --out centre.csr`,
  options: { key: { type: 'string' }, cn: { type: 'string' }, org: { type: 'string' }, out: { type: 'string' } },
  async run(ctx) {
    onlyPositionals(ctx, 0, csr.usage);
    const keyPath = requireOption(ctx, 'key', 'the private key file');
    const commonName = requireOption(ctx, 'cn', "the centre's matricule");
    const out = requireOption(ctx, 'out', 'the file for the request');
    const pem = createCsr(readText(keyPath, 'the private key'), { commonName, organization: optionalString(ctx, 'org') });
    await makeParent(out);
    writeFileAtomic(out, pem);
    print(ctx, { csr: out, subject: `CN=${commonName}` }, 'wrote the request:');
  },
};

const issue: Command = {
  name: 'issue',
  summary: 'issue a certificate from a CSR with the hub CA',
  usage: '--ca DIR --csr FILE.csr --role centre|hub [--cn NAME] [--days N] --out FILE.crt',
  help: `
Options:
  --ca DIR        the CA directory made by 'tamtam pki ca init' (ca.key, ca.crt)
  --csr FILE.csr  the request; its signature is checked before anything is issued
  --role ROLE     'centre' (signs SDCs, TLS client) or 'hub' (TLS server and client)
  --cn NAME       certify this name instead of the one in the CSR (the centre's matricule as enrolled)
  --days N        validity in days (default 825; never beyond the CA's own end date)
  --out FILE.crt  where to write the certificate

Example:
  tamtam pki issue --ca /etc/tamtam/pki --csr ML-0042.csr --role centre --out ML-0042.crt`,
  options: { ca: { type: 'string' }, csr: { type: 'string' }, role: { type: 'string' }, cn: { type: 'string' }, days: { type: 'string' }, out: { type: 'string' } },
  async run(ctx) {
    onlyPositionals(ctx, 0, issue.usage);
    const dir = requireOption(ctx, 'ca', 'the CA directory');
    const csrPath = requireOption(ctx, 'csr', 'the certificate signing request');
    const role = requireOption(ctx, 'role', certificateRoles.join(' or '));
    if (!certificateRoles.includes(role as CertificateRole)) throw new TamtamError('E_USAGE', `--role must be ${certificateRoles.join(' or ')}, not '${role}'`);
    const out = requireOption(ctx, 'out', 'the file for the certificate');
    const ca = { certPem: readText(join(dir, CA_CERT_FILE), 'the CA certificate'), keyPem: readText(join(dir, CA_KEY_FILE), 'the CA key') };
    const certPem = issueCertificate(ca, readText(csrPath, 'the request'), { role: role as CertificateRole, days: days(ctx), commonName: optionalString(ctx, 'cn') });
    await makeParent(out);
    writeFileAtomic(out, certPem);
    print(ctx, { cert: out, role, ...describe(readCertificate(certPem)) }, `issued ${out}:`);
  },
};

const verify: Command = {
  name: 'verify',
  summary: "check a certificate against the hub's trust store (exit 0 trusted, 1 not)",
  usage: 'CERT --ca DIR [--chain INTERMEDIATES.pem]',
  help: `
Arguments:
  CERT            the certificate to check (PEM or DER)
Options:
  --ca DIR        the trust store: DIR/ca.crt and the certificates registered in DIR/trusted/
  --chain FILE    intermediate CA certificates (PEM, one or more) between CERT and a trusted CA

Example:
  tamtam pki verify ML-0042.crt --ca /etc/tamtam/pki`,
  options: { ca: { type: 'string' }, chain: { type: 'string' } },
  async run(ctx) {
    onlyPositionals(ctx, 1, verify.usage);
    const certPath = requirePositional(ctx, 0, 'CERT, the certificate to check');
    const dir = requireOption(ctx, 'ca', 'the trust store directory');
    const chainPath = optionalString(ctx, 'chain');
    const store = await TrustStore.load(dir);
    const chain = chainPath === undefined ? undefined : readText(chainPath, 'the chain');
    const result = store.verify(readInput(certPath, 'the certificate'), { chain });
    print(ctx, { trusted: true, trust: result.trust, anchor: result.anchor, path: result.path, ...describe(result.certificate) }, `${certPath}: trusted`);
  },
};

const register: Command = {
  name: 'register',
  summary: "trust a foreign CA certificate, or pin one centre's certificate",
  usage: 'CERT --ca DIR',
  help: `
A CA certificate (basicConstraints CA:true) is added as a trusted CA: every
certificate it issues is accepted. Any other certificate is pinned: that exact
certificate is accepted, nothing else from its issuer. Dates are still checked.

Arguments:
  CERT      the certificate (PEM or DER)
Options:
  --ca DIR  the trust store; the certificate is copied into DIR/trusted/

Example:
  tamtam pki register ministry-ca.crt --ca /etc/tamtam/pki
  tamtam pki register ML-0042-old.crt --ca /etc/tamtam/pki`,
  options: { ca: { type: 'string' } },
  async run(ctx) {
    onlyPositionals(ctx, 1, register.usage);
    const certPath = requirePositional(ctx, 0, 'CERT, the certificate to register');
    const dir = requireOption(ctx, 'ca', 'the trust store directory');
    const store = await TrustStore.load(dir);
    const { kind, added, certificate } = store.register(readInput(certPath, 'the certificate'));
    const files = await store.save(dir);
    const what = kind === 'ca' ? 'trusted CA' : 'pinned certificate';
    print(ctx, { kind, added, files, ...describe(certificate) }, added ? `registered as a ${what}:` : `already registered as a ${what}:`);
  },
};

const show: Command = {
  name: 'show',
  summary: 'print what a certificate says: subject, issuer, serial, validity, key identifiers, usages',
  usage: 'CERT',
  help: `
Arguments:
  CERT  the certificate (PEM or DER)

Example:
  tamtam pki show ML-0042.crt --json`,
  async run(ctx) {
    onlyPositionals(ctx, 1, show.usage);
    const certPath = requirePositional(ctx, 0, 'CERT, the certificate to show');
    print(ctx, describe(readCertificate(readInput(certPath, 'the certificate'), certPath)), `${certPath}:`);
  },
};

export const pkiGroup: CommandGroup = {
  name: 'pki',
  commands: [caInit, key, csr, issue, verify, register, show],
};
