import { execFileSync } from 'node:child_process';
import { accessSync, chownSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

/**
 * Where a test service (PostgreSQL, Mosquitto) lives: a fresh temp dir, owned by
 * an unprivileged account when we run as root. PostgreSQL refuses to run as
 * root and Mosquitto would otherwise switch to its own user, so as root we drop
 * to a system account ourselves (through spawn's uid/gid, no su/runuser needed),
 * and as any other user we simply run as ourselves.
 */
export interface ServiceUser {
  name: string;
  uid: number;
  gid: number;
}

export interface ServiceSandbox {
  dir: string;
  user: ServiceUser | undefined;
  /** spawn()/execFile() options that run the child as the sandbox's user, in the sandbox (our cwd may be closed to it). */
  spawnOptions: { uid?: number; gid?: number; cwd: string };
  /** Gives `path` (and everything below it) to the sandbox's user. */
  own(path: string): void;
  remove(): void;
}

function lookupId(name: string, flag: '-u' | '-g'): number | undefined {
  try {
    const out = execFileSync('id', [flag, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const id = Number.parseInt(out.trim(), 10);
    return Number.isInteger(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** When running as root: the first existing account among `candidates`; otherwise undefined. */
export function serviceUser(candidates: string[]): ServiceUser | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  for (const name of candidates) {
    const uid = lookupId(name, '-u');
    const gid = lookupId(name, '-g');
    if (uid !== undefined && gid !== undefined && uid !== 0) return { name, uid, gid };
  }
  throw new Error(`running as root, but none of the accounts ${candidates.join(', ')} exists to run the service as: create one (useradd --system ${candidates[0]})`);
}

/** Every ancestor must be searchable by others, or the dropped-privilege service cannot reach its own dir. */
function traversableByOthers(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (dirname(d) === d) return true;
  }
}

export function makeServiceSandbox(prefix: string, candidates: string[], baseDir?: string): ServiceSandbox {
  const user = serviceUser(candidates);
  let base = baseDir ?? tmpdir();
  if (user && !traversableByOthers(base)) {
    if (baseDir !== undefined) throw new Error(`${baseDir} is not reachable by the account ${user.name}: choose a baseDir under /tmp`);
    base = '/tmp';
  }
  const dir = mkdtempSync(join(base, prefix));
  const own = (path: string): void => {
    if (!user) return;
    chownSync(path, user.uid, user.gid);
    if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) own(join(path, entry));
  };
  own(dir);
  return {
    dir,
    user,
    spawnOptions: user ? { uid: user.uid, gid: user.gid, cwd: dir } : { cwd: dir },
    own,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** First executable called `name` in PATH, then in `extraDirs` (sbin dirs are often not in a non-login root PATH). */
export function findExecutable(name: string, extraDirs: string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Subdirectories of `parent` sorted so the highest numeric version comes first (e.g. /usr/lib/postgresql/17, 15). */
export function versionDirsDescending(parent: string): string[] {
  try {
    return readdirSync(parent)
      .filter((d) => /^\d+(\.\d+)*$/.test(d))
      .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
      .map((d) => join(parent, d));
  } catch {
    return [];
  }
}

/** The last `lines` lines of a log file, for error messages that show why a service did not start. */
export function tailFile(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const exitHooks = new Set<() => void>();
let exitHandlerInstalled = false;

/**
 * Runs `hook` if the process exits while the service is still up (a test file
 * that forgot stop(), an assertion that threw in before()), so no server
 * outlives its test run. Returns a function that unregisters it.
 */
export function cleanupAtExit(hook: () => void): () => void {
  if (!exitHandlerInstalled) {
    exitHandlerInstalled = true;
    process.on('exit', () => {
      for (const h of exitHooks) {
        try {
          h();
        } catch {
          // best effort: the process is exiting anyway
        }
      }
    });
  }
  exitHooks.add(hook);
  return () => exitHooks.delete(hook);
}
