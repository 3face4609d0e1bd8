import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import type { Link } from '../agent/link/link.js';
import { resolveProfile, sessionCost } from '../agent/link/link-profile.js';
import { isTamtamError } from '../protocol/errors.js';
import type { ReceiverHandler } from '../hub/receivers/mqtt-receiver.js';
import { Collector } from './helpers/collector.js';
import { LINK_KINDS, CONTRACT_CENTRE, type FarSide } from './helpers/link-kinds.js';

/**
 * What every Link promises the agent, run against each kind with its real far
 * side (hono's way: one suite, every implementation; a skip says why).
 */
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const reply = (b: Uint8Array) => new TextEncoder().encode(`receipt:${sha(b)}`);

/** Payloads the far side took (by digest), answered with a reply naming them. */
class Arrivals extends Collector<string> {
  readonly handler: ReceiverHandler = async (centre, payload) => {
    if (centre !== CONTRACT_CENTRE) throw new Error(`payload arrived for ${centre}`);
    this.push(sha(payload));
    return { reply: reply(payload) };
  };

  get got(): string[] {
    return this.items;
  }

  count(n: number): Promise<void> {
    return this.until((items) => items.length >= n, `${n} payloads at the far side`, 30_000);
  }
}

async function farSide(t: ExecutionContext, kind: (typeof LINK_KINDS)[number], arrivals: Arrivals): Promise<FarSide> {
  const side = await kind.start(arrivals.handler);
  t.teardown(() => side.stop());
  return side;
}

function track(t: ExecutionContext, link: Link): Link {
  t.teardown(async () => {
    await link.close();
    await link.dispose?.();
  });
  return link;
}

for (const kind of LINK_KINDS) {
  const contract = kind.skip ? test.skip : test.serial;
  const name = (what: string) => `${kind.name}: ${what}${kind.skip ? ` (skipped: ${kind.skip})` : ''}`;

  contract(name('payloads sent at once arrive whole and once; replies come back; usage counts every byte'), async (t) => {
    const arrivals = new Arrivals();
    const side = await farSide(t, kind, arrivals);
    const link = track(t, await side.link());
    const replies = new Collector<string>();
    link.onMessage((p) => replies.push(new TextDecoder().decode(p)));
    const states: string[] = [];
    link.onStateChange((s) => states.push(s));
    await link.open();
    t.is(link.state, 'up');
    t.true(states.includes('up'));
    const payloads = [randomBytes(1), randomBytes(5_000), randomBytes(kind.largePayload), randomBytes(300)].map((b) => new Uint8Array(b));
    await Promise.all(payloads.map((p) => link.send(p)));
    await arrivals.count(payloads.length);
    t.deepEqual([...arrivals.got].sort(), payloads.map(sha).sort(), 'each payload once, intact');
    await replies.until((r) => r.length >= payloads.length, 'the replies', 30_000);
    t.deepEqual([...replies.items].sort(), payloads.map((p) => `receipt:${sha(p)}`).sort());
    await link.close();
    t.is(link.state, 'down');
    const u = link.usage();
    const sent = payloads.reduce((n, p) => n + p.length, 0);
    t.true(u.bytesUp >= sent, `bytesUp ${u.bytesUp} counts at least the ${sent} payload bytes`);
    t.true(u.bytesDown > 0 && u.sessions >= 1 && u.messagesUp >= payloads.length && u.messagesDown >= payloads.length, JSON.stringify(u));
    t.true(u.airtimeMs >= 0 && u.costUsd >= 0);
    await link.close();
  });

  contract(name('a reply whose handler failed comes again, at the latest once the link is opened again'), async (t) => {
    const arrivals = new Arrivals();
    const side = await farSide(t, kind, arrivals);
    const link = track(t, await side.link());
    const seen = new Collector<string>();
    let failures = 1;
    link.onMessage((p) => {
      seen.push(new TextDecoder().decode(p));
      if (failures-- > 0) throw new Error('the agent crashed while applying it');
    });
    await link.open();
    const payload = new Uint8Array(randomBytes(2_000));
    await link.send(payload);
    await seen.until((r) => r.length >= 1, 'the first delivery', 30_000);
    await link.close();
    await link.open();
    await seen.until((r) => r.length >= 2, 'the reply again', 30_000);
    t.deepEqual(seen.items.slice(0, 2), [`receipt:${sha(payload)}`, `receipt:${sha(payload)}`]);
  });

  contract(name('opening towards nobody fails with a retryable error saying what is down'), async (t) => {
    const arrivals = new Arrivals();
    const side = await farSide(t, kind, arrivals);
    const link = track(t, await side.deadLink());
    const e = await t.throwsAsync(link.open());
    t.true(isTamtamError(e) && e.retryable && ['E_LINK_DOWN', 'E_DIAL_FAILED', 'E_TIMEOUT'].includes(e.code), `${(e as Error).message}`);
    t.is(link.state, 'down');
  });

  contract(name('a send while down, an aborted open and an aborted send reject with their codes'), async (t) => {
    const arrivals = new Arrivals();
    const side = await farSide(t, kind, arrivals);
    const link = track(t, await side.link());
    await t.throwsAsync(link.send(new Uint8Array([1])), { code: 'E_LINK_DOWN' });
    await t.throwsAsync(link.open(AbortSignal.abort()), { code: 'E_ABORTED' });
    await link.open();
    const big = new Uint8Array(randomBytes(kind.largePayload));
    await t.throwsAsync(link.send(big, AbortSignal.abort()), { code: 'E_ABORTED' });
  });

  contract(name('the far side going away fails sends with a retryable error'), async (t) => {
    const arrivals = new Arrivals();
    const side = await farSide(t, kind, arrivals);
    const link = track(t, await side.link());
    await link.open();
    await link.send(new Uint8Array([7]));
    await side.cut();
    const e = await t.throwsAsync(link.send(new Uint8Array(randomBytes(kind.largePayload))));
    t.true(isTamtamError(e) && e.retryable, `${(e as Error).message}`);
    t.is(arrivals.got.length, 1);
  });
}

test('a session is billed as its carrier bills it: Certus at least 5 KB then by the KB, Iridium CSD by the started 20 s', (t) => {
  const certus = resolveProfile('iridium-certus-100');
  t.is(sessionCost(certus, { bytesUp: 100, bytesDown: 0, seconds: 30 }), 5 * (5 / 1024));
  t.is(sessionCost(certus, { bytesUp: 9_000, bytesDown: 1_000, seconds: 30 }), 10 * (5 / 1024));
  t.is(sessionCost(certus, { bytesUp: 0, bytesDown: 0, seconds: 0 }), 0);
  const csd = resolveProfile('iridium-csd');
  t.is(sessionCost(csd, { bytesUp: 50_000, bytesDown: 0, seconds: 45 }), 1);
  t.is(sessionCost(csd, { bytesUp: 50_000, bytesDown: 0, seconds: 61 }), 80 / 60);
  t.is(sessionCost(resolveProfile('internet'), { bytesUp: 1e9, bytesDown: 1e9, seconds: 86_400 }), 0);
});
