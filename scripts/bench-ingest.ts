import { argv } from 'node:process';
import { HubDatabase } from '../hub/db/hub-database.js';
import { migrate } from '../hub/db/migrations.js';
import { centralTableSql, createCentralTable, inferColumns } from '../hub/central-tables.js';
import { IngestPipeline } from '../hub/ingest/ingest-pipeline.js';
import { copyField, pgText } from '../hub/ingest/merge-batch.js';
import { CentreRegistry } from '../hub/registry/centre-registry.js';
import { SdcKind, batchFromObjects, encodeBatch, loadCompressor, sealSdc, trainDictionary, type Batch } from '../protocol/index.js';
import { makeTestPki } from '../test/helpers/test-pki.js';
import { startPostgres } from './services/postgres-cluster.js';
import { generateActs } from './sample-acts.js';

/**
 * SDCs verified, decrypted and merged into a real PostgreSQL (this machine's,
 * fsync on) against a plain COPY of the same rows into a table of the same
 * shape on the same server, in the same run.
 */
function option(name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
}
const ACTS = option('acts', 40_000);
const BATCH = option('batch', 1000);
const CONCURRENCY = option('concurrency', 4);

// A production-like memory budget; fsync and synchronous_commit stay on, as a hub's must.
const pg = await startPostgres({ settings: { shared_buffers: '512MB', max_wal_size: '2GB', wal_buffers: '16MB' } });
try {
  const db = await HubDatabase.connect(pg.url, { max: CONCURRENCY + 1 });
  await migrate(db);
  const pki = makeTestPki();
  const registry = new CentreRegistry(db);
  await registry.add({ matricule: pki.centre.name, name: 'bench centre' });
  await registry.setCertificate(pki.centre.name, pki.centre.certPem);
  const acts = generateActs({ table: 'births', count: ACTS, seed: 77, centre: pki.centre.name });
  await createCentralTable(db, 'births', inferColumns(acts.slice(0, 500)));
  const dictionary = trainDictionary(batchFromObjects('births', generateActs({ table: 'births', count: 1000, seed: 4242, centre: 'CM-LT-DLA-0042' })));
  const compressor = await loadCompressor();

  const batches: Batch[] = [];
  for (let i = 0; i < acts.length; i += BATCH) {
    const b = batchFromObjects('births', acts.slice(i, i + BATCH).map((a) => ({ ...a, __version: 1 })));
    batches.push(b);
  }
  const sdcs = batches.map((b, i) => sealSdc(compressor, encodeBatch(b), {
    kind: SdcKind.data, sender: pki.centre.name, sequence: BigInt(i + 1), count: b.rows.length, signerKey: pki.centre.key, signerCert: pki.centre.cert, recipientCert: pki.hub.cert, dictionary,
  }));

  const pipeline = new IngestPipeline({ db, registry, compressor, hubKey: pki.hub.key, hubCert: pki.hub.cert, dictionaries: (id) => (id === dictionary.id ? dictionary : undefined) });
  let next = 0;
  let merged = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < sdcs.length) {
      const outcome = await pipeline.ingest(sdcs[next++], { via: 'bench' });
      if (outcome.kind !== 'merged') throw new Error(`SDC not merged: ${outcome.kind} ${outcome.error?.message ?? ''}`);
      merged += outcome.merged;
    }
  }));
  const hubSecs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (merged !== ACTS) throw new Error(`merged ${merged} of ${ACTS}`);

  // The same rows, the same text encoding, into a table shaped like the central one.
  await db.query(`CREATE TABLE bench_copy (LIKE ${centralTableSql('births')} INCLUDING ALL)`);
  const columns = batches[0].columns.filter((c) => c !== 'numero' && c !== 'status' && c !== '__version');
  const t1 = process.hrtime.bigint();
  for (const b of batches) {
    const idx = columns.map((c) => b.columns.indexOf(c));
    const numero = b.columns.indexOf('numero');
    await db.transaction((tx) => tx.copyIn(
      `COPY bench_copy (centre_id, source_numero, record_version, sdc_sequence, ${columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN`,
      b.rows.map((r) => `1\t${r[numero]}\t1\t1\t${idx.map((i) => copyField(pgText(r[i]))).join('\t')}\n`),
    ));
  }
  const copySecs = Number(process.hrtime.bigint() - t1) / 1e9;
  await db.close();
  const hubRate = ACTS / hubSecs;
  const copyRate = ACTS / copySecs;
  console.log(`acts=${ACTS} batch=${BATCH} sdcs=${sdcs.length} concurrency=${CONCURRENCY} postgres=${pg.url.replace(/\/\/[^@]*@/, '//')}`);
  console.log(`hub_acts_per_s=${Math.round(hubRate)}`);
  console.log(`copy_acts_per_s=${Math.round(copyRate)}`);
  console.log(`hub_over_copy=${(hubRate / copyRate).toFixed(2)}`);
} finally {
  await pg.stop();
}
