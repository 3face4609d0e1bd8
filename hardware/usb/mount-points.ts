import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The device a path lives on; undefined when it does not exist or cannot be read. */
export function deviceOf(path: string): number | undefined {
  try {
    return statSync(path).dev;
  } catch {
    return undefined;
  }
}

/** The folders directly under `dir`; none when it cannot be read. */
export function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(dir, d.name));
  } catch {
    return [];
  }
}

/** A folder on another device than its parent is a mount point: how a stick mounted under /media shows without reading /proc/mounts. */
export function isMountPoint(dir: string): boolean {
  const own = deviceOf(dir);
  return own !== undefined && own !== deviceOf(dirname(dir));
}
