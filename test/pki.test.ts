import test from 'ava';
import { execFile } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { createCsr, generateKeyPair, writePrivateKey } from '../agent/enrolment/key-pair.js';
import { runCli } from '../cli/main.js';
import {
  certificateKeyIds,
  certificateKeyUsage,
  checkCsr,
  createCertificateAuthority,
  issueCertificate,
  subjectKeyIdentifier,
  type CertificateAuthority,
} from '../hub/pki/certificate-authority.js';
import { TrustStore } from '../hub/pki/trust-store.js';
import { parseCertificate } from '../protocol/certificate.js';
import { isTamtamError } from '../protocol/errors.js';
import { pemDecode, pemEncode } from '../protocol/pem.js';

const run = promisify(execFile);
const DAY = 86_400_000;
const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('hex');
const at = (iso: string) => () => new Date(iso);

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tamtam-pki-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// 2048-bit CAs keep the suite quick; the 3072-bit default runs in the CLI tests.
const hubCa = createCertificateAuthority({ commonName: 'Tamtam hub CA', organization: 'Etat civil', keyBits: 2048 });
const foreignCa = createCertificateAuthority({ commonName: 'Ministry CA', keyBits: 2048 });

function centre(ca: CertificateAuthority, cn: string, options: Partial<Parameters<typeof issueCertificate>[2]> = {}) {
  const pair = generateKeyPair();
  const csr = createCsr(pair.privateKeyPem, { commonName: cn });
  return { ...pair, csr, certPem: issueCertificate(ca, csr, { role: 'centre', ...options }) };
}

/**
 * A certificate made with forge alone, so the chain code is checked against
 * certificates it did not make, with dates the issuing code would never allow.
 */
