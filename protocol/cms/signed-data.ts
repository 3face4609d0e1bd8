import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import {
  Class, OID, Type, asn1, binaryToBytes, children, expectExplicit, expectInt, expectOid, expectSeq, explicit, int, nul, octets, oid, parseDer, primitive, seq, set, toDer, type Asn1,
} from '../asn1.js';
import { bytesEqual } from '../bytes.js';
import type { Certificate } from '../certificate.js';
import { TamtamError } from '../errors.js';
import { certIdOf, decodeCertId, describeCertId, encodeCertId, usesKeyId, type CertId } from './cert-id.js';

const MESSAGE_DIGEST = '1.2.840.113549.1.9.4';

/**
 * CMS SignedData (RFC 5652) over id-data content, SHA-256 with RSA, one
 * signer named by key id, no certificates inside (the hub knows every
 * centre's) and no signed attributes: the signature covers the content itself,
 * which keeps an SDC small and still verifies with `openssl cms -verify`.
 */
export function signData(content: Uint8Array, key: KeyObject, cert: Certificate): Uint8Array {
  const id = certIdOf(cert);
  const version = usesKeyId(id) ? 3 : 1;
  const signature = new Uint8Array(sign('sha256', content, key));
  const signerInfo = seq([
    int(version),
    encodeCertId(id),
    seq([oid(OID.sha256)]),
    seq([oid(OID.sha256WithRSA), nul()]),
    octets(signature),
  ]);
  const signedData = seq([
    int(version),
    set([seq([oid(OID.sha256)])]),
    seq([oid(OID.data), explicit(0, octets(content))]),
    set([signerInfo]),
  ]);
  return toDer(seq([oid(OID.signedData), explicit(0, signedData)]));
}

export interface VerifiedContent {
  content: Uint8Array;
  signer: Certificate;
}

function signedAttrsDigestCheck(attrs: Asn1, content: Uint8Array): Uint8Array {
  const digest = createHash('sha256').update(content).digest();
  // A primitive [0] has a string for a value: children() refuses it as E_MALFORMED.
  const list = children(attrs, 'signed attributes');
  const md = list.find((a) => expectOid(expectSeq(a, 'signed attribute', 2, 2)[0], 'attribute type') === MESSAGE_DIGEST);
  if (!md) throw new TamtamError('E_BAD_SIGNATURE', 'signed attributes lack the message digest');
  const value = binaryToBytes(primitive(expectSeq(expectSeq(md, 'message digest', 2, 2)[1], 'digest values', 1, 1)[0], 'message digest', Class.UNIVERSAL, Type.OCTETSTRING));
  if (!bytesEqual(value, digest)) throw new TamtamError('E_BAD_SIGNATURE', 'the content does not match the signed message digest: it was altered');
  // The signature covers the attributes re-tagged as a SET OF (RFC 5652 5.4).
  return toDer(asn1.create(Class.UNIVERSAL, Type.SET, true, list));
}

/** Verifies a SignedData ContentInfo; `resolveSigner` maps the signer's id to a known certificate. */
export function verifySignedData(der: Uint8Array, resolveSigner: (id: CertId) => Certificate | undefined): VerifiedContent {
  const [type, wrapped] = expectSeq(parseDer(der, 'signed data'), 'ContentInfo', 2, 2);
  if (expectOid(type, 'content type') !== OID.signedData) throw new TamtamError('E_MALFORMED', 'the inner layer is not CMS SignedData');
  const sd = expectSeq(expectExplicit(wrapped, 0, 'SignedData'), 'SignedData', 4, 6);
  expectInt(sd[0], 'SignedData version');
  const [eType, eContent] = expectSeq(sd[2], 'encapsulated content', 2, 2);
  if (expectOid(eType, 'encapsulated content type') !== OID.data) throw new TamtamError('E_MALFORMED', 'signed content is not id-data');
  const content = binaryToBytes(primitive(expectExplicit(eContent, 0, 'eContent'), 'eContent', Class.UNIVERSAL, Type.OCTETSTRING));
  const signerInfos = expectSeq(sd[sd.length - 1], 'signer infos', 1, 1);
  const si = expectSeq(signerInfos[0], 'SignerInfo', 5, 7);
  const sid = decodeCertId(si[1], 'signer id');
  if (expectOid(expectSeq(si[2], 'digest algorithm', 1, 2)[0], 'digest algorithm') !== OID.sha256) {
    throw new TamtamError('E_UNSUPPORTED_ALGORITHM', 'the signature does not use SHA-256');
  }
  let at = 3;
  let signedBytes = content;
  if (si[at].tagClass === Class.CONTEXT_SPECIFIC && si[at].type === 0) signedBytes = signedAttrsDigestCheck(si[at++], content);
  const sigAlg = expectOid(expectSeq(si[at++], 'signature algorithm', 1, 2)[0], 'signature algorithm');
  if (sigAlg !== OID.rsaEncryption && sigAlg !== OID.sha256WithRSA) throw new TamtamError('E_UNSUPPORTED_ALGORITHM', `signature algorithm ${sigAlg} is not RSA with SHA-256`);
  const signature = binaryToBytes(primitive(si[at], 'signature', Class.UNIVERSAL, Type.OCTETSTRING));
  const signer = resolveSigner(sid);
  if (!signer) throw new TamtamError('E_UNKNOWN_SIGNER', `signed by an unknown certificate (${describeCertId(sid)}); enrol the centre or register its certificate`);
  let ok: boolean;
  try {
    ok = verify('sha256', signedBytes, signer.publicKey, signature);
  } catch (e) {
    throw new TamtamError('E_BAD_SIGNATURE', `the signature cannot be checked: ${(e as Error).message}`, { cause: e });
  }
  if (!ok) throw new TamtamError('E_BAD_SIGNATURE', `the signature does not match the content and the certificate of ${signer.subjectCn ?? describeCertId(sid)}`);
  return { content, signer };
}
