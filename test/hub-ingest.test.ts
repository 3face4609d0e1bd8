import test, { type ExecutionContext } from 'ava';
import {
  SdcKind, batchFromObjects, certMatches, decodeReceipt, encodeBatch, encodeJsonBody, isTamtamError, openSdc, sealSdc,
  type Batch, type Certificate, type Receipt, type SdcKindCode, type Value,
} from '../protocol/index.js';
import { addCentralColumns, createCentralTable, inferColumns, readCentralTable } from '../hub/central-tables.js';
import { HubDatabase } from '../hub/db/hub-database.js';
import { migrate } from '../hub/db/migrations.js';
import { IngestPipeline, type IngestOutcome } from '../hub/ingest/ingest-pipeline.js';
import { listQuarantine } from '../hub/ingest/quarantine.js';
import { CentreRegistry } from '../hub/registry/centre-registry.js';
import { startPostgres, type PostgresCluster } from '../scripts/services/postgres-cluster.js';
import { sampleActs } from './helpers/acts.js';
import { sdcFixture, type SdcFixture } from './helpers/sdc-fixture.js';
import type { Party } from './helpers/test-pki.js';

type Row = Record<string, Value>;

let cluster: PostgresCluster;
let databases = 0;

test.before(async () => {
  cluster = await startPostgres({ settings: { max_connections: 150 } });
});
test.after.always(async () => {
  await cluster?.stop();
});

const births = sampleActs('births', 1000);
const CENTRE = 'CM-CE-YDE-0001';
const HUB_ONLY = ['hub_numero', 'centre_id', 'sdc_sequence', 'received_at'];

function pipelineOn(f: SdcFixture, db: HubDatabase): IngestPipeline {
  return new IngestPipeline({
    db, compressor: f.compressor, hubKey: f.pki.hub.key, hubCert: f.pki.hub.cert,
    dictionaries: (id) => (id === f.dictionary.id ? f.dictionary : undefined),
  });
}

/** A migrated hub database with the centre enrolled and central table `births` inferred from sample acts. */
async function hub(t: ExecutionContext, copy: 'auto' | 'never' = 'auto') {
  const f = await sdcFixture();
  const url = await cluster.createDatabase(`ingest_${++databases}`);
  const db = await HubDatabase.connect(url, { copy });
  t.teardown(() => db.close());
  await migrate(db);
  const registry = new CentreRegistry(db);
  await registry.add({ matricule: CENTRE, name: 'Centre de Yaoundé' });
  await registry.setCertificate(CENTRE, f.pki.centre.certPem);
  await createCentralTable(db, 'births', inferColumns(births));
  return {
    f, db, url, registry, pipeline: pipelineOn(f, db),
    /** Another pipeline on its own pool, as a second hub process would have. */
    async secondHub() {
      const other = await HubDatabase.connect(url, { copy });
      t.teardown(() => other.close());
      return pipelineOn(f, other);
    },
  };
}

interface SealArgs {
  sequence: bigint;
  rows?: Row[];
  table?: string;
  sender?: string;
  signer?: Party;
  signerCert?: Certificate;
  recipient?: Certificate;
  kind?: SdcKindCode;
  body?: Uint8Array;
  count?: number;
}

/** Columns reversed, so nothing can work by position: the central table has them in the other order. */
function reversed(batch: Batch): Batch {
  return { table: batch.table, columns: [...batch.columns].reverse(), rows: batch.rows.map((r) => [...r].reverse()) };
}

function seal(f: SdcFixture, a: SealArgs): Uint8Array {
  const rows = (a.rows ?? births.slice(0, 100)).map((r) => ({ ...r, __version: r.__version ?? 1 }));
  const body = a.body ?? encodeBatch(reversed(batchFromObjects(a.table ?? 'births', rows)));
  const signer = a.signer ?? f.pki.centre;
  return sealSdc(f.compressor, body, {
    kind: a.kind ?? SdcKind.data, sender: a.sender ?? CENTRE, sequence: a.sequence, count: a.count ?? (a.body ? 0 : rows.length),
    signerKey: signer.key, signerCert: a.signerCert ?? signer.cert, recipientCert: a.recipient ?? f.pki.hub.cert, dictionary: f.dictionary,
  });
}

