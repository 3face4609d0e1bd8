import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { SerialPort } from 'serialport';
import type { ByteStream } from '../common/byte-stream.js';
import { AtEngine } from '../hardware/at/at-engine.js';
import { closeSerialPort, openSerialPort } from '../hardware/at/serial-port-open.js';
import { Modem } from '../hardware/modem/modem.js';
import { ModemDialer, type ModemDialerOptions } from '../hardware/modem/modem-dialer.js';
import { parseCreg } from '../hardware/modem/modem-driver.js';
import { probeModem } from '../hardware/modem/modem-probe.js';
import { ModemSimulator, type ModemSimulatorOptions } from '../hardware/simulator/modem-simulator.js';
import { PtyPair } from '../hardware/simulator/pty-pair.js';
import { TamtamError, type ErrorCode } from '../protocol/errors.js';

/** A TCP endpoint standing in for the hub's stream receiver: the simulator delivers calls to it. */
async function farEnd(t: ExecutionContext) {
  const arrived: Socket[] = [];
  const waiting: ((s: Socket) => void)[] = [];
  const server = createServer((socket) => {
    t.teardown(() => socket.destroy());
    const w = waiting.shift();
    if (w) w(socket);
    else arrived.push(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const next = () => new Promise<Socket>((resolve) => {
    const s = arrived.shift();
    if (s) resolve(s);
    else waiting.push(resolve);
  });
  return { port: (server.address() as { port: number }).port, next };
}

async function simulator(t: ExecutionContext, options: Partial<ModemSimulatorOptions> & { farPort?: number } = {}) {
  const { farPort, ...rest } = options;
  const sim = await ModemSimulator.start({
    target: () => (farPort === undefined ? undefined : { host: '127.0.0.1', port: farPort }),
    upKbps: 200, downKbps: 200, rttMs: 10, connectDelayMs: 20, guardTimeMs: 100, ...rest,
  });
  t.teardown(() => sim.close());
  return sim;
}

function dialer(t: ExecutionContext, path: string, options: Partial<ModemDialerOptions> = {}) {
  const d = new ModemDialer({ port: path, guardTimeMs: 150, commandTimeoutMs: 2000, dialTimeoutMs: 10_000, ...options });
  t.teardown(() => d.dispose());
  return d;
}

async function rejectsWith(t: ExecutionContext, promise: Promise<unknown>, code: ErrorCode): Promise<TamtamError> {
  const e = await t.throwsAsync(promise);
  t.true(e instanceof TamtamError, String(e));
  t.is((e as TamtamError).code, code, (e as Error).message);
  return e as TamtamError;
}

/** Gathers the bytes `subscribe` hands out until `count` have come. */
function gather(subscribe: (listener: (bytes: Uint8Array) => void) => void, count: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  return new Promise((resolve) => subscribe((bytes) => {
    parts.push(Buffer.from(bytes));
    if (parts.reduce((n, p) => n + p.length, 0) >= count) resolve(Buffer.concat(parts));
  }));
}
const collect = (stream: ByteStream, count: number) => gather((l) => stream.onData(l), count);
const readSocket = (socket: Socket, count: number) => gather((l) => socket.on('data', l), count);

/** Every byte value, and the modem's own words in the middle: a raw call must carry them untouched. */
const awkward = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from('\r\nNO CARRIE\r\nOK\r\n+++\r\n'), Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i))]);

test('the engine asks identity, signal and registration through the real serialport, echo on and off', async (t) => {
  const sim = await simulator(t, { signal: 3, registration: 5, imei: '300534010000001' });
  const port = await openSerialPort({ path: sim.path, baudRate: 19_200 });
  t.teardown(() => closeSerialPort(port));
  const engine = new AtEngine(port, { commandTimeoutMs: 2000 });
  t.deepEqual((await engine.command('AT+CGMI')).lines, ['Iridium'], 'echo on: the echoed command is not an answer');
  await engine.command('ATE0');
  t.deepEqual((await engine.command('AT+CGSN')).lines, ['300534010000001']);
  const csq = await engine.command('AT+CSQ');
  t.deepEqual(csq.lines, ['+CSQ:3']);
  t.is(csq.final, 'OK');
  t.like(parseCreg((await engine.command('AT+CREG?')).lines), { state: 'roaming' });
  const refused = await rejectsWith(t, engine.command('AT+NOSUCH'), 'E_MODEM_ERROR');
  t.regex(refused.message, /AT\+NOSUCH/);
  const [a, b] = await Promise.all([engine.command('AT+CGMM'), engine.command('AT+CSQ')]);
  t.deepEqual([a.lines, b.lines], [['IRIDIUM 9500 Family'], ['+CSQ:3']], 'commands queue, one at a time');
  engine.detach();
});

