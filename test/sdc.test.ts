import test from 'ava';
import {
  SdcKind, armourSdc, batchFromObjects, decodeBatch, decodeReceipt, decodeJsonBody, encodeBatch, encodeJsonBody, encodeReceipt, isTamtamError, openSdc,
  peekSdc, sealSdc, unarmourSdc, type Receipt, type SealOptions,
} from '../protocol/index.js';
import { sampleActs } from './helpers/acts.js';
import { sdcFixture } from './helpers/sdc-fixture.js';

async function packed(count = 100, extra: Partial<SealOptions> = {}) {
  const f = await sdcFixture();
  const batch = batchFromObjects('births', sampleActs('births', count));
  const sdc = sealSdc(f.compressor, encodeBatch(batch), {
    kind: SdcKind.data, sender: f.pki.centre.name, sequence: 42n, count: batch.rows.length,
    signerKey: f.pki.centre.key, signerCert: f.pki.centre.cert, recipientCert: f.pki.hub.cert, dictionary: f.dictionary, ...extra,
  });
  return { f, batch, sdc };
}

const code = (e: unknown) => (isTamtamError(e) ? e.code : `not a TamtamError: ${String(e)}`);

test('a batch sealed by a centre opens at the hub, record for record, with the header as sealed', async (t) => {
  const { f, batch, sdc } = await packed(100, { created: 1_790_000_000 });
  const opened = openSdc(f.compressor, sdc, f.openOptions());
  t.deepEqual(decodeBatch(opened.body), batch);
  t.is(opened.header.sender, f.pki.centre.name);
  t.is(opened.header.sequence, 42n);
  t.is(opened.header.count, 100);
  t.is(opened.header.created, 1_790_000_000);
  t.is(opened.header.dictId, f.dictionary.id);
  t.is(opened.signer.subjectCn, f.pki.centre.name);
});

test('without a dictionary it still works, only bigger', async (t) => {
  const { f, batch, sdc } = await packed(100, { dictionary: undefined });
  const withDict = (await packed(100)).sdc;
  t.deepEqual(decodeBatch(openSdc(f.compressor, sdc, f.openOptions()).body), batch);
  t.is(peekSdc(sdc).header.dictId, 0);
  t.true(withDict.length < sdc.length, `${withDict.length} with dictionary, ${sdc.length} without`);
});

test('the header is readable without keys', async (t) => {
  const { f, sdc } = await packed(10);
  const { header, headerLength } = peekSdc(sdc);
  t.is(header.kind, SdcKind.data);
  t.is(header.sender, f.pki.centre.name);
  t.is(headerLength, 31 + f.pki.centre.name.length);
});

test('a changed header byte is caught: the signed copy inside differs', async (t) => {
  const { f, sdc } = await packed(10);
  const tampered = sdc.slice();
  tampered[peekSdc(sdc).headerLength - 9] ^= 0x01; // the record count
  t.is(code(t.throws(() => openSdc(f.compressor, tampered, f.openOptions()))), 'E_HEADER_MISMATCH');
});

test('a flipped bit in the encrypted part never yields records', async (t) => {
  const { f, sdc } = await packed(10);
  for (const at of [sdc.length - 1, sdc.length - 40, sdc.length - 200]) {
    const tampered = sdc.slice();
    tampered[at] ^= 0x10;
    t.true(['E_DECRYPT', 'E_BAD_SIGNATURE', 'E_MALFORMED'].includes(code(t.throws(() => openSdc(f.compressor, tampered, f.openOptions())))), `byte ${at}`);
  }
});

test('an SDC from a centre the hub does not know is refused as E_UNKNOWN_SIGNER', async (t) => {
  const { f, sdc } = await packed(10);
  const other = f.pki.issue('CM-XX-OTHER-0009', 'centre');
  t.is(code(t.throws(() => openSdc(f.compressor, sdc, f.openOptions([other])))), 'E_UNKNOWN_SIGNER');
});

test('a centre signing with a key that is not its certificate\'s is E_BAD_SIGNATURE', async (t) => {
  const f = await sdcFixture();
  const impostor = f.pki.issue('CM-IMPOSTOR', 'centre');
  const { sdc } = await packed(10, { signerKey: impostor.key });
  t.is(code(t.throws(() => openSdc(f.compressor, sdc, f.openOptions()))), 'E_BAD_SIGNATURE');
});

test('an SDC for another hub is E_WRONG_RECIPIENT', async (t) => {
  const f = await sdcFixture();
  const otherHub = f.pki.issue('other-hub', 'hub');
  const { sdc } = await packed(10, { recipientCert: otherHub.cert });
  t.is(code(t.throws(() => openSdc(f.compressor, sdc, f.openOptions()))), 'E_WRONG_RECIPIENT');
});

test('a missing dictionary is E_UNKNOWN_DICT and names it', async (t) => {
  const { f, sdc } = await packed(10);
  const e = t.throws(() => openSdc(f.compressor, sdc, { ...f.openOptions(), resolveDictionary: () => undefined }));
  t.is(code(e), 'E_UNKNOWN_DICT');
  t.true(e!.message.includes(f.dictionary.id.toString(16).padStart(8, '0')));
});