/** Opens a receipt as the centre would: with its own key, trusting only the hub's certificate. */
function openReceipt(f: SdcFixture, out: IngestOutcome): Receipt {
  if (!out.receipt) throw new Error(`no receipt in outcome ${out.kind}`);
  const opened = openSdc(f.compressor, out.receipt, {
    recipientKey: f.pki.centre.key, recipientCert: f.pki.centre.cert,
    resolveSigner: (id) => (certMatches(f.pki.hub.cert, id) ? f.pki.hub.cert : undefined),
  });
  if (opened.header.kind !== SdcKind.receipt || opened.header.sender !== 'hub') throw new Error('not a receipt from the hub');
  return decodeReceipt(opened.body);
}

/** The central rows as Values again (dates and stamps as the centre wrote them), by source numero and version. */
async function centralRows(db: HubDatabase, table = 'births'): Promise<Row[]> {
  const columns = [...(await readCentralTable(db, table))!].filter(([name]) => !HUB_ONLY.includes(name));
  const select = columns.map(([name, c]) => {
    const col = `"${name}"`;
    if (c.type === 'date') return `${col}::text AS ${col}`;
    if (c.type === 'timestamp with time zone') return `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS ${col}`;
    if (c.type === 'bigint') return `${col}::float8 AS ${col}`;
    return col;
  });
  const { rows } = await db.query(`SELECT ${select.join(', ')} FROM central."${table}" ORDER BY source_numero, record_version`);
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Buffer.isBuffer(v) ? new Uint8Array(v) : v as Value])));
}

/** What the central table must hold for these source rows: every column by name, numero as source_numero. */
async function expectedRows(db: HubDatabase, rows: Row[], table = 'births'): Promise<Row[]> {
  const columns = [...(await readCentralTable(db, table))!.keys()].filter((name) => !HUB_ONLY.includes(name));
  return rows.map((r) => Object.fromEntries(columns.map((c) => [c,
    c === 'source_numero' ? r.numero : c === 'record_version' ? (r.__version ?? 1) : (r[c] ?? null)])));
}

