import { deviceOf, isMountPoint, subdirs } from '../../hardware/usb/mount-points.js';
import { DEFAULT_T2D } from '../config.js';

export interface StickSearch {
  /** The mount roots this machine has: where the agent will watch for sticks. */
  roots: string[];
  /** Sticks mounted now. */
  mounted: string[];
}

/**
 * Where USB sticks get mounted here (usbmount's /media/usb0, udisks'
 * /media/<user>/<label> or /run/media/<user>/<label>), and those mounted now:
 * a folder on another device than its parent is a mount point.
 */
export function findSticks(roots: string[] = DEFAULT_T2D.roots): StickSearch {
  const existing = roots.filter((r) => deviceOf(r) !== undefined);
  const mounted: string[] = [];
  for (const root of existing) {
    for (const dir of subdirs(root).flatMap((d) => [d, ...subdirs(d)])) {
      if (isMountPoint(dir)) mounted.push(dir);
    }
  }
  return { roots: existing, mounted };
}
