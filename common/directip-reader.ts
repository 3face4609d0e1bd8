import { connect, type Socket } from 'node:net';
import { TamtamError } from '../protocol/errors.js';
import { directIpMessageLength } from '../protocol/sbd/directip.js';

export interface DirectIpReadLimits {
  /** A message announcing more is refused before it is read. */
  maxBytes: number;
  /** The whole message must be in by then: a silent or trickling peer does not hold a connection forever. */
  timeoutMs: number;
}

/**
 * Reads exactly one DirectIP message from a socket (both ends of MO and MT
 * speak one message each way per connection). Rejects E_TOO_LARGE, E_TIMEOUT
 * or E_LINK_DOWN; never reads beyond the announced length.
 */
export function readDirectIpMessage(socket: Socket, limits: DirectIpReadLimits, peer: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (e?: TamtamError, message?: Uint8Array): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      if (e) reject(e);
      else resolve(message as Uint8Array);
    };
    const onData = (b: Buffer): void => {
      buf = Buffer.concat([buf, b]);
      const total = directIpMessageLength(buf);
      if (total === undefined) return;
      if (total > limits.maxBytes) {
        done(new TamtamError('E_TOO_LARGE', `${peer} announced a DirectIP message of ${total} bytes, over the ${limits.maxBytes} taken`));
      } else if (buf.length >= total) {
        if (buf.length > total) return done(new TamtamError('E_MALFORMED', `${peer} sent ${buf.length - total} bytes after its DirectIP message`));
        done(undefined, new Uint8Array(buf.buffer, buf.byteOffset, total));
      }
    };
    const onClose = (): void => done(new TamtamError('E_LINK_DOWN', `${peer} closed the connection after ${buf.length} bytes, before a whole DirectIP message`, { retryable: true }));
    const onError = (e: Error): void => done(new TamtamError('E_LINK_DOWN', `the DirectIP connection with ${peer} failed: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { cause: e, retryable: true }));
    const timer = setTimeout(() => done(new TamtamError('E_TIMEOUT', `${peer} did not send a whole DirectIP message within ${limits.timeoutMs} ms (${buf.length} bytes came)`, { retryable: true })), limits.timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
  });
}

/**
 * One DirectIP exchange as a client: connect, send `message`, read the one
 * answer, close. The gateway's MT endpoint and the hub's MO endpoint both work
 * this way.
 */
export async function directIpExchange(host: string, port: number, message: Uint8Array, limits: DirectIpReadLimits): Promise<Uint8Array> {
  const peer = `${host}:${port}`;
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (e: NodeJS.ErrnoException) => reject(new TamtamError('E_LINK_DOWN', `cannot reach DirectIP endpoint ${peer}: ${e.code ?? e.message}; is it running?`, { cause: e, retryable: true })));
    });
    const answer = readDirectIpMessage(socket, limits, peer);
    socket.write(message);
    return await answer;
  } finally {
    socket.on('error', () => undefined);
    socket.destroy();
  }
}
