import { createHash, sign, type KeyObject } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Class, OID, asn1, explicit, implicitBytes, int, nul, octets, oid, seq, set, toDer } from '../../protocol/asn1.js';
import {
  SdcKind, batchFromObjects, certMatches, decodeBatch, decodeDictionary, decodeHeader, decodeJsonBody, decodeReceipt, encodeBatch, encodeJsonBody,
  encodeReceipt, envelopeData, loadCompressor, openEnvelope, openSdc, peekSdc, sealSdc, unarmourSdc, verifySignedData, type Certificate, type Compressor, type Dictionary,
  type OpenOptions, type Receipt, type SdcHeader, type SdcKindCode,
} from '../../protocol/index.js';
import { sampleActs } from './acts.js';
import { Rng, type Layout, type Mutant } from './byte-mutations.js';
import { fuzz, fuzzCount, type FuzzReport } from './fuzz-run.js';
import { sdcLayout } from './sdc-mutations.js';
import { loadSdcVectors, loadVectorPki, type VectorParty } from './sdc-vectors.js';

/** What a hub (or centre) gets from an SDC after every layer: compared whole with the original. */
export interface Opened {
  header: SdcHeader;
  signer: string | undefined;
  value: unknown;
}

/** One well-formed SDC to mutate, with everything needed to rebuild any of its layers. */
export interface FuzzBase {
  name: string;
  sdc: Uint8Array;
  headerBytes: Uint8Array;
  /** The EnvelopedData's content: the SignedData DER. */
  signedData: Uint8Array;
  /** What is signed: header copy || zstd frame. */
  content: Uint8Array;
  layout: Layout;
  options: OpenOptions;
  sender: VectorParty;
  recipient: VectorParty;
  expected: Opened;
}

export function openFully(compressor: Compressor, sdc: Uint8Array, options: OpenOptions): Opened {
  const o = openSdc(compressor, sdc, options);
  const kind = o.header.kind;
  const value = kind === SdcKind.data ? decodeBatch(o.body) : kind === SdcKind.receipt ? decodeReceipt(o.body) : decodeJsonBody(o.body);
  return { header: o.header, signer: o.signer.subjectCn, value };
}

const CONTENT_TYPE = '1.2.840.113549.1.9.3';
const MESSAGE_DIGEST = '1.2.840.113549.1.9.4';

/** SignedData with signed attributes (content type, message digest), as other CMS producers make it. */
export function signWithAttributes(content: Uint8Array, key: KeyObject, cert: Certificate): Uint8Array {
  const attrs = [
    seq([oid(CONTENT_TYPE), set([oid(OID.data)])]),
    seq([oid(MESSAGE_DIGEST), set([octets(new Uint8Array(createHash('sha256').update(content).digest()))])]),
  ];
  const signature = new Uint8Array(sign('sha256', toDer(set(attrs)), key));
  const signerInfo = seq([
    int(3), implicitBytes(0, cert.subjectKeyId!), seq([oid(OID.sha256)]), asn1.create(Class.CONTEXT_SPECIFIC, 0, true, attrs),
    seq([oid(OID.sha256WithRSA), nul()]), octets(signature),
  ]);
  const sd = seq([int(3), set([seq([oid(OID.sha256)])]), seq([oid(OID.data), explicit(0, octets(content))]), set([signerInfo])]);
  return toDer(seq([oid(OID.signedData), explicit(0, sd)]));
}

export interface SdcFuzzFixture {
  compressor: Compressor;
  dictionary: Dictionary;
  bases: FuzzBase[];
  /** Seeded content keys and IVs; what a re-enveloped case does depends only on its plaintext anyway. */
  random: (n: number) => Uint8Array;
}

function optionsFor(recipient: VectorParty, sender: VectorParty, dictionary: Dictionary): OpenOptions {
  return {
    recipientKey: recipient.key, recipientCert: recipient.cert,
    resolveSigner: (id) => (certMatches(sender.cert, id) ? sender.cert : undefined),
    resolveDictionary: (id) => (id === dictionary.id ? dictionary : undefined),
  };
}

/**
 * Small SDCs (1 to 5 records, so the RSA operation is most of the cost):
 * data batches with and without a dictionary and with signed attributes, a
 * receipt and a usage report, made with the vectors' fixed PKI.
 */
