import Database from '../../common/sqlite-database.js';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentRuntime } from '../../agent/agent-runtime.js';
import { loadAgentConfig, writeAgentConfig } from '../../agent/config.js';
import { createCsr, generateKeyPair } from '../../agent/enrolment/key-pair.js';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { createCentralTable, inferColumns } from '../../hub/central-tables.js';
import { HubDatabase } from '../../hub/db/hub-database.js';
import { migrate } from '../../hub/db/migrations.js';
import { initHubHome, type HubHome, type InitHubOptions } from '../../hub/hub-home.js';
import { quietLog, type HubLog } from '../../hub/hub-runtime.js';
import { IngestPipeline } from '../../hub/ingest/ingest-pipeline.js';
import { issueCertificate } from '../../hub/pki/certificate-authority.js';
import { CentreRegistry } from '../../hub/registry/centre-registry.js';
import { importStick, type StickImportReport } from '../../hub/t2d/stick-import.js';
import { Stick } from '../../common/t2d-stick.js';
import { Spool } from '../../agent/spool/spool.js';
import { loadCompressor, parseCertificate } from '../../protocol/index.js';
import type { Party } from './test-pki.js';
import { createPrivateKey } from 'node:crypto';
import { fillCentreDatabase, generateActs } from '../../scripts/sample-acts.js';
import type { PostgresCluster } from '../../scripts/services/postgres-cluster.js';

export interface T2dCentre {
  matricule: string;
  configPath: string;
  party: Party;
  /** The centre application's own connection. */
  db: Database.Database;
  /** Numeros at any of `statuses`. */
  at(...statuses: number[]): number[];
  /** As the centre's staff would: sets `numeros` to `status`. */
  setStatus(numeros: number[], status: number): void;
}

let columns: ReturnType<typeof inferColumns> | undefined;

/**
 * A hub folder on its own database of the file's PostgreSQL, its ingest
 * pipeline, and centres with real keys issued by the hub's CA (written where
 * enrolment would put them) whose agents meet the hub only by USB stick.
 */
export class T2dRig {
  readonly centres: T2dCentre[] = [];

  private constructor(readonly dir: string, readonly home: HubHome, readonly db: HubDatabase, readonly registry: CentreRegistry, readonly pipeline: IngestPipeline) {}

  static async create(pg: PostgresCluster, name: string, hub: InitHubOptions = {}): Promise<T2dRig> {
    const dir = mkdtempSync(join(tmpdir(), `tamtam-t2d-${name}-`));
    const databaseUrl = await pg.createDatabase(name);
    const home = initHubHome(join(dir, 'hub'), { hubId: 'hub', databaseUrl, ...hub });
    const db = await HubDatabase.connect(databaseUrl, { max: 4 });
    try {
      await migrate(db);
      columns ??= inferColumns(generateActs({ table: 'births', count: 200, seed: 1 }));
      await createCentralTable(db, 'births', columns);
      const registry = new CentreRegistry(db);
      const pipeline = new IngestPipeline({ db, registry, compressor: await loadCompressor(), hubKey: home.hubKey, hubCert: home.hubCert, hubId: 'hub' });
      return new T2dRig(dir, home, db, registry, pipeline);
    } catch (e) {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** A centre registered and enrolled at the hub; `count` births, every `newEvery`-th still new (status 1). */
  async addCentre(matricule: string, o: { count?: number; seed?: number; newEvery?: number } = {}): Promise<T2dCentre> {
    const dir = join(this.dir, matricule);
    const keys = join(dir, 'agent', 'keys');
    mkdirSync(keys, { recursive: true });
    const pair = generateKeyPair();
    const certPem = issueCertificate(this.home.ca, createCsr(pair.privateKeyPem, { commonName: matricule }), { role: 'centre' });
    writeFileAtomic(join(keys, 'centre.key'), pair.privateKeyPem, 0o600);
    writeFileAtomic(join(keys, 'centre.crt'), certPem);
    writeFileAtomic(join(keys, 'hub.crt'), this.home.hubCertPem);
    await this.registry.add({ matricule, name: `Centre ${matricule}` });
    await this.registry.setCertificate(matricule, certPem);
    const dbPath = join(dir, 'centre.db');
    fillCentreDatabase(dbPath, [{ table: 'births', count: o.count ?? 60, seed: o.seed ?? this.centres.length + 11, centre: matricule }]);
    const db = new Database(dbPath, { timeout: 10_000 });
    db.prepare('UPDATE births SET status = 1 WHERE numero % ? = 0').run(o.newEvery ?? 10);
    const configPath = join(dir, 'tamtam-agent.json');
    // The agent never reaches this broker: the stick is its only link to the hub.
    writeAgentConfig(configPath, {
      centre: matricule, dataDir: join(dir, 'agent'), source: { kind: 'sqlite', path: dbPath }, tables: [{ name: 'births' }],
      link: { kind: 'mqtt', url: 'mqtt://127.0.0.1:9' }, batching: { maxRecords: 25 }, t2d: { relay: false },
    });
    const centre: T2dCentre = {
      matricule, configPath, db, party: { name: matricule, keyPem: pair.privateKeyPem, certPem, key: createPrivateKey(pair.privateKeyPem), cert: parseCertificate(certPem) },
      at: (...statuses) => db.prepare<number[], { numero: number }>(`SELECT numero FROM births WHERE status IN (${statuses.map(() => '?').join(',')}) ORDER BY numero`)
        .all(...statuses).map((r) => r.numero),
      setStatus: (numeros, status) => {
        const set = db.prepare('UPDATE births SET status = ? WHERE numero = ?');
        db.transaction(() => numeros.forEach((n) => set.run(status, n)))();
      },
    };
    this.centres.push(centre);
    return centre;
  }

  /** The centre's side of a stick insertion, in this process, as `tamtam t2d export` does it: pack every validated act, then exchange. */
  async exchange(centre: T2dCentre, root: string) {
    const agent = await AgentRuntime.open(loadAgentConfig(centre.configPath));
    try {
      await agent.pack(true);
      return await agent.exchangeWithStick(root);
    } finally {
      await agent.close();
    }
  }

  /** SDCs the centre's agent holds until their receipt. */
  outbox(centre: T2dCentre): number {
    return Spool.open(loadAgentConfig(centre.configPath).dataDir).listOutbox().length;
  }

  import(root: string, log: HubLog = quietLog): Promise<StickImportReport> {
    return importStick(Stick.open(root), { pipeline: this.pipeline, log });
  }

  /** Rows of `centre` (or all) in central.births, and distinct (centre, numero, version) keys among them. */
  async central(centre?: T2dCentre): Promise<{ rows: number; keys: number; numeros: number[] }> {
    const { rows } = await this.db.query<{ source_numero: string; record_version: number }>(
      `SELECT t.source_numero, t.record_version FROM central.births t JOIN centres c ON c.id = t.centre_id
        WHERE $1::text IS NULL OR c.matricule = $1 ORDER BY t.source_numero`, [centre?.matricule ?? null]);
    const keys = new Set(rows.map((r) => `${r.source_numero}/${r.record_version}`));
    return { rows: rows.length, keys: keys.size, numeros: [...new Set(rows.map((r) => Number(r.source_numero)))] };
  }

  async close(): Promise<void> {
    for (const c of this.centres) if (c.db.open) c.db.close();
    await this.db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
