import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SdcKind, batchFromObjects, certMatches, concatBytes, decodeBatch, encodeBatch, inspectEnvelope, openEnvelope, openSdc, parseCertificate, peekSdc,
  sealSdc, verifySignedData, type Certificate, type CertId,
} from '../protocol/index.js';
import { sampleActs } from './helpers/acts.js';
import { sdcFixture } from './helpers/sdc-fixture.js';

/**
 * Interoperability with the openssl binary: what Tamtam seals is plain CMS
 * that `openssl cms` opens, and CMS that openssl makes opens with Tamtam.
 * Tamtam's certificates are for TLS clients and servers (extendedKeyUsage),
 * which openssl's default S/MIME purpose check refuses; `-purpose any` keeps
 * the chain and signature checks and drops only that one.
 */
function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-openssl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function openssl(dir: string, args: string[]): Buffer {
  try {
    return execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr?.toString() ?? err.message}`);
  }
}

const write = (dir: string, files: Record<string, string | Uint8Array>) => {
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
};
const read = (dir: string, name: string) => new Uint8Array(readFileSync(join(dir, name)));
const only = (cert: Certificate) => (id: CertId) => (certMatches(cert, id) ? cert : undefined);

async function pkiFiles(t: ExecutionContext) {
  const f = await sdcFixture();
  const dir = tempDir(t);
  write(dir, {
    'ca.crt': f.pki.caCertPem, 'ca.key': f.pki.caKeyPem, 'hub.crt': f.pki.hub.certPem, 'hub.key': f.pki.hub.keyPem,
    'centre.crt': f.pki.centre.certPem, 'centre.key': f.pki.centre.keyPem,
  });
  return { f, dir };
}

function sealBirths(f: Awaited<ReturnType<typeof sdcFixture>>, signer: { key: KeyObject; cert: Certificate }, recipient: Certificate, n = 3) {
  const batch = batchFromObjects('births', sampleActs('births', n));
  const body = encodeBatch(batch);
  const sdc = sealSdc(f.compressor, body, {
    kind: SdcKind.data, sender: 'CM-CE-YDE-0001', sequence: 7n, count: n, signerKey: signer.key, signerCert: signer.cert, recipientCert: recipient, dictionary: f.dictionary,
  });
  return { batch, body, sdc };
}

/** openssl decrypts with the hub's key, then verifies against the CA; returns the signed content. */
function opensslOpens(dir: string, cms: Uint8Array, hub: string, centre: string): Uint8Array {
  write(dir, { 'sdc.cms': cms });
  openssl(dir, ['cms', '-decrypt', '-inform', 'DER', '-in', 'sdc.cms', '-recip', `${hub}.crt`, '-inkey', `${hub}.key`, '-out', 'signed.der']);
  openssl(dir, ['cms', '-verify', '-inform', 'DER', '-in', 'signed.der', '-binary', '-certfile', `${centre}.crt`, '-CAfile', 'ca.crt', '-purpose', 'any', '-out', 'content.bin']);
  return read(dir, 'content.bin');
}

test('openssl cms decrypts and verifies an SDC: the content is the clear header, then a zstd frame of the body', async (t) => {
  const { f, dir } = await pkiFiles(t);
  const { sdc, body, batch } = sealBirths(f, f.pki.centre, f.pki.hub.cert);
  const { headerLength, header } = peekSdc(sdc);
  const content = opensslOpens(dir, sdc.subarray(headerLength), 'hub', 'centre');
  t.deepEqual(content.subarray(0, headerLength), sdc.subarray(0, headerLength), 'the signed content starts with the clear header, byte for byte');
  const frame = content.subarray(headerLength);
  t.deepEqual([...frame.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd], 'zstd frame magic');
  const inflated = f.compressor.decompress(frame, header.bodySize, header.bodySize, f.dictionary);
  t.deepEqual(inflated, body);
  t.deepEqual(decodeBatch(inflated), batch);
  const printed = openssl(dir, ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', 'sdc.cms']).toString();
  for (const line of ['version: 2', 'd.subjectKeyIdentifier', 'rsaesOaep', 'mgf1', 'aes-256-cbc', 'contentType: pkcs7-signedData']) t.true(printed.includes(line), line);
  const signed = openssl(dir, ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', 'signed.der']).toString();
  for (const line of ['version: 3', 'certificates:\n      <ABSENT>', 'signedAttrs:\n          <ABSENT>', 'sha256WithRSAEncryption']) t.true(signed.includes(line), line);
});

interface Sealing {
  sign: string[];
  encrypt: string[];
  /** Base names of the .crt/.key files openssl uses, and the same certificates parsed. */
  names?: { hub: string; centre: string };
  certs?: { hub: Certificate; centre: Certificate; hubKeyPem: string };
}

/** openssl signs (with or without attributes) and envelopes header || zstd frame; Tamtam must open it. */
async function opensslSeals(t: ExecutionContext, { f, dir }: Awaited<ReturnType<typeof pkiFiles>>, { sign, encrypt, names = { hub: 'hub', centre: 'centre' }, certs }: Sealing) {
  const hubCert = certs?.hub ?? f.pki.hub.cert;
  const centreCert = certs?.centre ?? f.pki.centre.cert;
  const recipientKey = createPrivateKey(certs?.hubKeyPem ?? f.pki.hub.keyPem);
  const { sdc, batch } = sealBirths(f, f.pki.centre, f.pki.hub.cert);
  const { headerLength } = peekSdc(sdc);
  const content = openEnvelope(sdc.subarray(headerLength), f.pki.hub.key, f.pki.hub.cert);
  const signedContent = verifySignedData(content, only(f.pki.centre.cert)).content;
  write(dir, { 'content.bin': signedContent });
  openssl(dir, ['cms', '-sign', '-binary', '-nodetach', '-md', 'sha256', '-outform', 'DER', '-signer', `${names.centre}.crt`, '-inkey', `${names.centre}.key`, ...sign, '-in', 'content.bin', '-out', 'signed.der']);
  openssl(dir, ['cms', '-encrypt', '-binary', '-aes256', '-outform', 'DER', '-in', 'signed.der', '-out', 'env.der', '-recip', `${names.hub}.crt`, ...encrypt]);
  const env = read(dir, 'env.der');
  const signed = openEnvelope(env, recipientKey, hubCert);
  t.deepEqual(signed, read(dir, 'signed.der'));
  t.deepEqual(verifySignedData(signed, only(centreCert)).content, signedContent);
  const opened = openSdc(f.compressor, concatBytes([sdc.subarray(0, headerLength), env]), {
    recipientKey, recipientCert: hubCert, resolveSigner: only(centreCert), resolveDictionary: () => f.dictionary,
  });
  t.deepEqual(decodeBatch(opened.body), batch, 'an SDC whose CMS layers openssl made opens to the records');
  return { dir, env, signed };
}

const OAEP = ['-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256'];

test('CMS signed (no attributes) and enveloped by openssl with key ids opens with openEnvelope and verifySignedData', async (t) => {
  const { dir } = await opensslSeals(t, await pkiFiles(t), { sign: ['-noattr', '-keyid'], encrypt: ['-keyid', ...OAEP] });
  t.true(openssl(dir, ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', 'signed.der']).toString().includes('signedAttrs:\n          <ABSENT>'));
});

test('CMS signed by openssl WITH signed attributes verifies too (message digest checked, signature over the attributes)', async (t) => {
  const { dir } = await opensslSeals(t, await pkiFiles(t), { sign: ['-keyid'], encrypt: ['-keyid', ...OAEP] });
  const printed = openssl(dir, ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', 'signed.der']).toString();
  t.true(printed.includes('messageDigest'), 'openssl did add signed attributes');
});

test('certificates without a subject key identifier: Tamtam names them by issuer and serial, both ways', async (t) => {
  const files = await pkiFiles(t);
  const { f, dir } = files;
  // OpenSSL 3 adds key identifiers unless told 'none'.
  const ext = ['[leaf]', 'basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature, keyEncipherment', 'subjectKeyIdentifier = none', 'authorityKeyIdentifier = none'];
  write(dir, { 'ext.cnf': `${ext.join('\n')}\n` });
  for (const [name, serial] of [['hub-noski', '0x51'], ['centre-noski', '0x52']]) {
    openssl(dir, ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', serial, '-days', '2', '-extfile', 'ext.cnf', '-extensions', 'leaf', '-out', `${name}.crt`]);
  }
  const hub = parseCertificate(readFileSync(join(dir, 'hub-noski.crt'), 'utf8'));
  const centre = parseCertificate(readFileSync(join(dir, 'centre-noski.crt'), 'utf8'));
  t.is(hub.subjectKeyId, undefined);
  t.is(centre.subjectKeyId, undefined);
  const centreKey = createPrivateKey(readFileSync(join(dir, 'centre-noski.key')));
  const { sdc, body } = sealBirths(f, { key: centreKey, cert: centre }, hub);
  const { headerLength, header } = peekSdc(sdc);
  t.regex(inspectEnvelope(sdc.subarray(headerLength)).recipients[0], /^issuer\+serial /);
  const content = opensslOpens(dir, sdc.subarray(headerLength), 'hub-noski', 'centre-noski');
  t.deepEqual(content.subarray(0, headerLength), sdc.subarray(0, headerLength));
  t.deepEqual(f.compressor.decompress(content.subarray(headerLength), header.bodySize, header.bodySize, f.dictionary), body);
  const printed = openssl(dir, ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', 'sdc.cms']).toString();
  t.true(printed.includes('d.issuerAndSerialNumber') && printed.includes('version: 0'), 'EnvelopedData v0 with issuer and serial');
  t.true(openssl(dir, ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', 'signed.der']).toString().includes('version: 1'), 'SignedData v1');

  const back = await opensslSeals(t, files, {
    sign: ['-noattr'], encrypt: OAEP, names: { hub: 'hub-noski', centre: 'centre-noski' }, certs: { hub, centre, hubKeyPem: readFileSync(join(dir, 'hub-noski.key'), 'utf8') },
  });
  t.regex(inspectEnvelope(back.env).recipients[0], /^issuer\+serial /, 'openssl named the recipient by issuer and serial');
});
