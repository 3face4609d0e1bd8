import test from 'ava';
import { AtLineSplitter, classifyLine, describeFinal, NO_CARRIER, parseFinalResult, SequenceScanner } from '../hardware/at/at-lines.js';
import { createModemDriver } from '../hardware/modem/drivers/create-modem-driver.js';
import { parseCreg, parseCsq } from '../hardware/modem/modem-driver.js';

const bytes = (s: string) => Buffer.from(s, 'latin1');

function lines(splitter: AtLineSplitter): string[] {
  const out: string[] = [];
  for (let l = splitter.next(); l !== undefined; l = splitter.next()) out.push(l);
  return out;
}

test('the splitter cuts at CRLF, CR and LF and drops the empty lines around verbose results', (t) => {
  const s = new AtLineSplitter();
  s.push(bytes('AT+CSQ\r\r\n+CSQ:5\r\n\r\nOK\r\n'));
  t.deepEqual(lines(s), ['AT+CSQ', '+CSQ:5', 'OK']);
  s.push(bytes('one\rtwo\nthree\n\n'));
  t.deepEqual(lines(s), ['one', 'two', 'three']);
});

test('a line cut between two reads comes out whole, and its late LF is not taken for data', (t) => {
  const s = new AtLineSplitter();
  s.push(bytes('\r\nCONN'));
  t.deepEqual(lines(s), []);
  t.is(s.partial(), 'CONN');
  s.push(bytes('ECT 9600\r'));
  t.deepEqual(lines(s), ['CONNECT 9600']);
  t.true(s.danglingCr, 'the LF of CRLF may still come');
  s.push(bytes('\nhello'));
  t.deepEqual(lines(s), []);
  t.deepEqual(Buffer.from(s.takeRest()).toString(), 'hello');
});

test('bytes after a line stay for takeRest, so call data after CONNECT is not lost', (t) => {
  const s = new AtLineSplitter();
  s.push(bytes('\r\nCONNECT 2400\r\n\x00\x01binary\r\n'));
  t.is(s.next(), 'CONNECT 2400');
  t.deepEqual(Buffer.from(s.takeRest()), Buffer.from('\x00\x01binary\r\n', 'latin1'));
  t.is(s.next(), undefined);
});

test('final result codes are recognised with their details', (t) => {
  t.deepEqual(parseFinalResult('OK'), { type: 'ok' });
  t.deepEqual(parseFinalResult('ERROR'), { type: 'error', source: 'ERROR' });
  t.deepEqual(parseFinalResult('+CME ERROR: 10'), { type: 'error', source: 'CME', code: 10 });
  t.deepEqual(parseFinalResult('+CMS ERROR: 500'), { type: 'error', source: 'CMS', code: 500 });
  t.deepEqual(parseFinalResult('+CME ERROR: SIM not inserted'), { type: 'error', source: 'CME' });
  t.deepEqual(parseFinalResult('CONNECT 9600'), { type: 'connect', rate: 9600, text: 'CONNECT 9600' });
  t.deepEqual(parseFinalResult('CONNECT'), { type: 'connect', text: 'CONNECT' });
  t.deepEqual(parseFinalResult('NO CARRIER'), { type: 'no-carrier' });
  t.deepEqual(parseFinalResult('BUSY'), { type: 'busy' });
  t.deepEqual(parseFinalResult('NO ANSWER'), { type: 'no-answer' });
  t.deepEqual(parseFinalResult('NO DIALTONE'), { type: 'no-dialtone' });
  t.deepEqual(parseFinalResult('READY'), { type: 'ready' });
  t.is(parseFinalResult('+CSQ:5'), undefined);
  t.is(parseFinalResult('0'), undefined, 'a bare 0 is an answer (AT+SBDWB), not OK, unless numeric codes were asked for');
  t.deepEqual(parseFinalResult('0', { numeric: true }), { type: 'ok' });
  t.is(describeFinal({ type: 'no-dialtone' }), 'NO DIALTONE');
  t.is(describeFinal({ type: 'error', source: 'CME', code: 3 }), '+CME ERROR: 3');
});

test('echo, answers and unsolicited lines are told apart by the command waiting', (t) => {
  const csq = { command: 'AT+CSQ' };
  t.is(classifyLine('AT+CSQ', csq).kind, 'echo');
  t.is(classifyLine('at+csq', csq).kind, 'echo');
  t.is(classifyLine('+CSQ:4', csq).kind, 'intermediate');
  t.is(classifyLine('+CREG: 1', csq).kind, 'unsolicited', 'a registration change during AT+CSQ is news, not the answer');
  t.is(classifyLine('+CREG: 0,1', { command: 'AT+CREG?' }).kind, 'intermediate');
  t.is(classifyLine('RING', csq).kind, 'unsolicited');
  t.is(classifyLine('SBDRING', csq).kind, 'unsolicited');
  t.is(classifyLine('+CIEV: 0,3', { command: 'AT+CIER=1,1' }).kind, 'unsolicited');
  t.is(classifyLine('Iridium', { command: 'AT+CGMI' }).kind, 'intermediate');
  t.is(classifyLine('+CREG: 2', undefined).kind, 'unsolicited', 'with no command waiting every line is unsolicited');
  t.like(classifyLine('OK', csq), { kind: 'final', result: { type: 'ok' } });
});

