import { createPrivateKey, type KeyObject } from 'node:crypto';
import { createCertificateAuthority, issueCertificate, type CertificateRole } from '../../hub/pki/certificate-authority.js';
import { createCsr, generateKeyPair } from '../../agent/enrolment/key-pair.js';
import { parseCertificate, type Certificate } from '../../protocol/certificate.js';

export interface Party {
  name: string;
  keyPem: string;
  certPem: string;
  key: KeyObject;
  cert: Certificate;
}

export interface TestPki {
  caCertPem: string;
  caKeyPem: string;
  hub: Party;
  centre: Party;
  issue(name: string, role: CertificateRole): Party;
}

/** A CA, a hub and a centre made by Tamtam's own PKI, as a real set-up would have them. */
export function makeTestPki(): TestPki {
  const ca = createCertificateAuthority({ commonName: 'Tamtam Test CA', keyBits: 2048 });
  const issue = (name: string, role: CertificateRole): Party => {
    const keys = generateKeyPair();
    const certPem = issueCertificate(ca, createCsr(keys.privateKeyPem, { commonName: name }), { role });
    return { name, keyPem: keys.privateKeyPem, certPem, key: createPrivateKey(keys.privateKeyPem), cert: parseCertificate(certPem) };
  };
  return { caCertPem: ca.certPem, caKeyPem: ca.keyPem, hub: issue('hub', 'hub'), centre: issue('CM-CE-YDE-0001', 'centre'), issue };
}
