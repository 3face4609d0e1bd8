import type { Socket } from 'node:net';
import { ThrottledPipe } from './throttled-pipe.js';

export interface DataCallOptions {
  /** The far end: the TCP connection the call was delivered to. */
  socket: Socket;
  upKbps: number;
  downKbps: number;
  /** One-way latency, each direction. */
  latencyMs: number;
  ber: number;
  random: () => number;
  /** Bytes that crossed the link towards the DTE. */
  toDte: (bytes: Buffer) => void;
  /** The up pipe can take more: the DTE may be read again. */
  onUpDrain: () => void;
  /** The far end closed or broke the connection. */
  onRemoteEnd: () => void;
}

/**
 * A connected call: the DTE's bytes cross the up pipe to the socket, the
 * socket's cross the down pipe to the DTE. While the modem is in online
 * command mode the bytes arriving for the DTE wait here, to be given on ATO.
 */
export class DataCall {
  private readonly options: DataCallOptions;
  private readonly up: ThrottledPipe;
  private readonly down: ThrottledPipe;
  private held: Buffer[] | undefined;
  private ended = false;
  private toDteBytes = 0;

  constructor(options: DataCallOptions) {
    this.options = options;
    const { socket } = options;
    this.up = new ThrottledPipe({
      kbps: options.upKbps, latencyMs: options.latencyMs, ber: options.ber, random: options.random,
      deliver: (bytes) => socket.write(bytes),
    });
    this.down = new ThrottledPipe({
      kbps: options.downKbps, latencyMs: options.latencyMs, ber: options.ber, random: options.random,
      deliver: (bytes) => this.deliverDown(bytes),
    });
    this.up.on('drain', options.onUpDrain);
    // TCP flow control: the far end waits while the satellite link is busy.
    this.down.on('drain', () => socket.resume());
    socket.on('data', (bytes: Buffer) => {
      if (!this.down.write(bytes)) socket.pause();
    });
    const remoteEnd = () => {
      if (!this.ended) options.onRemoteEnd();
    };
    socket.once('end', remoteEnd);
    socket.once('close', remoteEnd);
    socket.on('error', remoteEnd);
  }

  /** False when the DTE should be held back (the up pipe is past its high-water mark). */
  sendUp(bytes: Buffer): boolean {
    return this.up.write(bytes);
  }

  /** Online command mode: bytes for the DTE wait. */
  hold(): void {
    this.held ??= [];
  }

  /** Back to data mode: the waiting bytes go to the DTE first. */
  release(): void {
    const held = this.held;
    this.held = undefined;
    if (held && held.length > 0) this.give(Buffer.concat(held));
  }

  /** Ends the call: what is queued or in flight is lost and the socket is destroyed. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.up.close();
    this.down.close();
    this.held = undefined;
    this.options.socket.destroy();
  }

  stats(): { bytesUp: number; bytesDown: number; bitErrors: number } {
    return { bytesUp: this.up.delivered, bytesDown: this.toDteBytes, bitErrors: this.up.bitErrors + this.down.bitErrors };
  }

  private deliverDown(bytes: Buffer): void {
    if (this.held) this.held.push(bytes);
    else this.give(bytes);
  }

  private give(bytes: Buffer): void {
    this.toDteBytes += bytes.length;
    this.options.toDte(bytes);
  }
}
