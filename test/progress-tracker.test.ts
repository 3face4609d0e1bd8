import test from 'ava';
import { formatActRate, formatBitRate, formatBytePair, formatDuration, formatProgressLine, progressFields } from '../agent/progress/progress-line.js';
import { ProgressTracker, type ProgressSnapshot } from '../agent/progress/progress-tracker.js';

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('rates and time left come from the injected clock over the moving window', (t) => {
  const c = clock();
  const tracker = new ProgressTracker({ clock: c.now, windowMs: 10_000 });
  const first = tracker.update({ actsDone: 0, actsTotal: 10_000, bytesSent: 0, bytesTotal: 3_500_000 });
  t.is(first.actsPerSecond, undefined, 'one sample: no rate yet');
  t.is(first.etaMs, undefined);
  t.false(first.finished);
  c.advance(10_000);
  const p = tracker.update({ actsDone: 400, actsTotal: 10_000, bytesSent: 12_000, bytesTotal: 3_500_000 });
  t.is(p.actsPerSecond, 40);
  t.is(p.bytesPerSecond, 1200);
  t.is(p.fraction, 0.04);
  // Acts: 9,600 left at 40/s = 240 s; bytes: 3,488,000 left at 1,200/s = 2,906.7 s: the later one.
  t.is(p.etaMs, Math.round((3_488_000 / 1200) * 1000));
  t.is(p.elapsedMs, 10_000);

  // The window forgets the slow start: 10 s later at 100 acts/s, the rate is over the last 10 s only.
  c.advance(10_000);
  const q = tracker.update({ actsDone: 1400, actsTotal: 10_000, bytesSent: 3_000_000, bytesTotal: 3_500_000 });
  t.is(q.actsPerSecond, 100);
  t.is(q.etaMs, Math.max(86_000, Math.round((500_000 / 298_800) * 1000)));
});

test('time left is unknown while nothing moves, and zero once finished', (t) => {
  const c = clock();
  const tracker = new ProgressTracker({ clock: c.now });
  tracker.update({ actsDone: 0, actsTotal: 100, bytesSent: 5000, bytesTotal: 5000 });
  c.advance(5000);
  const waiting = tracker.update({ actsDone: 0, actsTotal: 100, bytesSent: 5000, bytesTotal: 5000 });
  t.is(waiting.actsPerSecond, 0);
  t.is(waiting.etaMs, undefined, 'every byte sent, no receipt yet: nothing to extrapolate from');
  t.false(waiting.finished);
  c.advance(5000);
  const done = tracker.update({ actsDone: 100, actsTotal: 100, bytesSent: 5000, bytesTotal: 5000 });
  t.true(done.finished);
  t.is(done.etaMs, 0);
  t.is(done.fraction, 1);
});

test('nothing to do is finished at once; counts that overshoot are clamped', (t) => {
  const c = clock();
  const empty = new ProgressTracker({ clock: c.now }).update({ actsDone: 0, actsTotal: 0, bytesSent: 0, bytesTotal: 0 });
  t.true(empty.finished);
  t.is(empty.fraction, 1);
  t.is(progressFields(empty).percent, 100);
  const over = new ProgressTracker({ clock: c.now }).update({ actsDone: 12, actsTotal: 10, bytesSent: -3, bytesTotal: 50 });
  t.is(over.actsTotal, 12, 'a total below what is done follows what is done');
  t.is(over.bytesSent, 0);
  t.is(over.fraction, 1);
  t.false(over.finished, 'bytes still wait');
});

test('units: bytes, speeds and durations read the way a technician expects', (t) => {
  t.is(formatBytePair(1_200_000, 3_500_000), '1.2/3.5 MB');
  t.is(formatBytePair(512, 900), '512/900 B');
  t.is(formatBytePair(40_000, 250_000_000), '0.0/250 MB');
  t.is(formatActRate(41.4), '41 acts/s');
  t.is(formatActRate(2.54), '2.5 acts/s');
  t.is(formatActRate(100 / 60), '1.7 acts/s');
  t.is(formatActRate(0.1), '6.0 acts/min');
  t.is(formatActRate(undefined), '-- acts/s');
  t.is(formatBitRate(1200), '9.6 kbit/s');
  t.is(formatBitRate(300), '2.4 kbit/s');
  t.is(formatBitRate(100), '800 bit/s');
  t.is(formatBitRate(2_000_000), '16.0 Mbit/s');
  t.is(formatDuration(41_000), '41s');
  t.is(formatDuration(161_000), '2m41s');
  t.is(formatDuration(3_900_000), '1h05m');
  t.is(formatDuration(3 * 86_400_000 + 4 * 3_600_000), '3d04h');
});