test('a decompression bomb is refused before it is inflated', async (t) => {
  const f = await sdcFixture();
  const zeros = new Uint8Array(1024 * 1024);
  const sdc = sealSdc(f.compressor, zeros, {
    kind: SdcKind.diagnosticReport, sender: f.pki.centre.name, sequence: 1n, count: 0, signerKey: f.pki.centre.key, signerCert: f.pki.centre.cert, recipientCert: f.pki.hub.cert,
  });
  t.true(sdc.length < 2_000, `${sdc.length} bytes`);
  t.is(code(t.throws(() => openSdc(f.compressor, sdc, { ...f.openOptions(), maxBodySize: 64 * 1024 }))), 'E_TOO_LARGE');
  t.is(openSdc(f.compressor, sdc, f.openOptions()).body.length, zeros.length);
  const tooBig = new Uint8Array(1024 * 1024 + 1);
  t.is(code(t.throws(() => f.compressor.compress(tooBig))), 'E_TOO_LARGE', 'nothing over the cap reaches the codec');
});

test('wrong magic, unknown version, truncation and trailing bytes give typed errors', async (t) => {
  const { f, sdc } = await packed(10);
  const magic = sdc.slice();
  magic[0] = 0x58;
  t.is(code(t.throws(() => openSdc(f.compressor, magic, f.openOptions()))), 'E_BAD_MAGIC');
  const version = sdc.slice();
  version[3] = 9;
  t.is(code(t.throws(() => openSdc(f.compressor, version, f.openOptions()))), 'E_BAD_VERSION');
  for (const cut of [2, 10, 40, sdc.length - 1]) {
    t.true(['E_TRUNCATED', 'E_MALFORMED', 'E_BAD_MAGIC'].includes(code(t.throws(() => openSdc(f.compressor, sdc.subarray(0, cut), f.openOptions())))), `cut at ${cut}`);
  }
  const longer = new Uint8Array(sdc.length + 3);
  longer.set(sdc);
  t.is(code(t.throws(() => openSdc(f.compressor, longer, f.openOptions()))), 'E_MALFORMED');
});

test('a receipt names the SDC and each record\'s outcome, signed by the hub for the centre', async (t) => {
  const f = await sdcFixture();
  const receipt: Receipt = {
    sdcSender: f.pki.centre.name, sdcSequence: 42n, accepted: true, table: 'births',
    entries: [
      { numero: 7, version: 1, outcome: 'merged' },
      { numero: 3, version: 2, outcome: 'duplicate' },
      { numero: 9, version: 1, outcome: 'rejected', reason: 'column father_age is not in the central table births' },
      { numero: 12, version: 1, outcome: 'rejected', reason: 'column father_age is not in the central table births' },
    ],
  };
  const sdc = sealSdc(f.compressor, encodeReceipt(receipt), {
    kind: SdcKind.receipt, sender: 'hub', sequence: 1n, count: receipt.entries.length, signerKey: f.pki.hub.key, signerCert: f.pki.hub.cert, recipientCert: f.pki.centre.cert,
  });
  const opened = openSdc(f.compressor, sdc, {
    recipientKey: f.pki.centre.key, recipientCert: f.pki.centre.cert, resolveSigner: () => f.pki.hub.cert,
  });
  const back = decodeReceipt(opened.body);
  t.deepEqual(back, { ...receipt, entries: [...receipt.entries].sort((a, b) => a.numero - b.numero) });
  const refused = decodeReceipt(encodeReceipt({ sdcSender: 'c', sdcSequence: 5n, accepted: false, reason: 'centre suspended', entries: [] }));
  t.false(refused.accepted);
  t.is(refused.reason, 'centre suspended');
});

test('other message kinds carry a JSON object', async (t) => {
  const f = await sdcFixture();
  const report = { backlog: { 2: 12, 3: 100 }, link: 'iridium-certus', bytesUp: 123456 };
  const sdc = sealSdc(f.compressor, encodeJsonBody(report), {
    kind: SdcKind.usageReport, sender: f.pki.centre.name, sequence: 43n, count: 0, signerKey: f.pki.centre.key, signerCert: f.pki.centre.cert, recipientCert: f.pki.hub.cert,
  });
  const opened = openSdc(f.compressor, sdc, f.openOptions());
  t.is(opened.header.kind, SdcKind.usageReport);
  t.deepEqual(decodeJsonBody(opened.body), JSON.parse(JSON.stringify(report)));
  t.is(code(t.throws(() => decodeJsonBody(new TextEncoder().encode('[1,2]')))), 'E_MALFORMED');
});

test('armour: text for e-mail that comes back to the same bytes, with readable headers', async (t) => {
  const { f, sdc } = await packed(10);
  const text = armourSdc(sdc);
  t.regex(text, /^-----BEGIN TAMTAM SDC-----\nKind: data\nSender: CM-CE-YDE-0001\nSequence: 42\n\n/);
  t.true(text.split('\n').every((l) => l.length <= 64));
  const wrapped = `Hello,\r\nhere is the SDC:\r\n\r\n${text.replace(/\n/g, '\r\n')}\r\nRegards\r\n`;
  const back = unarmourSdc(new TextEncoder().encode(wrapped));
  t.deepEqual(back, sdc);
  t.deepEqual(decodeBatch(openSdc(f.compressor, back, f.openOptions()).body).rows.length, 10);
  const cut = text.slice(0, text.length - 40);
  t.is(code(t.throws(() => unarmourSdc(new TextEncoder().encode(cut)))), 'E_BAD_ARMOUR');
});
