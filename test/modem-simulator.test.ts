import test from 'ava';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { ModemSimulator } from '../hardware/simulator/modem-simulator.js';
import { PtyPair } from '../hardware/simulator/pty-pair.js';
import { isTamtamError } from '../protocol/errors.js';
import { dialHub, FAST_LINK, modemRig, seededRandom } from './helpers/modem-rig.js';
import { CallServer, collect, processesMentioning, SerialTerminal } from './helpers/serial-terminal.js';

test('an Iridium modem answers the Hayes and GSM dialogue, echo first', async (t) => {
  const { modem, dte } = await modemRig(t, { imei: '300234010753370' });
  const seen: string[] = [];
  modem.on('command', (line) => seen.push(line));

  t.is(await dte.command('AT'), 'AT\r\r\nOK\r\n');
  t.is(await dte.command('ATE0'), 'ATE0\r\r\nOK\r\n');
  t.is(await dte.command('AT'), '\r\nOK\r\n');
  t.is(await dte.command('at+cgmi'), '\r\nIridium\r\n\r\nOK\r\n');
  t.is(await dte.command('AT+CGMM'), '\r\nIRIDIUM 9500 Family\r\n\r\nOK\r\n');
  t.regex(await dte.command('AT+CGMR'), /^\r\nCall Processor Version: .+\r\n(.+\r\n)+\r\nOK\r\n$/);
  t.is(await dte.command('AT+CGSN'), '\r\n300234010753370\r\n\r\nOK\r\n');
  t.is(await dte.command('ATI4'), '\r\nIRIDIUM 9500 Family\r\n\r\nOK\r\n');
  t.is(await dte.command('ATI5'), '\r\n8816\r\n\r\nOK\r\n');
  t.is(await dte.command('AT+CSQ'), '\r\n+CSQ:5\r\n\r\nOK\r\n');
  modem.setSignal(2);
  t.is(await dte.command('AT+CSQF'), '\r\n+CSQF:2\r\n\r\nOK\r\n');
  t.is(await dte.command('AT+CREG?'), '\r\n+CREG: 0,1\r\n\r\nOK\r\n');
  t.is(await dte.command('AT+CBST=71,0,1'), '\r\nOK\r\n');
  t.is(await dte.command('AT+CBST?'), '\r\n+CBST: 71,0,1\r\n\r\nOK\r\n');
  t.is(await dte.command('AT+CBST=99,0,1'), '\r\nERROR\r\n');
  t.is(await dte.command('ATE0V1Q0&K3&D2&C1X4'), '\r\nOK\r\n');
  t.is(await dte.command('AT&K0;+CSQ'), '\r\n+CSQ:2\r\n\r\nOK\r\n');
  t.is(await dte.command('ATS12=5'), '\r\nOK\r\n');
  t.is(await dte.command('ATS12?'), '\r\n005\r\n\r\nOK\r\n');
  t.is(await dte.command('AT+FOO'), '\r\nERROR\r\n');
  t.is(await dte.command('ATI9'), '\r\nERROR\r\n');
  t.is(await dte.command('ATO'), '\r\nNO CARRIER\r\n');
  t.is(await dte.command('ATH'), '\r\nOK\r\n');
  // Numeric results, then a reset to the factory profile (echo back on).
  t.is(await dte.command('ATV0', /\r/), '0\r');
  t.is(await dte.command('ATXYZ', /\r/), '4\r');
  // ATZ answers in the profile it restores: verbose again.
  t.is(await dte.command('ATZ'), '\r\nOK\r\n');
  t.is(await dte.command('AT'), 'AT\r\r\nOK\r\n');
  // Type-ahead of two lines in one write, and LF-only line ends.
  dte.write('ATE0\rAT+CSQ\n');
  t.is(await dte.expect(/\+CSQ:2\r\n\r\nOK\r\n/), 'ATE0\r\r\nOK\r\n\r\n+CSQ:2\r\n\r\nOK\r\n');

  // A/ repeats the last line without a terminator; backspace edits the line.
  dte.write('A/');
  t.is(await dte.expect(/OK\r\n/), '\r\n+CSQ:2\r\n\r\nOK\r\n');
  t.is(await dte.command('AT+CGMX\bI'), '\r\nIridium\r\n\r\nOK\r\n');

  t.deepEqual(seen.slice(0, 3), ['AT', 'ATE0', 'AT']);
  t.is(modem.commands.at(-1), 'AT+CGMI');
});

