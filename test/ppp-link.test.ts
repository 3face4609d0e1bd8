import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAgentConfig } from '../agent/config.js';
import { PppLink } from '../agent/link/ppp-link.js';
import type { PppLinkConfig } from '../agent/link/link-config.js';
import { createModemDriver } from '../hardware/modem/drivers/create-modem-driver.js';
import { chatScript, localAddressOf, pppdArguments } from '../hardware/ppp/pppd-options.js';

// pppd itself needs the kernel's PPP driver (/dev/ppp), which CI machines do not have; what Tamtam gives pppd is checked here.

test('the chat script for Thuraya GmPRS sets the APN, dials *99# and aborts on every failure result', (t) => {
  const script = chatScript({ driver: createModemDriver('thuraya-gmprs'), settings: { apn: 'get' }, flowControl: true });
  t.is(script, [
    "ABORT 'NO CARRIER'", "ABORT 'BUSY'", "ABORT 'NO ANSWER'", "ABORT 'NO DIALTONE'", "ABORT 'ERROR'", 'TIMEOUT 60',
    "'' 'AT'", "OK 'ATE0V1Q0'", "OK 'AT&K3'", 'OK \'AT+CGDCONT=1,"IP","get"\'', "OK 'ATD*99#'", "CONNECT ''", '',
  ].join('\n'));
});

test('the chat script for Iridium sets the data bearer and dials the data service number unless the config gives another', (t) => {
  const iridium = createModemDriver('iridium-csd');
  t.regex(chatScript({ driver: iridium, settings: {}, flowControl: false }), /OK 'AT&K0'\nOK 'AT\+CBST=71,0,1'\nOK 'ATD008816000025'\n/);
  t.regex(chatScript({ driver: iridium, settings: { bearer: '6,0,1' }, number: '0088160000519', flowControl: false }), /AT\+CBST=6,0,1'\nOK 'ATD0088160000519'/);
  t.throws(() => chatScript({ driver: createModemDriver('thuraya-gmprs'), settings: {}, flowControl: false }), { code: 'E_CONFIG', message: /needs the access point name/ });
  t.throws(() => chatScript({ driver: iridium, settings: {}, number: '0088 16; rm', flowControl: false }), { code: 'E_CONFIG' });
});

test("pppd's arguments: in the foreground, modem lines honoured, dial on demand with an idle hang-up when asked", (t) => {
  const base = { port: '/dev/ttyUSB0', baudRate: 19_200, flowControl: true, driver: createModemDriver('iridium-csd'), settings: {}, chatFile: '/var/lib/tamtam/tamtam.chat' };
  const args = pppdArguments(base);
  t.deepEqual(args.slice(0, 2), ['/dev/ttyUSB0', '19200']);
  for (const a of ['nodetach', 'modem', 'crtscts', 'defaultroute', 'lock']) t.true(args.includes(a), a);
  t.is(args[args.indexOf('connect') + 1], '/usr/sbin/chat -v -f /var/lib/tamtam/tamtam.chat');
  t.false(args.includes('demand'));
  const demand = pppdArguments({ ...base, flowControl: false, demand: { idleSeconds: 45 } });
  t.true(demand.includes('nocrtscts'));
  t.deepEqual(demand.slice(demand.indexOf('demand'), demand.indexOf('demand') + 3), ['demand', 'idle', '45']);
  t.is(localAddressOf('local  IP address 10.64.64.64'), '10.64.64.64');
  t.is(localAddressOf('remote IP address 10.0.0.1'), undefined);
});

test('a PPP link without pppd installed says what to install, before touching the modem', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-ppp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = parseAgentConfig({
    centre: 'CM-CE-YDE-0001', dataDir: dir, source: { kind: 'sqlite', path: 'c.db' }, tables: [{ name: 'births' }],
    link: { kind: 'ppp', modem: { port: '/dev/ttyUSB0', driver: 'thuraya-gmprs', apn: 'get' }, url: 'mqtt://10.0.0.1:1883', pppd: join(dir, 'no-pppd') },
  }, dir);
  const link = new PppLink({ centre: cfg.centre, config: cfg.link as PppLinkConfig, dataDir: dir });
  t.is(link.mode, 'session');
  await t.throwsAsync(link.open(), { code: 'E_CONFIG', message: /pppd is not at .*no-pppd: install it \(Debian: apt-get install ppp\)/ });
  t.is(link.state, 'down');
  await link.close();
});
