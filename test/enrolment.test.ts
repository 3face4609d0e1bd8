import test, { type ExecutionContext } from 'ava';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { enrol } from '../agent/enrolment/enrol-client.js';
import { createCsr, generateKeyPair } from '../agent/enrolment/key-pair.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../hub/embedded/embedded-broker.js';
import { createEnrolmentService, enrolmentHandler, type EnrolmentServiceOptions } from '../hub/enrolment-service.js';
import { createCertificateAuthority, issueCertificate } from '../hub/pki/certificate-authority.js';
import { MqttReceiver } from '../hub/receivers/mqtt-receiver.js';
import { encodeEnrolMessage } from '../protocol/enrolment.js';
import { isTamtamError, type TamtamError } from '../protocol/errors.js';

const ca = createCertificateAuthority({ commonName: 'Tamtam Enrolment Test CA', keyBits: 2048 });
const hubKeys = generateKeyPair();
const hubCertPem = issueCertificate(ca, createCsr(hubKeys.privateKeyPem, { commonName: 'hub' }), { role: 'hub' });

function hubParts(tokens: Record<string, string>) {
  const stored = new Map<string, string>();
  const options: EnrolmentServiceOptions = {
    consumeToken: async (centre, token) => {
      if (tokens[centre] !== token) return false;
      delete tokens[centre];
      return true;
    },
    issue: async (csrPem, centre) => issueCertificate(ca, csrPem, { role: 'centre', commonName: centre }),
    store: async (centre, certPem) => void stored.set(centre, certPem),
    caPem: ca.certPem,
    hubCertPem,
  };
  return { options, stored, service: createEnrolmentService(options) };
}

async function hub(t: ExecutionContext, tokens: Record<string, string>): Promise<{ broker: EmbeddedBroker; stored: Map<string, string> }> {
  const broker = await startEmbeddedBroker();
  const { service, stored } = hubParts(tokens);
  const receiver = new MqttReceiver({
    url: broker.url,
    clientId: 'hub-enrol',
    shared: false,
    onUp: async () => ({}),
    onEnrol: enrolmentHandler(service),
  });
  await receiver.start();
  t.teardown(async () => {
    await receiver.stop();
    await broker.close();
  });
  return { broker, stored };
}

const tempDir = (t: ExecutionContext): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-enrol-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

test('a centre enrols with a good token: its certificate verifies against the CA and certifies its key; a reused token is refused and leaves the files alone', async (t) => {
  const { broker, stored } = await hub(t, { 'CM-CE-YDE-0001': 'tok-123' });
  const dataDir = tempDir(t);
  const files = await enrol({ url: broker.url, centre: 'CM-CE-YDE-0001', token: 'tok-123', dataDir, timeoutMs: 10_000 });
  t.deepEqual(files, {
    keyPath: join(dataDir, 'keys', 'centre.key'),
    certPath: join(dataDir, 'keys', 'centre.crt'),
    caPath: join(dataDir, 'keys', 'ca.crt'),
    hubCertPath: join(dataDir, 'keys', 'hub.crt'),
  });
  const cert = new X509Certificate(readFileSync(files.certPath));
  const caCert = new X509Certificate(readFileSync(files.caPath));
  t.true(cert.verify(caCert.publicKey));
  t.true(caCert.verify(new X509Certificate(ca.certPem).publicKey));
  t.regex(cert.subject, /CN=CM-CE-YDE-0001/);
  t.true(cert.checkPrivateKey(createPrivateKey(readFileSync(files.keyPath))));
  t.is(statSync(files.keyPath).mode & 0o777, 0o600);
  t.is(readFileSync(files.hubCertPath, 'utf8'), hubCertPem);
  t.is(stored.get('CM-CE-YDE-0001'), readFileSync(files.certPath, 'utf8'));

  const keyBefore = readFileSync(files.keyPath, 'utf8');
  const reused = await t.throwsAsync(enrol({ url: broker.url, centre: 'CM-CE-YDE-0001', token: 'tok-123', dataDir, timeoutMs: 10_000 }));
  t.true(isTamtamError(reused, 'E_BAD_TOKEN'));
  t.regex(String(reused?.message), /the hub refused to enrol CM-CE-YDE-0001: the enrolment token for centre CM-CE-YDE-0001 is wrong, already used or expired; ask the hub operator for a new one/);
  t.is(readFileSync(files.keyPath, 'utf8'), keyBefore, 'a refused enrolment keeps the working key');
});

