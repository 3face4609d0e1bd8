import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** '' when this machine lets tests mount a tmpfs (root), else the reason a mounting test is skipped, for its title. */
export const tmpfsSkipReason: string = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'tamtam-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir]);
    return '';
  } catch {
    return ' (SKIPPED: mounting a tmpfs needs root)';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();

export function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch {
    // the test unmounted it already
  }
}
