import { randomBytes, type KeyObject } from 'node:crypto';
import { bytesEqual, concatBytes } from '../bytes.js';
import type { Certificate } from '../certificate.js';
import type { CertId } from '../cms/cert-id.js';
import { envelopeData, openEnvelope, type RandomBytes } from '../cms/enveloped-data.js';
import { signData, verifySignedData } from '../cms/signed-data.js';
import { MAX_BODY_SIZE, type Compressor } from '../compressor.js';
import type { Dictionary } from '../dictionary.js';
import { TamtamError } from '../errors.js';
import { FLAG_ZSTD, SDC_VERSION, decodeHeader, encodeHeader, type SdcHeader, type SdcKindCode } from './sdc-header.js';

export interface SealOptions {
  kind: SdcKindCode;
  sender: string;
  sequence: bigint;
  count: number;
  signerKey: KeyObject;
  signerCert: Certificate;
  recipientCert: Certificate;
  dictionary?: Dictionary;
  level?: number;
  /** Seconds since the epoch; defaults to now. */
  created?: number;
  random?: RandomBytes;
}

export interface OpenOptions {
  recipientKey: KeyObject;
  recipientCert: Certificate;
  /** The certificate enrolled for this sender with this id, or undefined when there is none. */
  resolveSigner: (id: CertId, header: SdcHeader) => Certificate | undefined;
  resolveDictionary?: (id: number) => Dictionary | undefined;
  /** Largest body accepted once inflated, in bytes (decompression bomb cap). */
  maxBodySize?: number;
  /** Largest SDC accepted, in bytes. */
  maxSdcSize?: number;
}

export interface OpenedSdc {
  header: SdcHeader;
  body: Uint8Array;
  signer: Certificate;
}

export const DEFAULT_MAX_BODY = MAX_BODY_SIZE;
/** A body at the cap, compressed, signed and enveloped, is well under this. */
export const DEFAULT_MAX_SDC = 2 * MAX_BODY_SIZE;

const defaultRandom: RandomBytes = (n) => new Uint8Array(randomBytes(n));

/**
 * SDC = clear header || CMS EnvelopedData( SignedData( header || zstd(body) ) ).
 * The header is signed as a copy inside, so nobody can change what it says
 * without breaking the signature; see protocol/FORMAT.md.
 */
export function sealSdc(compressor: Compressor, body: Uint8Array, o: SealOptions): Uint8Array {
  const header = encodeHeader({
    version: SDC_VERSION,
    kind: o.kind,
    flags: FLAG_ZSTD,
    sender: o.sender,
    sequence: o.sequence,
    dictId: o.dictionary?.id ?? 0,
    created: o.created ?? Math.floor(Date.now() / 1000),
    count: o.count,
    bodySize: body.length,
  });
  const compressed = compressor.compress(body, o.dictionary, o.level);
  const signed = signData(concatBytes([header, compressed]), o.signerKey, o.signerCert);
  return concatBytes([header, envelopeData(signed, o.recipientCert, o.random ?? defaultRandom)]);
}

/** Reads only the clear header: no keys, nothing verified. */
export function peekSdc(sdc: Uint8Array): { header: SdcHeader; headerLength: number; payload: Uint8Array } {
  const { header, length } = decodeHeader(sdc);
  return { header, headerLength: length, payload: sdc.subarray(length) };
}

/** Decrypts, verifies and inflates an SDC; every failure is a TamtamError with a stable code. */
export function openSdc(compressor: Compressor, sdc: Uint8Array, o: OpenOptions): OpenedSdc {
  const maxSdc = o.maxSdcSize ?? DEFAULT_MAX_SDC;
  if (sdc.length > maxSdc) throw new TamtamError('E_TOO_LARGE', `SDC of ${sdc.length} bytes is over the limit of ${maxSdc}`);
  const { header, headerLength, payload } = peekSdc(sdc);
  const maxBody = o.maxBodySize ?? DEFAULT_MAX_BODY;
  if (header.bodySize > maxBody) throw new TamtamError('E_TOO_LARGE', `SDC body would inflate to ${header.bodySize} bytes, over the limit of ${maxBody}`);
  const signed = openEnvelope(payload, o.recipientKey, o.recipientCert);
  const { content, signer } = verifySignedData(signed, (id) => o.resolveSigner(id, header));
  if (content.length < headerLength || !bytesEqual(content.subarray(0, headerLength), sdc.subarray(0, headerLength))) {
    throw new TamtamError('E_HEADER_MISMATCH', 'the clear header differs from the signed copy: it was altered after signing');
  }
  const dictionary = header.dictId === 0 ? undefined : o.resolveDictionary?.(header.dictId);
  if (header.dictId !== 0 && !dictionary) {
    throw new TamtamError('E_UNKNOWN_DICT', `SDC needs dictionary ${header.dictId.toString(16).padStart(8, '0')}, which this side does not have; install the table's dictionary`);
  }
  const body = compressor.decompress(content.subarray(headerLength), header.bodySize, maxBody, dictionary);
  return { header, body, signer };
}
