import test from 'ava';
import { createHash } from 'node:crypto';
import { isTamtamError } from '../protocol/index.js';
import { HubDatabase } from '../hub/db/hub-database.js';
import { migrate } from '../hub/db/migrations.js';
import { hashPassword, verifyPassword } from '../hub/dashboard/password-hash.js';
import { StaffStore } from '../hub/dashboard/staff-store.js';
import { startPostgres, type PostgresCluster } from '../scripts/services/postgres-cluster.js';

let cluster: PostgresCluster;
let databases = 0;

test.before(async () => {
  cluster = await startPostgres();
});
test.after.always(async () => {
  await cluster?.stop();
});

const code = (e: unknown) => (isTamtamError(e) ? e.code : `not a TamtamError: ${String(e)}`);
const PASSWORD = 'correct horse battery';

/** A migrated database and a store whose clock the test moves. */
async function staff(t: { teardown(f: () => Promise<void>): void }) {
  const db = await HubDatabase.connect(await cluster.createDatabase(`staff_${++databases}`));
  t.teardown(() => db.close());
  await migrate(db);
  let now = new Date('2026-03-10T10:00:00Z');
  const clock = { now: () => now, advanceMinutes: (m: number) => { now = new Date(now.getTime() + m * 60_000); } };
  return { db, clock, store: new StaffStore(db, { now: clock.now }) };
}

