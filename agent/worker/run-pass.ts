import { isTamtamError } from '../../protocol/errors.js';
import { AgentRuntime } from '../agent-runtime.js';
import { loadAgentConfig } from '../config.js';
import { LinkSnapshot } from './link-snapshot.js';
import { takeWorkLock } from './work-lock.js';
import type { WorkJob, WorkerMessage } from './work-job.js';

const send = (m: WorkerMessage): Promise<void> => new Promise((resolve) => {
  if (!process.connected) resolve();
  else process.send!(m, () => resolve());
});

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

