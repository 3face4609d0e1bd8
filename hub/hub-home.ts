import { createPrivateKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../common/atomic-write.js';
import { parseCertificate, type Certificate } from '../protocol/certificate.js';
import { decodeDictionary, type Dictionary } from '../protocol/dictionary.js';
import { TamtamError } from '../protocol/errors.js';
import { checkSender } from '../protocol/sdc/sdc-header.js';
import { createCsr, generateKeyPair, writePrivateKey } from '../agent/enrolment/key-pair.js';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from './pki/certificate-authority.js';
import type { AlertSettings } from './dashboard/dashboard-types.js';

/**
 * A hub's folder: its configuration, its CA and its own key, the shared
 * compression dictionaries and, in embedded mode, its database.
 *
 *   hub.json            configuration (no secrets but the broker password)
 *   pki/ca.crt ca.key   the hub's certificate authority
 *   pki/hub.crt hub.key the hub's own certificate (receipts are signed with it, SDCs encrypted for it)
 *   dictionaries/*.dict zstd dictionaries, by table
 *   pgdata/             embedded PostgreSQL, when no databaseUrl is set
 *   transfers/          SDCs half-received on modem calls, resumed at the next call
 */
export interface HubConfig {
  hubId: string;
  /** PostgreSQL URL; absent: an embedded PostgreSQL in pgdata/. */
  databaseUrl?: string;
  /** MQTT broker URL; absent: an embedded broker on 127.0.0.1:mqttPort. */
  brokerUrl?: string;
  brokerUsername?: string;
  brokerPassword?: string;
  /** Port of the embedded broker. */
  mqttPort: number;
  /** Use `$share/` subscriptions so several hub processes split the load (needs a broker that has them, e.g. Mosquitto). */
  sharedSubscription: boolean;
  /** TCP port taking byte-stream calls (modems delivered by Iridium RUDICS or a terminal's IP service); absent: none. */
  streamPort?: number;
  /** Address the stream endpoint listens on; default 127.0.0.1 (set the public address the gateway reaches). */
  streamHost?: string;
  /** Folders where USB sticks get mounted (e.g. /media/tamtam): a stick appearing there is imported and answered; absent: none watched. */
  t2dRoots?: string[];
  /** Iridium SBD: the DirectIP port (and address) the gateway delivers MO messages to, and the gateway's MT endpoint. */
  directIp?: { host?: string; port: number; gateway: { host: string; port: number } };
  /** The staff dashboard, HTTP API and /metrics; absent: not served. */
  http?: HubHttpConfig;
  /** When a centre raises an alert on the dashboard; absent fields take the defaults (3 days silent, 7 days of quarantine). */
  alerts?: Partial<AlertSettings>;
}

export interface HubHttpConfig {
  /** Address it listens on; default 127.0.0.1 (put a TLS reverse proxy in front to serve staff elsewhere). */
  host?: string;
  port: number;
  /** How long a staff login lasts; default 12. */
  sessionHours?: number;
  /** When set, /metrics wants 'Authorization: Bearer <token>'. */
  metricsToken?: string;
}

export const DEFAULT_HTTP_PORT = 8080;
export const DEFAULT_SESSION_HOURS = 12;
const MAX_SESSION_HOURS = 24 * 366;
const MIN_METRICS_TOKEN = 16;

export interface HubHome {
  dir: string;
  config: HubConfig;
  ca: CertificateAuthority;
  hubKey: KeyObject;
  hubCertPem: string;
  hubCert: Certificate;
  dictionaries: Dictionary[];
}

const CONFIG = 'hub.json';
export const hubPaths = (dir: string) => ({
  config: join(dir, CONFIG),
  pki: join(dir, 'pki'),
  caCert: join(dir, 'pki', 'ca.crt'),
  caKey: join(dir, 'pki', 'ca.key'),
  hubCert: join(dir, 'pki', 'hub.crt'),
  hubKey: join(dir, 'pki', 'hub.key'),
  dictionaries: join(dir, 'dictionaries'),
  pgdata: join(dir, 'pgdata'),
  transfers: join(dir, 'transfers'),
});

export interface InitHubOptions extends Partial<HubConfig> {
  caName?: string;
  /** Replace an existing CA and hub key: every enrolled centre must enrol again. */
  force?: boolean;
}

/** Creates a hub folder with a new CA and hub certificate; refuses to replace an existing CA unless `force`. */
export function initHubHome(dirIn: string, options: InitHubOptions = {}): HubHome {
  const dir = resolve(dirIn);
  const p = hubPaths(dir);
  if (existsSync(p.caKey) && !options.force) {
    throw new TamtamError('E_CONFIG', `${dir} already holds a hub CA; every enrolled centre depends on it. Use another folder, or --force to replace it (centres must then enrol again).`);
  }
  const hubId = checkSender(options.hubId ?? 'hub');
  const config: HubConfig = {
    hubId,
    mqttPort: options.mqttPort ?? 1883,
    sharedSubscription: options.sharedSubscription ?? Boolean(options.brokerUrl),
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.brokerUrl ? { brokerUrl: options.brokerUrl } : {}),
    ...(options.brokerUsername ? { brokerUsername: options.brokerUsername } : {}),
    ...(options.brokerPassword ? { brokerPassword: options.brokerPassword } : {}),
    ...(options.streamPort !== undefined ? { streamPort: options.streamPort } : {}),
    ...(options.streamHost ? { streamHost: options.streamHost } : {}),
    ...(options.directIp ? { directIp: options.directIp } : {}),
    ...(options.t2dRoots?.length ? { t2dRoots: options.t2dRoots.map((r) => resolve(r)) } : {}),
    ...(options.http ? { http: options.http } : {}),
    ...(options.alerts ? { alerts: options.alerts } : {}),
  };
  // Checked before anything is written: a bad option must not leave a half-made folder.
  checkConfig(config, 'the hub options');
  mkdirSync(p.pki, { recursive: true, mode: 0o700 });
  mkdirSync(p.dictionaries, { recursive: true });
  const ca = createCertificateAuthority({ commonName: options.caName ?? `Tamtam hub CA (${hubId})` });
  writePrivateKey(p.caKey, ca.keyPem);
  writeFileAtomic(p.caCert, ca.certPem);
  const keys = generateKeyPair();
  writePrivateKey(p.hubKey, keys.privateKeyPem);
  writeFileAtomic(p.hubCert, issueCertificate(ca, createCsr(keys.privateKeyPem, { commonName: hubId }), { role: 'hub' }));
  writeFileAtomic(p.config, JSON.stringify(config, null, 2) + '\n', 0o600);
  return loadHubHome(dir);
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new TamtamError('E_CONFIG', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? "missing; run 'tamtam hub init' first" : (e as Error).message}`, { cause: e });
  }
}

function checkConfig(raw: unknown, path: string): HubConfig {
  const c = raw as Partial<HubConfig>;
  const bad = (field: string, want: string) => new TamtamError('E_CONFIG', `${path}: '${field}' must be ${want}`);
  if (typeof c !== 'object' || c === null) throw new TamtamError('E_CONFIG', `${path} is not a JSON object`);
  if (typeof c.hubId !== 'string') throw bad('hubId', 'a string');
  checkSender(c.hubId);
  for (const k of ['databaseUrl', 'brokerUrl', 'brokerUsername', 'brokerPassword', 'streamHost'] as const) {
    if (c[k] !== undefined && typeof c[k] !== 'string') throw bad(k, 'a string when set');
  }
  if (!Number.isInteger(c.mqttPort) || c.mqttPort! < 0 || c.mqttPort! > 65535) throw bad('mqttPort', 'a port number');
  if (typeof c.sharedSubscription !== 'boolean') throw bad('sharedSubscription', 'true or false');
  if (c.t2dRoots !== undefined && (!Array.isArray(c.t2dRoots) || c.t2dRoots.some((r) => typeof r !== 'string' || r === ''))) {
    throw bad('t2dRoots', 'a list of folders where USB sticks are mounted, e.g. ["/media/tamtam"], when set');
  }
  const port = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;
  if (c.directIp !== undefined && (typeof c.directIp !== 'object' || c.directIp === null || !port(c.directIp.port) || typeof c.directIp.gateway?.host !== 'string' || !port(c.directIp.gateway?.port))) {
    throw bad('directIp', '{ "port": N, "host"?: address, "gateway": { "host": ..., "port": N } } (the Iridium gateway\'s DirectIP MT endpoint) when set');
  }
  if (c.streamPort !== undefined && (!Number.isInteger(c.streamPort) || c.streamPort < 0 || c.streamPort > 65535)) throw bad('streamPort', 'a port number when set');
  checkHttp(c.http, bad);
  checkAlerts(c.alerts, bad);
  return c as HubConfig;
}

type Bad = (field: string, want: string) => TamtamError;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkHttp(h: unknown, bad: Bad): void {
  if (h === undefined) return;
  if (!isObject(h)) throw bad('http', '{ "port": N, "host"?: address, "sessionHours"?: N, "metricsToken"?: secret } (the staff dashboard) when set');
  if (!Number.isInteger(h.port) || (h.port as number) < 0 || (h.port as number) > 65535) throw bad('http.port', `a port number from 0 to 65535 (e.g. ${DEFAULT_HTTP_PORT})`);
  if (h.host !== undefined && (typeof h.host !== 'string' || h.host.trim() === '')) throw bad('http.host', 'an address to listen on (e.g. 127.0.0.1 or 0.0.0.0) when set');
  if (h.sessionHours !== undefined && (typeof h.sessionHours !== 'number' || !(h.sessionHours > 0 && h.sessionHours <= MAX_SESSION_HOURS))) {
    throw bad('http.sessionHours', `a number of hours above 0 and at most ${MAX_SESSION_HOURS} when set (default ${DEFAULT_SESSION_HOURS})`);
  }
  if (h.metricsToken !== undefined && (typeof h.metricsToken !== 'string' || h.metricsToken.length < MIN_METRICS_TOKEN || /\s/.test(h.metricsToken))) {
    throw bad('http.metricsToken', `a secret of at least ${MIN_METRICS_TOKEN} characters without spaces when set (e.g. from 'openssl rand -hex 24')`);
  }
}

function checkAlerts(a: unknown, bad: Bad): void {
  if (a === undefined) return;
  if (!isObject(a)) throw bad('alerts', '{ "silentDays"?: N, "quarantineDays"?: N } when set');
  for (const k of ['silentDays', 'quarantineDays']) {
    const v = a[k];
    if (v !== undefined && (typeof v !== 'number' || !(v > 0 && v <= 3650))) throw bad(`alerts.${k}`, 'a number of days above 0 (and at most 3650) when set');
  }
}

export function loadHubHome(dirIn: string): HubHome {
  const dir = resolve(dirIn);
  const p = hubPaths(dir);
  let raw: unknown;
  try {
    raw = JSON.parse(readText(p.config, 'hub configuration'));
  } catch (e) {
    if (e instanceof TamtamError) throw e;
    throw new TamtamError('E_CONFIG', `${p.config} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  const hubCertPem = readText(p.hubCert, 'hub certificate');
  const dictionaries = existsSync(p.dictionaries)
    ? readdirSync(p.dictionaries).filter((f) => f.endsWith('.dict')).map((f) => decodeDictionary(new Uint8Array(readFileSync(join(p.dictionaries, f)))))
    : [];
  return {
    dir,
    config: checkConfig(raw, p.config),
    ca: { certPem: readText(p.caCert, 'CA certificate'), keyPem: readText(p.caKey, 'CA key') },
    hubKey: createPrivateKey(readText(p.hubKey, 'hub key')),
    hubCertPem,
    hubCert: parseCertificate(hubCertPem),
    dictionaries,
  };
}
