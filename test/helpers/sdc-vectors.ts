import { readFileSync } from 'node:fs';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { fromHex, toHex } from '../../protocol/bytes.js';
import { parseCertificate, type Certificate } from '../../protocol/certificate.js';
import type { Batch, Value } from '../../protocol/batch/batch.js';
import { testSource } from './acts.js';

/** test/vectors/sdc/ in the source tree: the vectors are read where they are committed. */
export const sdcVectorDir = `${testSource}vectors/sdc/`;

/** File names of the committed test-only PKI; never use these keys for anything real. */
export const vectorPkiFiles = {
  caCert: 'test-only-ca.crt.pem',
  caKey: 'test-only-ca.key.pem',
  hubCert: 'test-only-hub.crt.pem',
  hubKey: 'test-only-hub.key.pem',
  centreCert: 'test-only-centre.crt.pem',
  centreKey: 'test-only-centre.key.pem',
} as const;

export interface VectorParty {
  certPem: string;
  keyPem: string;
  cert: Certificate;
  key: KeyObject;
}

export interface VectorPki {
  caCertPem: string;
  hub: VectorParty;
  centre: VectorParty;
}

const read = (name: string) => readFileSync(`${sdcVectorDir}${name}`, 'utf8');

function party(certFile: string, keyFile: string): VectorParty {
  const certPem = read(certFile);
  const keyPem = read(keyFile);
  return { certPem, keyPem, cert: parseCertificate(certPem), key: createPrivateKey(keyPem) };
}

/** The fixed PKI the vectors were made with: the same keys on every run, so fuzz cases replay. */
export function loadVectorPki(): VectorPki {
  return {
    caCertPem: read(vectorPkiFiles.caCert),
    hub: party(vectorPkiFiles.hubCert, vectorPkiFiles.hubKey),
    centre: party(vectorPkiFiles.centreCert, vectorPkiFiles.centreKey),
  };
}

/** JSON has no bytes: a bytes value is written `{"$hex": "..."}` in batch.json. */
export type JsonValue = null | boolean | number | string | { $hex: string };

export interface JsonBatch {
  table: string;
  columns: string[];
  rows: JsonValue[][];
}

const fromJsonValue = (v: JsonValue): Value => (v !== null && typeof v === 'object' ? fromHex(v.$hex) : v);
const toJsonValue = (v: Value): JsonValue => (v instanceof Uint8Array ? { $hex: toHex(v) } : v);

export function batchFromJson(j: JsonBatch): Batch {
  return { table: j.table, columns: [...j.columns], rows: j.rows.map((r) => r.map(fromJsonValue)) };
}

export function batchToJson(b: Batch): JsonBatch {
  return { table: b.table, columns: b.columns, rows: b.rows.map((r) => r.map(toJsonValue)) };
}

/** What sdc-vectors.json holds; every byte string is lower-case hex. */
export interface SdcVectors {
  description: string;
  headers: { fields: Record<string, string | number>; hex: string }[];
  batch: { file: string; kinds: Record<string, number>; bodyHex: string };
  receipt: { value: Record<string, unknown>; hex: string };
  jsonBody: { value: Record<string, unknown>; hex: string };
  dictionary: { file: string; table: string; id: string; contentSha256: string };
  compressed: { level: number; withDictionaryHex: string; withoutDictionaryHex: string };
  signedData: { contentHex: string; hex: string };
  sdc: { created: number; sequence: string; hex: string; armoured: string };
}

export function loadSdcVectors(): { vectors: SdcVectors; batch: Batch; dictionaryFile: Uint8Array } {
  const vectors = JSON.parse(read('sdc-vectors.json')) as SdcVectors;
  const batch = batchFromJson(JSON.parse(read(vectors.batch.file)) as JsonBatch);
  const dictionaryFile = new Uint8Array(readFileSync(`${sdcVectorDir}${vectors.dictionary.file}`));
  return { vectors, batch, dictionaryFile };
}
