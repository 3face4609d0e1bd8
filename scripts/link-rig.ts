import Database from '../common/sqlite-database.js';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentRuntime, type AgentLog } from '../agent/agent-runtime.js';
import { parseAgentConfig, type AgentConfig, type BatchingConfig } from '../agent/config.js';
import { writeFileAtomic } from '../common/atomic-write.js';
import { parseJsonLines } from '../common/read-input.js';
import { createCentralTable, inferColumns } from '../hub/central-tables.js';
import { HubDatabase } from '../hub/db/hub-database.js';
import { migrate } from '../hub/db/migrations.js';
import { quietLog, type HubLog } from '../hub/hub-runtime.js';
import { IngestPipeline } from '../hub/ingest/ingest-pipeline.js';
import type { StreamReceiver } from '../hub/receivers/stream-receiver.js';
import { CentreRegistry } from '../hub/registry/centre-registry.js';
import { startStreamEndpoint } from '../hub/stream-endpoint.js';
import { ModemSimulator } from '../hardware/simulator/modem-simulator.js';
import { startSbdSimulator } from '../hardware/simulator/sbd-commands.js';
import { SbdGateway } from '../hardware/simulator/sbd-gateway.js';
import { startSbdEndpoint } from '../hub/sbd-endpoint.js';
import { freePort } from './services/free-port.js';
import { batchFromObjects, encodeDictionary, loadCompressor, trainDictionary, type Value } from '../protocol/index.js';
import { makeTestPki } from '../test/helpers/test-pki.js';
import { generateActs, fillCentreDatabase, sharedData } from './sample-acts.js';
import { startPostgres, type PostgresCluster } from './services/postgres-cluster.js';

export interface LinkRigOptions {
  /** A data call through a satellite modem (default), or Iridium Short Burst Data through a 9603 and the gateway. */
  via?: 'modem' | 'sbd';
  /** SBD: from AT+SBDIX to its answer in the simulated 9603. */
  sbdLatencyMs?: number;
  /** SBD: the MO status of session n (32, 35, 18 ...), or undefined for success. */
  sbdFailures?: (session: number) => number | undefined;
  /** Up and down rates of the simulated satellite link. */
  upKbps: number;
  downKbps?: number;
  rttMs: number;
  dropEverySeconds?: number;
  ber?: number;
  random?: () => number;
  /** Birth acts, the first `acts` of ../shared/data/births-5k.jsonl (gen-acts seed 7). */
  acts: number;
  /** Chunk size; default the Certus profile's. */
  chunkBytes?: number;
  connectDelayMs?: number;
  guardTimeMs?: number;
  batching?: Partial<BatchingConfig>;
  hubLog?: HubLog;
}

const CENTRE = 'CM-CE-YDE-0001';
const IMEI = '300234010753370';

/** A field as the centre has it against the central column; dates and times come back from pg as Date objects, compared by their day or instant. */
function differs(source: Value, central: unknown): boolean {
  if (source === null || central === null || central === undefined) return source !== null || (central !== null && central !== undefined);
  if (central instanceof Date) {
    const s = String(source);
    return s.length === 10 ? central.toISOString().slice(0, 10) !== s && new Date(`${s}T00:00:00`).getTime() !== central.getTime() : new Date(s).getTime() !== central.getTime();
  }
  if (typeof source === 'number' || typeof source === 'bigint') return Number(central) !== Number(source);
  if (typeof source === 'boolean') return central !== source;
  return String(central) !== String(source);
}

/**
 * A hub on a real PostgreSQL with its stream endpoint, a simulated satellite
 * modem (a pseudo-terminal opened through serialport) whose calls reach that
 * endpoint, and one centre whose agent dials through it: what bench:link
 * measures and the modem end-to-end test checks.
 */