export async function sdcFuzzFixture(): Promise<SdcFuzzFixture> {
  const compressor = await loadCompressor();
  const pki = loadVectorPki();
  const dictionary = decodeDictionary(loadSdcVectors().dictionaryFile);
  const rng = new Rng(0x5dc);
  const random = (n: number) => rng.bytes(n);
  const bases: FuzzBase[] = [];
  const add = (name: string, kind: SdcKindCode, body: Uint8Array, count: number, value: unknown, o: { dict?: boolean; fromHub?: boolean; attributes?: boolean } = {}) => {
    const [sender, recipient] = o.fromHub ? [pki.hub, pki.centre] : [pki.centre, pki.hub];
    let sdc = sealSdc(compressor, body, {
      kind, sender: o.fromHub ? 'hub' : 'CM-CE-YDE-0001', sequence: BigInt(1000 + bases.length), count, created: 1_767_225_600 + bases.length,
      signerKey: sender.key, signerCert: sender.cert, recipientCert: recipient.cert, ...(o.dict ? { dictionary } : {}), random,
    });
    const { headerLength, payload } = peekSdc(sdc);
    const headerBytes = sdc.slice(0, headerLength);
    let signedData = openEnvelope(payload, recipient.key, recipient.cert);
    const { content } = verifySignedData(signedData, (id) => (certMatches(sender.cert, id) ? sender.cert : undefined));
    if (o.attributes) {
      signedData = signWithAttributes(content, sender.key, sender.cert);
      sdc = new Uint8Array([...headerBytes, ...envelopeData(signedData, recipient.cert, random)]);
    }
    const options = optionsFor(recipient, sender, dictionary);
    bases.push({
      name, sdc, headerBytes, signedData, content, layout: sdcLayout(sdc), options, sender, recipient,
      expected: { header: decodeHeader(headerBytes).header, signer: o.fromHub ? 'hub' : 'CM-CE-YDE-0001', value },
    });
  };
  const acts = sampleActs('births', 60);
  for (let n = 1; n <= 5; n++) {
    const batch = batchFromObjects('births', acts.slice(n * 10, n * 10 + n));
    add(`${n} births with dictionary`, SdcKind.data, encodeBatch(batch), n, batch, { dict: true });
    if (n % 2 === 1) add(`${n} births without dictionary${n === 5 ? ', signed attributes' : ''}`, SdcKind.data, encodeBatch(batch), n, batch, { attributes: n === 5 });
  }
  const two = batchFromObjects('births', acts.slice(0, 2));
  add('2 births, signed attributes', SdcKind.data, encodeBatch(two), 2, two, { dict: true, attributes: true });
  const receipt: Receipt = {
    sdcSender: 'CM-CE-YDE-0001', sdcSequence: 1001n, accepted: true, table: 'births',
    entries: [{ numero: 11, version: 1, outcome: 'merged' }, { numero: 12, version: 2, outcome: 'rejected', reason: 'column x is unknown' }],
  };
  add('receipt', SdcKind.receipt, encodeReceipt(receipt), 2, receipt, { fromHub: true });
  const report = { link: 'iridium-sbd', bytesUp: 340, backlog: { '2': 3 } };
  add('usage report', SdcKind.usageReport, encodeJsonBody(report), 0, report);
  return { compressor, dictionary, bases, random };
}

export interface BaseFuzzOptions {
  /** What a centre signed is the centre's to answer for: then any result is allowed, only crashes and hangs are not. */
  anyValue?: boolean;
  /** The mutants are armoured text: unarmourSdc runs first. */
  armoured?: boolean;
}

/**
 * Each case picks one base SDC from its own seed and mutates it; the whole
 * decoder must then throw a TamtamError or give back exactly that base's
 * original header, signer and content.
 */
export async function fuzzBases(
  fixture: Promise<SdcFuzzFixture>, name: string, seed: number, count: number, make: (rng: Rng, base: FuzzBase) => Mutant, o: BaseFuzzOptions = {},
): Promise<FuzzReport> {
  const { compressor, bases } = await fixture;
  let base = bases[0];
  return fuzz({
    name, seed, count: fuzzCount(count),
    mutate: (rng) => {
      base = rng.pick(bases);
      const m = make(rng, base);
      return { bytes: m.bytes, label: `${base.name}: ${m.label}` };
    },
    decode: (bytes) => openFully(compressor, o.armoured ? unarmourSdc(bytes) : bytes, base.options),
    judge: (got) => {
      const original = isDeepStrictEqual(got, base.expected);
      return original || o.anyValue ? { original } : { original, problem: `returned different data without error (sender ${got.header.sender}, sequence ${got.header.sequence})` };
    },
  });
}