test('a wrong token is refused with the hub message', async (t) => {
  const { broker } = await hub(t, { 'CM-CE-DLA-0002': 'right' });
  const e = await t.throwsAsync(enrol({ url: broker.url, centre: 'CM-CE-DLA-0002', token: 'wrong', dataDir: tempDir(t), timeoutMs: 10_000 }));
  t.true(isTamtamError(e, 'E_BAD_TOKEN'));
  t.is((e as TamtamError).details?.hubCode, 'E_BAD_TOKEN');
});

test.serial('no hub on the broker: a timeout that says to check the hub; no broker at all: an error that says to check the URL', async (t) => {
  const broker = await startEmbeddedBroker();
  t.teardown(() => broker.close());
  const noHub = await t.throwsAsync(enrol({ url: broker.url, centre: 'CM-CE-0003', token: 't', dataDir: tempDir(t), timeoutMs: 4000 }));
  t.true(isTamtamError(noHub, 'E_TIMEOUT'));
  t.regex(String(noHub?.message), /no answer from the hub within 4 s.*no hub answered on tamtam\/CM-CE-0003\/enrol\/reply\. Check that the hub is running and connected to this broker/);

  const gone = await startEmbeddedBroker();
  await gone.close();
  const noBroker = await t.throwsAsync(enrol({ url: gone.url, centre: 'CM-CE-0003', token: 't', dataDir: tempDir(t), timeoutMs: 1500 }));
  t.true(isTamtamError(noBroker, 'E_LINK_DOWN'));
  t.regex(String(noBroker?.message), /cannot reach the MQTT broker at mqtt:\/\/127\.0\.0\.1:\d+.*Check the URL/);
});

test('the enrolment service refuses bad input without throwing and without spending the token', async (t) => {
  const tokens = { C1: 'tok' };
  const { service } = hubParts(tokens);
  const enc = (o: object) => new TextEncoder().encode(JSON.stringify(o));
  const csrPem = createCsr(generateKeyPair().privateKeyPem, { commonName: 'C1' });

  const notJson = await service.handle('C1', new TextEncoder().encode('{nope'));
  t.like(notJson, { ok: false, code: 'E_MALFORMED' });
  const otherCentre = await service.handle('C2', encodeEnrolMessage({ centre: 'C1', token: 'tok', csrPem }));
  t.like(otherCentre, { ok: false, code: 'E_BAD_INPUT' });
  const badCsr = await service.handle('C1', enc({ centre: 'C1', token: 'tok', csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' }));
  t.like(badCsr, { ok: false, code: 'E_BAD_INPUT' });
  t.regex((badCsr as { message: string }).message, /certificate request of C1 cannot be used/);
  t.is(tokens.C1, 'tok', 'the token survives bad requests');
  t.like(await service.handle('C1', encodeEnrolMessage({ centre: 'C1', token: 'tok', csrPem })), { ok: true });
});

test('the enrolment service: a hub failure after the token is spent is a clear refusal; a token store that cannot be asked throws (so the request comes again)', async (t) => {
  const errors: TamtamError[] = [];
  const csrPem = createCsr(generateKeyPair().privateKeyPem, { commonName: 'C1' });
  const request = encodeEnrolMessage({ centre: 'C1', token: 'tok', csrPem });
  const failing = createEnrolmentService({
    ...hubParts({ C1: 'tok' }).options,
    store: async () => {
      throw new Error('database is down');
    },
    onError: (e) => errors.push(e),
  });
  const reply = await failing.handle('C1', request);
  t.like(reply, { ok: false, code: 'E_INTERNAL' });
  t.regex((reply as { message: string }).message, /database is down.*the token is spent: ask the hub operator/);
  t.is(errors.length, 1);

  const unreachable = createEnrolmentService({
    ...hubParts({}).options,
    consumeToken: async () => {
      throw new Error('connection refused');
    },
  });
  await t.throwsAsync(unreachable.handle('C1', request), { message: 'connection refused' });
});
