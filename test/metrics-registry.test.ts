import test from 'ava';
import { HubMetrics } from '../hub/metrics/hub-metrics.js';
import { MetricsRegistry, escapeLabelValue } from '../hub/metrics/metrics-registry.js';
import type { MetricsSnapshot } from '../hub/dashboard/dashboard-types.js';
import { isTamtamError } from '../protocol/errors.js';

test('counters and gauges render HELP, TYPE and one line per label set, in first-seen order', (t) => {
  const r = new MetricsRegistry();
  const c = r.counter({ name: 'jobs_total', help: 'Jobs done', labels: ['kind', 'result'] });
  const g = r.gauge({ name: 'queue_depth', help: 'Jobs waiting' });
  c.inc({ kind: 'b', result: 'ok' });
  c.inc({ kind: 'a', result: 'failed' }, 2);
  c.inc({ kind: 'b', result: 'ok' }, 0.5);
  g.set(undefined, 7);
  t.is(r.render(), [
    '# HELP jobs_total Jobs done',
    '# TYPE jobs_total counter',
    'jobs_total{kind="b",result="ok"} 1.5',
    'jobs_total{kind="a",result="failed"} 2',
    '# HELP queue_depth Jobs waiting',
    '# TYPE queue_depth gauge',
    'queue_depth 7',
    '',
  ].join('\n'));
});

test('label values escape backslash, double quote and newline; help escapes backslash and newline', (t) => {
  const r = new MetricsRegistry();
  const g = r.gauge({ name: 'odd', help: 'a \\ help\nline with "quotes"', labels: ['v'] });
  g.set({ v: 'C:\\dir "x"\nnext' }, -1.25);
  t.is(r.render(), '# HELP odd a \\\\ help\\nline with "quotes"\n# TYPE odd gauge\nodd{v="C:\\\\dir \\"x\\"\\nnext"} -1.25\n');
  t.is(escapeLabelValue('\\"\n'), '\\\\\\"\\n');
});

test('a histogram has cumulative buckets, +Inf, _sum and _count, per label set', (t) => {
  const r = new MetricsRegistry();
  const h = r.histogram({ name: 'latency_seconds', help: 'Latency', labels: ['op'], buckets: [0.1, 1, 5] });
  for (const v of [0.05, 0.1, 0.7, 3, 12]) h.observe({ op: 'read' }, v);
  h.observe({ op: 'write' }, 2);
  t.is(r.render(), [
    '# HELP latency_seconds Latency',
    '# TYPE latency_seconds histogram',
    'latency_seconds_bucket{op="read",le="0.1"} 2',
    'latency_seconds_bucket{op="read",le="1"} 3',
    'latency_seconds_bucket{op="read",le="5"} 4',
    'latency_seconds_bucket{op="read",le="+Inf"} 5',
    'latency_seconds_sum{op="read"} 15.85',
    'latency_seconds_count{op="read"} 5',
    'latency_seconds_bucket{op="write",le="0.1"} 0',
    'latency_seconds_bucket{op="write",le="1"} 0',
    'latency_seconds_bucket{op="write",le="5"} 1',
    'latency_seconds_bucket{op="write",le="+Inf"} 1',
    'latency_seconds_sum{op="write"} 2',
    'latency_seconds_count{op="write"} 1',
    '',
  ].join('\n'));
});

test('an unlabelled metric reads 0 before anything happened; a labelled one has no sample yet', (t) => {
  const r = new MetricsRegistry();
  r.counter({ name: 'plain_total', help: 'x' });
  r.counter({ name: 'labelled_total', help: 'y', labels: ['a'] });
  t.is(r.render(), '# HELP plain_total x\n# TYPE plain_total counter\nplain_total 0\n# HELP labelled_total y\n# TYPE labelled_total counter\n');
});

