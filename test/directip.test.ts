import test from 'ava';
import { connect } from 'node:net';
import { readDirectIpMessage } from '../common/directip-reader.js';
import { SbdGateway } from '../hardware/simulator/sbd-gateway.js';
import { DirectIpClient } from '../hub/sbd/directip-client.js';
import { DirectIpServer, type MoDelivery } from '../hub/sbd/directip-server.js';
import { isTamtamError, TamtamError } from '../protocol/errors.js';
import {
  decodeMo, decodeMoConfirmation, decodeMt, decodeMtConfirmation, encodeMo, encodeMoConfirmation, encodeMt, encodeMtConfirmation, MtFlags,
} from '../protocol/sbd/directip.js';
import { Collector } from './helpers/collector.js';

const IMEI = '300034010123450';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

test('MO message: pre-header, header IE 0x01 of 28 bytes, payload IE 0x02 (the guide\'s layout)', (t) => {
  const m = encodeMo({ cdrReference: 0x01020304, imei: IMEI, sessionStatus: 0, momsn: 0x1234, mtmsn: 0x0005, time: 0x5f000000, payload: Uint8Array.of(0xde, 0xad) });
  t.is(hex(m), '01' + '0024' + '01' + '001c' + '01020304' + ascii(IMEI) + '00' + '1234' + '0005' + '5f000000' + '02' + '0002' + 'dead');
  t.deepEqual(decodeMo(m), { cdrReference: 0x01020304, imei: IMEI, sessionStatus: 0, momsn: 0x1234, mtmsn: 5, time: 0x5f000000, payload: Uint8Array.of(0xde, 0xad) });
  t.is(hex(encodeMoConfirmation(true)), '01' + '0004' + '05' + '0001' + '01');
  t.false(decodeMoConfirmation(encodeMoConfirmation(false)));
});

test('MT message, header IE 0x41 of 21 bytes, priority 0x46; MT confirmation 0x44 of 25 bytes with a signed status', (t) => {
  const m = encodeMt({ clientMessageId: 0x4d736731, imei: IMEI, flags: MtFlags.FlushQueue, payload: Uint8Array.of(1, 2, 3), priority: 2 });
  t.is(hex(m), '01' + '0023' + '41' + '0015' + '4d736731' + ascii(IMEI) + '0001' + '42' + '0003' + '010203' + '46' + '0002' + '0002');
  t.deepEqual(decodeMt(m), { clientMessageId: 0x4d736731, imei: IMEI, flags: 1, payload: Uint8Array.of(1, 2, 3), priority: 2 });
  const c = encodeMtConfirmation({ clientMessageId: 7, imei: IMEI, autoIdReference: 0xabcdef01, status: -5 });
  t.is(hex(c), '01' + '001c' + '44' + '0019' + '00000007' + ascii(IMEI) + 'abcdef01' + 'fffb');
  t.is(decodeMtConfirmation(c).status, -5);
});

test('decoders skip unknown IEs, check every length and never over-read', (t) => {
  const m = encodeMo({ cdrReference: 1, imei: IMEI, sessionStatus: 0, momsn: 1, mtmsn: 0, time: 0, payload: Uint8Array.of(9) });
  const withUnknown = Uint8Array.from([...m.subarray(0, 3), 0x7e, 0x00, 0x02, 0xaa, 0xbb, ...m.subarray(3)]);
  withUnknown[2] += 5;
  t.deepEqual(decodeMo(withUnknown).payload, Uint8Array.of(9));
  const code = (f: () => unknown): string => (t.throws(f) as TamtamError).code;
  t.is(code(() => decodeMo(m.subarray(0, m.length - 1))), 'E_TRUNCATED');
  t.is(code(() => decodeMo(Uint8Array.from([...m, 0]))), 'E_MALFORMED');
  t.is(code(() => decodeMo(Uint8Array.of(2, 0, 0))), 'E_BAD_VERSION');
  t.is(code(() => decodeMo(Uint8Array.of(1, 0, 0))), 'E_MALFORMED');
  t.is(code(() => decodeMo(Uint8Array.of(1, 0, 4, 0x02, 0x00, 0x09, 0))), 'E_TRUNCATED');
  t.is(code(() => decodeMo(Uint8Array.of(1, 0, 4, 0x01, 0x00, 0x01, 0))), 'E_MALFORMED');
  t.is(code(() => encodeMt({ clientMessageId: 1, imei: '12345', flags: 0 })), 'E_BAD_INPUT');
  for (let i = 0; i < 3000; i++) {
    const bytes = Uint8Array.from({ length: i % 60 }, (_, k) => (i * 31 + k * 17) & 0xff);
    bytes[0] = 1;
    for (const decode of [decodeMo, decodeMt, decodeMtConfirmation, decodeMoConfirmation]) {
      try { decode(bytes); } catch (e) { if (!isTamtamError(e)) t.fail(String(e)); }
    }
  }
});

async function moServer(t: import('ava').ExecutionContext, onMo: (mo: MoDelivery) => Promise<void>) {
  const errors = new Collector<TamtamError>();
  const server = new DirectIpServer({ port: 0, onMo, onError: (e) => errors.push(e), readTimeoutMs: 300 });
  await server.start();
  t.teardown(() => server.stop());
  return { server, errors };
}

/** Sends raw bytes to the server, then returns what it answered before closing. */
async function raw(port: number, chunks: Uint8Array[], gapMs = 0): Promise<Uint8Array> {
  const s = connect({ host: '127.0.0.1', port });
  const answer = new Promise<Uint8Array>((resolve) => {
    const got: Buffer[] = [];
    s.on('data', (b) => got.push(b));
    s.on('error', () => undefined);
    s.on('close', () => resolve(Buffer.concat(got)));
  });
  for (const c of chunks) {
    s.write(c);
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  }
  return answer;
}