test('READY is a final answer only for the command that expects it', (t) => {
  t.like(classifyLine('READY', { command: 'AT+SBDWB=10', prompt: 'READY' }), { kind: 'final', result: { type: 'ready' } });
  t.is(classifyLine('READY', { command: 'AT+CGMI' }).kind, 'intermediate');
  t.like(classifyLine('>', { command: 'AT+CMGS=20', prompt: '>' }), { kind: 'final', result: { type: 'ready' } });
});

test('the scanner finds NO CARRIER in call data, even cut across reads, and keeps the data before it', (t) => {
  const s = new SequenceScanner([NO_CARRIER]);
  let r = s.push(bytes('frame-1\r\nNO CAR'));
  t.is(Buffer.from(r.data).toString(), 'frame-1');
  t.is(r.match, undefined);
  t.true(s.holding);
  r = s.push(bytes('RIER\r\nAT'));
  t.is(Buffer.from(r.data).toString(), '');
  t.is(r.match, NO_CARRIER);
  t.is(Buffer.from(r.rest!).toString(), 'AT');
});

test('bytes that only looked like the start of NO CARRIER are data after all', (t) => {
  const s = new SequenceScanner([NO_CARRIER]);
  let r = s.push(bytes('abc\r\nNO'));
  t.is(Buffer.from(r.data).toString(), 'abc');
  r = s.push(bytes(' WAY\r\n'));
  t.is(Buffer.from(r.data).toString(), '\r\nNO WAY');
  t.is(Buffer.from(s.flush()).toString(), '\r\n', 'a CRLF at the end may start NO CARRIER: held until flushed');
  t.false(s.holding);
});

test('the scanner reports the earliest of several patterns', (t) => {
  const s = new SequenceScanner([NO_CARRIER, '\r\nOK\r\n']);
  const r = s.push(bytes('tail\r\nOK\r\n\r\nNO CARRIER\r\n'));
  t.is(Buffer.from(r.data).toString(), 'tail');
  t.is(r.match, '\r\nOK\r\n');
  t.is(Buffer.from(r.rest!).toString(), NO_CARRIER);
});

test('signal and registration parsers read Iridium bars, GSM rssi and both +CREG shapes', (t) => {
  t.like(parseCsq(['+CSQ:0']), { bars: 0, word: 'none', percent: 0 });
  t.like(parseCsq(['+CSQ:3']), { bars: 3, word: 'good' });
  t.like(parseCsq(['+CSQ: 17,99']), { bars: 3, dbm: -79, word: 'good' });
  t.like(parseCsq(['+CSQ: 5,99']), { bars: 1, word: 'weak' });
  t.like(parseCsq(['+CSQ: 99,99']), { word: 'unknown', bars: 0 });
  t.throws(() => parseCsq(['garbage']), { message: /AT\+CSQ/ });
  t.like(parseCreg(['+CREG: 0,1']), { state: 'home', registered: true });
  t.like(parseCreg(['+CREG:000,005']), { state: 'roaming', registered: true });
  t.like(parseCreg(['+CREG: 2,3,"00C3","0010"']), { state: 'denied', registered: false });
  t.like(parseCreg(['+CREG: 2']), { state: 'searching', stat: 2 }, 'the unsolicited form carries the state alone');
  t.like(parseCreg(['+CREG: 1,"00C3","0010"']), { state: 'home' });
});

test('drivers: Iridium sets its bearer and dials the data service; GmPRS needs an APN and dials *99#', (t) => {
  const iridium = createModemDriver('iridium-csd');
  t.deepEqual(iridium.initCommands({}), ['AT+CBST=71,0,1']);
  t.deepEqual(iridium.initCommands({ bearer: '6,0,1' }), ['AT+CBST=6,0,1']);
  t.is(iridium.dialCommand(iridium.defaultNumber!), 'ATD008816000025');
  const thuraya = createModemDriver('thuraya-gmprs');
  t.is(thuraya.dataMode, 'ppp');
  t.deepEqual(thuraya.initCommands({ apn: 'get.thuraya' }), ['AT+CGDCONT=1,"IP","get.thuraya"']);
  t.throws(() => thuraya.initCommands({}), { message: /APN/ });
  t.is(thuraya.dialCommand(thuraya.defaultNumber!), 'ATD*99#');
  t.throws(() => createModemDriver('hayes').dialCommand('12; ATZ'), { message: /not a number/ });
  t.throws(() => createModemDriver('zoom'), { message: /iridium-csd/ });
});
