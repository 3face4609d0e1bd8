import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../common/atomic-write.js';
import { readCertificate, readInput, readPrivateKey } from '../common/read-input.js';
import type { Certificate } from '../protocol/certificate.js';
import { decodeDictionary, type Dictionary } from '../protocol/dictionary.js';
import { TamtamError } from '../protocol/errors.js';
import { Checker } from './config-checker.js';
import { parseLinkConfig, type LinkConfig, type LinkConfigInput } from './link/link-config.js';
import type { SourceConfig } from './source/source-adapter.js';

export interface TableConfig {
  name: string;
  /** A dictionary file from 'tamtam sdc dict train'; much smaller SDCs. */
  dictionary?: string;
}

export interface BatchingConfig {
  /** Most records in one SDC. */
  maxRecords: number;
  /** Pack once this many records are validated... */
  minRecords: number;
  /** ...or once the oldest of them has waited this long. */
  maxAgeSeconds: number;
  /** An SDC with no receipt after this long is sent again. */
  receiptTimeoutSeconds: number;
  /** A usage report (bytes, sessions, airtime and cost per link, backlog) goes to the hub this often; 0 = never. */
  usageReportMinutes: number;
  /** On a link that calls (a modem), call again after this long to fetch receipts that did not come before the last hang-up. */
  callbackSeconds: number;
}

/** Sync by USB stick (T2D): where sticks are mounted, and whether this centre forwards other centres' SDCs it finds on them. */
export interface T2dConfig {
  roots: string[];
  /** Listen to USB attach/detach (the usb package) besides watching the roots. */
  usb: boolean;
  /** Forward other centres' SDCs found on a stick on this centre's link, and put their receipts back on the next stick. */
  relay: boolean;
  /** Only mount points count as sticks (default); false: any new folder under a root, for a shared folder or tests. */
  mountsOnly: boolean;
}

export const DEFAULT_T2D: T2dConfig = { roots: ['/media', '/run/media'], usb: true, relay: true, mountsOnly: true };

/** The agent's config file, with defaults applied and every path absolute. */
export interface AgentConfig {
  /** The centre's matricule: the sender id of its SDCs. */
  centre: string;
  /** Holds state.db, spool/ and keys/. */
  dataDir: string;
  source: SourceConfig;
  tables: TableConfig[];
  link: LinkConfig;
  hubCertificate: string;
  certificate: string;
  privateKey: string;
  batching: BatchingConfig;
  /** Absent: sticks are not watched. */
  t2d?: T2dConfig;
}

/** What a config file holds: paths may be relative to it, and defaulted fields left out. */
export type AgentConfigInput = Omit<AgentConfig, 'hubCertificate' | 'certificate' | 'privateKey' | 'batching' | 'link' | 't2d'> & { link: LinkConfigInput }
  & Partial<Pick<AgentConfig, 'hubCertificate' | 'certificate' | 'privateKey'>> & { batching?: Partial<BatchingConfig>; t2d?: Partial<T2dConfig> };

export const DEFAULT_BATCHING: BatchingConfig = { maxRecords: 2000, minRecords: 100, maxAgeSeconds: 60, receiptTimeoutSeconds: 600, usageReportMinutes: 360, callbackSeconds: 300 };

const MATRICULE = /^[A-Za-z0-9._-]{1,64}$/;

function source(c: Checker, v: unknown): SourceConfig {
  const o = c.object(v, 'source');
  if (o.kind === 'sqlite') {
    const busy = o.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: c.integer(o, 'busyTimeoutMs', 'source.busyTimeoutMs', 0, 3_600_000) };
    return { kind: 'sqlite', path: c.path(o, 'path', 'source.path'), ...busy };
  }
  if (o.kind === 'postgres') {
    const url = c.string(o, 'url', 'source.url')!;
    if (!/^postgres(ql)?:\/\//.test(url)) c.fail('source.url', 'a postgres://user@host:port/database URL', url.replace(/:[^:@/]*@/, ':***@'));
    const pool = o.poolMax === undefined ? {} : { poolMax: c.integer(o, 'poolMax', 'source.poolMax', 1, 100) };
    return { kind: 'postgres', url, ...pool };
  }
  return c.fail('source.kind', '"sqlite" (with path) or "postgres" (with url)', o.kind);
}

function tables(c: Checker, v: unknown): TableConfig[] {
  if (!Array.isArray(v) || v.length === 0) c.fail('tables', 'a non-empty list of { "name": ..., "dictionary"?: ... }', v);
  const seen = new Set<string>();
  return (v as unknown[]).map((item, i) => {
    const o = c.object(item, `tables[${i}]`);
    const name = c.string(o, 'name', `tables[${i}].name`)!;
    if (seen.has(name)) c.fail(`tables[${i}].name`, 'a table not listed before', name);
    seen.add(name);
    return o.dictionary === undefined ? { name } : { name, dictionary: c.path(o, 'dictionary', `tables[${i}].dictionary`) };
  });
}

