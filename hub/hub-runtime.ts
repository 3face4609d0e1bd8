import { hostname } from 'node:os';
import { loadCompressor } from '../protocol/compressor.js';
import { TamtamError } from '../protocol/errors.js';
import { wrapRelay } from '../protocol/sdc/relay-envelope.js';
import { HubDatabase } from './db/hub-database.js';
import { migrate } from './db/migrations.js';
import { PgOutboundStore } from './db/pg-outbound-store.js';
import { DiagnosticRequests } from './diagnostics/diagnostic-requests.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded/embedded-broker.js';
import { EMBEDDED_DB_OPTIONS, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded/embedded-postgres.js';
import { createEnrolmentService, enrolmentHandler } from './enrolment-service.js';
import { writeRunFile } from './hub-access.js';
import { hubPaths, type HubHome } from './hub-home.js';
import type { DiagnosticsService } from './http/api-routes.js';
import { startDashboard } from './http/start-dashboard.js';
import { IngestPipeline, type IngestOutcome } from './ingest/ingest-pipeline.js';
import { HubMetrics, meterPipeline } from './metrics/hub-metrics.js';
import { issueCertificate } from './pki/certificate-authority.js';
import { MqttReceiver, type ReceiverHandler } from './receivers/mqtt-receiver.js';
import { startSbdEndpoint } from './sbd-endpoint.js';
import { startStreamEndpoint } from './stream-endpoint.js';
import type { StickImportReport } from './t2d/stick-import.js';
import { startStickReceiver, type StickWatchTuning } from './t2d/stick-receiver.js';
import { CentreRegistry } from './registry/centre-registry.js';

export interface HubLog {
  info(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

/** One JSON object a line on stderr: what operators' log collectors read. */
export const jsonLog: HubLog = {
  info: (event, fields = {}) => process.stderr.write(JSON.stringify({ t: new Date().toISOString(), level: 'info', event, ...fields }) + '\n'),
  error: (event, fields = {}) => process.stderr.write(JSON.stringify({ t: new Date().toISOString(), level: 'error', event, ...fields }) + '\n'),
};

export const quietLog: HubLog = { info: () => {}, error: () => {} };

export interface RunningHub {
  db: HubDatabase;
  registry: CentreRegistry;
  pipeline: IngestPipeline;
  databaseUrl: string;
  brokerUrl: string;
  /** The stream endpoint's port, when the hub takes modem calls. */
  streamPort?: number;
  /** The DirectIP port the Iridium gateway delivers SBD messages to. */
  directIpPort?: number;
  /** The dashboard's port, when `http` is configured (port 0 there picks a free one). */
  httpPort?: number;
  metrics: HubMetrics;
  embeddedDatabase: boolean;
  embeddedBroker: boolean;
  stop(): Promise<void>;
}

export interface StartHubOptions {
  log?: HubLog;
  /** Stable per hub process so its persistent MQTT session survives restarts; default from host name and hub id. */
  clientId?: string;
  /** Don't subscribe to the broker: a hub that only serves the command line. */
  receive?: boolean;
  /** Called after each SDC, for tests and progress output. */
  onIngest?: (centre: string, outcome: IngestOutcome) => void;
  /** With `t2dRoots` set: called after each stick imported. */
  onStickImported?: (report: StickImportReport) => void;
  /** How sticks under `t2dRoots` are noticed (tests: plain folders, no USB events, a short debounce). */
  t2dWatch?: StickWatchTuning;
  /** Remote diagnosis, behind the dashboard's "ask for a diagnostic report"; absent: the API answers 503. */
  diagnostics?: DiagnosticsService;
}

/**
 * Brings a hub up: its database (embedded PGlite when no URL), migrations,
 * its broker (embedded aedes when no URL), the ingest pipeline and the
 * enrolment service behind one MQTT receiver.
 */
export async function startHub(home: HubHome, options: StartHubOptions = {}): Promise<RunningHub> {
  const log = options.log ?? jsonLog;
  const { config } = home;
  const closers: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const close of closers.reverse()) await close().catch((e) => log.error('stop_failed', { message: (e as Error).message }));
    closers.length = 0;
  };
  try {
    let pg: EmbeddedPostgres | undefined;
    if (!config.databaseUrl) {
      pg = await startEmbeddedPostgres({ dataDir: hubPaths(home.dir).pgdata });
      closers.push(() => pg!.close());
    }
    const databaseUrl = config.databaseUrl ?? pg!.url;
    const db = await HubDatabase.connect(databaseUrl, pg ? EMBEDDED_DB_OPTIONS : {});
    closers.push(() => db.close());
    const applied = await migrate(db);
    if (applied.applied.length > 0) log.info('migrated', { versions: applied.applied });
    const registry = new CentreRegistry(db);
    const metrics = new HubMetrics({ onSnapshotError: (e) => log.error('metrics_snapshot_failed', { message: (e as Error).message }) });
    const compressor = await loadCompressor();
    // Replies and requests waiting for a centre's next call or stick, kept in the database across hub restarts.
    const outbound = new PgOutboundStore(db);
    const pipeline = meterPipeline(new IngestPipeline({
      db, registry, compressor, hubKey: home.hubKey, hubCert: home.hubCert, hubId: config.hubId,
      dictionaries: (id) => home.dictionaries.find((d) => d.id === id),
    }), metrics);

    const ingestHandler = (via: string): ReceiverHandler => async (centre, payload) => {
      const outcome = await pipeline.ingest(payload, { via });
      log.info('sdc', { centre, via, outcome: outcome.kind, merged: outcome.merged, duplicates: outcome.duplicates, rejected: outcome.rejected, ...(outcome.error ? { code: outcome.error.code, reason: outcome.error.message } : {}) });
      options.onIngest?.(centre, outcome);
      // A centre relaying another's SDC (from a USB stick) gets the receipt in a wrapper naming whose it is.
      const relayed = outcome.receipt && outcome.centre && outcome.centre !== centre;
      return { reply: relayed ? wrapRelay(outcome.centre!, outcome.receipt!) : outcome.receipt };
    };

    let broker: EmbeddedBroker | undefined;
    if (!config.brokerUrl && options.receive !== false) {
      broker = await startEmbeddedBroker({ port: config.mqttPort });
      closers.push(() => broker!.close());
    }
    const brokerUrl = config.brokerUrl ?? broker?.url ?? '';
    let receiver: MqttReceiver | undefined;
    if (options.receive !== false) {
      const enrolment = createEnrolmentService({
        consumeToken: async (centre, token) => {
          try {
            await registry.consumeToken(centre, token);
            return true;
          } catch (e) {
            if (e instanceof TamtamError && e.code !== 'E_INTERNAL' && !e.retryable) return false;
            throw e;
          }
        },
        issue: async (csrPem, centre) => issueCertificate(home.ca, csrPem, { role: 'centre', commonName: centre }),
        store: async (centre, certPem) => {
          await registry.setCertificate(centre, certPem);
          log.info('centre_enrolled', { centre });
        },
        caPem: home.ca.certPem,
        hubCertPem: home.hubCertPem,
        onError: (e) => log.error('enrolment_failed', { code: e.code, message: e.message }),
      });
      receiver = new MqttReceiver({
        url: brokerUrl,
        clientId: options.clientId ?? `tamtam-hub-${config.hubId}-${hostname()}`.slice(0, 64),
        shared: Boolean(config.brokerUrl) && config.sharedSubscription,
        username: config.brokerUsername,
        password: config.brokerPassword,
        onUp: ingestHandler('mqtt'),
        onEnrol: enrolmentHandler(enrolment),
        onError: (e) => log.error('receiver', { code: e.code, message: e.message }),
      });
      await receiver.start();
      const started = receiver;
      closers.push(() => started.stop());
    }
    let streamPort: number | undefined;
    let directIpPort: number | undefined;
    // SBD sessions run on the stream receiver too: an SBD-only hub keeps it on loopback.
    if ((config.streamPort !== undefined || config.directIp) && options.receive !== false) {
      const stream = await startStreamEndpoint({
        db, registry, onUp: ingestHandler('stream'), host: config.streamPort !== undefined ? config.streamHost : '127.0.0.1', port: config.streamPort ?? 0,
        stateDir: hubPaths(home.dir).transfers, log,
      });
      closers.push(() => stream.stop());
      if (config.streamPort !== undefined) streamPort = stream.port;
      if (config.directIp) {
        const sbd = await startSbdEndpoint({ receiver: stream, registry, host: config.directIp.host, port: config.directIp.port, gateway: config.directIp.gateway, log });
        closers.push(() => sbd.stop());
        directIpPort = sbd.port;
      }
    }
    if (config.t2dRoots?.length && options.receive !== false) {
      const sticks = await startStickReceiver({
        roots: config.t2dRoots, pipeline, log, outbound, ...(options.t2dWatch ? { watch: options.t2dWatch } : {}), ...(options.onStickImported ? { onImported: options.onStickImported } : {}),
      });
      closers.push(() => sticks.stop());
    }
    const removeRunFile = writeRunFile(home, { databaseUrl, brokerUrl });
    closers.push(async () => removeRunFile());
    let httpPort: number | undefined;
    if (config.http) {
      // Last up, first down: staff never see a page backed by a half-stopped hub.
      const mqtt = receiver;
      const diagnostics = options.diagnostics ?? new DiagnosticRequests({
        db, compressor, hubKey: home.hubKey, hubCert: home.hubCert, hubId: config.hubId, outbound,
        ...(mqtt ? { publish: (centre: string, payload: Uint8Array) => mqtt.publishDown(centre, payload) } : {}),
      });
      const http = await startDashboard({ db, http: config.http, alerts: config.alerts, metrics, log, diagnostics });
      closers.push(() => http.stop());
      httpPort = http.port;
    }
    log.info('hub_started', { hubId: config.hubId, database: pg ? 'embedded' : 'external', broker: broker ? broker.url : config.brokerUrl ? 'external' : 'none', ...(streamPort === undefined ? {} : { streamPort }), ...(directIpPort === undefined ? {} : { directIpPort }), ...(httpPort === undefined ? {} : { httpPort }), ...(config.t2dRoots?.length ? { t2dRoots: config.t2dRoots } : {}) });
    return { db, registry, pipeline, databaseUrl, brokerUrl, streamPort, directIpPort, httpPort, metrics, embeddedDatabase: Boolean(pg), embeddedBroker: Boolean(broker), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
