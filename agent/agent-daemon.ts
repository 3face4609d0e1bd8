import { TamtamError, isTamtamError } from '../protocol/errors.js';
import type { AgentLog, AgentRuntime } from './agent-runtime.js';
import { BatchPolicy } from './batch-policy.js';
import { OPEN_STATES } from './state/agent-state.js';

/** Waits before calling again after failed calls: at once after one drop, then longer, so a dead modem or no signal does not ring up costs. */
const REDIAL_MS = [0, 5_000, 15_000, 30_000, 60_000, 120_000, 300_000];

interface DaemonOptions {
  pollMs: number;
  clock: () => number;
  log: AgentLog;
}

/**
 * The agent's main loop until `signal` aborts: pack by the batch policy, then
 * move the outbox. An always-on link (MQTT) is kept up and sends as soon as
 * there is something; a link that calls (a modem) dials only when something is
 * due, or to fetch receipts missing after the last call, and hangs up after.
 */
export async function runDaemon(agent: AgentRuntime, signal: AbortSignal, o: DaemonOptions): Promise<void> {
  const policy = new BatchPolicy(agent.config.batching, o.clock);
  const sleeper = new Sleeper(signal);
  const step = agent.link.mode === 'session' ? sessionStep(agent, signal, o) : alwaysStep(agent, signal, o, sleeper);
  const sticks = agent.config.t2d ? await watchSticks(agent, o.log) : undefined;
  try {
    while (!signal.aborted) {
      try {
        await agent.pack(false, policy);
      } catch (e) {
        o.log('error', { code: (e as TamtamError).code ?? 'E_INTERNAL', message: (e as Error).message });
      }
      if (await step()) continue;
      await sleeper.sleep(o.pollMs);
    }
  } finally {
    await sticks?.stop();
  }
}

/** Exchanges with every USB stick mounted under the configured roots; the log says when each may be pulled (stick_done). */
async function watchSticks(agent: AgentRuntime, log: AgentLog): Promise<{ stop(): Promise<void> } | undefined> {
  const t2d = agent.config.t2d!;
  const running = new Map<string, Promise<unknown>>();
  // Only centres with a USB stick configured pay for chokidar and the mount table code.
  const { StickWatcher } = await import('../hardware/usb/stick-watcher.js');
  const watcher = new StickWatcher({ roots: t2d.roots, usb: t2d.usb, mountsOnly: t2d.mountsOnly, onWarning: (message) => log('stick_watch_warning', { message }) });
  watcher.on('inserted', (root) => {
    log('stick_inserted', { root, message: 'exchanging: do not remove the stick until stick_done says so' });
    const run = agent.exchangeWithStick(root)
      .catch((e) => log('error', { code: (e as TamtamError).code ?? 'E_INTERNAL', message: (e as Error).message }))
      .finally(() => running.delete(root));
    running.set(root, run);
  });
  watcher.on('removed', (root) => {
    const early = running.has(root) ? { message: 'removed before stick_done: nothing on it is half-written; insert it again to finish' } : {};
    log('stick_removed', { root, ...early });
  });
  try {
    await watcher.start();
  } catch (e) {
    log('error', { code: 'E_IO', message: `cannot watch ${t2d.roots.join(', ')} for USB sticks: ${(e as Error).message}` });
    await watcher.stop();
    return undefined;
  }
  log('stick_watch', { roots: t2d.roots, usb: t2d.usb, relay: t2d.relay });
  return {
    async stop() {
      await watcher.stop();
      // The agent closes its state next: an exchange under way finishes first.
      await Promise.allSettled(running.values());
    },
  };
}

/** Keeps the link up (a failed open leaves it down, so it is opened again at every poll) and sends what is due. Returns true to loop at once. */
function alwaysStep(agent: AgentRuntime, signal: AbortSignal, o: DaemonOptions, sleeper: Sleeper): () => Promise<boolean> {
  let opening: Promise<void> | undefined;
  let cameUp = false;
  // The outbox goes as soon as the link is (back) up, not a poll later.
  agent.link.onStateChange((state) => {
    if (state !== 'up') return;
    cameUp = true;
    sleeper.wake();
  });
  return async () => {
    cameUp = false;
    if (agent.link.state === 'down') {
      opening ??= agent.link.open(signal)
        .catch((e) => o.log('link_down', { code: (e as TamtamError).code, message: (e as Error).message }))
        .finally(() => (opening = undefined));
    }
    try {
      if (agent.link.state === 'up') await agent.sendDue(signal);
    } catch (e) {
      if (!(e instanceof TamtamError) || !e.retryable) o.log('error', { code: (e as TamtamError).code ?? 'E_INTERNAL', message: (e as Error).message });
    }
    return cameUp;
  };
}

/** Calls when there is work, with a growing wait after failed calls. Returns true to loop at once (a call dropped with work left). */
function sessionStep(agent: AgentRuntime, signal: AbortSignal, o: DaemonOptions): () => Promise<boolean> {
  const { callbackSeconds } = agent.config.batching;
  const profile = agent.config.link.profile;
  let failures = 0;
  let nextCallAt = 0;
  let lastCallAt = 0;
  const receiptsMissing = () => {
    const before = o.clock() - callbackSeconds * 1000;
    return lastCallAt <= before && agent.state.sdcs(OPEN_STATES).some((s) => s.sentAt !== null && s.sentAt <= before);
  };
  return async () => {
    if (o.clock() < nextCallAt || (agent.dueForSending().length === 0 && !receiptsMissing())) return false;
    const heardBefore = agent.link.usage().bytesDown;
    try {
      const sent = await agent.session({ receiptWaitMs: 10_000 + 4 * profile.rttMs, signal });
      o.log('call_done', { sent, waiting: agent.waitingForReceipts() });
      failures = 0;
    } catch (e) {
      if (signal.aborted) return false;
      // A call that dropped after the hub answered was worth making: call again at once, as after the first drop.
      failures = agent.link.usage().bytesDown > heardBefore ? 1 : failures + 1;
      o.log(isTamtamError(e) && e.retryable ? 'call_dropped' : 'error', { code: (e as TamtamError).code ?? 'E_INTERNAL', message: (e as Error).message, failures });
      nextCallAt = o.clock() + REDIAL_MS[Math.min(failures - 1, REDIAL_MS.length - 1)]!;
      return nextCallAt <= o.clock();
    } finally {
      lastCallAt = o.clock();
    }
    return false;
  };
}

/** A poll wait that ends early on wake() or abort, leaving no listener behind: a daemon polls for months. */
class Sleeper {
  private waker = () => {};

  constructor(private readonly signal: AbortSignal) {}

  wake(): void {
    this.waker();
  }

  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', done);
        this.waker = () => {};
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waker = done;
      this.signal.addEventListener('abort', done, { once: true });
    });
  }
}
