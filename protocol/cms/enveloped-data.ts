import { constants, createCipheriv, createDecipheriv, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import {
  Class, OID, Type, binaryToBytes, expectExplicit, expectInt, expectOid, expectSeq, explicit, implicitBytes, int, octets, oid, parseDer, primitive, seq, set, toDer,
} from '../asn1.js';
import type { Certificate } from '../certificate.js';
import { TamtamError } from '../errors.js';
import { certIdOf, certMatches, decodeCertId, describeCertId, encodeCertId, usesKeyId } from './cert-id.js';

export type RandomBytes = (n: number) => Uint8Array;

/** RSAES-OAEP with SHA-256 and MGF1-SHA-256: node refuses PKCS#1 v1.5 decryption (Marvin attack), OpenSSL reads these parameters. */
const oaepSha256 = () => seq([
  oid(OID.rsaesOaep),
  seq([explicit(0, seq([oid(OID.sha256)])), explicit(1, seq([oid(OID.mgf1), seq([oid(OID.sha256)])]))]),
]);

/**
 * CMS EnvelopedData (RFC 5652) for one recipient: AES-256-CBC content,
 * the key wrapped with RSA-OAEP for the recipient's certificate, named by key
 * id. `random` gives the content key and IV (tests inject a fixed one).
 */
export function envelopeData(content: Uint8Array, recipient: Certificate, random: RandomBytes): Uint8Array {
  const id = certIdOf(recipient);
  const key = random(32);
  const iv = random(16);
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const encrypted = new Uint8Array(Buffer.concat([cipher.update(content), cipher.final()]));
  const encryptedKey = new Uint8Array(publicEncrypt({ key: recipient.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, key));
  const ktri = seq([int(usesKeyId(id) ? 2 : 0), encodeCertId(id), oaepSha256(), octets(encryptedKey)]);
  const enveloped = seq([
    int(usesKeyId(id) ? 2 : 0),
    set([ktri]),
    seq([oid(OID.signedData), seq([oid(OID.aes256Cbc), octets(iv)]), implicitBytes(0, encrypted)]),
  ]);
  return toDer(seq([oid(OID.envelopedData), explicit(0, enveloped)]));
}

function oaepHashOf(params: ReturnType<typeof parseDer> | undefined): string {
  if (!params || params.type === Type.NULL) return 'sha1';
  const fields = expectSeq(params, 'OAEP parameters', 0, 3);
  const hashField = fields.find((f) => f.tagClass === Class.CONTEXT_SPECIFIC && f.type === 0);
  if (!hashField) return 'sha1';
  const hashOid = expectOid(expectSeq(expectExplicit(hashField, 0, 'OAEP hash'), 'OAEP hash algorithm', 1, 2)[0], 'OAEP hash');
  if (hashOid === OID.sha256) return 'sha256';
  throw new TamtamError('E_UNSUPPORTED_ALGORITHM', `RSA-OAEP with hash ${hashOid} is not supported`);
}

/** What `inspect` can tell about an envelope without the key. */
export interface EnvelopeInfo {
  recipients: string[];
  contentEncryption: string;
  encryptedBytes: number;
}

function parseEnvelope(der: Uint8Array) {
  const [type, wrapped] = expectSeq(parseDer(der, 'CMS envelope'), 'ContentInfo', 2, 2);
  if (expectOid(type, 'content type') !== OID.envelopedData) throw new TamtamError('E_MALFORMED', 'the SDC payload is not CMS EnvelopedData');
  const ed = expectSeq(expectExplicit(wrapped, 0, 'EnvelopedData'), 'EnvelopedData', 3, 5);
  expectInt(ed[0], 'EnvelopedData version');
  const hasOriginator = ed[1].tagClass === Class.CONTEXT_SPECIFIC;
  const recipientInfos = expectSeq(ed[hasOriginator ? 2 : 1], 'recipient infos', 1, 16);
  const [contentType, algorithm, encrypted] = expectSeq(ed[hasOriginator ? 3 : 2], 'encrypted content info', 3, 3);
  expectOid(contentType, 'encrypted content type');
  const [algOid, ivNode] = expectSeq(algorithm, 'content encryption algorithm', 2, 2);
  if (expectOid(algOid, 'content encryption') !== OID.aes256Cbc) throw new TamtamError('E_UNSUPPORTED_ALGORITHM', 'content is not encrypted with AES-256-CBC');
  const iv = binaryToBytes(primitive(ivNode, 'IV', Class.UNIVERSAL, Type.OCTETSTRING));
  if (iv.length !== 16) throw new TamtamError('E_MALFORMED', 'AES IV is not 16 bytes');
  const ciphertext = binaryToBytes(primitive(encrypted, 'encrypted content', Class.CONTEXT_SPECIFIC));
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw new TamtamError('E_MALFORMED', 'encrypted content is not whole AES blocks');
  const recipients = recipientInfos.map((ri) => {
    const f = expectSeq(ri, 'KeyTransRecipientInfo', 4, 4);
    expectInt(f[0], 'recipient version');
    const [alg, params] = expectSeq(f[2], 'key encryption algorithm', 1, 2);
    return { id: decodeCertId(f[1], 'recipient id'), algorithm: expectOid(alg, 'key encryption'), params, encryptedKey: binaryToBytes(primitive(f[3], 'encrypted key', Class.UNIVERSAL, Type.OCTETSTRING)) };
  });
  return { recipients, iv, ciphertext };
}

export function inspectEnvelope(der: Uint8Array): EnvelopeInfo {
  const env = parseEnvelope(der);
  return { recipients: env.recipients.map((r) => describeCertId(r.id)), contentEncryption: 'aes-256-cbc', encryptedBytes: env.ciphertext.length };
}

/** Opens an envelope addressed to `cert`; E_WRONG_RECIPIENT when it is for someone else. */
export function openEnvelope(der: Uint8Array, key: KeyObject, cert: Certificate): Uint8Array {
  const env = parseEnvelope(der);
  const mine = env.recipients.find((r) => certMatches(cert, r.id));
  if (!mine) {
    throw new TamtamError('E_WRONG_RECIPIENT', `the SDC is encrypted for ${env.recipients.map((r) => describeCertId(r.id)).join(', ')}, not for ${cert.subjectCn ?? 'this certificate'}; check which hub certificate the sender uses`);
  }
  if (mine.algorithm !== OID.rsaesOaep) throw new TamtamError('E_UNSUPPORTED_ALGORITHM', `key transport ${mine.algorithm} is not supported; use RSA-OAEP`);
  let cek: Buffer;
  try {
    cek = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaepHashOf(mine.params) }, mine.encryptedKey);
  } catch (e) {
    throw new TamtamError('E_DECRYPT', 'the content key cannot be unwrapped with this private key (wrong key, or the SDC was damaged)', { cause: e });
  }
  if (cek.length !== 32) throw new TamtamError('E_DECRYPT', 'the unwrapped content key is not 32 bytes');
  try {
    const decipher = createDecipheriv('aes-256-cbc', cek, env.iv);
    return new Uint8Array(Buffer.concat([decipher.update(env.ciphertext), decipher.final()]));
  } catch (e) {
    throw new TamtamError('E_DECRYPT', 'the SDC content does not decrypt: it was damaged on the way', { cause: e });
  }
}
