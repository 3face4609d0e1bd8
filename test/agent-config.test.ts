import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_BATCHING, loadAgentConfig, loadAgentIdentity, parseAgentConfig, writeAgentConfig, type AgentConfigInput } from '../agent/config.js';
import { isTamtamError } from '../protocol/errors.js';

const minimal = (): AgentConfigInput => ({
  centre: 'CM-CE-YDE-0001',
  dataDir: 'data',
  source: { kind: 'sqlite', path: 'centre.db' },
  tables: [{ name: 'births', dictionary: 'dicts/births.dict' }, { name: 'deaths' }],
  link: { kind: 'mqtt', url: 'mqtts://hub.example.org:8883', username: 'CM-CE-YDE-0001', password: 's3cret' },
});

const tempDir = (t: import('ava').ExecutionContext): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

test('a minimal config gets the defaults, and paths relative to the config file', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'agent.json');
  writeAgentConfig(path, minimal());
  const cfg = loadAgentConfig(path);
  t.is(cfg.dataDir, join(dir, 'data'));
  t.deepEqual(cfg.source, { kind: 'sqlite', path: join(dir, 'centre.db') });
  t.deepEqual(cfg.tables, [{ name: 'births', dictionary: join(dir, 'dicts', 'births.dict') }, { name: 'deaths' }]);
  t.is(cfg.certificate, join(dir, 'data', 'keys', 'centre.crt'));
  t.is(cfg.privateKey, join(dir, 'data', 'keys', 'centre.key'));
  t.is(cfg.hubCertificate, join(dir, 'data', 'keys', 'hub.crt'));
  t.deepEqual(cfg.batching, DEFAULT_BATCHING);
  t.deepEqual(DEFAULT_BATCHING, { maxRecords: 2000, minRecords: 100, maxAgeSeconds: 60, receiptTimeoutSeconds: 600, usageReportMinutes: 360, callbackSeconds: 300 });
  t.like(cfg.link, { kind: 'mqtt', url: 'mqtts://hub.example.org:8883', password: 's3cret', profile: { name: 'internet', perKbUsd: 0 } });
});

test('writeAgentConfig writes atomically, owner-only, and round-trips', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'agent.json');
  const cfg = { ...minimal(), source: { kind: 'postgres' as const, url: 'postgres://etat_civil@localhost/centre', poolMax: 2 }, batching: { maxRecords: 500, minRecords: 50 } };
  writeAgentConfig(path, cfg);
  t.is(statSync(path).mode & 0o777, 0o600, 'it may hold the broker password');
  const loaded = loadAgentConfig(path);
  t.deepEqual(loaded.batching, { ...DEFAULT_BATCHING, maxRecords: 500, minRecords: 50 });
  writeAgentConfig(path, loaded);
  t.deepEqual(loadAgentConfig(path), loaded);
  const before = readFileSync(path, 'utf8');
  t.throws(() => writeAgentConfig(path, { ...loaded, centre: 'bad centre!' }), { code: 'E_CONFIG' });
  t.is(readFileSync(path, 'utf8'), before, 'a bad config never replaces a good one');
});

test('modem, ppp and tcp links: defaults by driver, profiles by name or as changes to a built-in one', (t) => {
  const parse = (link: unknown) => parseAgentConfig({ ...minimal(), link }, '/centre').link;
  const modem = parse({ kind: 'modem', modem: { port: '/dev/ttyUSB0' } });
  t.like(modem, { kind: 'modem', modem: { port: '/dev/ttyUSB0', baudRate: 19_200, driver: 'iridium-csd', flowControl: false }, profile: { name: 'iridium-csd', upKbps: 2.4 } });
  const ppp = parse({ kind: 'ppp', modem: { port: '/dev/ttyS0', driver: 'thuraya-gmprs', apn: 'get', flowControl: true }, url: 'mqtt://10.0.0.1:1883' });
  t.like(ppp, { kind: 'ppp', pppd: '/usr/sbin/pppd', modem: { apn: 'get', flowControl: true }, profile: { name: 'thuraya-gmprs' } });
  const tcp = parse({ kind: 'tcp', host: 'hub.example.org', port: 7300, profile: { base: 'iridium-certus-100', name: 'certus-ngo', perKbUsd: 0.004, chunkBytes: 512 } });
  t.like(tcp, { kind: 'tcp', profile: { name: 'certus-ngo', perKbUsd: 0.004, chunkBytes: 512, upKbps: 22, minBytesPerSession: 5120 } });
});

