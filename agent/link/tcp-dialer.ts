import { connect } from 'node:net';
import { TamtamError } from '../../protocol/errors.js';
import type { ByteStream, Dialer } from '../../common/byte-stream.js';
import { socketByteStream } from '../../common/socket-byte-stream.js';

export interface TcpDialerOptions {
  host: string;
  port: number;
  /** Default 30 s: a satellite IP terminal can take that long to open a data session. */
  connectTimeoutMs?: number;
  /**
   * Default true: each frame leaves at once, so a StatusRequest is not held
   * back behind Nagle's algorithm for a round trip.
   */
  noDelay?: boolean;
}

/**
 * Calls the hub's stream endpoint over TCP: on an IP link, or in tests in
 * place of a modem (the hub sees a TCP socket either way, as with Iridium
 * RUDICS).
 */
export class TcpDialer implements Dialer {
  readonly kind = 'tcp';

  constructor(private readonly options: TcpDialerOptions) {
    if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
      throw new TamtamError('E_CONFIG', `TCP port ${options.port} is not a whole number from 1 to 65535`);
    }
  }

  dial(signal?: AbortSignal): Promise<ByteStream> {
    const { host, port, connectTimeoutMs = 30_000, noDelay = true } = this.options;
    const where = `${host}:${port}`;
    if (signal?.aborted) return Promise.reject(new TamtamError('E_ABORTED', `dialling ${where} was cancelled`));
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      let timer: NodeJS.Timeout | undefined;
      const settle = (error?: TamtamError) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.removeListener('error', onError);
        socket.removeListener('connect', onConnect);
        if (!error) return resolve(socketByteStream(socket));
        socket.destroy();
        reject(error);
      };
      const onConnect = () => {
        socket.setNoDelay(noDelay);
        settle();
      };
      const onError = (e: NodeJS.ErrnoException) => settle(new TamtamError('E_LINK_DOWN', `cannot connect to the hub's stream endpoint at ${where}: ${e.code ?? e.message}; check the hub runs and the address and port are right`, {
        cause: e, retryable: true, details: { host, port },
      }));
      const onAbort = () => settle(new TamtamError('E_ABORTED', `dialling ${where} was cancelled`));
      timer = setTimeout(() => settle(new TamtamError('E_LINK_DOWN', `no answer from ${where} within ${connectTimeoutMs} ms; check the link and the hub`, {
        retryable: true, details: { host, port },
      })), connectTimeoutMs);
      socket.once('connect', onConnect);
      socket.once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