test('the engine sorts unsolicited lines out, writes a payload on a READY prompt, and keeps bytes that came with CONNECT', async (t) => {
  const pair = await PtyPair.start();
  t.teardown(() => pair.close());
  const dce = new SerialPort({ path: pair.dcePath, baudRate: 19_200 });
  await once(dce, 'open');
  t.teardown(() => closeSerialPort(dce));
  const port = await openSerialPort({ path: pair.dtePath, baudRate: 19_200 });
  t.teardown(() => closeSerialPort(port));
  const engine = new AtEngine(port, { commandTimeoutMs: 2000, dataIdleFlushMs: 20 });
  const news: string[] = [];
  engine.onUnsolicited((line) => news.push(line));
  let typed = '';
  dce.on('data', (bytes: Buffer) => {
    typed += bytes.toString('latin1');
    if (typed.endsWith('AT+CSQ\r')) dce.write('\r\n+CREG: 2\r\n\r\nSBDRING\r\n\r\n+CSQ:4\r\n\r\nOK\r\n');
    else if (typed.endsWith('AT+SBDWB=3\r')) dce.write('READY\r\n');
    else if (typed.endsWith('AT+SBDWB=3\rabc\x01\x26')) dce.write('0\r\n\r\nOK\r\n');
    else if (typed.endsWith('ATD123\r')) dce.write('\r\nCONNECT 2400\r');
    else if (typed.endsWith('ATD123\rup')) dce.write('\ndown\r\n\r\nNO CARRIER\r\n');
  });
  t.deepEqual((await engine.command('AT+CSQ')).lines, ['+CSQ:4']);
  t.deepEqual(news, ['+CREG: 2', 'SBDRING']);
  const written = await engine.command('AT+SBDWB=3', { prompt: 'READY', payload: Buffer.from([0x61, 0x62, 0x63, 0x01, 0x26]) });
  t.deepEqual(written.lines, ['0'], 'the answer after the payload, not the prompt');
  const connect = await engine.command('ATD123');
  t.is(connect.final, 'CONNECT 2400');
  t.true(engine.inCall);
  const data: Buffer[] = [];
  const ended = new Promise<string>((resolve) => engine.enterDataMode({ onData: (b) => data.push(Buffer.from(b)), onEnd: resolve }));
  await engine.writeRaw(Buffer.from('up'));
  t.is(await ended, 'no-carrier');
  t.is(Buffer.concat(data).toString(), 'down\r\n', 'the LF of CONNECT\'s CRLF is not data, and the bytes before NO CARRIER are');
  t.false(engine.inCall);
  engine.detach();
});

test('a dialled call carries bytes both ways to the far end, and close() escapes and hangs up', async (t) => {
  const far = await farEnd(t);
  const sim = await simulator(t, { farPort: far.port });
  const d = dialer(t, sim.path);
  const call = await d.dial();
  const socket = await far.next();
  const down = collect(call, awkward.length);
  const closes: (TamtamError | undefined)[] = [];
  call.onClose((e) => closes.push(e));
  const up = readSocket(socket, awkward.length);
  await call.write(awkward);
  t.deepEqual(await up, awkward);
  socket.write(awkward);
  t.deepEqual(await down, awkward, 'bytes that look like NO CARRIER or OK, CRs and LFs included, reach the centre as data');
  await call.close();
  t.true(call.closed);
  t.deepEqual(closes, [undefined], 'closed without an error');
  t.is(sim.state, 'command');
  t.deepEqual(sim.commands.slice(-3), ['AT+CBST=71,0,1', 'ATD008816000025', 'ATH']);
  t.is(sim.stats().drops, 0, 'hung up by ATH, not dropped');
  await rejectsWith(t, call.write(Buffer.from('late')), 'E_LINK_DOWN');
});

