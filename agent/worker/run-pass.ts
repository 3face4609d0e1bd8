import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { takePidLock } from '../../common/pid-lock.js';
import { TamtamError, isTamtamError } from '../../protocol/errors.js';
import { AgentRuntime } from '../agent-runtime.js';
import { loadAgentConfig } from '../config.js';
import { LinkSnapshot } from './link-snapshot.js';
import type { WorkJob, WorkerMessage } from './work-job.js';

const send = (m: WorkerMessage): Promise<void> => new Promise((resolve) => {
  if (!process.connected) resolve();
  else process.send!(m, () => resolve());
});

/** How long a worker waits for one left by a daemon that died: that one ends at its next step. */
const LOCK_WAIT_MS = 10_000;

/** work.lock keeps two workers apart: this one and one a killed daemon left, still finishing a step. */
async function takeWorkLock(dataDir: string): Promise<() => void> {
  const path = join(dataDir, 'work.lock');
  for (const deadline = Date.now() + LOCK_WAIT_MS; ; await sleep(100)) {
    try {
      return takePidLock(path, `the agent's worker for ${dataDir}`);
    } catch (e) {
      if (!isTamtamError(e, 'E_CONFIG') || Date.now() > deadline) {
        throw new TamtamError('E_IO', `the agent's worker could not start: ${(e as Error).message}`, { cause: e, retryable: true });
      }
    }
  }
}

/** One pass (worker-main.ts): every outcome, failures included, goes back to the daemon as a message. */
export async function runPass(job: WorkJob): Promise<void> {
  const log = (event: string, fields: Record<string, unknown> = {}) => void send({ type: 'log', event, fields });
  let agent: AgentRuntime | undefined;
  let release = () => {};
  try {
    const config = loadAgentConfig(job.configPath);
    release = await takeWorkLock(config.dataDir);
    agent = await AgentRuntime.open(config, { link: new LinkSnapshot(job.link), log, role: 'worker' });
    for (const result of agent.recovery?.inbox ?? []) await send({ type: 'receipt', result });
    for (const payload of job.diagnostics) await agent.acceptInbound(payload);
    const packed = await agent.packTables(job.tables);
    await agent.close();
    agent = undefined;
    await send({ type: 'done', packed });
  } catch (e) {
    await agent?.close().catch(() => undefined);
    const code = isTamtamError(e) ? e.code : 'E_INTERNAL';
    await send({ type: 'failed', code, message: (e as Error).message, retryable: isTamtamError(e) ? e.retryable : false });
  } finally {
    release();
  }
}