test('a Thuraya modem reports its RSSI, keeps a GmPRS context and dials *99#', async (t) => {
  const server = await CallServer.start();
  const dialled: string[] = [];
  const modem = await ModemSimulator.start({ ...FAST_LINK, model: 'thuraya', signal: 17, target: (n) => (dialled.push(n), server.target) });
  const dte = await SerialTerminal.open(modem.path);
  t.teardown(async () => {
    await dte.close();
    await modem.close();
    await server.close();
  });
  await dte.command('ATE0');
  t.is(await dte.command('AT+CGMI'), '\r\nThuraya\r\n\r\nOK\r\n');
  t.is(await dte.command('AT+CSQ'), '\r\n+CSQ: 17,99\r\n\r\nOK\r\n');
  t.is(await dte.command('AT+CGDCONT=1,"IP","get.thuraya.com"'), '\r\nOK\r\n');
  t.is(await dte.command('AT+CGDCONT?'), '\r\n+CGDCONT: 1,"IP","get.thuraya.com","",0,0\r\n\r\nOK\r\n');
  t.is(await dte.command('AT+CSQF'), '\r\nERROR\r\n');
  const call = await dialHub(dte, server, '*99#');
  t.deepEqual(dialled, ['*99#']);
  t.is(modem.state, 'data');
  call.destroy();
  await dte.expect('\r\nNO CARRIER\r\n');
});

test('dials fail as configured, without network, without an answering hub; a key press aborts dialling', async (t) => {
  const busy = await modemRig(t, { failDial: 'BUSY' });
  await busy.dte.command('ATE0');
  t.is(await busy.dte.command('ATD123'), '\r\nBUSY\r\n');

  const noSignal = await modemRig(t, { signal: 0 });
  await noSignal.dte.command('ATE0');
  t.is(await noSignal.dte.command('ATDT123'), '\r\nNO CARRIER\r\n');

  const searching = await modemRig(t, { registration: 2 });
  await searching.dte.command('ATE0');
  t.is(await searching.dte.command('AT+CREG?'), '\r\n+CREG: 0,2\r\n\r\nOK\r\n');
  t.is(await searching.dte.command('ATD123'), '\r\nNO CARRIER\r\n');

  const nobody = await modemRig(t, { target: () => undefined });
  await nobody.dte.command('ATE0');
  t.is(await nobody.dte.command('ATD123'), '\r\nNO CARRIER\r\n');

  const refused = await modemRig(t);
  await refused.server.close();
  await refused.dte.command('ATE0');
  t.is(await refused.dte.command('ATD123'), '\r\nNO CARRIER\r\n');

  const slow = await modemRig(t, { connectDelayMs: 10_000 });
  await slow.dte.command('ATE0');
  slow.dte.write('ATD123\r');
  await once(slow.modem, 'command');
  slow.dte.write('x');
  t.is(await slow.dte.expect(/\r\n[A-Z ]+\r\n/), '\r\nNO CARRIER\r\n');
  t.is(slow.modem.stats().calls, 0);
});

test('a silent modem reads but never answers', async (t) => {
  const { dte } = await modemRig(t, { silent: true });
  dte.write('AT\r');
  await t.throwsAsync(dte.expect('OK', 300), { message: /timed out/ });
  t.is(dte.received, 0);
});

