import test from 'ava';
import { existsSync } from 'node:fs';
import { connect, connectAsync, type IClientOptions } from 'mqtt';
import pg from 'pg';
import { startMosquitto } from '../scripts/services/mosquitto-broker.js';
import { startPostgres } from '../scripts/services/postgres-cluster.js';

async function query(url: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

test('postgres: query, clean restart and kill -9 keep committed data; stop removes the temp dir', async (t) => {
  const cluster = await startPostgres();
  t.teardown(() => cluster.stop());
  t.regex(cluster.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
  t.is((await query(cluster.url, 'SHOW fsync')).rows[0].fsync, 'on');
  t.is((await query(cluster.url, 'SHOW listen_addresses')).rows[0].listen_addresses, '127.0.0.1');

  const db = await cluster.createDatabase('survives');
  await query(db, 'CREATE TABLE t (id int PRIMARY KEY, v text)');
  await query(db, "INSERT INTO t VALUES (1, 'before restart')");
  await cluster.restart();
  t.deepEqual((await query(db, 'SELECT v FROM t')).rows, [{ v: 'before restart' }]);

  await query(db, "INSERT INTO t VALUES (2, 'before crash')");
  await cluster.kill9();
  await t.throwsAsync(query(db, 'SELECT 1'));
  await cluster.restart();
  t.deepEqual((await query(db, 'SELECT id, v FROM t ORDER BY id')).rows, [{ id: 1, v: 'before restart' }, { id: 2, v: 'before crash' }]);

  await cluster.stop();
  t.false(existsSync(cluster.dataDir));
});

test('mosquitto: a QoS 1 message queued for an offline persistent session is delivered after a broker restart', async (t) => {
  const broker = await startMosquitto({ users: { hub: 'hub-secret', centre: 'centre-secret' } });
  t.teardown(() => broker.stop());
  const subscriber: IClientOptions = { clientId: 'hub-1', clean: false, reconnectPeriod: 0, username: 'hub', password: 'hub-secret' };

  await t.throwsAsync(connectAsync(broker.url, { reconnectPeriod: 0, username: 'hub', password: 'wrong' }));

  const first = await connectAsync(broker.url, subscriber);
  await first.subscribeAsync('tamtam/up/#', { qos: 1 });
  await first.endAsync();

  const centre = await connectAsync(broker.url, { clientId: 'centre-1', reconnectPeriod: 0, username: 'centre', password: 'centre-secret' });
  await centre.publishAsync('tamtam/up/CM-CE-YDE-0001', 'sdc-bytes', { qos: 1 });
  await centre.endAsync();

  await broker.restart();

  // The queued message may follow CONNACK in the same read, so listen before connecting.
  const again = connect(broker.url, subscriber);
  const received = new Promise<{ topic: string; payload: string }>((resolve, reject) => {
    again.once('message', (topic, payload) => resolve({ topic, payload: payload.toString() }));
    again.once('error', reject);
  });
  t.deepEqual(await received, { topic: 'tamtam/up/CM-CE-YDE-0001', payload: 'sdc-bytes' });
  await again.endAsync();
});

test('mosquitto: kill9 then restart serves again on the same port', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  await broker.kill9();
  await t.throwsAsync(connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 1000 }));
  await broker.restart();
  const client = await connectAsync(broker.url, { reconnectPeriod: 0 });
  t.true(client.connected);
  await client.endAsync();
});
