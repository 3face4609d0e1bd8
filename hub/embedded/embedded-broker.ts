import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import { TamtamError } from '../../protocol/errors.js';

export interface EmbeddedBrokerOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Decides who may connect; without it anyone on this machine may (it listens on 127.0.0.1 only). */
  authenticate?: (username: string | undefined, password: string | undefined) => boolean | Promise<boolean>;
}

export interface EmbeddedBroker {
  /** mqtt://127.0.0.1:port */
  readonly url: string;
  readonly port: number;
  /** Disconnects every client and stops listening. Safe to call twice. */
  close(): Promise<void>;
}

const BAD_USERNAME_OR_PASSWORD = 4;

/**
 * The MQTT broker a hub runs in-process when no broker URL is given (aedes,
 * MQTT 3.1.1, sessions in memory). aedes has no `$share/` shared
 * subscriptions: with it, run one hub process and subscribe with shared: false.
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  const check = options.authenticate;
  if (check) {
    aedes.authenticate = (_client, username, password, done) => {
      Promise.resolve()
        .then(() => check(username ?? undefined, password?.toString('utf8')))
        .then(
          (ok) => {
            if (ok) return done(null, true);
            const refusal = Object.assign(new Error('bad user name or password'), { returnCode: BAD_USERNAME_OR_PASSWORD }) as AuthenticateError;
            done(refusal, false);
          },
          (e: Error) => done(Object.assign(e, { returnCode: 3 }) as AuthenticateError, false),
        );
    };
  }
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e))]);
  } catch (e) {
    await new Promise<void>((r) => aedes.close(() => r()));
    const busy = (e as NodeJS.ErrnoException).code === 'EADDRINUSE';
    throw new TamtamError('E_CONFIG', `the embedded MQTT broker cannot listen on 127.0.0.1:${options.port ?? 0}: ${busy ? 'the port is in use; choose another or stop what uses it' : (e as Error).message}`, { cause: e });
  }
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((r) => server.close(() => r()));
        await new Promise<void>((r) => aedes.close(() => r()));
        for (const s of sockets) s.destroy();
        await stopped;
      })();
      return closing;
    },
  };
}