test('passwords are scrypt N=16384 r=8 p=1 with a 16-byte salt, checked in constant time; a corrupt hash is just wrong', async (t) => {
  const hash = await hashPassword(PASSWORD, (n) => Buffer.alloc(n, 7));
  t.regex(hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  t.is(hash.split('$')[4], Buffer.alloc(16, 7).toString('base64'));
  t.true(await verifyPassword(PASSWORD, hash));
  t.false(await verifyPassword(`${PASSWORD}!`, hash));
  t.false(await verifyPassword(PASSWORD, hash.replace('$16384$', '$1073741824$')));
  t.false(await verifyPassword(PASSWORD, 'plain text'));
  t.not(await hashPassword(PASSWORD), await hashPassword(PASSWORD), 'a random salt each time');
});

test('add, list, authenticate, remove; bad names, short passwords and duplicates are E_BAD_INPUT', async (t) => {
  const { store, db } = await staff(t);
  t.deepEqual(await store.add({ username: 'alice@hub', password: PASSWORD, role: 'admin', cities: null }), { username: 'alice@hub', role: 'admin', cities: null });
  t.deepEqual(await store.add({ username: 'bob', password: PASSWORD, role: 'viewer', cities: ['Douala', 'Garoua'] }), { username: 'bob', role: 'viewer', cities: ['Douala', 'Garoua'] });
  t.deepEqual(await store.list(), [
    { username: 'alice@hub', role: 'admin', cities: null, createdAt: '2026-03-10T10:00:00.000Z', lockedUntil: null },
    { username: 'bob', role: 'viewer', cities: ['Douala', 'Garoua'], createdAt: '2026-03-10T10:00:00.000Z', lockedUntil: null },
  ]);
  const stored = (await db.query<{ password_hash: string }>("SELECT password_hash FROM staff_users WHERE username = 'bob'")).rows[0].password_hash;
  t.false(stored.includes(PASSWORD));
  t.deepEqual(await store.authenticate('bob', PASSWORD), { username: 'bob', role: 'viewer', cities: ['Douala', 'Garoua'] });
  for (const input of [
    { username: 'has space', password: PASSWORD, role: 'admin' as const, cities: null },
    { username: 'x'.repeat(65), password: PASSWORD, role: 'admin' as const, cities: null },
    { username: 'carol', password: 'short', role: 'admin' as const, cities: null },
    { username: 'carol', password: PASSWORD, role: 'root' as never, cities: null },
    { username: 'carol', password: PASSWORD, role: 'viewer' as const, cities: [] },
    { username: 'bob', password: PASSWORD, role: 'viewer' as const, cities: null },
  ]) {
    t.is(code(await t.throwsAsync(store.add(input))), 'E_BAD_INPUT', JSON.stringify(input).slice(0, 80));
  }
  t.true(await store.remove('bob'));
  t.false(await store.remove('bob'));
  t.is(await store.authenticate('bob', PASSWORD), undefined);
});

test('a wrong password and an unknown user get the same undefined, in about the same time', async (t) => {
  const { store } = await staff(t);
  await store.add({ username: 'alice', password: PASSWORD, role: 'admin', cities: null });
  const timed = async (name: string, pw: string) => {
    const t0 = process.hrtime.bigint();
    const r = await store.authenticate(name, pw);
    return { r, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  };
  const wrong: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 4; i++) {
    const w = await timed('alice', `wrong password ${i}`);
    const u = await timed(`nobody${i}`, PASSWORD);
    t.is(w.r, undefined);
    t.is(u.r, undefined);
    wrong.push(w.ms);
    unknown.push(u.ms);
  }
  t.is(await store.authenticate('', PASSWORD), undefined);
  t.is(await store.authenticate('alice', ''), undefined);
  // Both pay one scrypt (tens of ms): a name that does not exist must not answer in a fraction of that.
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  t.true(median(unknown) > median(wrong) * 0.5, `unknown ${median(unknown)} ms, wrong ${median(wrong)} ms`);
});

test('5 failures lock the account 15 minutes, even for the right password; then it works and the count starts again', async (t) => {
  const { store, clock } = await staff(t);
  await store.add({ username: 'alice', password: PASSWORD, role: 'admin', cities: null });
  for (let i = 0; i < 4; i++) t.is(await store.authenticate('alice', 'wrong password'), undefined);
  t.truthy(await store.authenticate('alice', PASSWORD), 'four failures do not lock, and a success clears them');
  for (let i = 0; i < 5; i++) t.is(await store.authenticate('alice', 'wrong password'), undefined);
  t.is(await store.authenticate('alice', PASSWORD), undefined, 'locked');
  t.is((await store.list())[0].lockedUntil, '2026-03-10T10:15:00.000Z');
  clock.advanceMinutes(10);
  for (let i = 0; i < 10; i++) t.is(await store.authenticate('alice', 'wrong password'), undefined);
  t.is((await store.list())[0].lockedUntil, '2026-03-10T10:15:00.000Z', 'attempts while locked neither count nor extend the lock');
  clock.advanceMinutes(5);
  t.deepEqual(await store.authenticate('alice', PASSWORD), { username: 'alice', role: 'admin', cities: null });
  t.is((await store.list())[0].lockedUntil, null);
  for (let i = 0; i < 4; i++) await store.authenticate('alice', 'wrong password');
  t.truthy(await store.authenticate('alice', PASSWORD));
});

test('sessions: a random token stored as its SHA-256 only, valid until it expires or ends', async (t) => {
  const { store, db, clock } = await staff(t);
  await store.add({ username: 'bob', password: PASSWORD, role: 'viewer', cities: ['Douala'] });
  const { token, expiresAt } = await store.createSession('bob', 12);
  t.regex(token, /^[A-Za-z0-9_-]{43}$/);
  t.deepEqual(expiresAt, new Date('2026-03-10T22:00:00Z'));
  t.deepEqual((await db.query('SELECT token_hash FROM staff_sessions')).rows, [{ token_hash: createHash('sha256').update(token).digest('hex') }]);
  t.deepEqual(await store.sessionUser(token), { username: 'bob', role: 'viewer', cities: ['Douala'] });
  t.is(await store.sessionUser(createHash('sha256').update(token).digest('hex')), undefined, 'the stored hash is not a token');
  t.is(await store.sessionUser(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`), undefined);
  t.is(await store.sessionUser('nonsense'), undefined);
  clock.advanceMinutes(12 * 60 - 1);
  t.truthy(await store.sessionUser(token));
  clock.advanceMinutes(1);
  t.is(await store.sessionUser(token), undefined, 'expired');

  const second = await store.createSession('bob', 1);
  t.is((await db.query('SELECT count(*)::int AS n FROM staff_sessions')).rows[0].n, 1, 'the expired one was cleared');
  await store.endSession(second.token);
  t.is(await store.sessionUser(second.token), undefined);
  t.is(code(await t.throwsAsync(store.createSession('nobody', 1))), 'E_BAD_INPUT');
  t.is(code(await t.throwsAsync(store.createSession('bob', 0))), 'E_BAD_INPUT');
});

test('a new password ends the sessions and unlocks; removing a user ends its sessions', async (t) => {
  const { store } = await staff(t);
  await store.add({ username: 'alice', password: PASSWORD, role: 'admin', cities: null });
  const session = await store.createSession('alice', 12);
  for (let i = 0; i < 5; i++) await store.authenticate('alice', 'wrong password');
  await store.setPassword('alice', 'a brand new secret');
  t.is(await store.sessionUser(session.token), undefined);
  t.is(await store.authenticate('alice', PASSWORD), undefined);
  t.truthy(await store.authenticate('alice', 'a brand new secret'));
  t.is(code(await t.throwsAsync(store.setPassword('alice', 'short'))), 'E_BAD_INPUT');
  t.is(code(await t.throwsAsync(store.setPassword('nobody', 'long enough password'))), 'E_BAD_INPUT');
  const other = await store.createSession('alice', 12);
  await store.remove('alice');
  t.is(await store.sessionUser(other.token), undefined);
});
