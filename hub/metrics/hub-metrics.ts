import type { MetricsSnapshot } from '../dashboard/dashboard-types.js';
import type { IngestOutcome, IngestPipeline } from '../ingest/ingest-pipeline.js';
import { MetricsRegistry, type Gauge, type Labels } from './metrics-registry.js';

/** Where the gauges come from at scrape time: DashboardStore, aggregated in SQL. */
export interface MetricsSource {
  metricsSnapshot(): Promise<MetricsSnapshot>;
}

export interface HubMetricsOptions {
  /** Milliseconds; injected by tests. */
  now?: () => number;
  /** How long a snapshot serves scrapes: the SQL behind it reads every centre. Default 10 s. */
  snapshotMs?: number;
  /** A failed snapshot keeps the last gauges; the counters are still served. */
  onSnapshotError?: (e: unknown) => void;
}

const INGEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The hub's metrics. None is labelled by centre: with 100,000 centres that
 * would be 100,000 series per metric; per-centre figures are the dashboard's.
 */
export class HubMetrics {
  readonly registry = new MetricsRegistry();
  readonly sdcs = this.registry.counter({ name: 'tamtam_sdcs_total', help: 'SDCs ingested, by the link they came by and what became of them', labels: ['via', 'outcome'] });
  readonly acts = this.registry.counter({ name: 'tamtam_acts_total', help: 'Records in ingested SDCs, by what became of them', labels: ['outcome'] });
  readonly sdcBytes = this.registry.counter({ name: 'tamtam_sdc_bytes_total', help: 'Bytes of SDCs ingested, by link', labels: ['via'] });
  readonly ingestFailures = this.registry.counter({ name: 'tamtam_ingest_failures_total', help: 'SDCs the hub could not ingest because of its own side (database); they are delivered again', labels: ['via'] });
  readonly ingestSeconds = this.registry.histogram({ name: 'tamtam_ingest_seconds', help: 'Time to ingest one SDC', buckets: INGEST_BUCKETS });
  readonly httpRequests = this.registry.counter({ name: 'tamtam_http_requests_total', help: 'HTTP requests, by route pattern and status', labels: ['route', 'status'] });
  private readonly centres = this.registry.gauge({ name: 'tamtam_centres', help: 'Registered centres by status (0 suspended .. 3 all services)', labels: ['status'] });
  private readonly alerting = this.registry.gauge({ name: 'tamtam_centres_alerting', help: 'Centres with an alert, by kind', labels: ['alert'] });
  private readonly backlog = this.registry.gauge({ name: 'tamtam_backlog_records', help: 'Records waiting at centres as last reported, by status (2 to send, 3 sent, no receipt yet)', labels: ['status'] });
  private readonly quarantine = this.registry.gauge({ name: 'tamtam_quarantine_sdcs', help: 'SDCs held in quarantine' });
  private readonly linkBytes = this.registry.gauge({ name: 'tamtam_link_bytes_month', help: 'Bytes carried this calendar month (UTC) as centres reported, by link', labels: ['link'] });
  private readonly linkCost = this.registry.gauge({ name: 'tamtam_link_cost_usd_month', help: 'Link cost this calendar month (UTC) in US dollars as centres reported, by link', labels: ['link'] });
  private readonly rss = this.registry.gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes' });
  private readonly startTime = this.registry.gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since the Unix epoch in seconds' });

  private readonly now: () => number;
  private snapshotAt = -Infinity;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly o: HubMetricsOptions = {}) {
    this.now = o.now ?? Date.now;
    this.startTime.set(undefined, Math.round(performance.timeOrigin) / 1000);
  }

  /** One SDC through the pipeline; `outcome` undefined: it failed on the hub's side. */
  observeIngest(via: string, bytes: number, seconds: number, outcome: IngestOutcome | undefined): void {
    this.ingestSeconds.observe(undefined, seconds);
    if (!outcome) {
      this.ingestFailures.inc({ via });
      return;
    }
    this.sdcs.inc({ via, outcome: outcome.kind });
    this.sdcBytes.inc({ via }, bytes);
    this.acts.inc({ outcome: 'merged' }, outcome.merged);
    this.acts.inc({ outcome: 'duplicate' }, outcome.duplicates);
    this.acts.inc({ outcome: 'rejected' }, outcome.rejected);
  }

  /** The exposition text; the SQL gauges are read again when the last reading is older than `snapshotMs`. */
  async render(source?: MetricsSource): Promise<string> {
    if (source && this.now() - this.snapshotAt >= (this.o.snapshotMs ?? 10_000)) {
      this.inFlight ??= this.refresh(source).finally(() => (this.inFlight = undefined));
      await this.inFlight;
    }
    this.rss.set(undefined, process.memoryUsage.rss());
    return this.registry.render();
  }

  private async refresh(source: MetricsSource): Promise<void> {
    let s: MetricsSnapshot;
    try {
      s = await source.metricsSnapshot();
    } catch (e) {
      this.o.onSnapshotError?.(e);
      return;
    }
    this.snapshotAt = this.now();
    const fill = <L extends string>(g: Gauge<L>, label: L, entries: [string, number][]) => {
      g.reset();
      for (const [k, v] of entries) g.set({ [label]: k } as Labels<L>, v);
    };
    fill(this.centres, 'status', Object.entries(s.centresByStatus));
    fill(this.alerting, 'alert', Object.entries(s.alerts));
    fill(this.backlog, 'status', Object.entries(s.backlogByStatus));
    this.quarantine.set(undefined, s.quarantineTotal);
    fill(this.linkBytes, 'link', s.monthByLink.map((m) => [m.link, m.bytes]));
    fill(this.linkCost, 'link', s.monthByLink.map((m) => [m.link, m.costUsd]));
  }
}

/**
 * The same pipeline, timed and counted: every receiver (MQTT, calls, SBD,
 * sticks) ingests through it, so no path escapes the counters.
 */
export function meterPipeline(pipeline: IngestPipeline, metrics: HubMetrics, clock: () => number = () => performance.now()): IngestPipeline {
  const ingest: IngestPipeline['ingest'] = async (sdc, meta) => {
    const started = clock();
    let outcome: IngestOutcome | undefined;
    try {
      outcome = await pipeline.ingest(sdc, meta);
      return outcome;
    } finally {
      metrics.observeIngest(meta.via, sdc.length, (clock() - started) / 1000, outcome);
    }
  };
  // Delegates everything else to the real pipeline; only ingest is wrapped.
  return Object.create(pipeline, { ingest: { value: ingest } }) as IngestPipeline;
}