const BAD: [string, (c: Record<string, unknown>) => void, RegExp][] = [
  ['centre missing', (c) => delete c.centre, /field "centre" must be a non-empty string, got nothing/],
  ['centre with a space', (c) => (c.centre = 'CM CE'), /field "centre" must be the centre's matricule/],
  ['dataDir a number', (c) => (c.dataDir = 3), /field "dataDir" must be a non-empty string, got 3/],
  ['unknown source kind', (c) => (c.source = { kind: 'oracle' }), /field "source.kind" must be "sqlite" \(with path\) or "postgres"/],
  ['sqlite without path', (c) => (c.source = { kind: 'sqlite' }), /field "source.path"/],
  ['postgres URL wrong, password hidden', (c) => (c.source = { kind: 'postgres', url: 'mysql://u:pw@h/db' }), /field "source.url" must be a postgres:\/\/.*got "mysql:\/\/u:\*\*\*@h\/db"/],
  ['no tables', (c) => (c.tables = []), /field "tables" must be a non-empty list/],
  ['a table twice', (c) => (c.tables = [{ name: 'births' }, { name: 'births' }]), /field "tables\[1\].name" must be a table not listed before/],
  ['a table without name', (c) => (c.tables = [{ dictionary: 'x' }]), /field "tables\[0\].name"/],
  ['unknown profile', (c) => (c.link = { kind: 'mqtt', url: 'mqtt://h', profile: 'starlink' }), /"starlink" is not a link profile; use one of internet, iridium-csd/],
  ['profile field misspelt', (c) => (c.link = { kind: 'mqtt', url: 'mqtt://h', profile: { base: 'internet', upkbps: 3 } }), /link.profile.upkbps is not a profile field/],
  ['profile chunk too small', (c) => (c.link = { kind: 'mqtt', url: 'mqtt://h', profile: { chunkBytes: 8 } }), /chunkBytes must be a whole number from 16 to 65535/],
  ['modem without port', (c) => (c.link = { kind: 'modem', modem: {} }), /field "link.modem.port" must be a non-empty string/],
  ['modem driver unknown', (c) => (c.link = { kind: 'modem', modem: { port: '/dev/ttyUSB0', driver: 'zoom' } }), /field "link.modem.driver" must be "iridium-csd", "thuraya-gmprs", "hayes"/],
  ['GmPRS as a raw stream', (c) => (c.link = { kind: 'modem', modem: { port: '/dev/ttyUSB0', driver: 'thuraya-gmprs' } }), /field "link.kind" must be "ppp" for a Thuraya GmPRS terminal/],
  ['link kind', (c) => (c.link = { kind: 'iridium', url: 'x' }), /field "link.kind" must be "mqtt"/],
  ['link url', (c) => (c.link = { kind: 'mqtt', url: 'http://hub' }), /field "link.url" must be a broker URL starting with mqtt:\/\//],
  ['keepalive negative', (c) => (c.link = { kind: 'mqtt', url: 'mqtt://hub', keepaliveSeconds: -1 }), /field "link.keepaliveSeconds" must be a whole number from 0 to 65535, got -1/],
  ['maxRecords zero', (c) => (c.batching = { maxRecords: 0 }), /field "batching.maxRecords" must be a whole number from 1 to 100000, got 0/],
  ['minRecords over maxRecords', (c) => (c.batching = { maxRecords: 10, minRecords: 20 }), /field "batching.minRecords \(at most maxRecords\)" must be a whole number from 1 to 10, got 20/],
  ['maxAgeSeconds a string', (c) => (c.batching = { maxAgeSeconds: '60' }), /field "batching.maxAgeSeconds"/],
  ['hubCertificate empty', (c) => (c.hubCertificate = ''), /field "hubCertificate" must be a non-empty string/],
];
for (const [what, change, message] of BAD) {
  test(`a bad config is refused naming the field: ${what}`, (t) => {
    const raw = structuredClone(minimal()) as unknown as Record<string, unknown>;
    change(raw);
    const e = t.throws(() => parseAgentConfig(raw, '/etc/tamtam', 'agent config /etc/tamtam/agent.json'));
    t.true(isTamtamError(e, 'E_CONFIG'));
    t.regex(e!.message, /^agent config \/etc\/tamtam\/agent.json: /);
    t.regex(e!.message, message);
  });
}

test('a missing or malformed config file is an E_CONFIG saying what to do', (t) => {
  const dir = tempDir(t);
  t.throws(() => loadAgentConfig(join(dir, 'none.json')), { code: 'E_CONFIG', message: /no such file; create it/ });
  writeFileSync(join(dir, 'bad.json'), '{ "centre": ');
  t.throws(() => loadAgentConfig(join(dir, 'bad.json')), { code: 'E_CONFIG', message: /is not valid JSON/ });
  writeFileSync(join(dir, 'list.json'), '[]');
  t.throws(() => loadAgentConfig(join(dir, 'list.json')), { code: 'E_CONFIG', message: /must be an object/ });
});

test('loadAgentIdentity names the key file it cannot read', (t) => {
  const dir = tempDir(t);
  const cfg = parseAgentConfig(minimal(), dir);
  const e = t.throws(() => loadAgentIdentity(cfg));
  t.true(isTamtamError(e, 'E_IO'));
  t.regex(e!.message, /privateKey.*centre\.key: no such file/);
});
