import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

/*
 * node stick-pull-child.js CONFIG ROOT write|rename N
 *
 * A centre's agent packing and exchanging with the stick at ROOT that dies
 * (SIGKILL, as when the stick is pulled and the machine loses power) while
 * writing its N-th SDC onto the stick: half of it written and flushed
 * ('write'), or whole and renamed but not yet in the folder's manifest
 * ('rename'). Deterministic, where a kill timed from outside would land
 * anywhere or nowhere.
 */
const [configPath, root, at, nth] = process.argv.slice(2) as [string, string, 'write' | 'rename', string];
const doomed = new Set<number>();
const doomedPaths = new Set<string>();
let sdcs = 0;
const real = { openSync: fs.openSync, writeSync: fs.writeSync, renameSync: fs.renameSync };
const die = () => process.kill(process.pid, 'SIGKILL');

Object.assign(fs, {
  openSync(path: fs.PathLike, ...rest: unknown[]): number {
    const fd = (real.openSync as (...a: unknown[]) => number)(path, ...rest);
    const p = String(path);
    if (p.startsWith(root) && /\.sdc\.[^/]*\.tmp$/.test(p) && ++sdcs === Number(nth)) {
      doomed.add(fd);
      doomedPaths.add(p);
    }
    return fd;
  },
  writeSync(fd: number, buffer: Uint8Array, offset = 0, length = buffer.length - offset, ...rest: unknown[]): number {
    if (at === 'write' && doomed.has(fd)) {
      (real.writeSync as (...a: unknown[]) => number)(fd, buffer, offset, Math.floor(length / 2));
      fs.fsyncSync(fd);
      die();
    }
    return (real.writeSync as (...a: unknown[]) => number)(fd, buffer, offset, length, ...rest);
  },
  renameSync(from: fs.PathLike, to: fs.PathLike): void {
    real.renameSync(from, to);
    if (at === 'rename' && doomedPaths.has(String(from))) die();
  },
});
// The stick code imports these by name: make its bindings see the wrappers.
syncBuiltinESMExports();

const { AgentRuntime } = await import('../../agent/agent-runtime.js');
const { loadAgentConfig } = await import('../../agent/config.js');
const agent = await AgentRuntime.open(loadAgentConfig(configPath));
await agent.pack(true);
const report = await agent.exchangeWithStick(root);
await agent.close();
process.stdout.write(`${JSON.stringify({ survived: true, report })}\n`);
