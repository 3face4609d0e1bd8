import type { Server, Socket } from 'node:net';
import { TamtamError } from '../protocol/errors.js';

/** Listens, or fails with E_CONFIG naming `what` and the address, and what to do when the port is taken. */
export function listenOn(server: Server, what: string, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new TamtamError('E_CONFIG',
      `${what} cannot listen on ${host}:${port}: ${e.code ?? e.message}${e.code === 'EADDRINUSE' ? '; choose another port or stop what holds it' : ''}`, { cause: e })));
    server.listen(port, host, () => resolve());
  });
}

/** Stops taking connections and cuts those still open, so a stop never waits on a silent peer. */
export function closeServer(server: Server, sockets: Iterable<Socket>): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const s of sockets) s.destroy();
  return closed;
}
