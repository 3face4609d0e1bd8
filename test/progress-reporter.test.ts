import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyUsage } from '../agent/link/link.js';
import { ProgressReporter, type ProgressOutput } from '../agent/progress/progress-reporter.js';
import { openSource, type SourceAdapter } from '../agent/source/source-adapter.js';
import { AgentState } from '../agent/state/agent-state.js';
import { fillCentreDatabase } from '../scripts/sample-acts.js';

/*
 * The reporter against a real agent state and a real centre database, moved
 * through the status machine step by step as the exporter and the receipt
 * applier move them; only the link's byte counter is played by the test.
 */
interface Centre {
  state: AgentState;
  source: SourceAdapter;
  link: { usage(): ReturnType<typeof emptyUsage> };
  config: { tables: { name: string }[] };
  bytesUp: number;
  now: number;
  /** Packs the `n` oldest validated acts into one SDC of `bytes` bytes (2 -> 3). */
  pack(n: number, bytes: number): Promise<number>;
  /** The link carries the SDC. */
  send(sequence: number): void;
  /** Its receipt comes: merged, 3 -> 4. */
  receipt(sequence: number): Promise<void>;
  /** Staff validate `n` exported acts again (amendments): 4 -> 2. */
  validate(n: number): Promise<void>;
}

async function centre(t: ExecutionContext, acts: number): Promise<Centre> {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-progress-'));
  const path = join(dir, 'centre.db');
  fillCentreDatabase(path, [{ table: 'births', count: acts, seed: 5 }]);
  const source = await openSource({ kind: 'sqlite', path });
  const c: Centre = {
    now: 1_700_000_000_000, bytesUp: 0, source, config: { tables: [{ name: 'births' }] },
    state: undefined as unknown as AgentState,
    link: { usage: () => ({ ...emptyUsage(), bytesUp: c.bytesUp }) },
    async pack(n, bytes) {
      const numeros = await source.listNumeros('births', 2, { limit: n });
      const sdc = c.state.beginSdc('births', numeros.map((numero) => ({ numero, version: 1 })));
      c.state.markPacked(sdc.sequence, bytes);
      await source.setStatus('births', numeros, 2, 3);
      return sdc.sequence;
    },
    send(sequence) {
      c.bytesUp += c.state.sdc(sequence)!.bytes!;
      c.state.markSent(sequence);
    },
    async receipt(sequence) {
      const entries = c.state.journal(sequence).map((e) => ({ numero: e.numero, version: e.version, outcome: 'merged' as const }));
      c.state.recordReceipt(sequence, { accepted: true, entries });
      await source.setStatus('births', entries.map((e) => e.numero), 3, 4);
      c.state.markApplied(sequence);
    },
    async validate(n) {
      await source.setStatus('births', await source.listNumeros('births', 4, { limit: n }), 4, 2);
    },
  };
  c.state = AgentState.open(join(dir, 'state.db'), { clock: () => c.now });
  t.teardown(async () => {
    c.state.close();
    await source.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return c;
}

type Line = { event: string; percent: number; actsDone: number; actsTotal: number; bytesSent: number; bytesTotal: number; etaSeconds: number | null; final?: boolean };

function jsonOutput(): { output: ProgressOutput; lines: Line[] } {
  const lines: Line[] = [];
  return { lines, output: { line: (text) => lines.push(JSON.parse(text) as Line) } };
}

test('one sync: acts by receipts, bytes by the link meter against the outbox, a JSON line each time, the last at 100 %', async (t) => {
  const c = await centre(t, 300);
  const { output, lines } = jsonOutput();
  const reporter = new ProgressReporter(c, { output, clock: () => c.now, logEveryMs: 0 });
  t.like(await reporter.sample(), { actsDone: 0, actsTotal: 300, bytesSent: 0, fraction: 0, finished: false });

  const a = await c.pack(100, 30_000);
  const b = await c.pack(100, 30_000);
  c.now += 1000;
  // 200 acts packed at 300 bytes each; the 100 not packed yet are counted at that size too.
  t.like(await reporter.sample(), { actsDone: 0, actsTotal: 300, bytesSent: 0, bytesTotal: 90_000 });
  c.send(a);
  c.now += 1000;
  t.like(await reporter.sample(), { actsDone: 0, bytesSent: 30_000, bytesTotal: 90_000 });
  await c.receipt(a);
  c.send(b);
  c.now += 1000;
  const half = (await reporter.sample())!;
  t.like(half, { actsDone: 100, actsTotal: 300, bytesSent: 60_000, bytesTotal: 90_000 });
  t.true(half.etaMs! > 0, 'acts and bytes move: a time left');
  const last = await c.pack(100, 30_000);
  c.send(last);
  await c.receipt(b);
  await c.receipt(last);
  c.now += 1000;
  await reporter.stop();
  t.true(lines.length >= 5);
  t.like(lines.at(-1), { event: 'progress', percent: 100, actsDone: 300, actsTotal: 300, bytesSent: 90_000, bytesTotal: 90_000, etaSeconds: 0, final: true });
  t.deepEqual(lines.map((l) => l.percent), [...lines.map((l) => l.percent)].sort((x, y) => x - y), 'never goes back');
  await reporter.stop();
  t.is(lines.filter((l) => l.final).length, 1, 'one last line, however often stopped');
});

test('the daemon: nothing shown for a small backlog, a bar while a big one goes out, a last line, then quiet again', async (t) => {
  const c = await centre(t, 400);
  await c.source.setStatus('births', await c.source.listNumeros('births', 2, { limit: 350 }), 2, 4);
  const writes: string[] = [];
  const logs: string[] = [];
  const reporter = new ProgressReporter(c, { output: { terminal: { columns: 80, write: (s) => writes.push(s) }, line: (s) => logs.push(s) }, clock: () => c.now, minActs: 100 });
  t.is(await reporter.sample(), undefined, '50 acts waiting: under the threshold');
  reporter.print('{"event":"receipt"}');
  t.deepEqual(logs, ['{"event":"receipt"}'], 'no bar: a log line is just printed');

  await c.validate(150);
  const shown = (await reporter.sample())!;
  t.like(shown, { actsDone: 0, actsTotal: 200 });
  t.regex(writes.at(-1)!, /^\r\[\.+\] {3}0% 0\/200 acts .*\x1b\[K$/);
  reporter.print('{"event":"packed"}');
  t.regex(writes.at(-1)!, /^\r\x1b\[K\{"event":"packed"\}\n\[\.+\] {3}0% 0\/200 acts/, 'a log line goes above the bar, which is drawn again');

  for (let i = 0; i < 2; i++) {
    const s = await c.pack(100, 20_000);
    c.send(s);
    await c.receipt(s);
    c.now += 5000;
  }
  const done = (await reporter.sample())!;
  t.true(done.finished);
  t.regex(writes.at(-1)!, /^\r\[#+\] 100% 200\/200 acts .* done in 10s\x1b\[K\n$/, 'the last line stays, ended by a newline');
  const count = writes.length;
  t.is(await reporter.sample(), undefined, 'backlog gone: quiet');
  t.is(writes.length, count);
  await reporter.stop();
  t.is(writes.length, count, 'nothing showing: stop prints nothing');
});
