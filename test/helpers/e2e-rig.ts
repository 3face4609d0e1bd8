import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { connectAsync } from 'mqtt';
import { createCentralTable, inferColumns, type ColumnSpec } from '../../hub/central-tables.js';
import { HubDatabase } from '../../hub/db/hub-database.js';
import { migrate } from '../../hub/db/migrations.js';
import { hubPaths, initHubHome, loadHubHome, type HubConfig } from '../../hub/hub-home.js';
import { quietLog, startHub, type RunningHub, type StartHubOptions } from '../../hub/hub-runtime.js';
import { CentreRegistry } from '../../hub/registry/centre-registry.js';
import { ACT_TABLES, generateActs, type ActTable } from '../../scripts/sample-acts.js';
import { startMosquitto, type MosquittoBroker } from '../../scripts/services/mosquitto-broker.js';
import { startPostgres, type PostgresCluster } from '../../scripts/services/postgres-cluster.js';
import { RigCentre, type CentreSpec } from './rig-centre.js';
import { LoggedProcess } from './logged-process.js';

export { RigCentre, type CentreSpec } from './rig-centre.js';
export { LoggedProcess, type LogEvent } from './logged-process.js';

/** One real PostgreSQL cluster and one real Mosquitto for a test file. */
export interface Services {
  pg: PostgresCluster;
  broker: MosquittoBroker;
  stop(): Promise<void>;
}

export async function startServices(): Promise<Services> {
  const [pg, broker] = await Promise.allSettled([startPostgres(), startMosquitto()]);
  if (pg.status === 'rejected' || broker.status === 'rejected') {
    if (pg.status === 'fulfilled') await pg.value.stop();
    if (broker.status === 'fulfilled') await broker.value.stop();
    throw pg.status === 'rejected' ? pg.reason : (broker as PromiseRejectedResult).reason;
  }
  return {
    pg: pg.value,
    broker: broker.value,
    stop: async () => {
      await Promise.allSettled([pg.value.stop(), broker.value.stop()]);
    },
  };
}

