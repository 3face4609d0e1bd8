import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { TamtamError } from '../../protocol/errors.js';
import { parseAgentConfig, type AgentConfig, type AgentConfigInput } from '../config.js';
import type { TestReportResult } from './test-report.js';

/** Every answer the set-up can be given up front: the options of `agent init`, and what only the set-up does. */
export interface SetupOptions {
  /** Absolute. */
  configPath: string;
  /** Where the centre's database is looked for. */
  cwd: string;
  centre?: string;
  token?: string;
  broker?: string;
  username?: string;
  password?: string;
  sqlite?: string;
  postgres?: string;
  tables: string[];
  modem?: string;
  driver?: string;
  number?: string;
  apn?: string;
  ppp?: boolean;
  sbd?: string;
  streamHost?: string;
  streamPort?: string;
  profile?: string;
  dataDir?: string;
  /** The hub's CA certificate file, when the operator gave one. */
  ca?: string;
  /** Ports to probe besides those the system lists. */
  probe: string[];
  /** Look for modems on the system's serial ports. */
  scan: boolean;
  /** Send a test SDC and wait for its receipt. */
  test: boolean;
  timeoutSeconds?: number;
  /** Where sticks are mounted; default the agent's (/media, /run/media). */
  stickRoots?: string[];
  /** How to run tamtam here, for the commands the set-up prints (e.g. "tamtam"). */
  command: string;
  /** The same for a service's ExecStart: absolute paths. */
  execStart: string;
}

/** A config already there: its answers are the defaults, and what it holds is not asked again. */
export interface ExistingConfig {
  input: AgentConfigInput;
  config: AgentConfig;
}

export interface SetupResult {
  configPath: string;
  centre: string;
  dataDir: string;
  database: string;
  tables: string[];
  /** Acts validated and waiting to go: what the first sync will send. */
  backlog: number;
  link: string;
  /** The modem the link goes through: model, IMEI, signal. */
  modem?: string;
  profile: string;
  enrolment: 'done now' | 'already installed';
  certificate: string;
  certificateValidTo?: string;
  t2dRoots?: string[];
  test?: TestReportResult;
  next: string[];
}

/** Undefined when there is no file; a file that cannot be used is reported and left for the set-up to replace. */
export function readExistingConfig(path: string, say: (line: string) => void): ExistingConfig | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TamtamError('E_IO', `cannot read ${path}: ${(e as Error).message}; check its permissions, or give another --config`, { cause: e });
  }
  try {
    const input = JSON.parse(text) as AgentConfigInput;
    return { input, config: parseAgentConfig(input, dirname(path), `agent config ${path}`) };
  } catch (e) {
    say(`The config ${path} is there but cannot be used (${(e as Error).message}); the set-up will write a new one.`);
    return undefined;
  }
}

export const MATRICULE = /^[A-Za-z0-9._-]{1,64}$/;

export function checkMatricule(m: string): string | undefined {
  return MATRICULE.test(m) ? undefined : "a matricule is 1 to 64 letters, digits, '.', '_' or '-', as the hub operator gave it";
}

export function checkBrokerUrl(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:'].includes(u.protocol) && u.hostname) return undefined;
  } catch {
    // explained below
  }
  return 'a broker URL looks like mqtt://host:1883 (or mqtts://host:8883 with TLS)';
}

/** A URL without its password, for printing. */
export const withoutPassword = (url: string) => url.replace(/:[^:@/]*@/, ':***@');