test('data mode carries bytes both ways with the link latency; +++ in a burst is data; escape, ATO and ATH', async (t) => {
  const { server, modem, dte } = await modemRig(t, { rttMs: 200 });
  await dte.command('ATE0');
  const call = await dialHub(dte, server);
  const hub = collect(call);
  call.on('data', (chunk: Buffer) => call.write(Buffer.from(chunk.toString('latin1').toUpperCase(), 'latin1')));

  const sent = performance.now();
  dte.write('a');
  await dte.expect('A');
  const roundTrip = performance.now() - sent;
  t.true(roundTrip >= 195 && roundTrip < 400, `round trip ${roundTrip} ms for rtt 200`);

  dte.write('x+++y and +++ again');
  t.is(await dte.expect('X+++Y AND +++ AGAIN'), 'X+++Y AND +++ AGAIN');

  // Guard, +++, guard: the DTE gets OK and the hub never sees the escape.
  await dte.writeAndDrain('+++');
  t.is(await dte.expect(/\r\n[A-Z]+\r\n/), '\r\nOK\r\n');
  t.is(modem.state, 'online-command');
  t.is(await dte.command('AT+CSQ'), '\r\n+CSQ:5\r\n\r\nOK\r\n');
  t.is(await dte.command('ATO'), '\r\nCONNECT 9600\r\n');
  dte.write('back');
  t.is(await dte.expect('BACK'), 'BACK');
  t.is(hub.data().toString(), 'ax+++y and +++ againback');

  await dte.writeAndDrain('+++');
  await dte.expect('\r\nOK\r\n');
  const closed = once(call, 'close');
  t.is(await dte.command('ATH'), '\r\nOK\r\n');
  await closed;
  t.is(modem.state, 'command');
  t.like(modem.stats(), { calls: 1, drops: 0, bytesUp: 24, bytesDown: 24, bitErrors: 0 });
});

test.serial('throughput stays within 10% of the link rate both ways, and a fast DTE is held back', async (t) => {
  const kbps = 200;
  const size = 80_000;
  const { server, modem, dte } = await modemRig(t, { upKbps: kbps, downKbps: kbps, rttMs: 20 });
  await dte.command('ATE0');
  const call = await dialHub(dte, server);
  const hub = collect(call);
  const up = Buffer.alloc(size, 'u');
  const down = Buffer.alloc(size, 'd');
  const base = dte.received;

  const start = performance.now();
  call.write(down);
  const drained = dte.writeAndDrain(up).then(() => performance.now() - start);
  const upDone = hub.atLeast(size).then(() => performance.now() - start);
  const downDone = dte.receivedAtLeast(base + size).then(() => performance.now() - start);
  const [drainMs, upMs, downMs] = await Promise.all([drained, upDone, downDone]);

  const nominalMs = (size * 8) / kbps + 10;
  for (const [direction, ms] of [['up', upMs], ['down', downMs]] as const) {
    const error = Math.abs(ms - nominalMs) / nominalMs;
    t.log(`${direction}: ${size} bytes in ${ms.toFixed(0)} ms, nominal ${nominalMs.toFixed(0)} ms (${(error * 100).toFixed(1)}% off)`);
    t.true(error < 0.1, `${direction} took ${ms} ms for a nominal ${nominalMs} ms`);
  }
  // Only the kernel's pty buffers and socat (about 40 KB) may run ahead of the link.
  const ahead = 64 * 1024;
  t.log(`the DTE's write drained after ${drainMs.toFixed(0)} ms`);
  t.true(drainMs >= ((size - ahead) * 8) / kbps, `the DTE's write drained after ${drainMs} ms: the simulator swallowed data`);
  t.like(modem.stats(), { bytesUp: size, bytesDown: size });
});

test('calls drop on dropCall(), after dropEverySeconds and when the hub hangs up', async (t) => {
  const { server, modem, dte } = await modemRig(t, { dropEverySeconds: 0.3 });
  await dte.command('ATE0');
  const hangups: string[] = [];
  modem.on('hangup', (reason) => hangups.push(reason));

  let call = await dialHub(dte, server);
  let closed = once(call, 'close');
  t.true(modem.dropCall());
  t.false(modem.dropCall());
  t.is(await dte.expect(/\r\n[A-Z ]+\r\n/), '\r\nNO CARRIER\r\n');
  await closed;

  call = await dialHub(dte, server);
  const connectedAt = performance.now();
  closed = once(call, 'close');
  await dte.expect('\r\nNO CARRIER\r\n');
  const lasted = performance.now() - connectedAt;
  t.true(lasted >= 280 && lasted < 1000, `timer drop after ${lasted} ms`);
  await closed;

  call = await dialHub(dte, server);
  call.end();
  await dte.expect('\r\nNO CARRIER\r\n');
  t.is(modem.state, 'command');
  t.is(await dte.command('AT'), '\r\nOK\r\n');
  t.deepEqual(hangups, ['dropped', 'timer', 'remote']);
  t.like(modem.stats(), { calls: 3, drops: 3 });
});