test('misuse is refused: bad names, missing labels, counters going down, twice the same name, le on a histogram', (t) => {
  const r = new MetricsRegistry();
  const internal = (fn: () => unknown) => t.true(isTamtamError(t.throws(fn), 'E_INTERNAL'));
  internal(() => r.counter({ name: '1bad', help: '' }));
  internal(() => r.gauge({ name: 'ok_name', help: '', labels: ['bad-label'] }));
  const c = r.counter({ name: 'c_total', help: '', labels: ['a'] });
  internal(() => c.inc({} as never));
  internal(() => c.inc({ a: 'x' }, -1));
  internal(() => r.counter({ name: 'c_total', help: '' }));
  internal(() => r.histogram({ name: 'h', help: '', labels: ['le'], buckets: [1] }));
  internal(() => r.histogram({ name: 'h2', help: '', buckets: [2, 1] }));
});

const snapshot = (links: { link: string; bytes: number; costUsd: number }[]): MetricsSnapshot => ({
  centresByStatus: { 0: 1, 3: 4 }, alerts: { silent: 2, overBudget: 0, quarantine: 1 }, backlogByStatus: { 2: 10, 3: 5 }, quarantineTotal: 3, monthByLink: links,
});

test('hub gauges come from the snapshot, read again only after 10 s, and a link gone from it disappears', async (t) => {
  let now = 1_000_000;
  let reads = 0;
  let links = [{ link: 'mqtt', bytes: 2048, costUsd: 0 }, { link: 'sbd', bytes: 300, costUsd: 1.5 }];
  const source = { metricsSnapshot: async () => (reads++, snapshot(links)) };
  const m = new HubMetrics({ now: () => now });
  const first = await m.render(source);
  t.regex(first, /^tamtam_centres\{status="3"\} 4$/m);
  t.regex(first, /^tamtam_centres_alerting\{alert="silent"\} 2$/m);
  t.regex(first, /^tamtam_backlog_records\{status="2"\} 10$/m);
  t.regex(first, /^tamtam_quarantine_sdcs 3$/m);
  t.regex(first, /^tamtam_link_cost_usd_month\{link="sbd"\} 1.5$/m);
  t.regex(first, /^process_resident_memory_bytes \d+$/m);
  t.regex(first, /^process_start_time_seconds \d+(\.\d+)?$/m);
  links = [{ link: 'mqtt', bytes: 4096, costUsd: 0 }];
  now += 9_000;
  t.regex(await m.render(source), /^tamtam_link_bytes_month\{link="mqtt"\} 2048$/m, 'cached within 10 s');
  t.is(reads, 1);
  now += 1_000;
  const later = await m.render(source);
  t.is(reads, 2);
  t.regex(later, /^tamtam_link_bytes_month\{link="mqtt"\} 4096$/m);
  t.notRegex(later, /link="sbd"/);
});

test('ingest outcomes count SDCs, acts, bytes and time; a failure on the hub side counts apart', (t) => {
  const m = new HubMetrics();
  m.observeIngest('mqtt', 1200, 0.02, { kind: 'merged', merged: 98, duplicates: 2, rejected: 0 });
  m.observeIngest('t2d', 500, 0.003, { kind: 'quarantined', merged: 0, duplicates: 0, rejected: 0 });
  m.observeIngest('mqtt', 900, 3, undefined);
  t.is(m.sdcs.get({ via: 'mqtt', outcome: 'merged' }), 1);
  t.is(m.sdcs.get({ via: 't2d', outcome: 'quarantined' }), 1);
  t.is(m.acts.get({ outcome: 'merged' }), 98);
  t.is(m.acts.get({ outcome: 'duplicate' }), 2);
  t.is(m.sdcBytes.get({ via: 'mqtt' }), 1200);
  t.is(m.ingestFailures.get({ via: 'mqtt' }), 1);
  const text = m.registry.render();
  t.regex(text, /^tamtam_ingest_seconds_bucket\{le="0.005"\} 1$/m);
  t.regex(text, /^tamtam_ingest_seconds_bucket\{le="0.025"\} 2$/m);
  t.regex(text, /^tamtam_ingest_seconds_bucket\{le="\+Inf"\} 3$/m);
  t.regex(text, /^tamtam_ingest_seconds_count 3$/m);
});
