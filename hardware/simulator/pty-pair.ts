import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, readdir, readlink, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { TamtamError } from '../../protocol/errors.js';

export interface PtyPairEvents {
  restart: [];
  error: [TamtamError];
}

const STARTUP_TIMEOUT_MS = 5000;
const MAX_RESTARTS = 5;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function onPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir || '.', program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/**
 * socat, and where util-linux's setpriv is there, socat told to end when
 * its parent dies: a test worker killed on a timeout runs no exit handler.
 */
function socatCommand(args: string[]): { command: string; args: string[] } {
  const socat = onPath('socat');
  if (socat === undefined) throw new TamtamError('E_CONFIG', 'socat is not installed; the modem simulator needs it to create pseudo-terminals: install socat: apt-get install socat');
  const setpriv = onPath('setpriv');
  return setpriv === undefined ? { command: socat, args } : { command: setpriv, args: ['--pdeathsig', 'TERM', '--', socat, ...args] };
}

/** A parent that exits normally stops its socat processes even if nobody called close(). */
function killLiveOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/**
 * Two pseudo-terminals joined by socat: whatever is written to one comes out
 * of the other, like the two ends of a null-modem cable. The agent opens
 * `dtePath` as it would open /dev/ttyUSB0; the simulator opens `dcePath`.
 *
 * socat keeps its own descriptor on each slave side open, so the agent may
 * open and close `dtePath` any number of times without socat seeing EIO and
 * exiting. Should socat die anyway (killed, crashed), it is started again on
 * the same link names and 'restart' is emitted so the holder of the DCE side
 * reopens it.
 */
export class PtyPair extends EventEmitter<PtyPairEvents> {
  readonly dir: string;
  readonly dtePath: string;
  readonly dcePath: string;
  private child: ChildProcess | undefined;
  private closing = false;
  private restarts = 0;
  private dteDevice: string | undefined;
  private lastHolder: number | undefined;

  private constructor(dir: string) {
    super();
    this.dir = dir;
    this.dtePath = join(dir, 'dte');
    this.dcePath = join(dir, 'dce');
  }

  static async start(): Promise<PtyPair> {
    const pair = new PtyPair(await mkdtemp(join(tmpdir(), 'tamtam-pty-')));
    try {
      await pair.spawnSocat();
    } catch (e) {
      await rm(pair.dir, { recursive: true, force: true });
      throw e;
    }
    return pair;
  }

  /** socat's process id, for tests that check it is gone or kill it on purpose. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private spawnSocat(): Promise<void> {
    killLiveOnExit();
    const side = (link: string) => `pty,raw,echo=0,link=${link}`;
    let command: { command: string; args: string[] };
    try {
      command = socatCommand(['-d', '-d', side(this.dtePath), side(this.dcePath)]);
    } catch (e) {
      return Promise.reject(e);
    }
    const child = spawn(command.command, command.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    live.add(child);
    let stderr = '';
    let ready = false;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: TamtamError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error === undefined) {
          ready = true;
          resolve();
        } else {
          child.kill('SIGKILL');
          reject(error);
        }
      };
      const timer = setTimeout(() => settle(new TamtamError('E_IO', `socat did not create the pty pair within ${STARTUP_TIMEOUT_MS} ms: ${stderr.trim() || 'no output'}`)), STARTUP_TIMEOUT_MS);
      child.once('error', (e: Error) => {
        live.delete(child);
        settle(new TamtamError('E_IO', `could not start socat: ${e.message}`, { cause: e }));
      });
      child.stderr?.setEncoding('utf8');
      let linked = false;
      child.stderr?.on('data', (text: string) => {
        // Only the recent output matters for an error message; socat at -d -d is quiet once running.
        stderr = (stderr + text).slice(-4000);
        if (linked || !stderr.includes('starting data transfer loop')) return;
        linked = true;
        this.lastHolder = undefined;
        Promise.all([realpath(this.dtePath), realpath(this.dcePath)]).then(([device]) => {
          this.dteDevice = device;
          settle();
        }, (e: unknown) => settle(new TamtamError('E_IO', `socat started but its links in ${this.dir} are missing`, { cause: e })));
      });
      child.once('exit', (code, signal) => {
        live.delete(child);
        settle(new TamtamError('E_IO', `socat exited (${signal ?? code}) before creating the pty pair: ${stderr.trim() || 'no output'}`));
        if (ready && this.child === child && !this.closing) this.respawn();
      });
    });
  }

  private respawn(): void {
    if (++this.restarts > MAX_RESTARTS) {
      this.emit('error', new TamtamError('E_IO', `socat keeps exiting (${MAX_RESTARTS} restarts); check that pseudo-terminals are available (/dev/pts)`));
      return;
    }
    this.spawnSocat().then(() => this.emit('restart'), (e: TamtamError) => {
      if (!this.closing) this.emit('error', e);
    });
  }

  /**
   * Whether some process other than socat holds the DTE side open: the
   * simulator's stand-in for the DTR line, which a pty does not have. Looks
   * at the last known holder first so a call costs one /proc directory read
   * per check; undefined where /proc cannot tell (not Linux).
   */
  async dteHeld(): Promise<boolean | undefined> {
    const device = this.dteDevice;
    if (device === undefined) return undefined;
    if (this.lastHolder !== undefined && await holds(this.lastHolder, device)) return true;
    let pids: string[];
    try {
      pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
    } catch {
      return undefined;
    }
    const socat = this.child?.pid;
    for (const pid of pids.map(Number)) {
      if (pid !== socat && await holds(pid, device)) {
        this.lastHolder = pid;
        return true;
      }
    }
    this.lastHolder = undefined;
    return false;
  }

  /** Stops socat (which removes its links) and deletes the temp dir. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function holds(pid: number, device: string): Promise<boolean> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      if (await readlink(`/proc/${pid}/fd/${fd}`) === device) return true;
    } catch {
      // The descriptor was closed between readdir and readlink.
    }
  }
  return false;
}