function batching(c: Checker, v: unknown): BatchingConfig {
  const o = v === undefined ? {} : c.object(v, 'batching');
  const maxRecords = c.integer(o, 'maxRecords', 'batching.maxRecords', 1, 100_000, DEFAULT_BATCHING.maxRecords);
  return {
    maxRecords,
    minRecords: c.integer(o, 'minRecords', 'batching.minRecords (at most maxRecords)', 1, maxRecords, Math.min(DEFAULT_BATCHING.minRecords, maxRecords)),
    maxAgeSeconds: c.integer(o, 'maxAgeSeconds', 'batching.maxAgeSeconds', 0, 30 * 86_400, DEFAULT_BATCHING.maxAgeSeconds),
    receiptTimeoutSeconds: c.integer(o, 'receiptTimeoutSeconds', 'batching.receiptTimeoutSeconds', 1, 30 * 86_400, DEFAULT_BATCHING.receiptTimeoutSeconds),
    usageReportMinutes: c.integer(o, 'usageReportMinutes', 'batching.usageReportMinutes', 0, 44_640, DEFAULT_BATCHING.usageReportMinutes),
    callbackSeconds: c.integer(o, 'callbackSeconds', 'batching.callbackSeconds', 1, 30 * 86_400, DEFAULT_BATCHING.callbackSeconds),
  };
}

function t2d(c: Checker, v: unknown): T2dConfig {
  const o = c.object(v, 't2d');
  const flag = (key: 'usb' | 'relay' | 'mountsOnly') => {
    const b = o[key] ?? DEFAULT_T2D[key];
    if (typeof b !== 'boolean') c.fail(`t2d.${key}`, 'true or false', b);
    return b as boolean;
  };
  let roots = DEFAULT_T2D.roots;
  if (o.roots !== undefined) {
    if (!Array.isArray(o.roots) || o.roots.length === 0) c.fail('t2d.roots', 'a non-empty list of folders sticks are mounted under', o.roots);
    roots = (o.roots as unknown[]).map((_, i) => c.path(o.roots as unknown as Record<string, unknown>, String(i), `t2d.roots[${i}]`));
  }
  return { roots, usb: flag('usb'), relay: flag('relay'), mountsOnly: flag('mountsOnly') };
}

/**
 * Checks a parsed config, applies defaults, and makes paths absolute against
 * `baseDir` (the config file's folder), so the agent finds its files whatever
 * folder it was started from.
 */
export function parseAgentConfig(raw: unknown, baseDir: string, where = 'agent config'): AgentConfig {
  const c = new Checker(where, baseDir);
  const o = c.object(raw, '(top level)');
  const centre = c.string(o, 'centre', 'centre')!;
  if (!MATRICULE.test(centre)) c.fail('centre', "the centre's matricule: 1 to 64 letters, digits, '.', '_' or '-'", centre);
  const dataDir = c.path(o, 'dataDir', 'dataDir');
  const keys = join(dataDir, 'keys');
  return {
    centre,
    dataDir,
    source: source(c, o.source),
    tables: tables(c, o.tables),
    link: parseLinkConfig(c, o.link),
    hubCertificate: c.path(o, 'hubCertificate', 'hubCertificate', join(keys, 'hub.crt')),
    certificate: c.path(o, 'certificate', 'certificate', join(keys, 'centre.crt')),
    privateKey: c.path(o, 'privateKey', 'privateKey', join(keys, 'centre.key')),
    batching: batching(c, o.batching),
    ...(o.t2d === undefined ? {} : { t2d: t2d(c, o.t2d) }),
  };
}

export function loadAgentConfig(path: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TamtamError('E_CONFIG', `cannot read the agent config ${path}: ${code === 'ENOENT' ? 'no such file; create it or pass --config' : (e as Error).message}`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TamtamError('E_CONFIG', `agent config ${path} is not valid JSON (${(e as Error).message}); fix the syntax`, { cause: e });
  }
  return parseAgentConfig(raw, dirname(resolve(path)), `agent config ${path}`);
}

/** Checks, then writes atomically; owner-only, since it may hold the broker password. */
export function writeAgentConfig(path: string, cfg: AgentConfigInput): void {
  parseAgentConfig(cfg, dirname(resolve(path)), `agent config to write to ${path}`);
  writeFileAtomic(path, `${JSON.stringify(cfg, null, 2)}\n`, 0o600);
}

/** The keys and certificates the agent seals SDCs and opens receipts with. */
export interface AgentIdentity {
  centre: string;
  key: KeyObject;
  cert: Certificate;
  hubCert: Certificate;
}

export function loadAgentIdentity(cfg: AgentConfig): AgentIdentity {
  return {
    centre: cfg.centre,
    key: readPrivateKey(cfg.privateKey, "the centre's private key (privateKey)"),
    cert: readCertificate(cfg.certificate, "the centre's certificate (certificate)"),
    hubCert: readCertificate(cfg.hubCertificate, "the hub's certificate (hubCertificate)"),
  };
}

/** The configured tables with their dictionaries read, as the exporter takes them. */
export function loadTableSpecs(cfg: AgentConfig): { name: string; dictionary?: Dictionary }[] {
  return cfg.tables.map((t) => (t.dictionary === undefined ? { name: t.name } : { name: t.name, dictionary: decodeDictionary(readInput(t.dictionary, `the dictionary of table ${t.name}`)) }));
}