function snapshot(over: Partial<ProgressSnapshot>): ProgressSnapshot {
  return { at: 0, elapsedMs: 60_000, actsDone: 3400, actsTotal: 10_000, bytesSent: 1_200_000, bytesTotal: 3_500_000, fraction: 0.34, actsPerSecond: 41, bytesPerSecond: 1200, etaMs: 161_000, finished: false, ...over };
}

test('the bar line has acts, bytes, both speeds and the time left, within 80 columns', (t) => {
  const line = formatProgressLine(snapshot({}));
  t.regex(line, /^\[#+\.+\] {2}34% 3,400\/10,000 acts {2}1\.2\/3\.5 MB {2}41 acts\/s {2}9\.6 kbit\/s {2}ETA 2m41s$/);
  t.true(line.length <= 79, `${line.length} columns`);
  const bar = /^\[([#.]+)\]/.exec(line)![1]!;
  t.is(bar.replace(/\./g, '').length, Math.floor(0.34 * bar.length), 'the bar is filled by the fraction');
  const later = formatProgressLine(snapshot({ actsDone: 9000, fraction: 0.9, actsPerSecond: 5.5, etaMs: 12_000 }));
  t.is(/^\[([#.]+)\]/.exec(later)![1]!.length, bar.length, 'the bar keeps its width as the figures change');
  t.is(/^\[([#.]+)\]/.exec(formatProgressLine(snapshot({}), 120))![1]!.length, 30, 'a wide terminal gets a longer bar');
});

test('the widest figures still fit 80 columns, and a narrow terminal drops the least useful parts', (t) => {
  const wide = snapshot({ actsDone: 99_999_999, actsTotal: 100_000_000, bytesSent: 987_654_321_000, bytesTotal: 999_999_999_999, actsPerSecond: 12_345, bytesPerSecond: 99_000_000, etaMs: 99 * 86_400_000, fraction: 0.99 });
  const line = formatProgressLine(wide);
  t.true(line.length <= 79, `${line.length} columns: ${line}`);
  t.regex(line, /ETA 99d00h$/);
  const narrow = formatProgressLine(snapshot({}), 50);
  t.true(narrow.length <= 49, narrow);
  t.regex(narrow, /3,400\/10,000 acts/);
  t.regex(narrow, /ETA 2m41s/);
  t.notRegex(narrow, /acts\/s/, 'the acts rate goes first');
});

test('finished and stalled lines say so', (t) => {
  t.regex(formatProgressLine(snapshot({ actsDone: 10_000, bytesSent: 3_500_000, fraction: 1, finished: true, etaMs: 0, elapsedMs: 161_000 })), /^\[#+\] 100% 10,000\/10,000 acts .* done in 2m41s$/);
  t.regex(formatProgressLine(snapshot({ etaMs: undefined, actsPerSecond: undefined, bytesPerSecond: undefined })), /-- acts\/s {2}-- bit\/s {2}ETA --$/);
  t.regex(formatProgressLine(snapshot({ fraction: 0.999 })), /\] {2}99% /, 'not 100 % before it is finished');
});

test('the JSON fields carry the same figures, rounded, with nulls for unknowns', (t) => {
  t.deepEqual(progressFields(snapshot({})), {
    percent: 34, actsDone: 3400, actsTotal: 10_000, bytesSent: 1_200_000, bytesTotal: 3_500_000, actsPerSecond: 41, bitsPerSecond: 9600, etaSeconds: 161, elapsedSeconds: 60, finished: false,
  });
  t.like(progressFields(snapshot({ etaMs: undefined, actsPerSecond: undefined, bytesPerSecond: undefined })), { etaSeconds: null, actsPerSecond: null, bitsPerSecond: null });
});