/** Polls `read` until `done` says so; fails with the last value read at the deadline. */
export async function pollUntil<T>(read: () => Promise<T> | T, done: (v: T) => boolean, what: string, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; last seen ${JSON.stringify(v)}`);
    await delay(everyMs);
  }
}

const columnsCache = new Map<ActTable, ColumnSpec[]>();
function centralColumns(table: ActTable): ColumnSpec[] {
  let c = columnsCache.get(table);
  if (!c) columnsCache.set(table, (c = inferColumns(generateActs({ table, count: 200, seed: 1 }))));
  return c;
}

export interface CentralCount {
  /** Rows: every version of every act. */
  rows: number;
  /** Distinct (centre, source numero). */
  records: number;
  /** Distinct (centre, source numero, record version): equals rows unless a version was merged twice. */
  keys: number;
}

/** The hub as the child process `tamtam hub start` runs it: its MQTT client id, from its hub id and this host. */
export const hubClientId = (hubId: string) => `tamtam-hub-${hubId}-${hostname()}`.slice(0, 64);

/**
 * A hub folder on a fresh database of the file's cluster, using the file's
 * broker with shared subscriptions; central tables for the acts; centres with
 * their own SQLite databases and agent configs. Hubs run in this process or
 * as `tamtam hub start` children. Tests of one file share the broker, so they
 * must run one after another, and close() forgets every MQTT session used.
 */
export class E2eRig {
  readonly centres: RigCentre[] = [];
  private readonly hubs: RunningHub[] = [];
  private readonly children: LoggedProcess[] = [];
  private readonly sessions = new Set<string>();

  private constructor(readonly services: Services, readonly dir: string, readonly hubDir: string, readonly databaseUrl: string, readonly db: HubDatabase, readonly registry: CentreRegistry) {}

  static async create(services: Services, name: string, tables: ActTable[] = ACT_TABLES): Promise<E2eRig> {
    const dir = mkdtempSync(join(tmpdir(), `tamtam-e2e-${name}-`));
    const databaseUrl = await services.pg.createDatabase(name);
    const home = initHubHome(join(dir, 'hub'), { hubId: 'hub', databaseUrl, brokerUrl: services.broker.url, sharedSubscription: true, mqttPort: services.broker.port });
    const db = await HubDatabase.connect(databaseUrl, { max: 4 });
    try {
      await migrate(db);
      for (const table of tables) await createCentralTable(db, table, centralColumns(table));
    } catch (e) {
      await db.close();
      throw e;
    }
    return new E2eRig(services, dir, home.dir, databaseUrl, db, new CentreRegistry(db));
  }

  get brokerUrl(): string {
    return this.services.broker.url;
  }

  /** Registers the centre at the hub (which gives its token), fills its database, writes its agent config. */
  async addCentre(spec: CentreSpec): Promise<RigCentre> {
    const { token } = await this.registry.add({ matricule: spec.matricule, name: `Centre ${spec.matricule}` });
    const centre = RigCentre.create(join(this.dir, spec.matricule), spec, this.brokerUrl, token);
    this.centres.push(centre);
    this.sessions.add(`tamtam-agent-${spec.matricule}`);
    return centre;
  }

  /** The hub in this process, on the rig's folder (or `dir`). */
  async startHub(o: StartHubOptions & { dir?: string } = {}): Promise<RunningHub> {
    const clientId = o.clientId ?? `tamtam-hub-inproc-${process.pid}`;
    this.sessions.add(clientId);
    const hub = await startHub(loadHubHome(o.dir ?? this.hubDir), { log: quietLog, ...o, clientId });
    this.hubs.push(hub);
    const stop = hub.stop;
    hub.stop = async () => {
      const i = this.hubs.indexOf(hub);
      if (i >= 0) this.hubs.splice(i, 1);
      await stop();
    };
    return hub;
  }

  /** `tamtam hub start --dir D` as a child; resolves once it logged hub_started. */
  async spawnHub(label = 'hub', dir = this.hubDir): Promise<LoggedProcess> {
    const config = JSON.parse(readFileSync(hubPaths(dir).config, 'utf8')) as HubConfig;
    this.sessions.add(hubClientId(config.hubId));
    const hub = this.spawn(label, ['hub', 'start', '--dir', dir]);
    await hub.waitFor((e) => e.event === 'hub_started', 'hub_started');
    return hub;
  }

  /**
   * A second hub folder for another hub process: the same CA, hub key and
   * database, its own hub id, hence its own MQTT client id (two processes of
   * one folder would share one and take each other's session over).
   */
  hubFolder(hubId: string): string {
    const dir = join(this.dir, `hub-${hubId}`);
    mkdirSync(dir);
    const from = hubPaths(this.hubDir);
    cpSync(from.pki, hubPaths(dir).pki, { recursive: true });
    cpSync(from.dictionaries, hubPaths(dir).dictionaries, { recursive: true });
    const config = { ...(JSON.parse(readFileSync(from.config, 'utf8')) as HubConfig), hubId };
    writeFileSync(hubPaths(dir).config, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
    return dir;
  }

  /** `tamtam agent run` (the daemon) for `centre`, as a child. */
  spawnAgent(centre: RigCentre): LoggedProcess {
    return this.spawn(`agent ${centre.matricule}`, ['agent', 'run', '--config', centre.configPath]);
  }

  /** `tamtam agent sync --once --json` as a child; resolves when it exits. */
  async syncChild(centre: RigCentre, timeoutSeconds = 60): Promise<{ ok: boolean; waiting: number; child: LoggedProcess }> {
    const child = this.spawn(`sync ${centre.matricule}`, ['agent', 'sync', '--once', '--json', '--timeout', String(timeoutSeconds), '--config', centre.configPath]);
    const exit = await child.exited;
    const summary = child.stdout.trim() ? (JSON.parse(child.stdout.trim().split('\n').pop()!) as { waiting: number }) : { waiting: -1 };
    return { ok: exit.code === 0, waiting: summary.waiting, child };
  }

  private spawn(label: string, args: string[]): LoggedProcess {
    const child = LoggedProcess.tamtam(label, args);
    this.children.push(child);
    return child;
  }

  /** What reached a central table, from `centre` or from all, in plain SQL. */
  async central(table: ActTable, centre?: RigCentre): Promise<CentralCount> {
    const { rows } = await this.db.query<{ rows: string; records: string; keys: string }>(
      `SELECT count(*) AS rows, count(DISTINCT (t.centre_id, t.source_numero)) AS records,
              count(DISTINCT (t.centre_id, t.source_numero, t.record_version)) AS keys
         FROM central.${table} t JOIN centres c ON c.id = t.centre_id WHERE $1::text IS NULL OR c.matricule = $1`,
      [centre?.matricule ?? null]);
    return { rows: Number(rows[0].rows), records: Number(rows[0].records), keys: Number(rows[0].keys) };
  }

  /** (source numero, record version, SDC sequence) of every row of `centre` in a central table, with `columns`. */
  async centralRows(table: ActTable, centre: RigCentre, columns: string[] = []): Promise<({ source_numero: number; record_version: number; sdc_sequence: bigint } & Record<string, unknown>)[]> {
    const extra = columns.map((c) => `, t."${c}"`).join('');
    const { rows } = await this.db.query(
      `SELECT t.source_numero::int, t.record_version, t.sdc_sequence::text${extra} FROM central.${table} t JOIN centres c ON c.id = t.centre_id
        WHERE c.matricule = $1 ORDER BY t.source_numero, t.record_version`, [centre.matricule]);
    return rows.map((r) => ({ ...r, sdc_sequence: BigInt(r.sdc_sequence) })) as never;
  }

  /** Waits until `table` holds `rows` rows of `centre`. */
  waitForCentral(table: ActTable, centre: RigCentre, rows: number, timeoutMs = 60_000): Promise<CentralCount> {
    return pollUntil(() => this.central(table, centre), (c) => c.rows >= rows, `${rows} ${table} rows of ${centre.matricule}`, timeoutMs);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.children.map((c) => c.kill9()));
    for (const hub of [...this.hubs]) await hub.stop();
    for (const c of this.centres) c.close();
    // Persistent sessions outlive their clients: a stale hub in the shared group would take a share of the next test's SDCs.
    for (const clientId of this.sessions) {
      const client = await connectAsync(this.brokerUrl, { clientId, clean: true, reconnectPeriod: 0 }).catch(() => undefined);
      await client?.endAsync();
    }
    await this.db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
