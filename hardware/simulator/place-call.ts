import { createConnection, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

export interface PlaceCallOptions {
  /** What the dial ends with whatever the target: a forced failure, or NO CARRIER without network. */
  failure: string | undefined;
  /** Where the call is delivered; undefined: nobody answers (NO CARRIER). */
  target: { host: string; port: number } | undefined;
  connectDelayMs: number;
  signal: AbortSignal;
  log: (message: string) => void;
}

const TCP_CONNECT_TIMEOUT_MS = 10_000;

/**
 * The network side of ATD: the TCP connection to the far end is opened while
 * the connect delay runs, so a refused connection turns into NO CARRIER at
 * the moment CONNECT would have come. Resolves with the connected socket or
 * the failure result code; an abort (key press, close) gives NO CARRIER.
 */
export async function placeCall(options: PlaceCallOptions): Promise<Socket | string> {
  const { failure, target, signal } = options;
  let connecting: Promise<Socket | undefined> = Promise.resolve(undefined);
  if (failure === undefined && target !== undefined) {
    if (isLoopback(target.host)) connecting = connectTcp(target.host, target.port, signal);
    else options.log(`target ${target.host} refused: the simulator only delivers calls to 127.0.0.1`);
  }
  try {
    await delay(options.connectDelayMs, undefined, { signal });
  } catch {
    (await connecting)?.destroy();
    return 'NO CARRIER';
  }
  const socket = await connecting;
  if (!socket || signal.aborted || socket.destroyed || socket.readableEnded) {
    socket?.destroy();
    return failure ?? 'NO CARRIER';
  }
  return socket;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function connectTcp(host: string, port: number, signal: AbortSignal): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    // Errors once the call is up are the call's business; before that they just mean NO CARRIER.
    socket.on('error', () => undefined);
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (!ok) socket.destroy();
      resolve(ok ? socket : undefined);
    };
    const onAbort = () => finish(false);
    const timer = setTimeout(() => finish(false), TCP_CONNECT_TIMEOUT_MS);
    signal.addEventListener('abort', onAbort);
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}
