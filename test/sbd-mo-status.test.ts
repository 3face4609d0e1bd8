import test from 'ava';
import { describeMoStatus, moRetryDecision, moSucceeded, type MoRetryPolicy } from '../hardware/sbd/mo-status.js';
import { parseMsstm, parseSbdix, sbdChecksum, withChecksum } from '../hardware/sbd/sbd-answers.js';

const policy = (random = 1): MoRetryPolicy => ({ baseMs: 1000, maxMs: 8000, maxAttempts: 5, random: () => random });

test('MO statuses 0..4 mean the message went through; 5 and up do not', (t) => {
  for (const code of [0, 1, 2, 3, 4]) t.true(moSucceeded(code), `status ${code}`);
  for (const code of [5, 10, 13, 18, 32, 35, 64]) t.false(moSucceeded(code), `status ${code}`);
});

test('each status is retried or final as the reference implies, with words a technician can act on', (t) => {
  const retry = [10, 11, 13, 17, 18, 19, 32, 35, 36, 37, 38, 65];
  const final = [12, 14, 15, 16, 33, 34, 64];
  for (const code of retry) t.is(describeMoStatus(code).outcome, 'retry', `status ${code}`);
  for (const code of final) t.is(describeMoStatus(code).outcome, 'final', `status ${code}`);
  t.regex(describeMoStatus(32).meaning, /sky/);
  t.regex(describeMoStatus(15).meaning, /subscription/);
  t.regex(describeMoStatus(33).meaning, /antenna/);
  t.is(describeMoStatus(99).outcome, 'retry');
});

test('waits grow exponentially, are capped, jittered between half and all, and bounded in number', (t) => {
  t.deepEqual([1, 2, 3, 4].map((a) => moRetryDecision(32, a, policy()).waitMs), [1000, 2000, 4000, 8000]);
  t.is(moRetryDecision(32, 4, policy(0)).waitMs, 4000);
  t.is(moRetryDecision(32, 2, policy(0.5)).waitMs, 1500);
  t.false(moRetryDecision(32, 5, policy()).retry);
  t.false(moRetryDecision(15, 1, policy()).retry);
  t.false(moRetryDecision(0, 1, policy()).retry);
});

test('status 36 waits at least three minutes whatever the backoff says', (t) => {
  const d = moRetryDecision(36, 1, policy());
  t.true(d.retry);
  t.is(d.waitMs, 180_000);
});

test('the SBD checksum is the low 16 bits of the byte sum, high byte first', (t) => {
  const hello = new TextEncoder().encode('hello');
  t.is(sbdChecksum(hello), 0x0214);
  t.deepEqual([...withChecksum(hello)], [0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x02, 0x14]);
  t.is(sbdChecksum(new Uint8Array(300).fill(0xff)), (300 * 255) & 0xffff);
});

test('+SBDIX and -MSSTM answers are read field by field', (t) => {
  t.deepEqual(parseSbdix(['+SBDIX: 32, 7, 2, 0, 0, 0']), { moStatus: 32, momsn: 7, mtStatus: 2, mtmsn: 0, mtLength: 0, mtQueued: 0 });
  t.deepEqual(parseSbdix(['+SBDIX:0,65535,1,12,270,3']), { moStatus: 0, momsn: 65535, mtStatus: 1, mtmsn: 12, mtLength: 270, mtQueued: 3 });
  t.throws(() => parseSbdix(['+SBDIX: 0, 1']), { code: 'E_MODEM_ERROR' } as never);
  t.deepEqual(parseMsstm(['-MSSTM: no network service']), { network: false });
  const time = parseMsstm(['-MSSTM: 00000010']);
  t.true(time.network && time.frames === 16 && time.date.getTime() === Date.UTC(2014, 4, 11, 14, 23, 55) + 1440);
});
