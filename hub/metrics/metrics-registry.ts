import { TamtamError } from '../../protocol/errors.js';

/**
 * Counters, gauges and histograms rendered in the Prometheus text exposition
 * format 0.0.4 (what every Prometheus-compatible scraper reads). Series are
 * kept in the order they first appear so the output is stable.
 */

export type Labels<L extends string> = Record<L, string>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface MetricSpec<L extends string> {
  name: string;
  help: string;
  labels?: readonly L[];
}

export const escapeLabelValue = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

export function formatSampleValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(pairs: [string, string][]): string {
  return pairs.length === 0 ? '' : `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

abstract class Metric<L extends string, S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  protected readonly series = new Map<string, { pairs: [string, string][]; state: S }>();

  constructor(spec: MetricSpec<L>, reserved: string[] = []) {
    if (!METRIC_NAME.test(spec.name)) throw new TamtamError('E_INTERNAL', `'${spec.name}' is not a valid metric name`);
    for (const l of spec.labels ?? []) {
      if (!LABEL_NAME.test(l) || l.startsWith('__') || reserved.includes(l)) throw new TamtamError('E_INTERNAL', `'${l}' is not a valid label name for ${spec.name}`);
    }
    this.name = spec.name;
    this.help = spec.help;
    this.labelNames = spec.labels ?? [];
  }

  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected abstract fresh(): S;
  protected abstract sampleLines(pairs: [string, string][], state: S): string[];

  protected at(labels: Labels<L> | undefined): S {
    const pairs = this.labelNames.map((n): [string, string] => {
      const v = labels?.[n];
      if (typeof v !== 'string') throw new TamtamError('E_INTERNAL', `${this.name} needs label '${n}'`);
      return [n, v];
    });
    const key = JSON.stringify(pairs.map((p) => p[1]));
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { pairs, state: this.fresh() }));
    return s.state;
  }

  /** Forgets every series, for gauges rebuilt from a fresh reading (a link no longer used must disappear). */
  reset(): void {
    this.series.clear();
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    // A metric without labels reads 0 before anything happened, rather than being absent.
    if (this.series.size === 0 && this.labelNames.length === 0) this.at({} as Labels<L>);
    for (const { pairs, state } of this.series.values()) lines.push(...this.sampleLines(pairs, state));
    return lines.join('\n') + '\n';
  }
}

export class Counter<L extends string = never> extends Metric<L, { v: number }> {
  readonly type = 'counter';
  protected fresh() {
    return { v: 0 };
  }
  inc(labels?: Labels<L>, by = 1): void {
    if (!(by >= 0)) throw new TamtamError('E_INTERNAL', `${this.name} can only go up, not by ${by}`);
    this.at(labels).v += by;
  }
  get(labels?: Labels<L>): number {
    return this.at(labels).v;
  }
  protected sampleLines(pairs: [string, string][], s: { v: number }): string[] {
    return [`${this.name}${labelText(pairs)} ${formatSampleValue(s.v)}`];
  }
}

export class Gauge<L extends string = never> extends Metric<L, { v: number }> {
  readonly type = 'gauge';
  protected fresh() {
    return { v: 0 };
  }
  set(labels: Labels<L> | undefined, v: number): void {
    this.at(labels).v = v;
  }
  get(labels?: Labels<L>): number {
    return this.at(labels).v;
  }
  protected sampleLines(pairs: [string, string][], s: { v: number }): string[] {
    return [`${this.name}${labelText(pairs)} ${formatSampleValue(s.v)}`];
  }
}

interface HistogramState {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram<L extends string = never> extends Metric<L, HistogramState> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(spec: MetricSpec<L> & { buckets: readonly number[] }) {
    super(spec, ['le']);
    const b = [...spec.buckets];
    if (b.length === 0 || b.some((x, i) => !Number.isFinite(x) || (i > 0 && x <= b[i - 1]))) {
      throw new TamtamError('E_INTERNAL', `${spec.name}: buckets must be finite and increasing`);
    }
    this.buckets = b;
  }

  protected fresh(): HistogramState {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }

  observe(labels: Labels<L> | undefined, v: number): void {
    const s = this.at(labels);
    const i = this.buckets.findIndex((b) => v <= b);
    if (i >= 0) s.counts[i]++;
    s.sum += v;
    s.count++;
  }

  protected sampleLines(pairs: [string, string][], s: HistogramState): string[] {
    let cumulative = 0;
    const lines = this.buckets.map((b, i) => {
      cumulative += s.counts[i];
      return `${this.name}_bucket${labelText([...pairs, ['le', formatSampleValue(b)]])} ${cumulative}`;
    });
    lines.push(`${this.name}_bucket${labelText([...pairs, ['le', '+Inf']])} ${s.count}`);
    lines.push(`${this.name}_sum${labelText(pairs)} ${formatSampleValue(s.sum)}`, `${this.name}_count${labelText(pairs)} ${s.count}`);
    return lines;
  }
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

/** Every metric of a process, rendered together for one scrape. */
export class MetricsRegistry {
  private readonly metrics = new Map<string, AnyMetric>();

  counter<L extends string = never>(spec: MetricSpec<L>): Counter<L> {
    return this.register(new Counter<L>(spec));
  }

  gauge<L extends string = never>(spec: MetricSpec<L>): Gauge<L> {
    return this.register(new Gauge<L>(spec));
  }

  histogram<L extends string = never>(spec: MetricSpec<L> & { buckets: readonly number[] }): Histogram<L> {
    return this.register(new Histogram<L>(spec));
  }

  render(): string {
    return [...this.metrics.values()].map((m) => m.render()).join('');
  }

  private register<M extends AnyMetric>(m: M): M {
    if (this.metrics.has(m.name)) throw new TamtamError('E_INTERNAL', `metric ${m.name} is registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }
}

/** The exposition format's content type. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