export class LinkRig {
  private constructor(
    readonly pg: PostgresCluster,
    readonly db: HubDatabase,
    readonly receiver: StreamReceiver,
    readonly modem: ModemSimulator,
    readonly dir: string,
    readonly config: AgentConfig,
    /** The acts as the centre's database holds them, by numero. */
    readonly acts: Map<number, Record<string, Value>>,
    private readonly closers: (() => Promise<void>)[] = [],
    /** SBD: the simulated Iridium gateway, with every MO it delivered. */
    readonly gateway?: SbdGateway,
  ) {}

  static async start(o: LinkRigOptions): Promise<LinkRig> {
    const dir = mkdtempSync(join(tmpdir(), 'tamtam-link-'));
    const pg = await startPostgres();
    try {
      const db = await HubDatabase.connect(pg.url, { max: 4 });
      await migrate(db);
      const pki = makeTestPki();
      const registry = new CentreRegistry(db);
      await registry.add({ matricule: CENTRE, name: 'centre on a satellite link', imei: IMEI });
      await registry.setCertificate(CENTRE, pki.centre.certPem);

      const all = parseJsonLines(readFileSync(`${sharedData}births-5k.jsonl`, 'utf8'), 'births-5k.jsonl');
      const dbPath = join(dir, 'centre.db');
      fillCentreDatabase(dbPath, [{ table: 'births', count: 5000, seed: 7 }]);
      const centreDb = new Database(dbPath);
      const rows = centreDb.prepare('SELECT * FROM births ORDER BY numero').all() as Record<string, Value>[];
      if (rows.length !== all.length || JSON.stringify(rows[0]!.niu) !== JSON.stringify(all[0]!.niu)) {
        throw new Error('gen-acts --seed 7 no longer makes births-5k.jsonl: regenerate the sample or fix the seed');
      }
      centreDb.prepare('DELETE FROM births WHERE numero > ?').run(all[o.acts - 1]!.numero as number);
      centreDb.close();
      await createCentralTable(db, 'births', inferColumns(all.slice(0, 500)));

      const dictionary = trainDictionary(batchFromObjects('births', generateActs({ table: 'births', count: 1000, seed: 4242, centre: 'CM-LT-DLA-0042' })));
      writeFileAtomic(join(dir, 'births.dict'), encodeDictionary(dictionary));
      const pipeline = new IngestPipeline({
        db, registry, compressor: await loadCompressor(), hubKey: pki.hub.key, hubCert: pki.hub.cert, dictionaries: (id) => (id === dictionary.id ? dictionary : undefined),
      });
      const receiver = await startStreamEndpoint({
        db, registry, port: 0, stateDir: join(dir, 'hub-transfers'), log: o.hubLog ?? quietLog, rttMs: o.rttMs,
        onUp: async (_centre, payload) => ({ reply: (await pipeline.ingest(payload, { via: 'stream' })).receipt }),
      });
      const closers: (() => Promise<void>)[] = [];
      let sbdGateway: SbdGateway | undefined;
      let port: string;
      let link: Record<string, unknown>;
      let modem: ModemSimulator;
      if (o.via === 'sbd') {
        const mtPort = await freePort();
        const sbd = await startSbdEndpoint({ receiver, registry, port: 0, gateway: { host: '127.0.0.1', port: mtPort }, log: o.hubLog ?? quietLog });
        const gateway = new SbdGateway({ hub: { host: '127.0.0.1', port: sbd.port }, mtPort });
        await gateway.start();
        modem = await startSbdSimulator({ gateway, imei: IMEI, latencyMs: o.sbdLatencyMs ?? 200, ...(o.sbdFailures ? { failures: o.sbdFailures } : {}) });
        closers.push(() => gateway.stop(), () => sbd.stop());
        sbdGateway = gateway;
        port = modem.path;
        link = { kind: 'sbd', port, pollSeconds: 1, retrySeconds: 1 };
      } else {
        modem = await ModemSimulator.start({
          target: () => ({ host: '127.0.0.1', port: receiver.port }), upKbps: o.upKbps, downKbps: o.downKbps ?? o.upKbps, rttMs: o.rttMs,
          ...(o.dropEverySeconds ? { dropEverySeconds: o.dropEverySeconds } : {}), ...(o.ber ? { ber: o.ber } : {}), ...(o.random ? { random: o.random } : {}),
          ...(o.connectDelayMs !== undefined ? { connectDelayMs: o.connectDelayMs } : {}), ...(o.guardTimeMs !== undefined ? { guardTimeMs: o.guardTimeMs } : {}),
        });
        port = modem.path;
        link = { kind: 'modem', modem: { port, driver: 'iridium-csd', flowControl: false } };
      }
      const keys = join(dir, 'agent', 'keys');
      mkdirSync(keys, { recursive: true });
      writeFileAtomic(join(keys, 'centre.key'), pki.centre.keyPem, 0o600);
      writeFileAtomic(join(keys, 'centre.crt'), pki.centre.certPem);
      writeFileAtomic(join(keys, 'hub.crt'), pki.hub.certPem);
      const config = parseAgentConfig({
        centre: CENTRE, dataDir: join(dir, 'agent'), source: { kind: 'sqlite', path: dbPath }, tables: [{ name: 'births', dictionary: join(dir, 'births.dict') }],
        link: {
          ...link,
          profile: {
            base: o.via === 'sbd' ? 'iridium-sbd' : 'iridium-certus-100', name: 'simulated', upKbps: o.upKbps, downKbps: o.downKbps ?? o.upKbps, rttMs: o.rttMs,
            ...(o.chunkBytes ? { chunkBytes: o.chunkBytes } : {}),
          },
        } as never,
        batching: { minRecords: 1, maxAgeSeconds: 0, ...o.batching },
      }, dir);
      return new LinkRig(pg, db, receiver, modem, dir, config, new Map(all.slice(0, o.acts).map((a) => [a.numero as number, a])), closers, sbdGateway);
    } catch (e) {
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  openAgent(log?: AgentLog, pollMs = 200): Promise<AgentRuntime> {
    return AgentRuntime.open(this.config, { ...(log ? { log } : {}), pollMs });
  }

  /** Runs the agent's daemon until every act is in the central table and every SDC has its receipt; fails after `timeoutMs`. */
  async runUntilReceipted(agent: AgentRuntime, timeoutMs: number): Promise<void> {
    const stop = new AbortController();
    const daemon = agent.run(stop.signal);
    try {
      const deadline = Date.now() + timeoutMs;
      while ((await this.centralCount()) < this.acts.size || agent.waitingForReceipts() > 0) {
        if (Date.now() > deadline) throw new Error(`not every act merged and receipted within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      stop.abort();
      await daemon;
    }
  }

  async centralCount(): Promise<number> {
    return Number((await this.db.query<{ n: string }>('SELECT count(*) AS n FROM central.births')).rows[0]!.n);
  }

  /** Every act once in the central table, each field as the centre has it. */
  async verify(): Promise<{ missing: number; duplicates: number; corrupt: number }> {
    const rows = (await this.db.query<Record<string, unknown>>('SELECT * FROM central.births')).rows;
    const seen = new Map<number, number>();
    let corrupt = 0;
    for (const r of rows) {
      const numero = Number(r.source_numero);
      seen.set(numero, (seen.get(numero) ?? 0) + 1);
      const act = this.acts.get(numero);
      if (!act || Object.entries(act).some(([k, v]) => k !== 'numero' && k !== 'status' && differs(v, r[k]))) corrupt++;
    }
    const missing = [...this.acts.keys()].filter((n) => !seen.has(n)).length;
    const duplicates = [...seen.values()].filter((n) => n > 1).length;
    return { missing, duplicates, corrupt };
  }

  async stop(): Promise<void> {
    await this.modem.close();
    for (const close of this.closers) await close();
    await this.receiver.stop();
    await this.db.close();
    await this.pg.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
