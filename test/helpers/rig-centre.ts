import Database from '../../common/sqlite-database.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AgentRuntime, type AgentRuntimeOptions, type SyncReport } from '../../agent/agent-runtime.js';
import { loadAgentConfig, writeAgentConfig, type AgentConfig, type BatchingConfig } from '../../agent/config.js';
import { enrol } from '../../agent/enrolment/enrol-client.js';
import { fillCentreDatabase, type ActTable } from '../../scripts/sample-acts.js';

export interface CentreSpec {
  matricule: string;
  /** Default births and deaths. */
  tables?: ActTable[];
  /** Acts a table; default 200. */
  count?: number;
  /** Of the generator; default from the matricule. */
  seed?: number;
  /** Acts whose numero is a multiple of this start new (status 1), not yet validated; default 10, 1 makes them all new. */
  newEvery?: number;
  batching?: Partial<BatchingConfig>;
  /** Changes the centre's database once filled, as its own application might (an extra column, ...). */
  prepare?: (db: Database.Database) => void;
}

/** A centre: its SQLite database as its application keeps it, its agent's config, its enrolment token. */
export class RigCentre {
  /** The centre application's own connection. */
  readonly db: Database.Database;

  private constructor(readonly matricule: string, readonly dir: string, readonly configPath: string, readonly tables: ActTable[], private readonly brokerUrl: string, private readonly token: string) {
    this.db = new Database(join(dir, 'centre.db'), { timeout: 10_000 });
  }

  static create(dir: string, spec: CentreSpec, brokerUrl: string, token: string): RigCentre {
    mkdirSync(dir, { recursive: true });
    const tables = spec.tables ?? ['births', 'deaths'];
    const seed = spec.seed ?? [...spec.matricule].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7);
    const dbPath = join(dir, 'centre.db');
    fillCentreDatabase(dbPath, tables.map((table) => ({ table, count: spec.count ?? 200, seed, centre: spec.matricule })));
    const centre = new RigCentre(spec.matricule, dir, join(dir, 'tamtam-agent.json'), tables, brokerUrl, token);
    const every = spec.newEvery ?? 10;
    for (const table of tables) centre.db.prepare(`UPDATE ${table} SET status = 1 WHERE numero % ? = 0`).run(every);
    spec.prepare?.(centre.db);
    writeAgentConfig(centre.configPath, {
      centre: spec.matricule, dataDir: join(dir, 'agent'), source: { kind: 'sqlite', path: dbPath },
      tables: tables.map((name) => ({ name })), link: { kind: 'mqtt', url: brokerUrl },
      ...(spec.batching ? { batching: spec.batching } : {}),
    });
    return centre;
  }

  get config(): AgentConfig {
    return loadAgentConfig(this.configPath);
  }

  /** Enrols through the hub's broker; a hub must be running. */
  async enrol(): Promise<void> {
    const c = this.config;
    await enrol({ url: this.brokerUrl, centre: this.matricule, token: this.token, keyPath: c.privateKey, certPath: c.certificate, hubCertPath: c.hubCertificate, caPath: join(c.dataDir, 'keys', 'ca.crt'), timeoutMs: 30_000 });
  }

  open(o: AgentRuntimeOptions = {}): Promise<AgentRuntime> {
    return AgentRuntime.open(this.config, o);
  }

  /** One `sync --once` in this process. */
  async sync(timeoutMs = 60_000): Promise<SyncReport> {
    const agent = await this.open();
    try {
      return await agent.syncOnce({ timeoutMs });
    } finally {
      await agent.close();
    }
  }

  /** Numeros of `table` at any of `statuses`. */
  at(table: ActTable, ...statuses: number[]): number[] {
    return this.db.prepare<number[], { numero: number }>(`SELECT numero FROM ${table} WHERE status IN (${statuses.map(() => '?').join(',')}) ORDER BY numero`)
      .all(...statuses).map((r) => r.numero);
  }

  count(table: ActTable, ...statuses: number[]): number {
    return this.at(table, ...statuses).length;
  }

  /** Staff validate up to `n` new acts (1 -> 2), oldest first; returns their numeros. */
  validate(table: ActTable, n: number): number[] {
    const numeros = this.at(table, 1).slice(0, n);
    this.setStatus(table, numeros, 2);
    return numeros;
  }

  setStatus(table: ActTable, numeros: number[], status: number): void {
    const set = this.db.prepare(`UPDATE ${table} SET status = ? WHERE numero = ?`);
    this.db.transaction(() => numeros.forEach((n) => set.run(status, n)))();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