const count = async (db: HubDatabase, sql: string): Promise<number> => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`)).rows[0].n;
const code = (e: unknown) => (isTamtamError(e) ? e.code : `not a TamtamError: ${String(e)}`);

test('100 births merge with every column by name, though the batch has them in another order', async (t) => {
  const h = await hub(t);
  const out = await h.pipeline.ingest(seal(h.f, { sequence: 1n }), { via: 'test' });
  t.like(out, { kind: 'merged', centre: CENTRE, merged: 100, duplicates: 0, rejected: 0 });
  t.deepEqual(await centralRows(h.db), await expectedRows(h.db, births.slice(0, 100)));
  const receipt = openReceipt(h.f, out);
  t.like(receipt, { sdcSender: CENTRE, sdcSequence: 1n, accepted: true, table: 'births' });
  t.deepEqual(receipt.entries, births.slice(0, 100).map((r) => ({ numero: r.numero, version: 1, outcome: 'merged' })));
  const seen = (await h.db.query('SELECT kind, via, outcome, table_name, merged, duplicates, rejected FROM sdc_seen')).rows;
  t.deepEqual(seen, [{ kind: SdcKind.data, via: 'test', outcome: 'merged', table_name: 'births', merged: 100, duplicates: 0, rejected: 0 }]);
  const centre = (await h.registry.get(CENTRE))!;
  t.is(centre.lastSequence, 1n);
  t.true(centre.lastContactAt instanceof Date);
});

test('the same SDC again is a replay: the stored receipt, nothing merged twice; the records under a new sequence are duplicates', async (t) => {
  const h = await hub(t);
  const sdc = seal(h.f, { sequence: 7n });
  const first = await h.pipeline.ingest(sdc, { via: 'mqtt' });
  const again = await h.pipeline.ingest(sdc, { via: 't2d' });
  t.like(again, { kind: 'replay', centre: CENTRE, merged: 0 });
  t.deepEqual(again.receipt, first.receipt);
  t.is(await count(h.db, 'central.births'), 100);
  t.is(await count(h.db, 'sdc_seen'), 1);

  const resent = await h.pipeline.ingest(seal(h.f, { sequence: 8n }), { via: 'mqtt' });
  t.like(resent, { kind: 'merged', merged: 0, duplicates: 100 });
  t.true(openReceipt(h.f, resent).entries.every((e) => e.outcome === 'duplicate'));
  t.is(await count(h.db, 'central.births'), 100);
});

test('a new version of a record is kept beside the old one', async (t) => {
  const h = await hub(t);
  await h.pipeline.ingest(seal(h.f, { sequence: 1n, rows: births.slice(0, 3) }), { via: 'test' });
  const amended = { ...births[1], mentions: 'Rectifié par jugement n° 12/2026', __version: 2 };
  const out = await h.pipeline.ingest(seal(h.f, { sequence: 2n, rows: [amended, births[2]] }), { via: 'test' });
  t.like(out, { kind: 'merged', merged: 1, duplicates: 1 });
  t.deepEqual(openReceipt(h.f, out).entries, [
    { numero: 2, version: 2, outcome: 'merged' }, { numero: 3, version: 1, outcome: 'duplicate' }]);
  t.deepEqual(await centralRows(h.db), await expectedRows(h.db, [births[0], births[1], amended, births[2]]));
});

test('a suspended centre gets a refused receipt; nothing merged; the refusal is remembered', async (t) => {
  const h = await hub(t);
  await h.registry.suspend(CENTRE);
  const sdc = seal(h.f, { sequence: 3n });
  const out = await h.pipeline.ingest(sdc, { via: 'test' });
  t.like(out, { kind: 'refused', merged: 0, rejected: 100 });
  t.is(code(out.error), 'E_SUSPENDED');
  const receipt = openReceipt(h.f, out);
  t.false(receipt.accepted);
  t.regex(receipt.reason!, /suspended/);
  t.deepEqual(receipt.entries, []);
  t.is(await count(h.db, 'central.births'), 0);

  await h.registry.setStatus(CENTRE, 2);
  const notData = await h.pipeline.ingest(seal(h.f, { sequence: 4n }), { via: 'test' });
  t.regex(openReceipt(h.f, notData).reason!, /not allowed data services/);
  await h.registry.resume(CENTRE);
  const again = await h.pipeline.ingest(sdc, { via: 'test' });
  t.like(again, { kind: 'replay' });
  t.deepEqual(again.receipt, out.receipt);
  t.is(await count(h.db, 'central.births'), 0);
});

test('what cannot be opened or attributed is quarantined with its code, and the pipeline goes on', async (t) => {
  const h = await hub(t);
  const stranger = h.f.pki.issue('CM-XX-STRANGER', 'centre');
  const enrolled = h.f.pki.issue('CM-ENROLLED-2', 'centre');
  await h.registry.add({ matricule: 'CM-ENROLLED-2', name: 'Second centre' });
  await h.registry.setCertificate('CM-ENROLLED-2', enrolled.certPem);
  const otherHub = h.f.pki.issue('other-hub', 'hub');
  const cases: [string, Uint8Array, string][] = [
    ['unknown centre', seal(h.f, { sequence: 1n, sender: 'CM-XX-STRANGER', signer: stranger }), 'E_UNKNOWN_SIGNER'],
    ['signed with another key than the enrolled certificate', seal(h.f, { sequence: 2n, signer: stranger, signerCert: h.f.pki.centre.cert }), 'E_BAD_SIGNATURE'],
    ["another enrolled centre's certificate under this centre's name", seal(h.f, { sequence: 3n, signer: enrolled }), 'E_UNKNOWN_SIGNER'],
    ['encrypted for another hub', seal(h.f, { sequence: 4n, recipient: otherHub.cert }), 'E_WRONG_RECIPIENT'],
    ['garbage', new Uint8Array(Buffer.from('GET / HTTP/1.1\r\n\r\n')), 'E_BAD_MAGIC'],
    ['truncated', seal(h.f, { sequence: 5n }).subarray(0, 200), 'E_MALFORMED'],
    ['sequence beyond a bigint', seal(h.f, { sequence: 2n ** 63n }), 'E_MALFORMED'],
  ];
  for (const [what, sdc, expected] of cases) {
    const out = await h.pipeline.ingest(sdc, { via: 'test' });
    t.is(out.kind, 'quarantined', what);
    t.is(out.receipt, undefined, what);
    t.is(code(out.error), expected, what);
  }
  const rows = await listQuarantine(h.db);
  t.deepEqual(rows.map((r) => r.code).reverse(), cases.map((c) => c[2]));
  t.is(rows.at(-1)!.sender, 'CM-XX-STRANGER');
  t.is(rows.find((r) => r.code === 'E_BAD_MAGIC')!.sender, null);
  t.is(await count(h.db, 'central.births'), 0);
  t.is(await count(h.db, 'sdc_seen'), 0);
  t.like(await h.pipeline.ingest(seal(h.f, { sequence: 2n }), { via: 'test' }), { kind: 'merged', merged: 100 });
});

test('a column the central table lacks is refused by name; once added, the records are merged', async (t) => {
  const h = await hub(t);
  const rows = births.slice(0, 10).map((r) => ({ ...r, district_code: 'YDE-3', gps_lat: 3.87 }));
  const out = await h.pipeline.ingest(seal(h.f, { sequence: 1n, rows }), { via: 'test' });
  t.like(out, { kind: 'refused', rejected: 10 });
  t.regex(openReceipt(h.f, out).reason!, /no columns gps_lat, district_code|no columns district_code, gps_lat/);
  t.is(await count(h.db, 'central.births'), 0);

  const table = await h.pipeline.ingest(seal(h.f, { sequence: 2n, table: 'deaths', rows: sampleActs('deaths', 5) }), { via: 'test' });
  t.like(openReceipt(h.f, table), { accepted: false, table: 'deaths' });
  t.regex(openReceipt(h.f, table).reason!, /table 'deaths' does not exist/);

  const noVersion = await h.pipeline.ingest(seal(h.f, { sequence: 3n, body: encodeBatch(batchFromObjects('births', births.slice(0, 2))), count: 2 }), { via: 'test' });
  t.regex(openReceipt(h.f, noVersion).reason!, /__version/);

  await addCentralColumns(h.db, 'births', [{ name: 'district_code', type: 'text' }, { name: 'gps_lat', type: 'double precision' }]);
  const later = await h.pipeline.ingest(seal(h.f, { sequence: 4n, rows }), { via: 'test' });
  t.like(later, { kind: 'merged', merged: 10 });
  t.deepEqual(await centralRows(h.db), await expectedRows(h.db, rows));
});

for (const copy of ['auto', 'never'] as const) {
  test(`a value the column's type refuses refuses the whole SDC, nothing half-merged (copy: ${copy})`, async (t) => {
    const h = await hub(t, copy);
    await addCentralColumns(h.db, 'births', [{ name: 'short_code', type: 'varchar(5)' }]);
    const bad = births.slice(0, 50).map((r) => (r.numero === 40 ? { ...r, weight_at_birth_g: 'heavy' } : r));
    const out = await h.pipeline.ingest(seal(h.f, { sequence: 1n, rows: bad }), { via: 'test' });
    t.like(out, { kind: 'refused', merged: 0, rejected: 50 });
    const reason = openReceipt(h.f, out).reason!;
    t.regex(reason, /invalid input syntax for type bigint: "heavy"/);
    if (copy === 'auto') t.regex(reason, /record numero 40, column weight_at_birth_g/);
    t.is(await count(h.db, 'central.births'), 0);
    t.is((await h.db.query('SELECT outcome FROM sdc_seen')).rows[0].outcome, 'refused');

    const long = births.slice(0, 5).map((r) => ({ ...r, short_code: r.numero === 3 ? 'TOOLONG' : 'OK' }));
    const tooLong = await h.pipeline.ingest(seal(h.f, { sequence: 2n, rows: long }), { via: 'test' });
    t.regex(openReceipt(h.f, tooLong).reason!, /too long for type character varying\(5\)/);
    t.is(await count(h.db, 'central.births'), 0);
    t.like(await h.pipeline.ingest(seal(h.f, { sequence: 3n, rows: births.slice(0, 50) }), { via: 'test' }), { kind: 'merged', merged: 50 });
  });
}

