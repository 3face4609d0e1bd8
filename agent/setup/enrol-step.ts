import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { TamtamError } from '../../protocol/errors.js';
import type { AgentConfig } from '../config.js';
import type { EnrolResult } from '../enrolment/enrol-client.js';

export interface EnrolStepOptions {
  config: AgentConfig;
  /** A broker of the hub's, reachable from here now. */
  url: string;
  token: string;
  username?: string;
  password?: string;
  /** The hub's CA certificate as the operator handed it over: the answer must come from that CA, or nothing is installed. */
  caFile?: string;
  timeoutMs: number;
}

export const caPathOf = (cfg: AgentConfig) => join(dirname(cfg.certificate), 'ca.crt');

/** Key, certificate and hub certificate all there: the centre is enrolled (or its keys were installed by hand). */
export function isEnrolled(cfg: AgentConfig): boolean {
  return [cfg.privateKey, cfg.certificate, cfg.hubCertificate].every((p) => existsSync(p));
}

export function readCaFile(path: string): X509Certificate {
  try {
    return new X509Certificate(readFileSync(path));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not a PEM certificate';
    throw new TamtamError('E_BAD_CERT', `${path}: ${why}; give the CA certificate file the hub operator gave (ca.crt), or leave it out`, { cause: e });
  }
}

function untrusted(where: string, ca: X509Certificate, caFile: string, what: string): TamtamError {
  return new TamtamError('E_UNTRUSTED_CERT',
    `${where} is not from the hub's CA in ${caFile} (${ca.subject.replace(/\n/g, ', ')}, SHA-256 ${ca.fingerprint256.slice(0, 23)}...): ${what}`);
}

/** The installed hub certificate must be issued by the CA the operator gave; nothing is changed either way. */
export function checkInstalledCa(cfg: AgentConfig, caFile: string): void {
  const ca = readCaFile(caFile);
  const hub = new X509Certificate(readFileSync(cfg.hubCertificate));
  if (!hub.verify(ca.publicKey)) {
    throw untrusted(`the hub certificate installed in ${cfg.hubCertificate}`, ca, caFile, 'the keys installed belong to another hub. Remove the keys folder and enrol again with a token from this hub\'s operator');
  }
}

/**
 * Enrols over MQTT. With the operator's CA file, the answer goes to a
 * staging folder first and is installed only if its CA is that one: a broker
 * answering as a hub it is not gets no say in whom this centre trusts.
 */
export async function enrolCentre(o: EnrolStepOptions): Promise<EnrolResult> {
  const { enrol } = await import('../enrolment/enrol-client.js');
  const cfg = o.config;
  const files: EnrolResult = { keyPath: cfg.privateKey, certPath: cfg.certificate, hubCertPath: cfg.hubCertificate, caPath: caPathOf(cfg) };
  const common = { url: o.url, centre: cfg.centre, token: o.token, username: o.username, password: o.password, timeoutMs: o.timeoutMs };
  if (o.caFile === undefined) return enrol({ ...common, ...files });
  const expected = readCaFile(o.caFile);
  mkdirSync(dirname(files.certPath), { recursive: true });
  const staging = mkdtempSync(join(dirname(files.certPath), '.enrol-'));
  try {
    const staged = await enrol({
      ...common, keyPath: join(staging, 'centre.key'), certPath: join(staging, 'centre.crt'), hubCertPath: join(staging, 'hub.crt'), caPath: join(staging, 'ca.crt'),
    });
    const got = new X509Certificate(readFileSync(staged.caPath));
    if (got.fingerprint256 !== expected.fingerprint256) {
      throw untrusted(`the hub that answered at ${o.url} (its CA: ${got.subject.replace(/\n/g, ', ')})`, expected, o.caFile,
        'nothing was installed. Check the broker URL, and tell the hub operator: the token was spent on that answer, so a new one is needed');
    }
    // The certificate last, as enrol() does: a key without its certificate is never mistaken for an enrolment.
    for (const [from, to, mode] of [[staged.caPath, files.caPath, 0o644], [staged.hubCertPath, files.hubCertPath, 0o644], [staged.keyPath, files.keyPath, 0o600], [staged.certPath, files.certPath, 0o644]] as const) {
      mkdirSync(dirname(to), { recursive: true });
      writeFileAtomic(to, readFileSync(from), mode);
    }
    return files;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Who a certificate is for and until when, for the summary. */
export function certificateFacts(path: string): { subject: string; validTo: string } | undefined {
  try {
    const cert = new X509Certificate(readFileSync(path));
    return { subject: /CN=([^\n,]+)/.exec(cert.subject)?.[1] ?? cert.subject, validTo: new Date(cert.validTo).toISOString().slice(0, 10) };
  } catch {
    return undefined;
  }
}
