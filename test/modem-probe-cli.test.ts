import test, { type ExecutionContext } from 'ava';
import { closeSerialPort, openSerialPort } from '../hardware/at/serial-port-open.js';
import { ModemSimulator, type ModemSimulatorOptions } from '../hardware/simulator/modem-simulator.js';
import { runTamtam } from './helpers/run-cli.js';

const tamtam = runTamtam;

async function simulator(t: ExecutionContext, options: Partial<ModemSimulatorOptions> = {}) {
  const sim = await ModemSimulator.start({ target: () => undefined, rttMs: 10, guardTimeMs: 100, ...options });
  t.teardown(() => sim.close());
  return sim;
}

test('modem probe on a working Iridium prints each finding and exits 0', async (t) => {
  const sim = await simulator(t, { imei: '300534012345678', signal: 4 });
  const run = await tamtam(['modem', 'probe', sim.path]);
  t.is(run.code, 0, run.err);
  t.regex(run.out, /ok\s+identity\s+Iridium IRIDIUM 9500 Family \(IMEI 300534012345678/);
  t.regex(run.out, /ok\s+signal\s+signal 4\/5 bars \(good\)/);
  t.regex(run.out, /ok\s+registration\s+registered/);
  t.regex(run.out, /driver iridium-csd/);
  t.regex(run.out, /ready to dial/);
  t.is(run.err, '');
});

test('modem probe --json prints the report as one JSON document', async (t) => {
  const sim = await simulator(t, { model: 'thuraya', signal: 20, registration: 5 });
  const run = await tamtam(['modem', 'probe', sim.path, '--json', '--baud', '19200']);
  t.is(run.code, 0, run.err);
  const report = JSON.parse(run.out) as { ok: boolean; driver: string; baudRate: number; signal: { bars: number; dbm: number }; registration: { state: string } };
  t.like(report, { ok: true, driver: 'thuraya-gmprs', baudRate: 19_200, signal: { bars: 4, dbm: -73 }, registration: { state: 'roaming' } });
});

test('modem probe with no signal says where to put the antenna and exits 1', async (t) => {
  const sim = await simulator(t, { signal: 0 });
  const run = await tamtam(['modem', 'probe', sim.path, '--driver', 'iridium-csd']);
  t.is(run.code, 1);
  t.regex(run.out, /FAIL\s+signal\s+no signal/);
  t.regex(run.out, /-> put the antenna outside with a clear view of the sky/);
  t.regex(run.out, /not ready/);
  t.regex(run.err, /^tamtam modem probe: no signal .*\[E_DIAL_FAILED\]/);
});

test('modem probe on a missing port lists the ports there are; --json carries the report in the error', async (t) => {
  const run = await tamtam(['modem', 'probe', '/dev/tamtam-no-such-port']);
  t.is(run.code, 1);
  t.regex(run.out, /FAIL\s+port\s+serial port \/dev\/tamtam-no-such-port does not exist; (ports found on this machine|no serial ports were found)/);
  t.regex(run.err, /\[E_PORT_NOT_FOUND\]/);
  const json = await tamtam(['modem', 'probe', '/dev/tamtam-no-such-port', '--json']);
  t.is(json.code, 1);
  const { error } = JSON.parse(json.out) as { error: { code: string; details: { report: { ok: boolean; checks: { name: string }[] } } } };
  t.is(error.code, 'E_PORT_NOT_FOUND');
  t.like(error.details.report, { ok: false, checks: [{ name: 'port' }] });
});

test('modem probe on a port another program holds names it and says to stop it', async (t) => {
  const sim = await simulator(t);
  const holder = await openSerialPort({ path: sim.path, baudRate: 19_200 });
  t.teardown(() => closeSerialPort(holder));
  const run = await tamtam(['modem', 'probe', sim.path]);
  t.is(run.code, 1);
  t.regex(run.out, /FAIL\s+port\s+serial port .* is in use: it is held by .*\(pid \d+\)/);
  t.true(run.out.includes(`(pid ${process.pid})`), 'the test process, which holds the port, is named');
  t.regex(run.out, /-> stop the program that holds the port/);
  t.regex(run.err, /\[E_PORT_BUSY\]/);
});

test('modem probe on a silent modem tries the common baud rates and says what to check', async (t) => {
  const sim = await simulator(t, { silent: true });
  const run = await tamtam(['modem', 'probe', sim.path]);
  t.is(run.code, 1);
  t.regex(run.out, /FAIL\s+answer\s+the modem on .* does not answer AT at 19200, 9600, 115200, 38400, 57600, 4800 bit\/s/);
  t.regex(run.out, /switched on/);
  t.regex(run.err, /\[E_MODEM_SILENT\]/);
});

test('modem probe rejects a bad --baud or --driver with a usage error (exit 2)', async (t) => {
  const baud = await tamtam(['modem', 'probe', '/dev/ttyUSB0', '--baud', 'fast']);
  t.is(baud.code, 2);
  t.regex(baud.err, /--baud takes a baud rate/);
  const driver = await tamtam(['modem', 'probe', '/dev/ttyUSB0', '--driver', 'zoom']);
  t.is(driver.code, 2);
  t.regex(driver.err, /iridium-csd, thuraya-gmprs/);
  const missing = await tamtam(['modem', 'probe']);
  t.is(missing.code, 2);
  t.regex(missing.err, /missing the serial port/);
});
