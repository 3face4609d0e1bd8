import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from './free-port.js';
import { cleanupAtExit, findExecutable, makeServiceSandbox, tailFile, versionDirsDescending, type ServiceSandbox } from './service-sandbox.js';

export interface PostgresOptions {
  /** Directory holding initdb and pg_ctl; default: PATH, then the newest /usr/lib/postgresql/N/bin. */
  binDir?: string;
  /** Fixed port; default: a free one (retried on a bind race). */
  port?: number;
  /** Extra postgresql.conf settings, e.g. { max_connections: 100 }. */
  settings?: Record<string, string | number | boolean>;
  /** Parent of the temp dir; default: the OS temp dir. */
  baseDir?: string;
  /** How long start/restart may take before failing; default 60 s. */
  startTimeoutMs?: number;
}

export interface PostgresCluster {
  /** URL of the `postgres` database as superuser `postgres` (trust auth, 127.0.0.1 only). */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown, then removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL to the postmaster and every backend at once, like a power cut. */
  kill9(): Promise<void>;
  /** Starts again on the same port and data dir (after stop-less restart or kill9: crash recovery runs). */
  restart(): Promise<void>;
}

const SUPERUSER = 'postgres';

/** Paths of initdb and pg_ctl; throws saying what to install when they are missing. */
export function findPgBin(binDir?: string): { initdb: string; pgCtl: string } {
  if (binDir) return { initdb: join(binDir, 'initdb'), pgCtl: join(binDir, 'pg_ctl') };
  const extra = versionDirsDescending('/usr/lib/postgresql').map((d) => join(d, 'bin'));
  const initdb = findExecutable('initdb', extra);
  const pgCtl = findExecutable('pg_ctl', extra);
  if (!initdb || !pgCtl) {
    throw new Error('PostgreSQL server binaries (initdb, pg_ctl) not found in PATH or /usr/lib/postgresql/N/bin: '
      + 'install them (Debian: apt-get install postgresql) or pass binDir');
  }
  return { initdb, pgCtl };
}

function run(cmd: string, args: string[], spawnOptions: { uid?: number; gid?: number; cwd: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { ...spawnOptions, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

function confValue(v: string | number | boolean): string {
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (typeof v === 'number') return String(v);
  return `'${v.replaceAll("'", "''")}'`;
}

/**
 * A process group still has a live member. Read from /proc rather than kill(-pgid, 0)
 * because under an init that does not reap orphans, killed backends stay as zombies
 * forever and kill(0) would report them alive.
 */
function groupAlive(pgid: number): boolean {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
    } catch {
      // the process ended while we were reading
    }
  }
  return false;
}

async function waitUntilAccepting(url: string, deadline: number, logFile: string): Promise<void> {
  let lastError: unknown;
  while (Date.now() < deadline) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (e) {
      lastError = e;
      await client.end().catch(() => undefined);
      await delay(50);
    }
  }
  throw new Error(`PostgreSQL did not accept connections at ${url}: ${String(lastError)}\n${tailFile(logFile)}`);
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresCluster> {
  const bins = findPgBin(opts.binDir);
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const box: ServiceSandbox = makeServiceSandbox('tamtam-pg-', ['postgres', 'nobody'], opts.baseDir);
  const dataDir = join(box.dir, 'data');
  const logFile = join(box.dir, 'postgres.log');
  const pidFile = join(dataDir, 'postmaster.pid');
  let state = 'stopped' as 'running' | 'stopped' | 'killed';
  let port = 0;

  const postmasterPid = (): number | undefined => {
    try {
      const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
      return pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const killGroupNow = (): void => {
    const pid = postmasterPid();
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const unregister = cleanupAtExit(() => {
    if (state === 'running') killGroupNow();
    box.remove();
  });

  const writeConf = (): void => {
    // postgresql.auto.conf is read last, so these win over initdb's defaults.
    const settings: Record<string, string | number | boolean> = {
      listen_addresses: '127.0.0.1',
      port,
      unix_socket_directories: box.dir,
      fsync: true,
      synchronous_commit: 'on',
      full_page_writes: true,
      shared_buffers: '16MB',
      max_connections: 50,
      ...opts.settings,
    };
    const body = Object.entries(settings).map(([k, v]) => `${k} = ${confValue(v)}`).join('\n');
    writeFileSync(join(dataDir, 'postgresql.auto.conf'), `${body}\n`);
    box.own(join(dataDir, 'postgresql.auto.conf'));
  };
  const pgCtlStart = async (): Promise<void> => {
    await run(bins.pgCtl, ['start', '-D', dataDir, '-l', logFile, '-w', '-t', String(Math.ceil(timeoutMs / 1000)), '-s'], box.spawnOptions)
      .catch((e: Error) => {
        throw new Error(`${e.message}\n${tailFile(logFile)}`);
      });
    state = 'running';
    await waitUntilAccepting(url(), Date.now() + timeoutMs, logFile);
  };
  const url = (db = 'postgres'): string => `postgres://${SUPERUSER}@127.0.0.1:${port}/${db}`;

  try {
    await run(bins.initdb, ['-D', dataDir, '-U', SUPERUSER, '-A', 'trust', '--locale=C', '-E', 'UTF8', '--no-sync', '--no-instructions'], box.spawnOptions);
    writeFileSync(join(dataDir, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n');
    for (let attempt = 0; ; attempt++) {
      port = opts.port ?? (await freePort());
      writeConf();
      try {
        await pgCtlStart();
        break;
      } catch (e) {
        const bindRace = /could not bind|Address already in use/i.test(tailFile(logFile, 50));
        if (!bindRace || opts.port !== undefined || attempt >= 2) throw e;
      }
    }
  } catch (e) {
    if (state === 'running') killGroupNow();
    unregister();
    box.remove();
    throw e;
  }

  const awaitGroupGone = async (pid: number): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (groupAlive(pid)) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL processes of group ${pid} still alive 10 s after SIGKILL`);
      await delay(20);
    }
  };

  const cluster: PostgresCluster = {
    get url() {
      return url();
    },
    port,
    dataDir,
    async createDatabase(name) {
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${JSON.stringify(name)}: use letters, digits and _`);
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async stop() {
      if (state === 'running') {
        await run(bins.pgCtl, ['stop', '-D', dataDir, '-m', 'fast', '-w', '-s'], box.spawnOptions);
      }
      state = 'stopped';
      unregister();
      box.remove();
    },
    async kill9() {
      if (state !== 'running') throw new Error('kill9: PostgreSQL is not running');
      const pid = postmasterPid();
      if (pid === undefined) throw new Error(`kill9: no postmaster.pid in ${dataDir}`);
      process.kill(-pid, 'SIGKILL');
      state = 'killed';
      await awaitGroupGone(pid);
      // A zombie postmaster keeps its PID taken, and postgres would mistake it for a live one
      // in both lock files.
      rmSync(pidFile, { force: true });
      rmSync(join(box.dir, `.s.PGSQL.${port}.lock`), { force: true });
    },
    async restart() {
      if (!existsSync(dataDir)) throw new Error('restart: the cluster was stopped and its data dir removed');
      if (state === 'running') await run(bins.pgCtl, ['stop', '-D', dataDir, '-m', 'fast', '-w', '-s'], box.spawnOptions);
      state = 'stopped';
      await pgCtlStart();
    },
  };
  return cluster;
}
