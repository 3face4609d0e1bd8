import { randomBytes, X509Certificate, createPublicKey } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { decodeEnrolReply, encodeEnrolMessage, type EnrolReply } from '../../protocol/enrolment.js';
import { TamtamError, type ErrorCode } from '../../protocol/errors.js';
import { enrolReplyTopic, enrolTopic } from '../../protocol/topics.js';
import { createCsr, generateKeyPair, writePrivateKey } from './key-pair.js';

export interface EnrolOptions {
  /** The hub's broker, mqtt://host:port or mqtts://host:port. */
  url: string;
  centre: string;
  /** The one-time token the hub operator gave for this centre. */
  token: string;
  /** Files go to <dataDir>/keys/ (centre.key, centre.crt, ca.crt, hub.crt) unless given one by one. */
  dataDir?: string;
  keyPath?: string;
  certPath?: string;
  caPath?: string;
  hubCertPath?: string;
  username?: string;
  password?: string;
  /** Default 60000: the whole exchange, connection included. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Default 2048. */
  keyBits?: number;
}

export interface EnrolResult {
  keyPath: string;
  certPath: string;
  caPath: string;
  hubCertPath: string;
}

// Codes the hub's enrolment service answers with; anything else is reported as a hub failure.
const HUB_CODES: ErrorCode[] = ['E_BAD_TOKEN', 'E_BAD_INPUT', 'E_MALFORMED', 'E_SUSPENDED', 'E_INTERNAL'];

function paths(o: EnrolOptions): EnrolResult {
  const keys = o.dataDir === undefined ? undefined : join(o.dataDir, 'keys');
  const pick = (given: string | undefined, name: string, what: string): string => {
    if (given !== undefined) return given;
    if (keys === undefined) throw new TamtamError('E_USAGE', `enrol needs dataDir or ${what}`);
    return join(keys, name);
  };
  return {
    keyPath: pick(o.keyPath, 'centre.key', 'keyPath'),
    certPath: pick(o.certPath, 'centre.crt', 'certPath'),
    caPath: pick(o.caPath, 'ca.crt', 'caPath'),
    hubCertPath: pick(o.hubCertPath, 'hub.crt', 'hubCertPath'),
  };
}

/** Checks that the hub's answer certifies our key and comes from the CA it sent, before anything is written. */
function checkIssued(reply: Extract<EnrolReply, { ok: true }>, publicKeyPem: string, centre: string): void {
  try {
    const cert = new X509Certificate(reply.certPem);
    const ca = new X509Certificate(reply.caPem);
    new X509Certificate(reply.hubCertPem);
    if (!cert.publicKey.equals(createPublicKey(publicKeyPem))) throw new Error("it certifies another key than this centre's");
    if (!cert.verify(ca.publicKey)) throw new Error('it is not signed by the CA certificate sent with it');
  } catch (e) {
    throw new TamtamError('E_BAD_CERT', `the hub's answer to the enrolment of ${centre} is not usable: ${(e as Error).message}; ask the hub operator to check the hub's CA`, { cause: e });
  }
}

/**
 * Enrols a centre: makes its key pair, sends the CSR with the one-time token
 * to the hub over MQTT, and writes the certificate, the CA certificate and the
 * hub certificate it gets back. The key is written only with the certificate,
 * so a refused enrolment leaves a working older identity as it was.
 */
export async function enrol(o: EnrolOptions): Promise<EnrolResult> {
  const files = paths(o);
  const timeoutMs = o.timeoutMs ?? 60_000;
  const keys = generateKeyPair(o.keyBits ?? 2048);
  const csrPem = createCsr(keys.privateKeyPem, { commonName: o.centre });
  const replyTopic = enrolReplyTopic(o.centre);
  // Its own client id and a clean session: the agent's persistent session (tamtam-agent-<centre>) must not be touched.
  const client = connect(o.url, {
    clientId: `tamtam-enrol-${o.centre}-${randomBytes(4).toString('hex')}`.slice(0, 64),
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: Math.min(timeoutMs, 30_000),
    ...(o.username !== undefined ? { username: o.username, password: o.password } : {}),
  });
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const reply = await new Promise<EnrolReply>((resolve, reject) => {
      let sent = false;
      timer = setTimeout(
        () =>
          reject(
            sent
              ? new TamtamError('E_TIMEOUT', `no answer from the hub within ${timeoutMs / 1000} s: the broker at ${o.url} took the request, but no hub answered on ${replyTopic}. Check that the hub is running and connected to this broker, then enrol again (the token is still good if the hub never saw it).`, { retryable: true })
              : new TamtamError('E_TIMEOUT', `could not reach the MQTT broker at ${o.url} within ${timeoutMs / 1000} s: check the URL, that this machine has a network link to it (firewall, satellite terminal), and that the hub's broker is running.`, { retryable: true }),
          ),
        timeoutMs,
      );
      onAbort = () => reject(new TamtamError('E_ABORTED', 'enrolment aborted'));
      if (o.signal?.aborted) onAbort();
      o.signal?.addEventListener('abort', onAbort, { once: true });
      client.on('error', (e) => {
        const code = (e as { code?: unknown }).code;
        if (code === 4 || code === 5) reject(new TamtamError('E_LINK_DOWN', `the broker at ${o.url} refused the user '${o.username ?? '(anonymous)'}' (code ${code}): check the user name and password the hub operator gave for this centre`, { cause: e }));
        else reject(new TamtamError('E_LINK_DOWN', `cannot reach the MQTT broker at ${o.url}: ${e.message}. Check the URL and that the broker runs and is reachable from here.`, { cause: e, retryable: true }));
      });
      client.on('message', (topic, payload) => {
        if (topic !== replyTopic) return;
        try {
          resolve(decodeEnrolReply(payload));
        } catch (e) {
          reject(new TamtamError('E_MALFORMED', `the hub's enrolment answer is not readable: ${(e as Error).message}`, { cause: e }));
        }
      });
      client.once('connect', () => {
        // Subscribed before publishing, or a fast hub's answer would go nowhere.
        client
          .subscribeAsync(replyTopic, { qos: 1 })
          .then(() => client.publishAsync(enrolTopic(o.centre), Buffer.from(encodeEnrolMessage({ centre: o.centre, token: o.token, csrPem })), { qos: 1 }))
          .then(() => (sent = true))
          .catch((e: Error) => reject(new TamtamError('E_LINK_DOWN', `sending the enrolment request to ${o.url} failed: ${e.message}`, { cause: e, retryable: true })));
      });
    });
    if (!reply.ok) {
      const code = HUB_CODES.includes(reply.code as ErrorCode) ? (reply.code as ErrorCode) : 'E_INTERNAL';
      throw new TamtamError(code, `the hub refused to enrol ${o.centre}: ${reply.message}`, { details: { hubCode: reply.code } });
    }
    checkIssued(reply, keys.publicKeyPem, o.centre);
    for (const p of Object.values(files)) mkdirSync(dirname(p), { recursive: true });
    writeFileAtomic(files.caPath, reply.caPem);
    writeFileAtomic(files.hubCertPath, reply.hubCertPem);
    writePrivateKey(files.keyPath, keys.privateKeyPem);
    writeFileAtomic(files.certPath, reply.certPem);
    return files;
  } finally {
    clearTimeout(timer);
    if (onAbort) o.signal?.removeEventListener('abort', onAbort);
    await endQuietly(client);
  }
}

async function endQuietly(client: MqttClient): Promise<void> {
  client.removeAllListeners('error');
  client.on('error', () => undefined);
  await (client.connected ? client.endAsync(false) : client.endAsync(true)).catch(() => undefined);
}
