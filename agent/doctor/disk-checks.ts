import { constants, existsSync } from 'node:fs';
import { access, statfs, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AgentConfig } from '../config.js';
import { fail, megabytes, ok, warn, withDeadline, type DoctorCheck, type Finding } from './doctor-check.js';

export interface DiskThresholds {
  /** Free space under which the doctor warns; default 500 MB. */
  warnBytes: number;
  /** Free space under which it fails; default 50 MB. */
  failBytes: number;
}

export const DEFAULT_DISK: DiskThresholds = { warnBytes: 500 * 1024 * 1024, failBytes: 50 * 1024 * 1024 };

/** The folder itself, or the nearest folder above it that exists (before the first run, the data folder may not). */
function existing(path: string): string {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

async function writable(config: AgentConfig): Promise<Finding> {
  const spool = join(config.dataDir, 'spool');
  if (!existsSync(spool)) {
    const base = existing(config.dataDir);
    try {
      await access(base, constants.W_OK);
    } catch {
      return fail(`the data folder ${config.dataDir} does not exist and ${base} is not writable`, `create ${config.dataDir} and give the agent's user write access to it (chown), or set dataDir in the agent config`, 'E_READ_ONLY');
    }
    return warn(`the data folder ${config.dataDir} has no spool yet: the agent never ran here`, "start the agent ('tamtam agent run' or its service); it creates the spool");
  }
  // A dot-name ending in .tmp: the spool ignores it, and a crash right here leaves what it clears at start.
  const probe = join(spool, `.doctor-${process.pid}.tmp`);
  try {
    await writeFile(probe, 'doctor');
    await unlink(probe);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') return fail(`the disk of ${spool} is full: nothing can be written`, 'free disk space (old files, logs) on this computer', 'E_NO_SPACE');
    if (code === 'EROFS') return fail(`${spool} is on a read-only file system`, 'the disk may be failing or mounted read-only: have it checked, or move the data folder (dataDir) to another disk', 'E_READ_ONLY');
    return fail(`cannot write in ${spool}: ${(e as Error).message}`, `give the agent's user write access to ${config.dataDir} (chown/chmod)`, 'E_IO');
  }
  return ok(`${spool} is writable`);
}

async function space(config: AgentConfig, t: DiskThresholds): Promise<Finding> {
  const at = existing(config.dataDir);
  const s = await statfs(at);
  const free = Number(s.bavail) * Number(s.bsize);
  const detail = `${megabytes(free)} free on the disk of ${at}`;
  const fix = 'free disk space on this computer (old files, logs, downloads); SDCs waiting for a receipt need room in the spool';
  if (free < t.failBytes) return fail(`${detail}, under ${megabytes(t.failBytes)}: SDCs can no longer be packed safely`, fix, 'E_NO_SPACE');
  if (free < t.warnBytes) return warn(`${detail}, under ${megabytes(t.warnBytes)}`, fix, 'E_NO_SPACE');
  return ok(detail);
}

export async function diskChecks(config: AgentConfig, o: { thresholds: DiskThresholds; timeoutMs: number }): Promise<DoctorCheck[]> {
  const slowDisk = { detail: 'the disk did not answer', fix: 'the disk may be failing or a network share unreachable: check it, or move the data folder (dataDir) to a local disk' };
  return [
    await withDeadline('spool', 'Spool writable', o.timeoutMs, () => writable(config), slowDisk),
    await withDeadline('disk', 'Free disk space', o.timeoutMs, () => space(config, o.thresholds), slowDisk),
  ];
}
