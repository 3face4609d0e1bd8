import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/atomic-write.js';
import { parseJsonLines, readCertificate, readInput, readPrivateKey } from '../common/read-input.js';
import {
  SdcKind, TamtamError, armourSdc, batchFromObjects, batchToObjects, certMatches, decodeBatch, decodeDictionary, decodeJsonBody, decodeReceipt,
  encodeBatch, encodeDictionary, inspectEnvelope, kindName, loadCompressor, openSdc, peekSdc, sealSdc, trainDictionary, unarmourSdc,
  type Certificate, type Dictionary,
} from '../protocol/index.js';
import { optionalList, optionalString, requireOption, requirePositional, type CommandContext, type CommandGroup } from './command.js';

const jsonLine = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? { base64: Buffer.from(x).toString('base64') } : x));

function readRows(path: string) {
  return parseJsonLines(readFileSync(path === '-' ? 0 : path, 'utf8'), path === '-' ? 'standard input' : path);
}


function readDictionaries(paths: string[]): Dictionary[] {
  return paths.map((p) => decodeDictionary(readInput(p, 'dictionary')));
}

async function pack(ctx: CommandContext): Promise<void> {
  const table = requireOption(ctx, 'table', 'the table the records come from');
  const input = requireOption(ctx, 'in', 'JSON lines of records, one object a line');
  const cert = readCertificate(requireOption(ctx, 'cert', "the centre's certificate"), '--cert');
  const key = readPrivateKey(requireOption(ctx, 'key', "the centre's private key"), '--key');
  const to = readCertificate(requireOption(ctx, 'to', "the hub's certificate"), '--to');
  const out = requireOption(ctx, 'o', 'where to write the SDC');
  const dictPath = optionalString(ctx, 'dict');
  const dictionary = dictPath ? readDictionaries([dictPath])[0] : undefined;
  const sender = optionalString(ctx, 'sender') ?? cert.subjectCn;
  if (!sender) throw new TamtamError('E_USAGE', 'the certificate has no common name; give --sender');
  const sequence = BigInt(optionalString(ctx, 'sequence') ?? Date.now());
  const level = optionalString(ctx, 'level');
  const rows = readRows(input);
  if (rows.length === 0) throw new TamtamError('E_BAD_INPUT', `${input} holds no records`);
  const body = encodeBatch(batchFromObjects(table, rows));
  const compressor = await loadCompressor();
  const sdc = sealSdc(compressor, body, {
    kind: SdcKind.data, sender, sequence, count: rows.length, signerKey: key, signerCert: cert, recipientCert: to, dictionary, ...(level ? { level: Number(level) } : {}),
  });
  writeFileAtomic(out, ctx.values.armour ? armourSdc(sdc) : sdc);
  const summary = { file: out, table, records: rows.length, sender, sequence: sequence.toString(), bytes: sdc.length, bytesPerRecord: +(sdc.length / rows.length).toFixed(1), dictId: dictionary?.id ?? 0 };
  ctx.out(ctx.json ? jsonLine(summary) : `wrote ${out}: ${rows.length} records of ${table}, ${sdc.length} bytes (${summary.bytesPerRecord} a record), sender ${sender}, sequence ${sequence}`);
}

async function open(ctx: CommandContext): Promise<void> {
  const file = requirePositional(ctx, 0, 'the SDC file to open');
  const sdc = unarmourSdc(readInput(file, 'SDC'));
  const recipientKey = readPrivateKey(requireOption(ctx, 'key', "the hub's private key"), '--key');
  const recipientCert = readCertificate(requireOption(ctx, 'cert', "the hub's certificate"), '--cert');
  const signers: Certificate[] = optionalList(ctx, 'signer').map((p) => readCertificate(p, '--signer'));
  if (signers.length === 0) throw new TamtamError('E_USAGE', "missing --signer (the sender's certificate; repeat it to try several)");
  const dictionaries = readDictionaries(optionalList(ctx, 'dict'));
  const opened = openSdc(await loadCompressor(), sdc, {
    recipientKey, recipientCert,
    resolveSigner: (id) => signers.find((c) => certMatches(c, id)),
    resolveDictionary: (id) => dictionaries.find((d) => d.id === id),
  });
  const { header } = opened;
  if (header.kind === SdcKind.data) {
    const batch = decodeBatch(opened.body);
    for (const record of batchToObjects(batch)) ctx.out(jsonLine(record));
    ctx.err(`${batch.rows.length} records of ${batch.table} from ${header.sender}, sequence ${header.sequence}, signed by ${opened.signer.subjectCn ?? 'a known certificate'}`);
  } else if (header.kind === SdcKind.receipt) {
    ctx.out(jsonLine(decodeReceipt(opened.body)));
  } else ctx.out(jsonLine({ kind: kindName(header.kind), body: decodeJsonBody(opened.body) }));
}

