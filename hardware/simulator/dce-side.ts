import { SerialPort } from 'serialport';
import { TamtamError } from '../../protocol/errors.js';
import type { PtyPair } from './pty-pair.js';

export interface DceSideOptions {
  baudRate: number;
  /** Read buffer size: small, so that holding the DTE back stops reading the pty at once. */
  highWaterMark: number;
  onData: (bytes: Buffer) => void;
  /** socat was restarted and the port reopened: whatever the modem was doing is over. */
  onRestart: () => void;
  log: (message: string) => void;
}

/**
 * The modem's end of the pty pair, opened with serialport like any serial
 * device. Holding the DTE back pauses reading, which is what fills the pty
 * and makes the agent's writes wait, as RTS/CTS would. Follows socat
 * restarts by reopening the new DCE pty.
 */
export class DceSide {
  private port: SerialPort | undefined;
  private held = false;
  private closed = false;

  private constructor(private readonly pair: PtyPair, private readonly options: DceSideOptions) {
    pair.on('restart', () => this.reopen());
    pair.on('error', (e) => options.log(e.message));
  }

  static async open(pair: PtyPair, options: DceSideOptions): Promise<DceSide> {
    const side = new DceSide(pair, options);
    side.attach(await side.openPort());
    return side;
  }

  write(bytes: string | Buffer): void {
    if (this.port?.isOpen) this.port.write(bytes);
  }

  /** Stops (true) or resumes (false) reading what the DTE sends. */
  holdBack(hold: boolean): void {
    if (hold === this.held) return;
    this.held = hold;
    if (hold) this.port?.pause();
    else this.port?.resume();
  }

  async close(): Promise<void> {
    this.closed = true;
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  private openPort(): Promise<SerialPort> {
    const { baudRate, highWaterMark } = this.options;
    const path = this.pair.dcePath;
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate, highWaterMark }, (e) => {
        if (e) reject(new TamtamError('E_IO', `the modem simulator could not open its side of the pty pair (${path}): ${e.message}`, { cause: e }));
        else resolve(port);
      });
    });
  }

  private attach(port: SerialPort): void {
    this.port = port;
    this.held = false;
    port.on('data', (bytes: Buffer) => this.options.onData(bytes));
    port.on('error', (e: Error) => this.options.log(`simulator port: ${e.message}`));
  }

  private reopen(): void {
    const old = this.port;
    this.port = undefined;
    if (old?.isOpen) old.close(() => undefined);
    this.options.onRestart();
    this.openPort().then((port) => {
      if (this.closed) return port.close(() => undefined);
      this.attach(port);
      this.options.log(`socat was restarted; the DTE side is again at ${this.pair.dtePath}`);
    }, (e: Error) => this.options.log(e.message));
  }
}