test('MO server: confirms only after the handler, refuses garbage, times out slow senders, keeps running', async (t) => {
  const got = new Collector<MoDelivery>();
  let fail = false;
  const { server, errors } = await moServer(t, async (mo) => {
    if (fail) throw new TamtamError('E_INTERNAL', 'db down', { retryable: true });
    got.push(mo);
  });
  const mo = encodeMo({ cdrReference: 1, imei: IMEI, sessionStatus: 0, momsn: 3, mtmsn: 0, time: 1_700_000_000, payload: Uint8Array.of(1, 2) });
  t.true(decodeMoConfirmation(await raw(server.port, [mo.subarray(0, 2), mo.subarray(2, 10), mo.subarray(10)], 5)));
  t.deepEqual(got.items[0], { imei: IMEI, momsn: 3, mtmsn: 0, sessionStatus: 0, payload: Uint8Array.of(1, 2), time: 1_700_000_000_000 });
  t.false(decodeMoConfirmation(await raw(server.port, [Uint8Array.of(1, 0, 5, 0x01, 0, 2, 0, 0)])));
  t.is((await raw(server.port, [mo.subarray(0, 20)])).length, 4 + 3, 'a partial message times out with a failure confirmation');
  t.is((await raw(server.port, [Uint8Array.of(1, 0xff, 0xff)])).length, 7, 'an oversized announcement is refused unread');
  fail = true;
  t.false(decodeMoConfirmation(await raw(server.port, [mo])), 'a handler failure is not confirmed, so the gateway delivers again');
  fail = false;
  t.true(decodeMoConfirmation(await raw(server.port, [mo])));
  t.deepEqual(errors.items.map((e) => e.code), ['E_MALFORMED', 'E_TIMEOUT', 'E_TOO_LARGE', 'E_INTERNAL']);
  t.is(got.items.length, 2);
});

test('client ↔ gateway simulator: queue positions, unknown IMEI, queue full, too large, flush', async (t) => {
  const gw = new SbdGateway({ hub: { host: '127.0.0.1', port: 1 }, imeis: [IMEI], queueLimit: 3 });
  await gw.start();
  t.teardown(() => gw.stop());
  const client = new DirectIpClient({ host: '127.0.0.1', port: gw.mtPort, timeoutMs: 2000 });
  t.is((await client.send(IMEI, Uint8Array.of(1))).status, 1);
  t.is((await client.send(IMEI, Uint8Array.of(2))).status, 2);
  const unknown = await t.throwsAsync(client.send('300034010999999', Uint8Array.of(1))) as TamtamError;
  t.is(unknown.code, 'E_CONFIG');
  t.false(unknown.retryable);
  t.regex(unknown.message, /unknown IMEI/);
  t.is(((await t.throwsAsync(client.send(IMEI, new Uint8Array(271)))) as TamtamError).code, 'E_TOO_LARGE');
  t.is((await client.send(IMEI, Uint8Array.of(3))).status, 3);
  const full = await t.throwsAsync(client.send(IMEI, Uint8Array.of(4))) as TamtamError;
  t.is(full.code, 'E_LINK_DOWN');
  t.true(full.retryable);
  t.deepEqual(await gw.mt(IMEI), { payload: Uint8Array.of(1), queued: 2 });
  t.is((await client.send(IMEI, Uint8Array.of(9), MtFlags.FlushQueue)).status, 1);
  t.deepEqual(await gw.mt(IMEI), { payload: Uint8Array.of(9), queued: 0 });
  t.is(await gw.mt(IMEI), undefined);
});

test('gateway simulator MO: delivered to the hub and confirmed; rejects when the hub is down or refuses', async (t) => {
  let refuse = false;
  const { server } = await moServer(t, async () => {
    if (refuse) throw new TamtamError('E_INTERNAL', 'no');
  });
  const gw = new SbdGateway({ hub: { host: '127.0.0.1', port: server.port } });
  await gw.mo(IMEI, 1, Uint8Array.of(5));
  t.deepEqual(gw.delivered, [{ imei: IMEI, momsn: 1, bytes: 1 }]);
  refuse = true;
  t.is(((await t.throwsAsync(gw.mo(IMEI, 2, Uint8Array.of(5)))) as TamtamError).code, 'E_LINK_DOWN');
  const port = server.port;
  await server.stop();
  const down = new SbdGateway({ hub: { host: '127.0.0.1', port } });
  t.is(((await t.throwsAsync(down.mo(IMEI, 3, Uint8Array.of(5)))) as TamtamError).code, 'E_LINK_DOWN');
});

test('readDirectIpMessage refuses bytes after the message', async (t) => {
  const { createServer } = await import('node:net');
  const result = new Collector<string>();
  const srv = createServer((s) => {
    readDirectIpMessage(s, { maxBytes: 100, timeoutMs: 500 }, 'peer').then(() => result.push('ok'), (e: TamtamError) => result.push(e.code));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => srv.close());
  const port = (srv.address() as import('node:net').AddressInfo).port;
  const s = connect({ host: '127.0.0.1', port });
  s.on('error', () => undefined);
  s.end(Uint8Array.of(1, 0, 1, 9, 9));
  await result.until((i) => i.length === 1, 'a result');
  t.deepEqual(result.items, ['E_MALFORMED']);
  s.destroy();
});
