import test from 'ava';
import Database from '../common/sqlite-database.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentState } from '../agent/state/agent-state.js';

const T0 = Date.UTC(2024, 4, 1, 8);

function statePath(t: import('ava').ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-state-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'data', 'state.db');
}

test('state.db is created in WAL mode at the current schema, sequences start from the clock and survive a reopen', (t) => {
  const path = statePath(t);
  let now = T0;
  const state = AgentState.open(path, { clock: () => now });
  const a = state.beginSdc('births', [{ numero: 1, version: 1 }, { numero: 2, version: 1 }]);
  const b = state.beginSdc('births', [{ numero: 3, version: 1 }]);
  t.deepEqual([a.sequence, b.sequence], [T0, T0 + 1]);
  t.like(a, { table: 'births', count: 2, file: `${T0}.sdc`, state: 'packing', kind: 'data' });
  state.close();
  now += 10_000_000;
  const again = AgentState.open(path, { clock: () => now });
  t.is(again.beginSdc('births', [{ numero: 4, version: 1 }]).sequence, T0 + 2, 'a reopened state keeps counting, it does not restart from the clock');
  again.close();
  const raw = new Database(path);
  t.is(raw.pragma('journal_mode', { simple: true }), 'wal');
  t.is(raw.pragma('user_version', { simple: true }), 2);
  raw.close();
});

test('a state.db from a newer Tamtam is refused with what to do', (t) => {
  const path = statePath(t);
  AgentState.open(path).close();
  const raw = new Database(path);
  raw.pragma('user_version = 99');
  raw.close();
  t.throws(() => AgentState.open(path), { code: 'E_CONFIG', message: /newer Tamtam \(schema 99.*upgrade the agent/ });
});

test('versions, journal and receipts: last version kept, unmentioned records rejected, applied after markApplied', (t) => {
  const state = AgentState.open(statePath(t), { clock: () => T0 });
  t.teardown(() => state.close());
  const s1 = state.beginSdc('births', [{ numero: 1, version: 1 }, { numero: 2, version: 1 }, { numero: 3, version: 1 }]).sequence;
  t.deepEqual([...state.lastVersions('births', [1, 2, 9])], [[1, 1], [2, 1]]);
  const r = state.recordReceipt(s1, {
    accepted: true,
    entries: [{ numero: 1, version: 1, outcome: 'merged' }, { numero: 2, version: 1, outcome: 'rejected', reason: 'bad date' }, { numero: 7, version: 1, outcome: 'merged' }],
  });
  t.deepEqual(r, { matched: 2, unknown: 1 });
  const journal = state.journal(s1);
  t.deepEqual(journal.map((e) => [e.numero, e.outcome, e.applied]), [[1, 'merged', false], [2, 'rejected', false], [3, 'rejected', false]]);
  t.regex(journal[2]!.reason!, /did not mention this record/);
  t.is(state.unapplied().length, 3);
  state.markApplied(s1);
  t.deepEqual(state.unapplied(), []);
  t.is(state.sdc(s1)!.state, 'done');
  t.deepEqual(state.rejected(10).map((e) => e.numero), [3, 2]);

  const s2 = state.beginSdc('births', [{ numero: 2, version: 2 }]).sequence;
  t.deepEqual(state.rejected(10).map((e) => e.numero), [3], 'a record sent again leaves the rejected list');
  t.like(state.latestEntries('births', [2]).get(2), { sequence: s2, version: 2, outcome: null, sdcState: 'packing' });
  t.is(state.lastVersions('births', [2]).get(2), 2);
});

test('a lost SDC is abandoned by the transaction that packs its stand-in', (t) => {
  const state = AgentState.open(statePath(t), { clock: () => T0 });
  t.teardown(() => state.close());
  const lost = state.beginSdc('births', [{ numero: 5, version: 1 }]).sequence;
  const by = state.beginSdc('births', [{ numero: 5, version: 1 }], lost).sequence;
  t.like(state.sdc(lost), { state: 'abandoned', replacedBy: by });
  t.deepEqual(state.sdcs(['packing', 'packed']).map((s) => s.sequence), [by]);
  t.is(state.lastVersions('births', [5]).get(5), 1, 'the same version goes again');
});

test('usage is counted per link per day', (t) => {
  let now = T0;
  const state = AgentState.open(statePath(t), { clock: () => now });
  t.teardown(() => state.close());
  state.addUsage('mqtt', { bytesUp: 100, messagesUp: 1, sessions: 1 });
  state.addUsage('mqtt', { bytesUp: 50, bytesDown: 20, messagesDown: 1 });
  now += 86_400_000;
  state.addUsage('mqtt', { bytesUp: 7 });
  state.addUsage('sbd', { bytesUp: 340, messagesUp: 1, airtimeMs: 20_000, costUsd: 0.25 });
  state.addUsage('sbd', { airtimeMs: 1_000, costUsd: 0.5 });
  const none = { airtimeMs: 0, costUsd: 0 };
  t.deepEqual(state.usage(), [
    { link: 'mqtt', day: '2024-05-01', bytesUp: 150, bytesDown: 20, messagesUp: 1, messagesDown: 1, sessions: 1, ...none },
    { link: 'mqtt', day: '2024-05-02', bytesUp: 7, bytesDown: 0, messagesUp: 0, messagesDown: 0, sessions: 0, ...none },
    { link: 'sbd', day: '2024-05-02', bytesUp: 340, bytesDown: 0, messagesUp: 1, messagesDown: 0, sessions: 0, airtimeMs: 21_000, costUsd: 0.75 },
  ]);
  t.deepEqual(state.usage('2024-05-02').map((u) => u.day), ['2024-05-02', '2024-05-02'], 'from a day on, for usage reports');
});

test('exclusive runs one task at a time, in order, and a failure does not block the next', async (t) => {
  const state = AgentState.open(statePath(t));
  t.teardown(() => state.close());
  const order: string[] = [];
  const task = (name: string, fail = false) => state.exclusive(async () => {
    order.push(`${name} start`);
    await new Promise((resolve) => setImmediate(resolve));
    order.push(`${name} end`);
    if (fail) throw new Error(name);
    return name;
  });
  const [a, b, c] = [task('a'), task('b', true), task('c')];
  t.is(await a, 'a');
  await t.throwsAsync(b, { message: 'b' });
  t.is(await c, 'c');
  t.deepEqual(order, ['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
});