test('NO CARRIER during a call closes the stream with a retryable E_LINK_DOWN, and the next dial reuses the port', async (t) => {
  const far = await farEnd(t);
  const sim = await simulator(t, { farPort: far.port });
  const d = dialer(t, sim.path);
  const call = await d.dial();
  const socket = await far.next();
  const closed = new Promise<TamtamError | undefined>((resolve) => call.onClose(resolve));
  const last = collect(call, 4);
  socket.write('last');
  t.is((await last).toString(), 'last');
  t.true(sim.dropCall());
  const error = await closed;
  t.is(error?.code, 'E_LINK_DOWN');
  t.true(error?.retryable);
  t.regex(error!.message, /NO CARRIER/);
  t.true(call.closed);
  await call.close();
  const again = await d.dial();
  await far.next();
  t.is(sim.stats().calls, 2);
  t.is(sim.commands.filter((c) => c === 'ATE0').length, 1, 'the modem was initialised once for both calls');
  await again.close();
});

test('a busy line and a call with no signal fail with retryable E_DIAL_FAILED saying what they mean', async (t) => {
  const busy = await simulator(t, { failDial: 'BUSY' });
  const e1 = await rejectsWith(t, dialer(t, busy.path, { driver: 'hayes', number: '0123456' }).dial(), 'E_DIAL_FAILED');
  t.true(e1.retryable);
  t.regex(e1.message, /busy/i);
  const far = await farEnd(t);
  const dark = await simulator(t, { signal: 0, farPort: far.port });
  const e2 = await rejectsWith(t, dialer(t, dark.path).dial(), 'E_DIAL_FAILED');
  t.true(e2.retryable);
  t.regex(e2.message, /NO CARRIER/);
  t.regex(e2.message, /sky/, 'no signal: the antenna is the likely cause');
});

test('a silent modem is E_MODEM_SILENT with what to check, after init retries', async (t) => {
  const sim = await simulator(t, { silent: true });
  const d = dialer(t, sim.path, { commandTimeoutMs: 300, initAttempts: 2, initBackoffMs: 10, guardTimeMs: 20 });
  const e = await rejectsWith(t, d.dial(), 'E_MODEM_SILENT');
  t.regex(e.message, /powered on/);
  t.regex(e.message, /cable/);
  t.regex(e.message, /baud rate/);
  t.is(sim.commands.length, 0, 'the simulator read our bytes but said nothing');
});

test('a missing port is E_PORT_NOT_FOUND and a port held by another program is E_PORT_BUSY', async (t) => {
  const missing = await rejectsWith(t, dialer(t, '/dev/tamtam-no-such-port').dial(), 'E_PORT_NOT_FOUND');
  t.regex(missing.message, /does not exist/);
  t.regex(missing.message, /ports found|no serial ports/);
  const sim = await simulator(t);
  const holder = await openSerialPort({ path: sim.path, baudRate: 19_200 });
  t.teardown(() => closeSerialPort(holder));
  const busy = await rejectsWith(t, dialer(t, sim.path).dial(), 'E_PORT_BUSY');
  t.regex(busy.message, /in use/);
  t.regex(busy.message, /this process/, 'the holder is named');
  t.true(busy.retryable);
});

test('an aborted dial rejects with E_ABORTED at once and leaves the modem ready for the next command', async (t) => {
  const far = await farEnd(t);
  const sim = await simulator(t, { farPort: far.port, connectDelayMs: 5000 });
  const modem = await Modem.open({ port: sim.path, driver: 'iridium-csd', guardTimeMs: 150, commandTimeoutMs: 2000 });
  t.teardown(() => modem.close());
  const stop = new AbortController();
  sim.on('command', (line) => {
    if (line.startsWith('ATD')) setTimeout(() => stop.abort(), 50);
  });
  const started = Date.now();
  await rejectsWith(t, modem.dial(stop.signal), 'E_ABORTED');
  t.true(Date.now() - started < 3000, 'the caller did not wait for the dial to time out');
  t.like(await modem.signal(), { bars: 5, word: 'excellent' });
  t.is(sim.state, 'command');
  t.is(sim.stats().calls, 0);
});

