import { readFileSync } from 'node:fs';
import { argv } from 'node:process';
import { parseJsonLines } from '../common/read-input.js';
import {
  DEFAULT_LEVEL, SdcKind, batchFromObjects, type Batch, type CertId, certMatches, decodeBatch, encodeBatch, loadCompressor, openSdc, sealSdc, trainDictionary, type Value,
} from '../protocol/index.js';
import { makeTestPki } from '../test/helpers/test-pki.js';
import { ACT_TABLES, generateActs, sharedData, type ActTable } from './sample-acts.js';

/**
 * Packs 100-record SDCs the way an agent does and prints what crosses a link
 * per act, then how fast one core packs and opens them. The dictionary is
 * trained on acts generated with another seed for another centre, never on
 * the acts measured.
 */
const BATCH = 100;
function trainingRows(table: ActTable, explicit: string | undefined): { rows: Record<string, Value>[]; source: string } {
  if (explicit) return { rows: parseJsonLines(readFileSync(explicit, 'utf8'), explicit), source: explicit };
  return { rows: generateActs({ table, count: 2000, seed: 4242, centre: 'CM-LT-DLA-0042' }), source: `gen-acts.mjs --seed 4242 --centre CM-LT-DLA-0042 (${table})` };
}

function option(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

const input = argv.slice(2).find((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--')) ?? `${sharedData}births-5k.jsonl`;
const table = (option('table') ?? ACT_TABLES.find((t) => input.includes(t)) ?? 'births') as ActTable;
const level = option('level') ? Number(option('level')) : undefined;
const rows = parseJsonLines(readFileSync(input, 'utf8'), input);
const training = trainingRows(table, option('train'));
const dictionary = trainDictionary(batchFromObjects(table, training.rows));
const pki = makeTestPki();
const compressor = await loadCompressor();
const sender = 'CM-CE-YDE-0001';
// MQTT 3.1.1 PUBLISH at QoS 1 (fixed header, topic, packet id) up and its 4-byte PUBACK down.
const topicBytes = Buffer.byteLength(`tamtam/${sender}/up`);
const mqttOverhead = (payload: number) => 1 + (payload + topicBytes + 4 < 128 ? 1 : payload + topicBytes + 4 < 16384 ? 2 : 3) + 2 + topicBytes + 2 + 4;

const batches: Batch[] = [];
for (let i = 0; i < rows.length; i += BATCH) batches.push(batchFromObjects(table, rows.slice(i, i + BATCH)));

const sealAll = () => batches.map((b, i) => sealSdc(compressor, encodeBatch(b), {
  kind: SdcKind.data, sender, sequence: BigInt(i + 1), count: b.rows.length, signerKey: pki.centre.key, signerCert: pki.centre.cert, recipientCert: pki.hub.cert, dictionary, level,
}));
const openOptions = {
  recipientKey: pki.hub.key, recipientCert: pki.hub.cert,
  resolveSigner: (id: CertId) => (certMatches(pki.centre.cert, id) ? pki.centre.cert : undefined),
  resolveDictionary: (id: number) => (id === dictionary.id ? dictionary : undefined),
};
const openAll = (sdcs: Uint8Array[]) => sdcs.map((sdc) => decodeBatch(openSdc(compressor, sdc, openOptions).body));

/** Seconds for one call; the first round of each is a warm-up for the JIT and is not counted. */
function timed<T>(f: () => T): [T, number] {
  const t = process.hrtime.bigint();
  const r = f();
  return [r, Number(process.hrtime.bigint() - t) / 1e9];
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ROUNDS = 3;
let sdcs = sealAll();
openAll(sdcs);
const packSecs: number[] = [];
const openSecs: number[] = [];
let opened: ReturnType<typeof openAll> = [];
for (let r = 0; r < ROUNDS; r++) {
  let s: number;
  [sdcs, s] = timed(sealAll);
  packSecs.push(s);
  [opened, s] = timed(() => openAll(sdcs));
  openSecs.push(s);
}

const sdcBytes = sdcs.reduce((n, s) => n + s.length, 0);
const wireBytes = sdcs.reduce((n, s) => n + s.length + mqttOverhead(s.length), 0);
const jsonBytes = rows.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)) + 1, 0);
console.log(`input=${input} acts=${rows.length} table=${table} batch=${BATCH} level=${level ?? DEFAULT_LEVEL} rounds=${ROUNDS}+1 warm-up dictionary=${dictionary.content.length}B trained_on="${training.source}"`);
console.log(`json_bytes_per_act=${(jsonBytes / rows.length).toFixed(1)}`);
console.log(`sdc_bytes_per_act=${(sdcBytes / rows.length).toFixed(1)}`);
console.log(`bytes_per_act=${(wireBytes / rows.length).toFixed(1)}`);
console.log(`pack_acts_per_s=${Math.round(rows.length / median(packSecs))}`);
console.log(`open_acts_per_s=${Math.round(rows.length / median(openSecs))}`);
