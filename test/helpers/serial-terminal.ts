import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { SerialPort } from 'serialport';

/**
 * The agent's end of a simulated modem for tests: the real serialport, with
 * a way to await what the modem says instead of sleeping.
 */
export class SerialTerminal {
  private text = '';
  private bytes = 0;
  private waiters: Array<() => void> = [];

  private constructor(readonly port: SerialPort) {
    port.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('latin1');
      this.bytes += chunk.length;
      for (const wake of [...this.waiters]) wake();
    });
  }

  static open(path: string, baudRate = 19200): Promise<SerialTerminal> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate }, (e) => (e ? reject(e) : resolve(new SerialTerminal(port))));
    });
  }

  /** Everything received and not yet consumed by expect(). */
  get pending(): string {
    return this.text;
  }

  /** Bytes received since the port was opened. */
  get received(): number {
    return this.bytes;
  }

  write(data: string | Buffer): void {
    this.port.write(data);
  }

  /** Writes and resolves once the bytes have left for the pty (the port's drain). */
  writeAndDrain(data: string | Buffer): Promise<void> {
    this.port.write(data);
    return new Promise((resolve, reject) => this.port.drain((e) => (e ? reject(e) : resolve())));
  }

  /** Waits for the received text to contain `what`, returns it up to the match and consumes it. */
  expect(what: string | RegExp, timeoutMs = 5000): Promise<string> {
    return this.until(() => {
      const index = typeof what === 'string' ? this.text.indexOf(what) : this.text.search(what);
      if (index < 0) return undefined;
      const length = typeof what === 'string' ? what.length : (this.text.slice(index).match(what)?.[0].length ?? 0);
      const taken = this.text.slice(0, index + length);
      this.text = this.text.slice(index + length);
      return taken;
    }, `${String(what)} (have ${JSON.stringify(this.text.slice(-200))})`, timeoutMs);
  }

  /** Waits until `count` bytes in all have been received. */
  receivedAtLeast(count: number, timeoutMs = 20_000): Promise<void> {
    return this.until(() => (this.bytes >= count ? true : undefined), `${count} bytes (have ${this.bytes})`, timeoutMs).then(() => undefined);
  }

  /** Sends an AT line and returns the modem's whole answer up to its final result code. */
  async command(line: string, final: RegExp = /\r\n(OK|ERROR|NO CARRIER|BUSY|NO ANSWER|NO DIALTONE|CONNECT[^\r]*)\r\n/): Promise<string> {
    this.write(`${line}\r`);
    return this.expect(final);
  }

  take(): string {
    const text = this.text;
    this.text = '';
    return text;
  }

  close(): Promise<void> {
    if (!this.port.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.port.close(() => resolve()));
  }

  private until<T>(ready: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    const now = ready();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const wake = () => {
        const value = ready();
        if (value === undefined) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(wake);
    });
  }
}

/** The hub's side of a call: a TCP server on 127.0.0.1 handing out the calls it accepts. */
export class CallServer {
  private queue: Socket[] = [];
  private readonly sockets = new Set<Socket>();
  private waiting: Array<(socket: Socket) => void> = [];

  private constructor(readonly server: Server, readonly port: number) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      const waiter = this.waiting.shift();
      if (waiter) waiter(socket);
      else this.queue.push(socket);
    });
  }

  static async start(): Promise<CallServer> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    return new CallServer(server, typeof address === 'object' && address ? address.port : 0);
  }

  get target(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.port };
  }

  nextCall(): Promise<Socket> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }
}

/** Collects what a socket receives and lets a test await an amount of it. */
export function collect(socket: Socket): { data: () => Buffer; atLeast: (count: number, timeoutMs?: number) => Promise<Buffer> } {
  const parts: Buffer[] = [];
  let size = 0;
  socket.on('data', (chunk: Buffer) => {
    parts.push(chunk);
    size += chunk.length;
    socket.emit('collected');
  });
  const data = () => Buffer.concat(parts);
  return {
    data,
    atLeast: (count, timeoutMs = 20_000) => new Promise((resolve, reject) => {
      if (size >= count) return resolve(data());
      const onData = () => {
        if (size < count) return;
        clearTimeout(timer);
        socket.off('collected', onData);
        resolve(data());
      };
      const timer = setTimeout(() => {
        socket.off('collected', onData);
        reject(new Error(`timed out waiting for ${count} bytes on the call server (have ${size})`));
      }, timeoutMs);
      socket.on('collected', onData);
    }),
  };
}

/** Processes whose command line mentions `text`: how a test checks that socat is gone. */
export async function processesMentioning(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await readFile(`/proc/${name}/cmdline`, 'utf8')).includes(text)) found.push(Number(name));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}