test('Modem reports identity, signal and registration of a Thuraya with GSM-style +CSQ', async (t) => {
  const sim = await simulator(t, { model: 'thuraya', signal: 17, registration: 2 });
  const modem = await Modem.open({ port: sim.path, driver: 'thuraya-gmprs', apn: 'get', commandTimeoutMs: 2000 });
  t.teardown(() => modem.close());
  t.like(await modem.identify(), { manufacturer: 'Thuraya', model: 'Thuraya XT-PRO', imei: '300534061234560' });
  t.like(await modem.signal(), { bars: 3, dbm: -79, word: 'good' });
  t.like(await modem.registration(), { state: 'searching', registered: false });
  t.true(sim.commands.includes('AT+CGDCONT=1,"IP","get"'));
});

test('probe reports model, IMEI, signal and registration, and turns problems into advice', async (t) => {
  const good = await simulator(t, { imei: '300534099999999', signal: 4 });
  const report = await probeModem(good.path, { commandTimeoutMs: 2000 });
  t.true(report.ok);
  t.is(report.driver, 'iridium-csd');
  t.like(report.identity, { manufacturer: 'Iridium', imei: '300534099999999' });
  t.like(report.signal, { bars: 4 });
  t.deepEqual(report.checks.map((c) => c.status), ['ok', 'ok', 'ok', 'ok', 'ok']);
  t.is(good.commands.filter((c) => c.startsWith('AT+CBST')).length, 0, 'a probe changes no settings');

  const dark = await simulator(t, { signal: 0, registration: 2 });
  const darkReport = await probeModem(dark.path, { commandTimeoutMs: 2000 });
  t.false(darkReport.ok);
  const signal = darkReport.checks.find((c) => c.name === 'signal')!;
  t.is(signal.status, 'fail');
  t.regex(signal.advice!, /clear view of the sky/);
  t.is(darkReport.checks.find((c) => c.name === 'registration')!.status, 'warn');

  const silent = await simulator(t, { silent: true });
  const silentReport = await probeModem(silent.path, { answerTimeoutMs: 150, fallbackBaudRates: [9600, 4800] });
  t.false(silentReport.ok);
  t.like(silentReport.checks.at(-1), { name: 'answer', status: 'fail', code: 'E_MODEM_SILENT' });
  t.regex(silentReport.checks.at(-1)!.text, /19200, 9600, 4800/);

  const missing = await probeModem('/dev/tamtam-no-such-port');
  t.like(missing.checks[0], { name: 'port', status: 'fail', code: 'E_PORT_NOT_FOUND' });
});

test('a dial that gets no CONNECT in time is a retryable E_TIMEOUT, cancelled so the modem answers again', async (t) => {
  const far = await farEnd(t);
  const sim = await simulator(t, { farPort: far.port, connectDelayMs: 5000 });
  const modem = await Modem.open({ port: sim.path, driver: 'iridium-csd', dialTimeoutMs: 300, commandTimeoutMs: 2000 });
  t.teardown(() => modem.close());
  const e = await rejectsWith(t, modem.dial(), 'E_TIMEOUT');
  t.true(e.retryable);
  t.regex(e.message, /no CONNECT within 0.3 s after dialling 008816000025/);
  t.like(await modem.registration(), { state: 'home' });
  t.is(sim.stats().calls, 0);
});

test('when +++ gets no OK, close() still resolves, and letting the port go hangs the call up', async (t) => {
  const far = await farEnd(t);
  const sim = await simulator(t, { farPort: far.port });
  const hangups: string[] = [];
  const hungUp = new Promise<string>((resolve) => sim.on('hangup', (reason) => {
    hangups.push(reason);
    resolve(reason);
  }));
  const d = dialer(t, sim.path, { commandTimeoutMs: 1000, escapeTimeoutMs: 100 });
  const modem = await d.open();
  await modem.engine.command('ATS2=128');
  const call = await d.dial();
  const socket = await far.next();
  const closed = new Promise<TamtamError | undefined>((resolve) => call.onClose(resolve));
  await call.close();
  t.is(await closed, undefined);
  t.deepEqual(hangups, [], 'the escape was disabled (S2=128) and a pty has no DTR line to drop: the call is still up');
  const gone = readSocket(socket, 1);
  await d.dispose();
  t.is(await hungUp, 'dte-closed');
  t.regex((await gone).toString('latin1'), /^\+\+\+/, 'the far end saw the failed escape as data');
});
