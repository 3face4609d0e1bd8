import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { connectAsync } from 'mqtt';
import { freePort } from './free-port.js';
import { cleanupAtExit, findExecutable, makeServiceSandbox, tailFile } from './service-sandbox.js';

export interface MosquittoOptions {
  /** Fixed port; default: a free one (retried on a bind race). */
  port?: number;
  /** Accounts for a password file (user → password). */
  users?: Record<string, string>;
  /** Default: true without `users`, false with them. */
  allowAnonymous?: boolean;
  /** Seconds between persistence saves; Mosquitto's default (1800) loses recent messages on kill9, as in production. */
  autosaveIntervalSec?: number;
  /** Extra mosquitto.conf lines. */
  extraConfig?: string[];
  /** Path of the mosquitto binary; default: PATH, then /usr/sbin. */
  binary?: string;
  baseDir?: string;
  startTimeoutMs?: number;
}

export interface MosquittoBroker {
  /** mqtt://127.0.0.1:port */
  readonly url: string;
  readonly port: number;
  /** Clean shutdown (persistence saved), then removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
  /** Clean shutdown and start again on the same port with the same persistence. */
  restart(): Promise<void>;
  /** SIGKILL: whatever was not autosaved is lost. restart() brings it back. */
  kill9(): Promise<void>;
}

/** Mosquitto 2 password-file line: PBKDF2-SHA512, 101 rounds, as mosquitto_passwd writes it. */
function passwordLine(user: string, password: string): string {
  const salt = randomBytes(12);
  const hash = pbkdf2Sync(password, salt, 101, 64, 'sha512');
  return `${user}:$7$101$${salt.toString('base64')}$${hash.toString('base64')}`;
}

function findMosquitto(binary: string | undefined): string {
  const found = binary ?? findExecutable('mosquitto', ['/usr/sbin', '/usr/local/sbin']);
  if (!found) throw new Error('mosquitto not found in PATH or /usr/sbin: install it (Debian: apt-get install mosquitto) or pass binary');
  return found;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const binary = findMosquitto(opts.binary);
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  const box = makeServiceSandbox('tamtam-mqtt-', ['mosquitto', 'nobody'], opts.baseDir);
  const persistDir = join(box.dir, 'data');
  const confFile = join(box.dir, 'mosquitto.conf');
  const logFile = join(box.dir, 'mosquitto.log');
  const users = Object.entries(opts.users ?? {});
  const probeUser = users[0];
  let child: ChildProcess | undefined;
  let port = 0;

  mkdirSync(persistDir);
  if (users.length > 0) writeFileSync(join(box.dir, 'passwd'), users.map(([u, p]) => passwordLine(u, p)).join('\n') + '\n', { mode: 0o600 });

  const writeConf = (): void => {
    const lines = [
      'per_listener_settings false',
      `listener ${port} 127.0.0.1`,
      `allow_anonymous ${opts.allowAnonymous ?? users.length === 0}`,
      ...(users.length > 0 ? [`password_file ${join(box.dir, 'passwd')}`] : []),
      'persistence true',
      `persistence_location ${persistDir}/`,
      `autosave_interval ${opts.autosaveIntervalSec ?? 1800}`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      ...(opts.extraConfig ?? []),
    ];
    writeFileSync(confFile, lines.join('\n') + '\n');
    box.own(box.dir);
  };

  const unregister = cleanupAtExit(() => {
    child?.kill('SIGKILL');
    box.remove();
  });

  const exited = (c: ChildProcess): Promise<unknown> =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : once(c, 'exit');

  const launch = async (): Promise<void> => {
    const logFd = openSync(logFile, 'a');
    const c = spawn(binary, ['-c', confFile], { ...box.spawnOptions, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    c.unref();
    child = c;
    let spawnError: Error | undefined;
    c.once('error', (e) => (spawnError = e));
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (spawnError) throw new Error(`could not run ${binary}: ${spawnError.message}`);
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(`mosquitto exited (${c.exitCode ?? c.signalCode}) while starting:\n${tailFile(logFile)}`);
      }
      try {
        const probe = await connectAsync(`mqtt://127.0.0.1:${port}`, {
          reconnectPeriod: 0,
          connectTimeout: 1000,
          clientId: `tamtam-probe-${process.pid}-${Date.now()}`,
          ...(probeUser ? { username: probeUser[0], password: probeUser[1] } : {}),
        });
        await probe.endAsync();
        return;
      } catch (e) {
        lastError = e;
        await delay(25);
      }
    }
    c.kill('SIGKILL');
    throw new Error(`mosquitto did not accept MQTT connections on 127.0.0.1:${port} within ${timeoutMs} ms: ${String(lastError)}\n${tailFile(logFile)}`);
  };

  const shutdown = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    child = undefined;
    c.kill('SIGTERM');
    const done = exited(c);
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  };

  try {
    for (let attempt = 0; ; attempt++) {
      port = opts.port ?? (await freePort());
      writeConf();
      try {
        await launch();
        break;
      } catch (e) {
        const bindRace = /Address already in use/i.test(tailFile(logFile, 10));
        if (!bindRace || opts.port !== undefined || attempt >= 2) throw e;
      }
    }
  } catch (e) {
    child?.kill('SIGKILL');
    unregister();
    box.remove();
    throw e;
  }

  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async stop() {
      await shutdown();
      unregister();
      box.remove();
    },
    async restart() {
      await shutdown();
      await launch();
    },
    async kill9() {
      const c = child;
      if (!c) throw new Error('kill9: mosquitto is not running');
      child = undefined;
      c.kill('SIGKILL');
      await exited(c);
    },
  };
}
