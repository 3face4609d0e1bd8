import Database from '../../common/sqlite-database.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig, loadAgentIdentity, loadTableSpecs, writeAgentConfig, type AgentConfig } from '../../agent/config.js';
import { Exporter, type PackHooks } from '../../agent/exporter.js';
import { ReceiptApplier, type ReceiptHooks, type ReceiptResult } from '../../agent/receipt-applier.js';
import { recover, type RecoveryReport } from '../../agent/recovery.js';
import { openSource, type SourceAdapter } from '../../agent/source/source-adapter.js';
import { Spool } from '../../agent/spool/spool.js';
import { AgentState } from '../../agent/state/agent-state.js';
import { batchToObjects, decodeBatch, encodeDictionary, openSdc, type Batch, type SdcHeader, type Value } from '../../protocol/index.js';
import { sharedData } from './acts.js';
import { HubSim, type HubSimOptions } from './hub-sim.js';
import { sdcFixture, type SdcFixture } from './sdc-fixture.js';

export interface RigOptions {
  count?: number;
  seed?: number;
  maxRecords?: number;
  /** Status the generated acts start at (they are generated validated). */
  status?: number;
  dictionary?: boolean;
  rejectIf?: HubSimOptions['rejectIf'];
}

export const T0 = Date.UTC(2024, 4, 1, 8, 0, 0);

/** SQL for a centre's births table as gen-acts.mjs writes it. */
export function actsSql(count: number, seed: number): string {
  return execFileSync(process.execPath, [join(sharedData, 'gen-acts.mjs'), '--table', 'births', '--count', String(count), '--seed', String(seed), '--format', 'sql'], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/** Writes keys, a config file and a centre database into a temp folder, as an installed agent would have them. */
export async function prepareAgentDir(o: RigOptions = {}): Promise<{ dir: string; configPath: string; centrePath: string; fx: SdcFixture }> {
  const fx = await sdcFixture();
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-agent-'));
  const keys = join(dir, 'data', 'keys');
  mkdirSync(keys, { recursive: true });
  writeFileSync(join(keys, 'centre.key'), fx.pki.centre.keyPem);
  writeFileSync(join(keys, 'centre.crt'), fx.pki.centre.certPem);
  writeFileSync(join(keys, 'hub.crt'), fx.pki.hub.certPem);
  if (o.dictionary) writeFileSync(join(dir, 'births.dict'), encodeDictionary(fx.dictionary));
  const centrePath = join(dir, 'centre.db');
  const db = new Database(centrePath);
  db.exec(actsSql(o.count ?? 50, o.seed ?? 1));
  if (o.status !== undefined) db.prepare('UPDATE births SET status = ?').run(o.status);
  db.close();
  const configPath = join(dir, 'agent.json');
  writeAgentConfig(configPath, {
    centre: fx.pki.centre.name, dataDir: 'data', source: { kind: 'sqlite', path: 'centre.db' },
    tables: [{ name: 'births', ...(o.dictionary ? { dictionary: 'births.dict' } : {}) }],
    link: { kind: 'mqtt', url: 'mqtt://127.0.0.1:1883' },
    batching: { maxRecords: o.maxRecords ?? 20, minRecords: 10, maxAgeSeconds: 60, receiptTimeoutSeconds: 600 },
  });
  return { dir, configPath, centrePath, fx };
}

/**
 * A whole agent core on real files: the centre's SQLite, state.db, the spool,
 * the real protocol and keys, and an honest hub. `restart()` drops every
 * in-memory object and opens them again from disk, as a new process would.
 */
export class AgentRig {
  now = T0;
  readonly clock = () => this.now;
  packHooks: PackHooks = {};
  receiptHooks: ReceiptHooks = {};
  config!: AgentConfig;
  state!: AgentState;
  source!: SourceAdapter;
  spool!: Spool;
  exporter!: Exporter;
  applier!: ReceiptApplier;
  readonly hub: HubSim;
  /** The centre application's own connection. */
  readonly centre: Database.Database;

  private constructor(readonly dir: string, readonly configPath: string, readonly centrePath: string, readonly fx: SdcFixture, o: RigOptions) {
    this.hub = new HubSim({ compressor: fx.compressor, hub: fx.pki.hub, centre: fx.pki.centre, dictionaries: [fx.dictionary], rejectIf: o.rejectIf });
    this.centre = new Database(centrePath);
  }

  static async create(o: RigOptions = {}): Promise<AgentRig> {
    const { dir, configPath, centrePath, fx } = await prepareAgentDir(o);
    const rig = new AgentRig(dir, configPath, centrePath, fx, o);
    await rig.start();
    return rig;
  }

  async start(): Promise<void> {
    this.config = loadAgentConfig(this.configPath);
    const identity = loadAgentIdentity(this.config);
    this.state = AgentState.open(join(this.config.dataDir, 'state.db'), { clock: this.clock });
    this.source = await openSource(this.config.source);
    this.spool = Spool.open(this.config.dataDir, { clock: this.clock });
    const common = { state: this.state, source: this.source, spool: this.spool, compressor: this.fx.compressor, identity };
    const hooks = this.packHooks;
    this.exporter = new Exporter({ ...common, tables: loadTableSpecs(this.config), maxRecords: this.config.batching.maxRecords, hooks: { afterStep: (s, i) => hooks.afterStep?.(s, i) } });
    const rhooks = this.receiptHooks;
    this.applier = new ReceiptApplier({ ...common, hooks: { afterStep: (s, i) => rhooks.afterStep?.(s, i) } });
  }

  /** As a process that died and started again: nothing kept in memory. */
  async restart(): Promise<void> {
    await this.stop();
    this.packHooks.afterStep = undefined;
    this.receiptHooks.afterStep = undefined;
    await this.start();
  }

  recover(): Promise<RecoveryReport> {
    return recover({ state: this.state, source: this.source, spool: this.spool, exporter: this.exporter, applier: this.applier, tables: this.config.tables.map((t) => t.name) });
  }

  statuses(): Map<number, number> {
    return new Map(this.centre.prepare<[], { numero: number; status: number }>('SELECT numero, status FROM births ORDER BY numero').all().map((r) => [r.numero, r.status]));
  }

  setStatus(numeros: number[], status: number): void {
    const set = this.centre.prepare('UPDATE births SET status = ? WHERE numero = ?');
    for (const n of numeros) set.run(status, n);
  }

  /** Every outbox SDC opened with the hub's key, without merging anything. */
  openOutbox(): { sequence: number; header: SdcHeader; batch: Batch; records: Record<string, Value>[] }[] {
    return this.spool.listOutbox().map((f) => {
      const opened = openSdc(this.fx.compressor, this.spool.readOutbox(f.sequence), this.fx.openOptions());
      const batch = decodeBatch(opened.body);
      return { sequence: f.sequence, header: opened.header, batch, records: batchToObjects(batch) };
    });
  }

  /** Numeros at `status`. */
  at(status: number): number[] {
    return [...this.statuses()].filter(([, s]) => s === status).map(([n]) => n);
  }

  /** Closes the agent's pieces (not the centre's connection), as a process that is not running. */
  async stop(): Promise<void> {
    this.state.close();
    await this.source.close();
  }

  /** The hub answers every SDC in the outbox; the receipts come back through the applier, as from a link. */
  async exchange(): Promise<ReceiptResult[]> {
    const out: ReceiptResult[] = [];
    for (const r of this.hub.drain(this.spool)) out.push(await this.applier.accept(r));
    return out;
  }

  async close(): Promise<void> {
    this.state.close();
    await this.source.close();
    this.centre.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