test('two hub processes given the same SDC at once merge it once and send the same receipt', async (t) => {
  const h = await hub(t);
  const second = await h.secondHub();
  for (let sequence = 1n; sequence <= 3n; sequence++) {
    const sdc = seal(h.f, { sequence, rows: births.slice(Number(sequence - 1n) * 100, Number(sequence) * 100) });
    const [a, b] = await Promise.all([h.pipeline.ingest(sdc, { via: 'mqtt' }), second.ingest(sdc, { via: 'mqtt' })]);
    t.deepEqual([a.kind, b.kind].sort(), ['merged', 'replay']);
    t.deepEqual(a.receipt, b.receipt);
    t.is(a.merged + b.merged, 100);
  }
  t.is(await count(h.db, 'central.births'), 300);
});

test('an SDC another hub process is merging: the claim waits for it, then answers with its receipt, or merges if it rolled back', async (t) => {
  const h = await hub(t);
  const centreId = (await h.registry.get(CENTRE))!.id;
  const other = await h.db.pool.connect();
  t.teardown(() => other.release());
  const waitUntilBlocked = async () => {
    while ((await h.db.query("SELECT 1 FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'")).rowCount === 0);
  };
  for (const ending of ['COMMIT', 'ROLLBACK']) {
    const sequence = ending === 'COMMIT' ? 1n : 2n;
    await other.query('BEGIN');
    await other.query("INSERT INTO sdc_seen (centre_id, sequence, kind, via, outcome, receipt) VALUES ($1, $2, 1, 'other', 'merged', '\\x0102')", [centreId, sequence]);
    const ingest = h.pipeline.ingest(seal(h.f, { sequence }), { via: 'test' });
    await waitUntilBlocked();
    await other.query(ending);
    const out = await ingest;
    if (ending === 'COMMIT') t.like(out, { kind: 'replay', receipt: new Uint8Array([1, 2]), merged: 0 });
    else t.like(out, { kind: 'merged', merged: 100 });
  }
  t.is(await count(h.db, 'central.births'), 100);
});

