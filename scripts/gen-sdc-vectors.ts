/**
 * Writes the SDC known-answer vectors in test/vectors/sdc/. Run by hand, never
 * by the tests: `npx tsc -p . && node dist/scripts/gen-sdc-vectors.js`.
 *
 * The test-only PKI is made once and then reused, so re-running keeps the
 * certificates (and every vector that depends on them) stable. Everything else
 * is recomputed; `git diff` then shows whether an encoder changed its output.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createCsr, generateKeyPair } from '../agent/enrolment/key-pair.js';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority, type CertificateRole } from '../hub/pki/certificate-authority.js';
import {
  SDC_VERSION, FLAG_ZSTD, SdcKind, armourSdc, batchFromObjects, concatBytes, encodeBatch, encodeDictionary, encodeHeader, encodeJsonBody, encodeReceipt,
  loadCompressor, sealSdc, signData, toHex, trainDictionary, type Receipt, type SdcHeader,
} from '../protocol/index.js';
import { sampleActs } from '../test/helpers/acts.js';
import { batchFromJson, loadVectorPki, sdcVectorDir, vectorPkiFiles, type JsonBatch, type SdcVectors } from '../test/helpers/sdc-vectors.js';

const LEVEL = 9;
const CREATED = 1_767_225_600; // 2026-01-01T00:00:00Z
const SEQUENCE = 0x0000_0001_0000_002an;
const DICT_FILE = 'births-test.dict';
const BATCH_FILE = 'batch.json';

function makePkiOnce(): void {
  if (existsSync(`${sdcVectorDir}${vectorPkiFiles.caCert}`)) return;
  const ca: CertificateAuthority = createCertificateAuthority({ commonName: 'Tamtam TEST-ONLY Vector CA', keyBits: 2048, days: 36_500 });
  const issue = (name: string, role: CertificateRole) => {
    const keys = generateKeyPair(2048);
    return { keyPem: keys.privateKeyPem, certPem: issueCertificate(ca, createCsr(keys.privateKeyPem, { commonName: name }), { role, days: 36_500 }) };
  };
  const hub = issue('hub', 'hub');
  const centre = issue('CM-CE-YDE-0001', 'centre');
  const files: [string, string][] = [
    [vectorPkiFiles.caCert, ca.certPem], [vectorPkiFiles.caKey, ca.keyPem],
    [vectorPkiFiles.hubCert, hub.certPem], [vectorPkiFiles.hubKey, hub.keyPem],
    [vectorPkiFiles.centreCert, centre.certPem], [vectorPkiFiles.centreKey, centre.keyPem],
  ];
  for (const [name, pem] of files) writeFileSync(`${sdcVectorDir}${name}`, pem);
}

/** Eight rows that make the encoder use every column kind, 0 to 10, with nulls where a bitmap shows. */
const vectorBatch: JsonBatch = {
  table: 'births',
  columns: ['numero', 'weight_kg', 'remarks', 'birth_date', 'registered_at', 'twin', 'photo', 'extra', 'sex', 'birth_place', 'father_name'],
  rows: [
    [101, 3.25, 'premier enfant', '2024-01-15', '2024-01-16T08:30:00Z', false, { $hex: '00ff10' }, 7, 'F', 'Hôpital Central de Yaoundé', null],
    [102, 2.9, null, '2024-01-14', '2024-01-16T09:05:12Z', true, null, -3, 'M', 'Hôpital Général de Yaoundé', null],
    [105, null, 'jumeaux', '2024-01-14', '2024-01-16T09:05:13Z', true, { $hex: '' }, 1.5, 'F', 'Hôpital Central de Douala', null],
    [104, 3.1, 'né à domicile', null, '2024-01-17T00:00:00Z', false, { $hex: 'deadbeef' }, 'B+', 'F', 'Hôpital Général de Douala', null],
    [110, 4.05, 'RAS', '2023-12-31', '2024-01-17T23:59:59Z', false, null, false, 'M', 'Centre de Santé de Yaoundé', null],
    [108, 3.5, 'transféré', '1999-02-28', null, null, { $hex: '01' }, true, 'M', 'Centre de Santé de Douala', null],
    [-1, -0.5, 'cas test', '2000-02-29', '1970-01-01T00:00:00Z', true, null, { $hex: 'cafe' }, 'F', 'Hôpital Central de Bafoussam', null],
    [9_007_199_254, 1e-300, 'dernier', '0001-01-01', '9999-12-31T23:59:59Z', false, { $hex: '7f' }, null, 'M', 'Hôpital Général de Bafoussam', null],
  ],
};

/** Column kind codes the encoder picks for vectorBatch (protocol/batch/batch.ts). */
const vectorKinds = { numero: 1, weight_kg: 2, remarks: 3, birth_date: 4, registered_at: 5, twin: 6, photo: 7, extra: 8, sex: 9, birth_place: 10, father_name: 0 };