function forgeIssued(issuer: CertificateAuthority, cn: string, options: { ca: boolean; from?: number; to?: number }): CertificateAuthority {
  const keys = generateKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  cert.serialNumber = '0a1b2c';
  cert.validity.notBefore = new Date(Date.now() + (options.from ?? -1) * DAY);
  cert.validity.notAfter = new Date(Date.now() + (options.to ?? 365) * DAY);
  cert.setSubject([{ shortName: 'CN', value: cn }]);
  cert.setIssuer(forge.pki.certificateFromPem(issuer.certPem).subject.attributes);
  const issuerKeyId = certificateKeyIds(pemDecode(issuer.certPem, 'CERTIFICATE').der).subjectKeyId!;
  cert.setExtensions([
    { name: 'basicConstraints', cA: options.ca, critical: true },
    options.ca ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true } : { name: 'keyUsage', digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: Buffer.from(issuerKeyId).toString('latin1') },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(issuer.keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

const intermediate = (root: CertificateAuthority) => forgeIssued(root, 'Regional CA', { ca: true });

test('the CA is self-signed, a critical CA, signs certificates and CRLs only, and carries its key identifiers', (t) => {
  const ca = createCertificateAuthority({ commonName: 'Test CA', keyBits: 2048, now: at('2024-03-01T10:00:00.500Z'), random: (n) => new Uint8Array(n).fill(0xff) });
  const cert = parseCertificate(ca.certPem);
  t.true(cert.x509.ca);
  t.true(cert.x509.checkIssued(cert.x509));
  t.true(cert.x509.verify(cert.publicKey));
  t.is(cert.subjectCn, 'Test CA');
  t.deepEqual(certificateKeyUsage(cert.der), ['keyCertSign', 'cRLSign']);
  const forgeCert = forge.pki.certificateFromPem(ca.certPem);
  t.true((forgeCert.getExtension('basicConstraints') as { critical: boolean }).critical);
  t.true((forgeCert.getExtension('keyUsage') as { critical: boolean }).critical);
  const spki = new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' }));
  t.is(hex(cert.subjectKeyId), hex(subjectKeyIdentifier(spki)));
  t.is(hex(certificateKeyIds(cert.der).authorityKeyId), hex(cert.subjectKeyId));
  t.is(cert.serialHex, '7f' + 'ff'.repeat(15));
  t.is(cert.notBefore.toISOString(), '2024-03-01T10:00:00.000Z');
  t.is(cert.notAfter.getTime() - cert.notBefore.getTime(), 3650 * DAY);
  t.true(createPrivateKey(ca.keyPem).asymmetricKeyType === 'rsa' && cert.x509.checkPrivateKey(createPrivateKey(ca.keyPem)));
});

test('a serial whose random first byte is zero still has 16 bytes and stays positive', (t) => {
  const leaf = centre(hubCa, 'ML-0001', { random: (n) => new Uint8Array(n) });
  t.is(parseCertificate(leaf.certPem).serialHex, '01' + '00'.repeat(15));
});

test('a centre certificate from a CSR: names, usages, key identifiers, validity, signature', (t) => {
  const pair = generateKeyPair();
  const csr = createCsr(pair.privateKeyPem, { commonName: 'ML-0042', organization: 'Mairie de Kati' });
  const certPem = issueCertificate(hubCa, csr, { role: 'centre', now: () => new Date() });
  const cert = parseCertificate(certPem);
  const ca = parseCertificate(hubCa.certPem);
  t.is(cert.subjectCn, 'ML-0042');
  t.is(cert.x509.subject, 'CN=ML-0042\nO=Mairie de Kati');
  t.false(cert.x509.ca);
  t.true(cert.x509.checkIssued(ca.x509));
  t.true(cert.x509.verify(ca.publicKey));
  t.deepEqual(certificateKeyUsage(cert.der), ['digitalSignature', 'keyEncipherment']);
  t.deepEqual(cert.x509.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  // forge's own RSAPublicKey fingerprint is an independent route to the same RFC 5280 method-1 identifier.
  const forgeSki = forge.pki.getPublicKeyFingerprint(forge.pki.publicKeyFromPem(pair.publicKeyPem), { type: 'RSAPublicKey', encoding: 'hex' });
  t.is(hex(cert.subjectKeyId), forgeSki);
  t.is(hex(certificateKeyIds(cert.der).authorityKeyId), hex(ca.subjectKeyId));
  t.is(cert.notAfter.getTime() - cert.notBefore.getTime(), 825 * DAY);
  t.true(cert.x509.checkPrivateKey(createPrivateKey(pair.privateKeyPem)));
});

test('a hub certificate is for TLS server and client; --cn overrides the name in the CSR', (t) => {
  const csr = createCsr(generateKeyPair().privateKeyPem, { commonName: 'whatever-the-centre-typed' });
  const cert = parseCertificate(issueCertificate(hubCa, csr, { role: 'hub', commonName: 'hub.tamtam.example', days: 30 }));
  t.is(cert.subjectCn, 'hub.tamtam.example');
  t.deepEqual(cert.x509.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  t.is(cert.notAfter.getTime() - cert.notBefore.getTime(), 30 * DAY);
});

test('names with accents are kept byte for byte, so the issuer still matches the CA', (t) => {
  const ca = createCertificateAuthority({ commonName: 'AC du hub — Ségou', organization: 'État civil', keyBits: 2048 });
  const csr = createCsr(generateKeyPair().privateKeyPem, { commonName: 'Mairie de Ségou' });
  t.deepEqual(checkCsr(csr).subject, { commonName: 'Mairie de Ségou' });
  const cert = parseCertificate(issueCertificate(ca, csr, { role: 'centre' }));
  t.is(cert.subjectCn, 'Mairie de Ségou');
  t.true(cert.x509.checkIssued(new X509Certificate(ca.certPem)));
  t.is(new TrustStore(ca.certPem).verify(cert.der).anchor, 'CN=AC du hub — Ségou, O=État civil');
});

test('a certificate never outlives its CA', (t) => {
  const ca = createCertificateAuthority({ commonName: 'Short CA', days: 100, keyBits: 2048 });
  const cert = parseCertificate(centre(ca, 'ML-0100').certPem);
  t.is(cert.notAfter.getTime(), parseCertificate(ca.certPem).notAfter.getTime());
});

test('a tampered or unreadable CSR is refused before anything is issued', (t) => {
  const csr = createCsr(generateKeyPair().privateKeyPem, { commonName: 'ML-0042' });
  const der = Buffer.from(pemDecode(csr, 'CERTIFICATE REQUEST').der);
  const at42 = der.indexOf('ML-0042');
  t.true(at42 > 0);
  der.write('ML-0666', at42, 'latin1');
  const tampered = pemEncode(der, 'CERTIFICATE REQUEST');
  const error = t.throws(() => issueCertificate(hubCa, tampered, { role: 'centre' }));
  t.true(isTamtamError(error, 'E_BAD_SIGNATURE'), String(error));
  t.regex(error!.message, /altered/);
  t.true(isTamtamError(t.throws(() => checkCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n')), 'E_BAD_INPUT'));
  t.notThrows(() => checkCsr(csr));
});

test('issuing with a CA key that is not the CA certificate’s own is refused', (t) => {
  const csr = createCsr(generateKeyPair().privateKeyPem, { commonName: 'ML-0042' });
  const error = t.throws(() => issueCertificate({ certPem: hubCa.certPem, keyPem: foreignCa.keyPem }, csr, { role: 'centre' }));
  t.true(isTamtamError(error, 'E_BAD_KEY'), String(error));
});

test('keys: PKCS#8 and PKCS#1 RSA keys make CSRs, EC keys are refused with a hint, key files are 0600', async (t) => {
  const pair = generateKeyPair();
  t.regex(pair.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
  const pkcs1 = createPrivateKey(pair.privateKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
  t.is(checkCsr(createCsr(pkcs1, { commonName: 'ML-1' })).subject.commonName, 'ML-1');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const error = t.throws(() => createCsr(ec.privateKey, { commonName: 'ML-1' }));
  t.true(isTamtamError(error, 'E_BAD_KEY'));
  t.regex(error!.message, /tamtam pki key/);
  const path = join(await tempDir(t), 'centre.key');
  writePrivateKey(path, pair.privateKeyPem);
  t.is((await stat(path)).mode & 0o777, 0o600);
  t.is(await readFile(path, 'utf8'), pair.privateKeyPem);
});

test('the trust store accepts its own CA’s certificates and says how it got there', (t) => {
  const leaf = centre(hubCa, 'ML-0042');
  const result = new TrustStore(hubCa.certPem).verify(leaf.certPem);
  t.is(result.trust, 'ca');
  t.is(result.subject, 'CN=ML-0042');
  t.deepEqual(result.path, ['CN=ML-0042', 'CN=Tamtam hub CA, O=Etat civil']);
});

test('a certificate from another CA is untrusted until that CA is registered', (t) => {
  const store = new TrustStore(hubCa.certPem);
  const leaf = centre(foreignCa, 'ML-0777');
  const error = t.throws(() => store.verify(leaf.certPem));
  t.true(isTamtamError(error, 'E_UNTRUSTED_CERT'), String(error));
  t.regex(error!.message, /issued by 'CN=Ministry CA'/);
  t.regex(error!.message, /tamtam pki register/);
  const registered = store.register(foreignCa.certPem);
  t.deepEqual([registered.kind, registered.added], ['ca', true]);
  t.false(store.register(foreignCa.certPem).added);
  t.is(store.verify(leaf.certPem).anchor, 'CN=Ministry CA');
});

test('a pinned centre certificate is trusted alone, not its siblings, and its dates still count', (t) => {
  const store = new TrustStore(hubCa.certPem);
  const pinned = centre(foreignCa, 'ML-0778', { days: 10 });
  const sibling = centre(foreignCa, 'ML-0779');
  t.is(store.register(pinned.certPem).kind, 'pinned');
  t.is(store.verify(pinned.certPem).trust, 'pinned');
  t.true(isTamtamError(t.throws(() => store.verify(sibling.certPem)), 'E_UNTRUSTED_CERT'));
  t.true(isTamtamError(t.throws(() => store.verify(pinned.certPem, { now: new Date(Date.now() + 20 * DAY) })), 'E_CERT_EXPIRED'));
});

test('expired and not-yet-valid certificates are refused with their dates, on an injected clock', (t) => {
  const ca = createCertificateAuthority({ commonName: 'Clock CA', keyBits: 2048, now: at('2019-01-01T00:00:00Z') });
  const leaf = centre(ca, 'ML-0042', { now: at('2020-01-01T00:00:00Z'), days: 10 });
  const store = new TrustStore(ca.certPem, { now: at('2020-01-05T00:00:00Z') });
  t.is(store.verify(leaf.certPem).trust, 'ca');
  const expired = t.throws(() => store.verify(leaf.certPem, { now: new Date('2020-02-01T00:00:00Z') }));
  t.true(isTamtamError(expired, 'E_CERT_EXPIRED'));
  t.regex(expired!.message, /has expired: valid from 2020-01-01T00:00:00.000Z to 2020-01-11T00:00:00.000Z/);
  const early = t.throws(() => store.verify(leaf.certPem, { now: new Date('2019-12-31T00:00:00Z') }));
  t.true(isTamtamError(early, 'E_CERT_EXPIRED'));
  t.regex(early!.message, /not valid yet/);
  const caExpired = t.throws(() => store.verify(leaf.certPem, { now: new Date('2029-01-05T00:00:00Z') }));
  t.regex(caExpired!.message, /has expired/);
});

test('a chain through an intermediate CA verifies only when the intermediate is given', (t) => {
  const regional = intermediate(hubCa);
  const leaf = centre(regional, 'ML-0900');
  const store = new TrustStore(hubCa.certPem);
  t.true(isTamtamError(t.throws(() => store.verify(leaf.certPem)), 'E_UNTRUSTED_CERT'));
  const result = store.verify(leaf.certPem, { chain: regional.certPem });
  t.deepEqual(result.path, ['CN=ML-0900', 'CN=Regional CA', 'CN=Tamtam hub CA, O=Etat civil']);
  const stale = forgeIssued(hubCa, 'Regional CA', { ca: true, from: -10, to: -1 });
  const staleLeaf = forgeIssued(stale, 'ML-0901', { ca: false, from: -5, to: 30 });
  const error = t.throws(() => store.verify(staleLeaf.certPem, { chain: stale.certPem }));
  t.true(isTamtamError(error, 'E_CERT_EXPIRED'));
  t.regex(error!.message, /intermediate CA certificate 'CN=Regional CA'/);
});

test('a certificate with a broken signature or no certificate at all is E_BAD_CERT', (t) => {
  const der = Buffer.from(parseCertificate(centre(hubCa, 'ML-0042').certPem).der);
  der[der.length - 5] ^= 0x01;
  const store = new TrustStore(hubCa.certPem);
  const error = t.throws(() => store.verify(der));
  t.true(isTamtamError(error, 'E_BAD_CERT'), String(error));
  t.regex(error!.message, /does not verify/);
  t.true(isTamtamError(t.throws(() => store.verify('hello')), 'E_BAD_CERT'));
});

test('the trust store saves to and loads from a directory', async (t) => {
  const dir = await tempDir(t);
  const store = new TrustStore(hubCa.certPem);
  const pinned = centre(createCertificateAuthority({ commonName: 'Old XMServer CA', keyBits: 2048 }), 'ML-0500');
  store.register(foreignCa.certPem);
  store.register(pinned.certPem);
  t.is((await store.save(dir)).length, 3);
  t.deepEqual(await store.save(dir), []);
  const files = (await readdir(join(dir, 'trusted'))).sort();
  t.is(files.length, 2);
  t.regex(files[0], /^ca-Ministry_CA-[0-9a-f]{16}\.crt$/);
  t.regex(files[1], /^pinned-ML-0500-[0-9a-f]{16}\.crt$/);
  const loaded = await TrustStore.load(dir);
  t.is(loaded.cas.length, 2);
  t.is(loaded.pinned.length, 1);
  t.is(loaded.verify(pinned.certPem).trust, 'pinned');
  t.is(loaded.verify(centre(foreignCa, 'ML-0501').certPem).anchor, 'CN=Ministry CA');
  const missing = await t.throwsAsync(TrustStore.load(join(dir, 'nowhere')));
  t.true(isTamtamError(missing, 'E_IO'));
  t.regex(missing!.message, /tamtam pki ca init/);
});

test('openssl accepts what we issue, through an intermediate too, and reads our key identifier', async (t) => {
  const dir = await tempDir(t);
  const leaf = centre(hubCa, 'ML-0042');
  const regional = intermediate(hubCa);
  const far = centre(regional, 'ML-0043');
  await writeFile(join(dir, 'ca.crt'), hubCa.certPem);
  await writeFile(join(dir, 'foreign.crt'), foreignCa.certPem);
  await writeFile(join(dir, 'centre.crt'), leaf.certPem);
  await writeFile(join(dir, 'regional.crt'), regional.certPem);
  await writeFile(join(dir, 'far.crt'), far.certPem);
  const ok = await run('openssl', ['verify', '-CAfile', 'ca.crt', 'centre.crt'], { cwd: dir });
  t.is(ok.stdout.trim(), 'centre.crt: OK');
  const chained = await run('openssl', ['verify', '-CAfile', 'ca.crt', '-untrusted', 'regional.crt', '-purpose', 'sslclient', 'far.crt'], { cwd: dir });
  t.is(chained.stdout.trim(), 'far.crt: OK');
  await t.throwsAsync(run('openssl', ['verify', '-CAfile', 'foreign.crt', 'centre.crt'], { cwd: dir }));
  const ext = await run('openssl', ['x509', '-in', 'centre.crt', '-noout', '-ext', 'subjectKeyIdentifier'], { cwd: dir });
  const shown = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(ext.stdout)?.[1];
  t.is(shown?.replaceAll(':', '').toLowerCase(), hex(parseCertificate(leaf.certPem).subjectKeyId));
  await writeFile(join(dir, 'centre.csr'), leaf.csr);
  const req = await run('openssl', ['req', '-in', 'centre.csr', '-verify', '-noout'], { cwd: dir });
  t.regex(req.stdout + req.stderr, /verify OK/);
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, (s) => void out.push(s), (s) => void err.push(s));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('CLI: a CA, a centre key and CSR, a certificate, verify, show, register, end to end', async (t) => {
  const dir = await tempDir(t);
  const ca = join(dir, 'hub');
  const init = await cli(['pki', 'ca', 'init', '--cn', 'Hub CA', '--org', 'Etat civil', '--out', ca, '--json']);
  t.is(init.code, 0, init.err);
  t.true(JSON.parse(init.out).ca);
  t.is((await stat(join(ca, 'ca.key'))).mode & 0o777, 0o600);
  const again = await cli(['pki', 'ca', 'init', '--cn', 'Hub CA', '--out', ca]);
  t.is(again.code, 1);
  t.regex(again.err, /already exists.*--force/);
  const key = await cli(['pki', 'key', '--out', join(dir, 'centre.key'), '--csr', join(dir, 'centre.csr'), '--cn', 'ML-0042']);
  t.is(key.code, 0, key.err);
  t.is((await stat(join(dir, 'centre.key'))).mode & 0o777, 0o600);
  const issue = await cli(['pki', 'issue', '--ca', ca, '--csr', join(dir, 'centre.csr'), '--role', 'centre', '--days', '90', '--out', join(dir, 'centre.crt'), '--json']);
  t.is(issue.code, 0, issue.err);
  const issued = JSON.parse(issue.out);
  t.is(issued.subject, 'CN=ML-0042');
  t.deepEqual(issued.extKeyUsage, ['clientAuth']);
  t.is(Date.parse(issued.notAfter) - Date.parse(issued.notBefore), 90 * DAY);
  const verified = await cli(['pki', 'verify', join(dir, 'centre.crt'), '--ca', ca]);
  t.is(verified.code, 0, verified.err);
  t.regex(verified.out, /trusted/);
  t.regex(verified.out, new RegExp(`subjectKeyId\\s+${issued.subjectKeyId}`));
  const shown = JSON.parse((await cli(['pki', 'show', join(dir, 'centre.crt'), '--json'])).out);
  t.deepEqual(shown.keyUsage, ['digitalSignature', 'keyEncipherment']);
  t.is(shown.serial.length, 32);
  const plain = await cli(['pki', 'show', join(dir, 'centre.crt')]);
  t.regex(plain.out, /issuer\s+CN=Hub CA, O=Etat civil/);

  const other = join(dir, 'ministry');
  t.is((await cli(['pki', 'ca', 'init', '--cn', 'Ministry CA', '--out', other])).code, 0);
  t.is((await cli(['pki', 'key', '--out', join(dir, 'far.key')])).code, 0);
  const csr = await cli(['pki', 'csr', '--key', join(dir, 'far.key'), '--cn', 'ML-0777', '--out', join(dir, 'far.csr')]);
  t.is(csr.code, 0, csr.err);
  t.is((await cli(['pki', 'issue', '--ca', other, '--csr', join(dir, 'far.csr'), '--role', 'centre', '--out', join(dir, 'far.crt')])).code, 0);
  const refused = await cli(['pki', 'verify', join(dir, 'far.crt'), '--ca', ca]);
  t.is(refused.code, 1);
  t.regex(refused.err, /issued by 'CN=Ministry CA'.*tamtam pki register.*\[E_UNTRUSTED_CERT\]/);
  const refusedJson = JSON.parse((await cli(['pki', 'verify', join(dir, 'far.crt'), '--ca', ca, '--json'])).out);
  t.is(refusedJson.error.code, 'E_UNTRUSTED_CERT');
  const registered = await cli(['pki', 'register', join(other, 'ca.crt'), '--ca', ca, '--json']);
  t.is(registered.code, 0, registered.err);
  t.like(JSON.parse(registered.out), { kind: 'ca', added: true });
  t.is((await cli(['pki', 'verify', join(dir, 'far.crt'), '--ca', ca])).code, 0);
  t.is((await readdir(join(ca, 'trusted'))).length, 1);
});

test('CLI: wrong usage exits 2 and says what to do', async (t) => {
  const dir = await tempDir(t);
  const role = await cli(['pki', 'issue', '--ca', dir, '--csr', 'x.csr', '--role', 'boss', '--out', 'x.crt']);
  t.is(role.code, 2);
  t.regex(role.err, /--role must be centre or hub, not 'boss'/);
  const noCert = await cli(['pki', 'verify', '--ca', dir]);
  t.is(noCert.code, 2);
  t.regex(noCert.err, /missing CERT/);
  const unknown = await cli(['pki', 'key', '--out', join(dir, 'k.key'), '--bits', '4096']);
  t.is(unknown.code, 2);
  t.regex(unknown.err, /--bits.*tamtam pki key --help/);
  const csrNoCn = await cli(['pki', 'key', '--out', join(dir, 'k.key'), '--csr', join(dir, 'k.csr')]);
  t.is(csrNoCn.code, 2);
  t.regex(csrNoCn.err, /--csr needs --cn/);
  const help = await cli(['pki', 'issue', '--help']);
  t.is(help.code, 0);
  t.regex(help.out, /--role ROLE[\s\S]*Example:\n  tamtam pki issue/);
  const missingCa = await cli(['pki', 'verify', join(dir, 'none.crt'), '--ca', dir]);
  t.is(missingCa.code, 1);
  t.regex(missingCa.err, /tamtam pki ca init/);
});