function inspect(ctx: CommandContext): void {
  const file = requirePositional(ctx, 0, 'the SDC file to inspect');
  const sdc = unarmourSdc(readInput(file, 'SDC'));
  const { header, headerLength, payload } = peekSdc(sdc);
  const envelope = inspectEnvelope(payload);
  const info = {
    kind: kindName(header.kind), version: header.version, sender: header.sender, sequence: header.sequence.toString(),
    created: new Date(header.created * 1000).toISOString(), count: header.count, dictId: header.dictId === 0 ? null : header.dictId.toString(16).padStart(8, '0'),
    sizes: { total: sdc.length, header: headerLength, cms: payload.length, encryptedContent: envelope.encryptedBytes, body: header.bodySize },
    recipients: envelope.recipients, contentEncryption: envelope.contentEncryption,
  };
  if (ctx.json) return ctx.out(jsonLine(info));
  ctx.out([
    `kind        ${info.kind} (format version ${info.version})`,
    `sender      ${info.sender}`,
    `sequence    ${info.sequence}`,
    `created     ${info.created}`,
    `count       ${info.count}`,
    `dictionary  ${info.dictId ?? 'none'}`,
    `sizes       ${info.sizes.total} bytes: header ${info.sizes.header}, CMS ${info.sizes.cms} (encrypted content ${info.sizes.encryptedContent}); body ${info.sizes.body} before compression`,
    `for         ${info.recipients.join(', ')} (${info.contentEncryption})`,
  ].join('\n'));
}

function train(ctx: CommandContext): void {
  const table = requireOption(ctx, 'table', 'the table the dictionary is for');
  const input = requireOption(ctx, 'in', 'sample records as JSON lines: other acts than those you will measure');
  const out = requireOption(ctx, 'o', 'where to write the dictionary');
  const size = Number(optionalString(ctx, 'size') ?? 64 * 1024);
  if (!Number.isInteger(size) || size < 1024 || size > 1024 * 1024) throw new TamtamError('E_USAGE', '--size is a byte count from 1024 to 1048576');
  const dictionary = trainDictionary(batchFromObjects(table, readRows(input)), { size });
  writeFileAtomic(out, encodeDictionary(dictionary));
  const id = dictionary.id.toString(16).padStart(8, '0');
  ctx.out(ctx.json ? jsonLine({ file: out, table, id, bytes: dictionary.content.length }) : `wrote ${out}: dictionary ${id} for ${table}, ${dictionary.content.length} bytes`);
}

function armour(ctx: CommandContext): void {
  const file = requirePositional(ctx, 0, 'the SDC file');
  const sdc = unarmourSdc(readInput(file, 'SDC'));
  const out = optionalString(ctx, 'o');
  const text = ctx.values.binary ? sdc : armourSdc(sdc);
  if (out) writeFileAtomic(out, text);
  else if (typeof text === 'string') ctx.out(text.trimEnd());
  else throw new TamtamError('E_USAGE', 'binary output needs -o FILE');
}

export const sdcGroup: CommandGroup = {
  name: 'sdc',
  commands: [
    {
      name: 'pack', summary: 'pack records into a signed, encrypted SDC',
      usage: '--table T --in rows.jsonl --cert C --key K --to HUBCERT [--dict D] -o out.sdc',
      help: `--table T        table the records belong to (the hub merges into its central twin)
--in FILE        records as JSON lines (flat objects; '-' reads standard input)
--cert, --key    the centre's certificate and private key (signs the SDC)
--to HUBCERT     the hub's certificate (the SDC is encrypted for it)
--dict D         a dictionary from 'tamtam sdc dict train' (much smaller SDCs)
--sender ID      sender id; default: the certificate's common name
--sequence N     sequence number, unique and increasing per sender; default: now in ms
--level N        zstd level 1-19 (default 9)
--armour         write PEM-like text instead of binary
Example: tamtam sdc pack --table births --in births.jsonl --cert centre.crt --key centre.key --to hub.crt --dict births.dict -o 1.sdc`,
      options: {
        table: { type: 'string' }, in: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, to: { type: 'string' },
        dict: { type: 'string' }, o: { type: 'string', short: 'o' }, sender: { type: 'string' }, sequence: { type: 'string' }, level: { type: 'string' }, armour: { type: 'boolean' },
      },
      run: pack,
    },
    {
      name: 'open', summary: 'decrypt and verify an SDC; print its records as JSON lines',
      usage: 'in.sdc --key HUBKEY --cert HUBCERT --signer CENTRECERT [--dict D]',
      help: `--key, --cert    the recipient's private key and certificate (the hub's)
--signer CERT    the sender's certificate; repeat to try several
--dict D         dictionaries the SDC may need; repeatable
Records go to standard output, one JSON object a line; a summary goes to standard error.`,
      options: { key: { type: 'string' }, cert: { type: 'string' }, signer: { type: 'string', multiple: true }, dict: { type: 'string', multiple: true } },
      run: open,
    },
    {
      name: 'inspect', summary: 'print the clear header and sizes of an SDC (no keys needed)',
      usage: 'in.sdc [--json]',
      run: inspect,
    },
    {
      name: 'dict train', summary: 'train a compression dictionary for a table from sample records',
      usage: '--table T --in rows.jsonl -o D [--size BYTES]',
      help: `--in FILE     sample records (JSON lines); use other acts than those you will send or measure
--size BYTES  dictionary size, default 65536
Give the same file to every centre of the table and to the hub (--dict).`,
      options: { table: { type: 'string' }, in: { type: 'string' }, o: { type: 'string', short: 'o' }, size: { type: 'string' } },
      run: train,
    },
    {
      name: 'armour', summary: 'turn an SDC into text for e-mail (or back with --binary)',
      usage: 'in.sdc [-o out] [--binary]',
      options: { o: { type: 'string', short: 'o' }, binary: { type: 'boolean' } },
      run: armour,
    },
  ],
};
