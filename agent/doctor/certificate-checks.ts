import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readCertificate, readPrivateKey } from '../../common/read-input.js';
import type { Certificate } from '../../protocol/certificate.js';
import type { AgentConfig } from '../config.js';
import { CLOCK_TOLERANCE_MS } from './clock-check.js';
import { fail, messageOf, ok, warn, type DoctorCheck, type Finding } from './doctor-check.js';

const DAY = 86_400_000;
/** Under this many days to expiry, the doctor warns: time to have a new certificate issued before SDCs are refused. */
export const EXPIRY_WARN_DAYS = 30;

const ENROL = "enrol this centre: 'tamtam agent enrol --token TOKEN' with a token from the hub operator";
const RENEW = "ask the hub operator for a new enrolment token for this centre, then run 'tamtam agent enrol --token TOKEN'";

/** What the certificate checks learnt, for the clock check. */
export interface CertificateFacts {
  cert?: Certificate;
  hubCert?: Certificate;
}

/** The CA certificate enrolment installs beside the keys; optional (a hand-installed centre may not have it). */
export const caPath = (config: AgentConfig) => join(config.dataDir, 'keys', 'ca.crt');

function readCa(config: AgentConfig): Certificate | undefined | Error {
  if (!existsSync(caPath(config))) return undefined;
  try {
    return readCertificate(caPath(config), "the hub's CA certificate");
  } catch (e) {
    return e as Error;
  }
}

function issuedBy(cert: Certificate, ca: Certificate): boolean {
  return cert.x509.checkIssued(ca.x509) && cert.x509.verify(ca.publicKey);
}

function dates(cert: Certificate, now: number, what: string, renew: string): Finding | undefined {
  // A certificate issued a moment ago by a hub whose clock is a little ahead is fine: the clock check weighs small gaps.
  if (now < cert.notBefore.getTime() - CLOCK_TOLERANCE_MS) {
    return fail(`${what} is valid only from ${cert.notBefore.toISOString()}, and this computer's clock says ${new Date(now).toISOString()}`, "set this computer's date and time right (see the clock check)", 'E_CERT_EXPIRED');
  }
  if (now > cert.notAfter.getTime()) return fail(`${what} expired on ${cert.notAfter.toISOString().slice(0, 10)}: the hub refuses what it signs`, renew, 'E_CERT_EXPIRED');
  return undefined;
}

function centreCertificate(config: AgentConfig, now: number, facts: CertificateFacts): Finding {
  let cert: Certificate;
  try {
    cert = readCertificate(config.certificate, "the centre's certificate");
  } catch (e) {
    const missing = !existsSync(config.certificate);
    return fail(missing ? `no certificate at ${config.certificate}: this centre is not enrolled` : messageOf(e), missing ? ENROL : `the file is damaged: ${ENROL}`, 'E_BAD_CERT');
  }
  facts.cert = cert;
  try {
    const key = readPrivateKey(config.privateKey, "the centre's private key");
    if (!cert.x509.checkPrivateKey(key)) {
      return fail(`the certificate ${config.certificate} does not belong to the private key ${config.privateKey}`, `one of the two files was replaced: put back the pair enrolment wrote, or ${ENROL}`, 'E_BAD_KEY');
    }
  } catch (e) {
    return fail(messageOf(e), existsSync(config.privateKey) ? `the key file is damaged: ${ENROL}` : `the private key is missing: ${ENROL}`, 'E_BAD_KEY');
  }
  const ca = readCa(config);
  if (ca instanceof Error) return fail(messageOf(ca), `the CA certificate ${caPath(config)} is damaged: enrol again to install it, or remove it`, 'E_BAD_CERT');
  if (ca && !issuedBy(cert, ca)) {
    return fail(`the certificate ${config.certificate} was not issued by the hub's CA (${caPath(config)})`, `it belongs to another hub or a test set-up: ${ENROL}`, 'E_UNTRUSTED_CERT');
  }
  const bad = dates(cert, now, `the centre's certificate`, RENEW);
  if (bad) return bad;
  const days = Math.floor((cert.notAfter.getTime() - now) / DAY);
  const who = cert.subjectCn && cert.subjectCn !== config.centre ? `; it names centre ${cert.subjectCn}, not ${config.centre}` : '';
  const chained = ca ? ", issued by the hub's CA" : '';
  if (who) return warn(`certificate for ${cert.subjectCn}${chained}, ${days} days to expiry${who}`, `check "centre" in the agent config; if it is right, ${ENROL}`);
  if (days < EXPIRY_WARN_DAYS) return warn(`the centre's certificate expires in ${days} days (${cert.notAfter.toISOString().slice(0, 10)})`, RENEW, 'E_CERT_EXPIRED');
  return ok(`matches the private key${chained}, ${days} days to expiry (${cert.notAfter.toISOString().slice(0, 10)})`);
}

function hubCertificate(config: AgentConfig, now: number, facts: CertificateFacts): Finding {
  let cert: Certificate;
  try {
    cert = readCertificate(config.hubCertificate, "the hub's certificate");
  } catch (e) {
    const missing = !existsSync(config.hubCertificate);
    return fail(missing ? `no hub certificate at ${config.hubCertificate}: SDCs cannot be sealed for the hub` : messageOf(e), missing ? ENROL : `the file is damaged: ${ENROL}`, 'E_BAD_CERT');
  }
  facts.hubCert = cert;
  const ca = readCa(config);
  if (ca && !(ca instanceof Error) && !issuedBy(cert, ca)) {
    return fail(`the hub certificate ${config.hubCertificate} was not issued by the hub's CA (${caPath(config)})`, `it belongs to another hub: ${ENROL}`, 'E_UNTRUSTED_CERT');
  }
  const renewHub = 'the hub operator must renew the hub certificate; then enrol again, or install the new one at hubCertificate';
  const bad = dates(cert, now, "the hub's certificate", renewHub);
  if (bad) return bad;
  const days = Math.floor((cert.notAfter.getTime() - now) / DAY);
  if (days < EXPIRY_WARN_DAYS) return warn(`the hub's certificate expires in ${days} days`, renewHub, 'E_CERT_EXPIRED');
  return ok(`${cert.subjectCn ?? 'hub'}, ${days} days to expiry`);
}

export function certificateChecks(config: AgentConfig, now: number): { checks: DoctorCheck[]; facts: CertificateFacts } {
  const facts: CertificateFacts = {};
  return {
    checks: [
      { id: 'certificate', title: "Centre's certificate", ...centreCertificate(config, now, facts) },
      { id: 'hub-certificate', title: "Hub's certificate", ...hubCertificate(config, now, facts) },
    ],
    facts,
  };
}