test('bit errors are injected at the configured rate, counted, and reproducible with a seeded random', async (t) => {
  const size = 20_000;
  const ber = 1e-3;
  const { server, modem, dte } = await modemRig(t, { ber, random: seededRandom(7), upKbps: 400, downKbps: 400 });
  await dte.command('ATE0');
  const call = await dialHub(dte, server);
  const hub = collect(call);
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = (i * 31) & 0xff;
  dte.write(payload);
  const received = (await hub.atLeast(size)).subarray(0, size);
  let flipped = 0;
  for (let i = 0; i < size; i++) for (let x = received[i] ^ payload[i]; x; x &= x - 1) flipped++;
  const expected = size * 8 * ber;
  t.log(`${flipped} bits flipped in ${size * 8}, expected about ${expected}`);
  t.is(modem.stats().bitErrors, flipped);
  t.true(flipped > expected * 0.7 && flipped < expected * 1.3);
});

test('the DTE may open and close the port many times; closing it during a call drops the call', async (t) => {
  const { server, modem, dte } = await modemRig(t);
  await dte.close();
  for (let i = 0; i < 5; i++) {
    const again = await SerialTerminal.open(modem.path);
    t.is(await again.command('AT'), 'AT\r\r\nOK\r\n');
    await again.close();
  }
  const caller = await SerialTerminal.open(modem.path);
  await caller.command('ATE0');
  const call = await dialHub(caller, server);
  const closed = once(call, 'close');
  const hangup = once(modem, 'hangup');
  await caller.close();
  t.deepEqual(await hangup, ['dte-closed']);
  await closed;

  const after = await SerialTerminal.open(modem.path);
  t.is(await after.command('ATO'), '\r\nNO CARRIER\r\n');
  await after.close();
  t.like(modem.stats(), { calls: 1, drops: 1 });
});

test('a modem survives socat being killed: socat is restarted on the same path', async (t) => {
  const { modem, dte } = await modemRig(t);
  const [socat] = await processesMentioning(dirname(modem.path));
  const restarted = new Promise<void>((resolve) => modem.on('log', (message) => message.includes('restarted') && resolve()));
  process.kill(socat, 'SIGKILL');
  await restarted;
  await dte.close();
  const again = await SerialTerminal.open(modem.path);
  t.is(await again.command('AT'), 'AT\r\r\nOK\r\n');
  await again.close();
});

test('a bare pty pair passes bytes both ways and reports whether the DTE side is open', async (t) => {
  const pair = await PtyPair.start();
  t.teardown(() => pair.close());
  t.false(await pair.dteHeld());
  const dte = await SerialTerminal.open(pair.dtePath);
  const dce = await SerialTerminal.open(pair.dcePath);
  t.true(await pair.dteHeld());
  dte.write('ping');
  t.is(await dce.expect('ping'), 'ping');
  dce.write('pong');
  t.is(await dte.expect('pong'), 'pong');
  await dte.close();
  t.false(await pair.dteHeld());
  await dce.close();
});

test('close() ends the call, kills socat and removes the temp dir', async (t) => {
  const server = await CallServer.start();
  t.teardown(() => server.close());
  const modem = await ModemSimulator.start({ ...FAST_LINK, target: () => server.target });
  const dir = dirname(modem.path);
  t.true((await processesMentioning(dir)).length > 0);
  const dte = await SerialTerminal.open(modem.path);
  await dte.command('ATE0');
  const call = await dialHub(dte, server);
  const closed = once(call, 'close');
  await modem.close();
  await closed;
  await dte.close();
  t.deepEqual(await processesMentioning(dir), []);
  t.false(existsSync(dir));
});

test.serial('without socat on the PATH the error says how to install it', async (t) => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const error = await t.throwsAsync(PtyPair.start());
    t.true(isTamtamError(error, 'E_CONFIG'));
    t.regex(error!.message, /apt-get install socat/);
  } finally {
    process.env.PATH = path;
  }
});
