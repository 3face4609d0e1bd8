import type { SerialPort } from 'serialport';
import { TamtamError } from '../../protocol/errors.js';
import { sbdChecksum, SBD_MT_LIMIT } from './sbd-answers.js';

/**
 * AT+SBDRB answers in binary (2-byte length, message, 2-byte checksum, then
 * OK), which a line reader would cut at any CR or LF inside the message. So
 * the caller lets go of the port's line reader and this reads the bytes as
 * they are.
 */
export function readSbdrb(port: SerialPort, timeoutMs: number, trace?: (direction: 'tx' | 'rx', text: string) => void): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const finish = (result: Uint8Array | Error) => {
      clearTimeout(timer);
      port.off('data', onData);
      port.off('close', onClose);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onClose = () => finish(new TamtamError('E_LINK_DOWN', `serial port ${port.path} closed during AT+SBDRB (modem unplugged or switched off?)`, { retryable: true }));
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const parsed = parse(buf);
      if (parsed) finish(parsed);
    };
    const timer = setTimeout(() => {
      finish(buf.length === 0
        ? new TamtamError('E_MODEM_SILENT', `the modem on ${port.path} did not answer AT+SBDRB within ${timeoutMs / 1000} s: check power, cable and baud rate (${port.baudRate})`, { retryable: true })
        : new TamtamError('E_TIMEOUT', `the modem on ${port.path} sent ${buf.length} bytes of its AT+SBDRB answer, then stopped`, { retryable: true }));
    }, timeoutMs);
    port.on('data', onData);
    port.on('close', onClose);
    trace?.('tx', 'AT+SBDRB');
    port.write('AT+SBDRB\r', (e) => {
      if (e) finish(new TamtamError('E_LINK_DOWN', `writing to ${port.path} failed: ${e.message}`, { cause: e, retryable: true }));
    });
  });
}

/** The message once the whole answer is in; undefined while more must come. Throws on a bad checksum or length. */
function parse(buf: Buffer): Uint8Array | Error | undefined {
  let at = 0;
  // A length's high byte is at most 0x01, never the 'A' of an echo left on.
  if (buf[0] === 0x41) {
    const cr = buf.indexOf(0x0d);
    if (cr < 0) return undefined;
    at = cr + 1;
    if (at === buf.length) return undefined;
    if (buf[at] === 0x0a) at++;
  }
  if (buf.length < at + 2) return undefined;
  const length = buf.readUInt16BE(at);
  if (length > SBD_MT_LIMIT) {
    return new TamtamError('E_MALFORMED', `AT+SBDRB announced a ${length}-byte message; a 9602/9603 holds at most ${SBD_MT_LIMIT}: the serial line may be garbling bytes (baud rate, cable)`, { details: { length } });
  }
  const end = at + 2 + length + 2;
  if (buf.length < end) return undefined;
  const tail = buf.subarray(end).toString('latin1');
  if (!/OK\r?\n?/.test(tail) && !/ERROR/.test(tail)) return undefined;
  if (/ERROR/.test(tail)) return new TamtamError('E_MODEM_ERROR', 'the modem answered AT+SBDRB with ERROR', { details: { tail } });
  const message = new Uint8Array(buf.subarray(at + 2, at + 2 + length));
  const sent = buf.readUInt16BE(at + 2 + length);
  if (sent !== sbdChecksum(message)) {
    return new TamtamError('E_BAD_CRC', `the mobile-terminated message read from the modem has checksum ${sent}, its bytes sum to ${sbdChecksum(message)}: the serial line garbled it; it is read again`, { retryable: true });
  }
  return message;
}
