import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runCli } from '../cli/main.js';
import { batchFromObjects, batchToObjects, decodeDictionary, peekSdc } from '../protocol/index.js';
import { sampleActs } from './helpers/acts.js';
import { sdcVectorDir, vectorPkiFiles } from './helpers/sdc-vectors.js';

/** `tamtam sdc ...` in-process, with the vectors' test-only PKI files as keys and certificates. */
const pem = (name: keyof typeof vectorPkiFiles) => join(sdcVectorDir, vectorPkiFiles[name]);
const centre = ['--cert', pem('centreCert'), '--key', pem('centreKey')];
const hub = ['--key', pem('hubKey'), '--cert', pem('hubCert')];

async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['sdc', ...args], (s) => void out.push(s), (s) => void err.push(s));
  return { code, out: out.join('\n'), err: err.join('\n'), lines: out };
}

const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

function workDir(t: ExecutionContext) {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const at = (name: string) => join(dir, name);
  const rows = sampleActs('births', 1020);
  writeFileSync(at('sample.jsonl'), jsonl(rows.slice(20)));
  writeFileSync(at('rows.jsonl'), jsonl(rows.slice(0, 20)));
  return { at, rows: rows.slice(0, 20) };
}

/** What `open` prints for each record: every column of the batch, null where a record had none. */
const asOpened = (rows: Record<string, unknown>[]) => JSON.parse(JSON.stringify(batchToObjects(batchFromObjects('births', rows as never))));

async function trainAndPack(t: ExecutionContext) {
  const w = workDir(t);
  const trained = await cli('dict', 'train', '--table', 'births', '--in', w.at('sample.jsonl'), '-o', w.at('births.dict'), '--size', '32768', '--json');
  t.is(trained.code, 0, trained.err);
  const packed = await cli('pack', '--table', 'births', '--in', w.at('rows.jsonl'), ...centre, '--to', pem('hubCert'), '--dict', w.at('births.dict'), '--sequence', '77', '-o', w.at('a.sdc'));
  t.is(packed.code, 0, packed.err);
  return { ...w, trained: JSON.parse(trained.out) as { id: string; bytes: number }, packed };
}

test('dict train writes a dictionary file; pack with it writes an SDC that open turns back into the same records', async (t) => {
  const { at, rows, trained, packed } = await trainAndPack(t);
  const dictionary = decodeDictionary(new Uint8Array(readFileSync(at('births.dict'))));
  t.is(dictionary.id.toString(16).padStart(8, '0'), trained.id);
  t.is(dictionary.content.length, trained.bytes);
  t.regex(packed.out, /^wrote .*a\.sdc: 20 records of births, \d+ bytes .* sequence 77$/);
  const opened = await cli('open', at('a.sdc'), ...hub, '--signer', pem('centreCert'), '--dict', at('births.dict'));
  t.is(opened.code, 0, opened.err);
  t.deepEqual(opened.lines.map((l) => JSON.parse(l)), asOpened(rows));
  t.regex(opened.err, /20 records of births from CM-CE-YDE-0001, sequence 77, signed by CM-CE-YDE-0001/);
});

test('pack without --dict and with --armour; open reads both; the dictionary makes it smaller', async (t) => {
  const { at, rows } = await trainAndPack(t);
  const plain = await cli('pack', '--table', 'births', '--in', at('rows.jsonl'), ...centre, '--to', pem('hubCert'), '-o', at('b.sdc'), '--json');
  t.is(plain.code, 0, plain.err);
  t.is(JSON.parse(plain.out).dictId, 0);
  const sizes = [readFileSync(at('a.sdc')).length, readFileSync(at('b.sdc')).length];
  t.true(sizes[0] < sizes[1], `${sizes[0]} bytes with the dictionary, ${sizes[1]} without`);
  const armoured = await cli('pack', '--table', 'births', '--in', at('rows.jsonl'), ...centre, '--to', pem('hubCert'), '--armour', '-o', at('c.txt'));
  t.is(armoured.code, 0, armoured.err);
  t.regex(readFileSync(at('c.txt'), 'utf8'), /^-----BEGIN TAMTAM SDC-----\nKind: data\nSender: CM-CE-YDE-0001\n/);
  for (const file of ['b.sdc', 'c.txt']) {
    const opened = await cli('open', at(file), ...hub, '--signer', pem('centreCert'));
    t.is(opened.code, 0, opened.err);
    t.deepEqual(opened.lines.map((l) => JSON.parse(l)), asOpened(rows), file);
  }
});

