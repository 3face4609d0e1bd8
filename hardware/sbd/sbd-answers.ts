import { TamtamError } from '../../protocol/errors.js';

/**
 * Readers for a 9602/9603's answers, and the SBD checksum. Pure, so every
 * shape a transceiver sends can be tested without a port.
 */

/** The largest messages a 9602/9603 takes: mobile-originated and mobile-terminated. */
export const SBD_MO_LIMIT = 340;
export const SBD_MT_LIMIT = 270;

/** The least significant 16 bits of the sum of the message bytes, sent high byte first. */
export function sbdChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xffff;
  return sum;
}

/** The message followed by its checksum, as AT+SBDWB wants it after READY. */
export function withChecksum(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 2);
  out.set(bytes, 0);
  const sum = sbdChecksum(bytes);
  out[bytes.length] = sum >> 8;
  out[bytes.length + 1] = sum & 0xff;
  return out;
}

/** AT+SBDWB's result: 0 written, 1 timeout (fewer bytes than announced), 2 checksum mismatch, 3 size not 1..340. */
export type SbdWriteResult = 0 | 1 | 2 | 3;

export const WRITE_RESULT_MEANING: Record<SbdWriteResult, string> = {
  0: 'written',
  1: 'write timeout: the transceiver received fewer bytes than announced',
  2: 'the checksum did not match the bytes the transceiver received',
  3: `the message size is not 1..${SBD_MO_LIMIT} bytes`,
};

export function parseWriteResult(lines: string[]): SbdWriteResult | undefined {
  const line = lines.find((l) => /^[0-3]$/.test(l.trim()));
  return line === undefined ? undefined : (Number(line.trim()) as SbdWriteResult);
}

export interface SbdixResult {
  /** 0..4 transferred; see mo-status.ts. */
  moStatus: number;
  /** Sequence number the transceiver gave this session's MO message (0..65535). */
  momsn: number;
  /** 0 no message waiting, 1 a message received, 2 an error during the mailbox check. */
  mtStatus: 0 | 1 | 2;
  /** Sequence number the gateway gave the received message; meaningless when mtStatus is not 1. */
  mtmsn: number;
  /** Bytes in the received message; 0 when none. */
  mtLength: number;
  /** Messages still waiting at the gateway for this transceiver. */
  mtQueued: number;
}

/** `+SBDIX: <MO status>, <MOMSN>, <MT status>, <MTMSN>, <MT length>, <MT queued>` */
export function parseSbdix(lines: string[]): SbdixResult {
  const line = lines.find((l) => /^\+SBDIX:/i.test(l));
  const m = line ? /^\+SBDIX:\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$/i.exec(line) : null;
  if (!m) throw new TamtamError('E_MODEM_ERROR', `unexpected answer to AT+SBDIX: ${lines.join(' | ') || '(nothing)'}; is this an Iridium SBD transceiver (9602/9603)?`, { details: { lines } });
  const [moStatus, momsn, mtStatus, mtmsn, mtLength, mtQueued] = m.slice(1).map(Number);
  if (mtStatus > 2) throw new TamtamError('E_MODEM_ERROR', `AT+SBDIX answered MT status ${mtStatus}, which the reference does not define`, { details: { lines } });
  return { moStatus, momsn, mtStatus: mtStatus as 0 | 1 | 2, mtmsn, mtLength, mtQueued };
}

/**
 * Iridium system time counts 90 ms frames from this epoch (the one set in May
 * 2014). A 32-bit count of 90 ms frames wraps after about 12.2 years (mid
 * 2026), when Iridium moves the epoch: callers pass the one in force.
 */
export const IRIDIUM_EPOCH_MS = Date.UTC(2014, 4, 11, 14, 23, 55);
export const IRIDIUM_FRAME_MS = 90;

export type SystemTime = { network: true; frames: number; date: Date } | { network: false };

/** `-MSSTM: 0a1b2c3d` (hex count of 90 ms frames) or `-MSSTM: no network service`. */
export function parseMsstm(lines: string[], epochMs = IRIDIUM_EPOCH_MS): SystemTime {
  const line = lines.find((l) => /^-MSSTM:/i.test(l));
  if (line && /no network service/i.test(line)) return { network: false };
  const m = line ? /^-MSSTM:\s*([0-9a-f]{1,8})\s*$/i.exec(line) : null;
  if (!m) throw new TamtamError('E_MODEM_ERROR', `unexpected answer to AT-MSSTM: ${lines.join(' | ') || '(nothing)'}`, { details: { lines } });
  const frames = parseInt(m[1], 16);
  return { network: true, frames, date: new Date(epochMs + frames * IRIDIUM_FRAME_MS) };
}

/** `0` or `1` after AT+SBDD<n>. */
export function parseClearResult(lines: string[]): boolean {
  return lines.some((l) => l.trim() === '0');
}
