import test from 'ava';
import { createHash } from 'node:crypto';
import {
  armourSdc, certMatches, decodeBatch, decodeDictionary, decodeHeader, decodeJsonBody, decodeReceipt, encodeBatch, encodeDictionary, encodeHeader,
  encodeJsonBody, encodeReceipt, fromHex, loadCompressor, makeDictionary, openEnvelope, openSdc, peekSdc, signData, toHex, unarmourSdc, verifySignedData,
  type Receipt, type SdcHeader,
} from '../protocol/index.js';
import { loadSdcVectors, loadVectorPki } from './helpers/sdc-vectors.js';

const { vectors, batch, dictionaryFile } = loadSdcVectors();
const pki = loadVectorPki();

const headerOf = (f: Record<string, string | number>) => ({ ...f, sequence: BigInt(f.sequence) }) as unknown as SdcHeader;
const receiptOf = (v: Record<string, unknown>) => ({ ...v, sdcSequence: BigInt(v.sdcSequence as string) }) as Receipt;

test('headers: encoded byte for byte from their fields, and read back', (t) => {
  t.true(vectors.headers.length >= 2);
  for (const { fields, hex } of vectors.headers) {
    t.is(toHex(encodeHeader(headerOf(fields))), hex);
    const { header, length } = decodeHeader(fromHex(hex));
    t.deepEqual(header, headerOf(fields));
    t.is(length, hex.length / 2);
  }
});

test('batch body: the encoder reproduces it and picks the kind listed for each column', (t) => {
  const body = fromHex(vectors.batch.bodyHex);
  t.is(toHex(encodeBatch(batch)), vectors.batch.bodyHex);
  t.deepEqual(decodeBatch(body), batch);
  t.deepEqual(Object.keys(vectors.batch.kinds), batch.columns);
  t.deepEqual([...new Set(Object.values(vectors.batch.kinds))].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'every kind is covered');
  for (const [name, kind] of Object.entries(vectors.batch.kinds)) {
    // A column starts with its name as a length-prefixed string, then the kind byte.
    const prefix = toHex(Uint8Array.of(Buffer.byteLength(name), ...Buffer.from(name)));
    const at = vectors.batch.bodyHex.indexOf(prefix + kind.toString(16).padStart(2, '0'));
    t.true(at > 0 && at % 2 === 0, `column ${name} is kind ${kind}`);
  }
});

test('receipt body and JSON body: encoded byte for byte and read back', (t) => {
  const receipt = receiptOf(vectors.receipt.value);
  t.is(toHex(encodeReceipt(receipt)), vectors.receipt.hex);
  t.deepEqual(decodeReceipt(fromHex(vectors.receipt.hex)), receipt);
  t.is(toHex(encodeJsonBody(vectors.jsonBody.value)), vectors.jsonBody.hex);
  t.deepEqual(decodeJsonBody(fromHex(vectors.jsonBody.hex)), vectors.jsonBody.value);
});

test('dictionary file: id is the first 4 bytes of the content\'s SHA-256, and the file is rebuilt byte for byte', (t) => {
  const d = decodeDictionary(dictionaryFile);
  t.is(d.table, vectors.dictionary.table);
  t.is(d.id.toString(16).padStart(8, '0'), vectors.dictionary.id);
  t.is(createHash('sha256').update(d.content).digest('hex'), vectors.dictionary.contentSha256);
  t.is(vectors.dictionary.contentSha256.slice(0, 8), vectors.dictionary.id);
  t.is(toHex(dictionaryFile.subarray(0, 4)), '54544401');
  t.deepEqual(encodeDictionary(makeDictionary(d.table, d.content)), dictionaryFile);
});

test('zstd frames at level 9, with and without the dictionary, are reproduced and inflate to the body', async (t) => {
  const compressor = await loadCompressor();
  const d = decodeDictionary(dictionaryFile);
  const body = fromHex(vectors.batch.bodyHex);
  const { level, withDictionaryHex, withoutDictionaryHex } = vectors.compressed;
  // A different zstd build may compress differently; the frames must still inflate (checked below).
  t.is(toHex(compressor.compress(body, d, level)), withDictionaryHex, 'zstd output changed: was zstd-codec upgraded?');
  t.is(toHex(compressor.compress(body, undefined, level)), withoutDictionaryHex);
  t.deepEqual(compressor.decompress(fromHex(withDictionaryHex), body.length, body.length, d), body);
  t.deepEqual(compressor.decompress(fromHex(withoutDictionaryHex), body.length, body.length), body);
  t.true(withDictionaryHex.length < withoutDictionaryHex.length, 'the dictionary helps');
});

test('SignedData is deterministic (PKCS#1 v1.5): reproduced byte for byte, and it verifies', (t) => {
  const content = fromHex(vectors.signedData.contentHex);
  t.is(vectors.signedData.contentHex, vectors.headers[0].hex + vectors.compressed.withDictionaryHex, 'signed content = header || zstd frame');
  t.is(toHex(signData(content, pki.centre.key, pki.centre.cert)), vectors.signedData.hex);
  const verified = verifySignedData(fromHex(vectors.signedData.hex), (id) => (certMatches(pki.centre.cert, id) ? pki.centre.cert : undefined));
  t.deepEqual(verified.content, content);
});

test('the sample SDC opens with the test hub key: its header, inner SignedData and records are the vectors', async (t) => {
  const compressor = await loadCompressor();
  const d = decodeDictionary(dictionaryFile);
  const sdc = fromHex(vectors.sdc.hex);
  const { header, headerLength, payload } = peekSdc(sdc);
  t.is(toHex(sdc.subarray(0, headerLength)), vectors.headers[0].hex);
  t.is(header.sequence.toString(), vectors.sdc.sequence);
  t.is(header.created, vectors.sdc.created);
  t.is(toHex(openEnvelope(payload, pki.hub.key, pki.hub.cert)), vectors.signedData.hex);
  const opened = openSdc(compressor, sdc, {
    recipientKey: pki.hub.key, recipientCert: pki.hub.cert,
    resolveSigner: (id) => (certMatches(pki.centre.cert, id) ? pki.centre.cert : undefined),
    resolveDictionary: (id) => (id === d.id ? d : undefined),
  });
  t.deepEqual(decodeBatch(opened.body), batch);
  t.is(opened.signer.subjectCn, 'CM-CE-YDE-0001');
  t.is(armourSdc(sdc), vectors.sdc.armoured);
  t.deepEqual(unarmourSdc(new TextEncoder().encode(vectors.sdc.armoured)), sdc);
});