test('COPY and the INSERT fallback store the same values, awkward ones included', async (t) => {
  const [viaCopy, viaInsert] = await Promise.all([hub(t, 'auto'), hub(t, 'never')]);
  t.true(await viaCopy.db.copySupported());
  t.false(await viaInsert.db.copySupported());
  const rows: Row[] = [
    { numero: 1, status: 2, label: 'tab\there', note: 'line\nbreak\r\nand \\ backslash \\N', photo: new Uint8Array([0, 9, 10, 92, 255]), flag: true, ratio: 0.1, born: '2024-02-29', at: '2024-03-05T03:17:32Z', n: 2 ** 53 - 1 },
    { numero: 2, status: 2, label: '\\N', note: '', photo: new Uint8Array(0), flag: false, ratio: -1e-300, born: '1900-01-01', at: '1970-01-01T00:00:00Z', n: -(2 ** 53 - 1) },
    { numero: 3, status: 2, label: null, note: 'NULL', photo: null, flag: null, ratio: null, born: null, at: null, n: null },
    { numero: 4, status: 2, label: 'Ndjamena — \u00e9\u{1F600} "quoted" {braces}, commas', note: '\t', photo: new Uint8Array([1]), flag: true, ratio: 1e300, born: '2026-12-31', at: '2038-01-19T03:14:08Z', n: 0 },
  ];
  const outs = [];
  for (const h of [viaCopy, viaInsert]) {
    await createCentralTable(h.db, 'samples', inferColumns(rows));
    outs.push(await h.pipeline.ingest(seal(h.f, { sequence: 1n, table: 'samples', rows }), { via: 'test' }));
  }
  t.deepEqual(outs.map((o) => [o.kind, o.merged]), [['merged', 4], ['merged', 4]]);
  const stored = await centralRows(viaCopy.db, 'samples');
  t.deepEqual(stored, await expectedRows(viaCopy.db, rows, 'samples'));
  t.deepEqual(await centralRows(viaInsert.db, 'samples'), stored);
});

test('usage and diagnostic reports are kept and answered with an accepted receipt without entries', async (t) => {
  const h = await hub(t);
  const body = encodeJsonBody({ bytesUp: 1234, link: 'iridium-certus', sessions: 3 });
  const out = await h.pipeline.ingest(seal(h.f, { sequence: 9n, kind: SdcKind.usageReport, body }), { via: 'mqtt' });
  t.like(out, { kind: 'merged', merged: 0 });
  t.like(openReceipt(h.f, out), { accepted: true, sdcSequence: 9n, entries: [] });
  t.deepEqual((await h.db.query('SELECT kind, body FROM centre_reports')).rows, [{ kind: SdcKind.usageReport, body: { bytesUp: 1234, link: 'iridium-certus', sessions: 3 } }]);
  const notJson = await h.pipeline.ingest(seal(h.f, { sequence: 10n, kind: SdcKind.diagnosticReport, body: new Uint8Array([1, 2]) }), { via: 'mqtt' });
  t.like(notJson, { kind: 'refused' });
  t.like(await h.pipeline.ingest(seal(h.f, { sequence: 11n, kind: SdcKind.receipt, body }), { via: 'mqtt' }), { kind: 'refused' });
});

test('when the database is gone, ingest throws a retryable error instead of answering', async (t) => {
  const h = await hub(t);
  await h.db.close();
  const e = await t.throwsAsync(h.pipeline.ingest(seal(h.f, { sequence: 1n }), { via: 'test' }));
  t.is(code(e), 'E_IO');
  t.true(isTamtamError(e) && e.retryable);
});