const vectorReceipt: Receipt = {
  sdcSender: 'CM-CE-YDE-0001', sdcSequence: SEQUENCE, accepted: true, table: 'births',
  entries: [
    { numero: 101, version: 1, outcome: 'merged' },
    { numero: 102, version: 2, outcome: 'duplicate' },
    { numero: 104, version: 1, outcome: 'rejected', reason: 'column photo is not in the central table births' },
    { numero: 105, version: 1, outcome: 'rejected', reason: 'column photo is not in the central table births' },
    { numero: 110, version: 3, outcome: 'merged' },
  ],
};

const vectorJsonBody = { link: 'iridium-certus', bytesUp: 123456, backlog: { '2': 12, '3': 100 } };

const headerFields = (h: SdcHeader) => ({ ...h, sequence: h.sequence.toString() });

/** Content key and IV for the sample SDC: fixed, so only RSA-OAEP's own randomness differs between runs. */
const fixedRandom = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);

async function main(): Promise<void> {
  mkdirSync(sdcVectorDir, { recursive: true });
  makePkiOnce();
  const pki = loadVectorPki();
  const compressor = await loadCompressor();
  const dictionary = trainDictionary(batchFromObjects('births', sampleActs('births', 5000).slice(4000)), { size: 8 * 1024 });
  writeFileSync(`${sdcVectorDir}${DICT_FILE}`, encodeDictionary(dictionary));
  writeFileSync(`${sdcVectorDir}${BATCH_FILE}`, `${JSON.stringify(vectorBatch, null, 1)}\n`);

  const batch = batchFromJson(vectorBatch);
  const body = encodeBatch(batch);
  const withDict = compressor.compress(body, dictionary, LEVEL);
  const dataHeader: SdcHeader = {
    version: SDC_VERSION, kind: SdcKind.data, flags: FLAG_ZSTD, sender: 'CM-CE-YDE-0001', sequence: SEQUENCE,
    dictId: dictionary.id, created: CREATED, count: batch.rows.length, bodySize: body.length,
  };
  const receiptBody = encodeReceipt(vectorReceipt);
  const receiptHeader: SdcHeader = {
    version: SDC_VERSION, kind: SdcKind.receipt, flags: FLAG_ZSTD, sender: 'hub', sequence: 0xfedc_ba98_7654_3210n,
    dictId: 0, created: 0xffff_fffe, count: vectorReceipt.entries.length, bodySize: receiptBody.length,
  };
  const signedContent = concatBytes([encodeHeader(dataHeader), withDict]);
  const sdc = sealSdc(compressor, body, {
    kind: SdcKind.data, sender: dataHeader.sender, sequence: SEQUENCE, count: batch.rows.length, created: CREATED,
    signerKey: pki.centre.key, signerCert: pki.centre.cert, recipientCert: pki.hub.cert, dictionary, level: LEVEL, random: fixedRandom,
  });

  const vectors: SdcVectors = {
    description: 'Known-answer vectors for SDC format version 1 (protocol/FORMAT.md). Written by scripts/gen-sdc-vectors.ts; the PEM keys here are TEST-ONLY.',
    headers: [dataHeader, receiptHeader].map((h) => ({ fields: headerFields(h), hex: toHex(encodeHeader(h)) })),
    batch: { file: BATCH_FILE, kinds: vectorKinds, bodyHex: toHex(body) },
    receipt: { value: { ...vectorReceipt, sdcSequence: vectorReceipt.sdcSequence.toString() }, hex: toHex(receiptBody) },
    jsonBody: { value: vectorJsonBody, hex: toHex(encodeJsonBody(vectorJsonBody)) },
    dictionary: {
      file: DICT_FILE, table: dictionary.table, id: dictionary.id.toString(16).padStart(8, '0'),
      contentSha256: createHash('sha256').update(dictionary.content).digest('hex'),
    },
    compressed: { level: LEVEL, withDictionaryHex: toHex(withDict), withoutDictionaryHex: toHex(compressor.compress(body, undefined, LEVEL)) },
    signedData: { contentHex: toHex(signedContent), hex: toHex(signData(signedContent, pki.centre.key, pki.centre.cert)) },
    sdc: { created: CREATED, sequence: SEQUENCE.toString(), hex: toHex(sdc), armoured: armourSdc(sdc) },
  };
  writeFileSync(`${sdcVectorDir}sdc-vectors.json`, `${JSON.stringify(vectors, null, 1)}\n`);
  process.stdout.write(`wrote ${sdcVectorDir}: SDC of ${sdc.length} bytes, body ${body.length}, compressed ${withDict.length}\n`);
}

await main();