test('inspect shows the clear header without keys, as text and as JSON', async (t) => {
  const { at, trained } = await trainAndPack(t);
  const sdc = new Uint8Array(readFileSync(at('a.sdc')));
  const text = await cli('inspect', at('a.sdc'));
  t.is(text.code, 0, text.err);
  for (const line of [/^kind {8}data \(format version 1\)$/m, /^sender {6}CM-CE-YDE-0001$/m, /^sequence {4}77$/m, /^count {7}20$/m, new RegExp(`^dictionary  ${trained.id}$`, 'm'), /^for {9}key id [0-9a-f]{40} \(aes-256-cbc\)$/m]) {
    t.regex(text.out, line);
  }
  const json = await cli('inspect', at('a.sdc'), '--json');
  const info = JSON.parse(json.out);
  t.like(info, { kind: 'data', version: 1, sender: 'CM-CE-YDE-0001', sequence: '77', count: 20, dictId: trained.id, contentEncryption: 'aes-256-cbc' });
  t.is(info.sizes.total, sdc.length);
  t.is(info.sizes.header, peekSdc(sdc).headerLength);
  t.is(info.sizes.header + info.sizes.cms, sdc.length);
});

test('open refuses the wrong signer (E_UNKNOWN_SIGNER) and a missing dictionary (E_UNKNOWN_DICT) with exit code 1', async (t) => {
  const { at, trained } = await trainAndPack(t);
  const wrongSigner = await cli('open', at('a.sdc'), ...hub, '--signer', pem('hubCert'), '--dict', at('births.dict'));
  t.is(wrongSigner.code, 1);
  t.regex(wrongSigner.err, /unknown certificate .*\[E_UNKNOWN_SIGNER\]/);
  t.is(wrongSigner.out, '', 'no record is printed');
  const noDict = await cli('open', at('a.sdc'), ...hub, '--signer', pem('centreCert'));
  t.is(noDict.code, 1);
  t.regex(noDict.err, new RegExp(`dictionary ${trained.id}.*\\[E_UNKNOWN_DICT\\]`));
  const asJson = await cli('open', at('a.sdc'), ...hub, '--signer', pem('centreCert'), '--json');
  t.is(JSON.parse(asJson.out).error.code, 'E_UNKNOWN_DICT');
});

test('armour turns an SDC into text and --binary turns it back, byte for byte', async (t) => {
  const { at } = await trainAndPack(t);
  const text = await cli('armour', at('a.sdc'));
  t.is(text.code, 0, text.err);
  t.regex(text.out, /^-----BEGIN TAMTAM SDC-----\n[\s\S]*\n-----END TAMTAM SDC-----$/);
  writeFileSync(at('a.txt'), `Dear hub,\n\n${text.out}\n`);
  const back = await cli('armour', at('a.txt'), '--binary', '-o', at('back.sdc'));
  t.is(back.code, 0, back.err);
  t.deepEqual(readFileSync(at('back.sdc')), readFileSync(at('a.sdc')));
  const noOut = await cli('armour', at('a.txt'), '--binary');
  t.is(noOut.code, 2);
  t.regex(noOut.err, /binary output needs -o FILE \[E_USAGE\]/);
});

test('usage errors exit 2 and say what is missing or wrong', async (t) => {
  const cases: [string[], RegExp][] = [
    [['pack'], /missing --table \(the table the records come from\) \[E_USAGE\]/],
    [['pack', '--table', 'births', '--in', 'x.jsonl', '--bogus'], /Unknown option '--bogus'.*Run 'tamtam sdc pack --help'/],
    [['open'], /missing the SDC file to open \[E_USAGE\]/],
    [['nosuch'], /unknown command 'nosuch'/],
    [['dict', 'train', '--table', 'births', '--in', 'x', '-o', 'y', '--size', '5'], /--size is a byte count from 1024 to 1048576/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(...args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.err, message, args.join(' '));
  }
  const help = await cli('pack', '--help');
  t.is(help.code, 0);
  t.regex(help.out, /^Usage: tamtam sdc pack --table T --in rows\.jsonl/);
});

test('a bad JSON line is named by its number; an unreadable file by its path', async (t) => {
  const { at, rows } = workDir(t);
  writeFileSync(at('bad.jsonl'), `${JSON.stringify(rows[0])}\n${JSON.stringify(rows[1])}\n{"numero": 3, oops}\n`);
  const bad = await cli('pack', '--table', 'births', '--in', at('bad.jsonl'), ...centre, '--to', pem('hubCert'), '-o', at('x.sdc'));
  t.is(bad.code, 1);
  t.regex(bad.err, /bad\.jsonl line 3 is not JSON: .*\[E_BAD_INPUT\]/);
  const missing = await cli('inspect', at('none.sdc'));
  t.is(missing.code, 1);
  t.regex(missing.err, /cannot read SDC .*none\.sdc: no such file \[E_IO\]/);
});

test('the installed binary runs: node bin/tamtam.js sdc --help exits 0', async (t) => {
  const bin = fileURLToPath(new URL('../../bin/tamtam.js', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [bin, 'sdc', '--help']);
  t.regex(stdout, /^tamtam sdc: pack, open and inspect Secure Data Containers/);
  for (const command of ['pack', 'open', 'inspect', 'dict train', 'armour']) t.true(stdout.includes(`  ${command} `), command);
});
