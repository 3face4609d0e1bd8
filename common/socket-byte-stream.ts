import type { Socket } from 'node:net';
import { TamtamError } from '../protocol/errors.js';
import type { ByteStream } from './byte-stream.js';

/**
 * A connected socket as a ByteStream: both ends of a stream session use it
 * (the agent's TcpDialer, the hub's StreamReceiver).
 */
export function socketByteStream(socket: Socket, peer = `${socket.remoteAddress}:${socket.remotePort}`): ByteStream {
  let closedByUs = false;
  let ended = false;
  let failure: Error | undefined;
  let onClose: ((error?: TamtamError) => void) | undefined;
  let closeWaiters: (() => void)[] = [];
  const down = (why: string, cause?: unknown) => new TamtamError('E_LINK_DOWN', `the connection with ${peer} ${why}`, { cause, retryable: true });
  socket.on('error', (e) => {
    failure ??= e;
  });
  socket.once('close', () => {
    ended = true;
    const listener = onClose;
    onClose = undefined;
    listener?.(closedByUs ? undefined : down(failure ? `failed: ${(failure as NodeJS.ErrnoException).code ?? failure.message}` : 'was closed by the far side', failure));
    for (const w of closeWaiters) w();
    closeWaiters = [];
  });
  return {
    get closed() {
      return ended || socket.destroyed;
    },
    write(bytes: Uint8Array): Promise<void> {
      if (ended || socket.destroyed || socket.writableEnded) return Promise.reject(down('has ended'));
      return new Promise((resolve, reject) => {
        socket.write(bytes, (e) => (e ? reject(down('failed while writing', e)) : resolve()));
      });
    },
    onData(listener: (bytes: Uint8Array) => void): void {
      socket.on('data', (b: Buffer) => listener(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
    },
    onClose(listener: (error?: TamtamError) => void): void {
      if (ended) return listener(closedByUs ? undefined : down('had already ended'));
      onClose = listener;
    },
    close(): Promise<void> {
      closedByUs = true;
      if (ended) return Promise.resolve();
      return new Promise((resolve) => {
        closeWaiters.push(resolve);
        // end() lets written bytes leave; a far side that never closes its half is cut shortly after.
        socket.end();
        setTimeout(() => socket.destroy(), 2000).unref();
      });
    },
  };
}
