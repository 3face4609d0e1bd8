import { TamtamError, type ErrorCode } from '../errors.js';
import { encodeFrame, FrameType, MAX_FRAME_PAYLOAD } from '../chunk/chunk-frame.js';
import { MIN_CHUNK_SIZE } from '../chunk/chunker.js';
import { checkSender } from '../sdc/sdc-header.js';

/**
 * Control frames of a stream session (FORMAT.md §14): Hello, Welcome, Bye and
 * Decline, in chunk frames of version 1 with transfer id 0 (Decline: the
 * transfer's id) and index 0. Payload layouts are fixed per session version;
 * change one only with a new SESSION_VERSION.
 */

export const SESSION_VERSION = 1;
/**
 * Every control payload fits in this many bytes, so a side's frame parser
 * accepts max(chunk size, CONTROL_MAX_PAYLOAD) and nothing larger.
 */
export const CONTROL_MAX_PAYLOAD = 128;
/** Reason texts are for people; longer ones are cut at a character boundary. */
export const MAX_REASON_TEXT = 96;

/** Why a call is refused, ended, or a transfer declined. Unknown codes read as Other. */
export const SessionReason = {
  None: 0x00,
  UnknownCentre: 0x01,
  Suspended: 0x02,
  Busy: 0x03,
  BadVersion: 0x04,
  ProtocolError: 0x05,
  ShuttingDown: 0x06,
  SessionLimit: 0x07,
  Idle: 0x08,
  ApplicationFailed: 0x09,
  TooLarge: 0x0a,
  BadData: 0x0b,
  Other: 0xff,
} as const;
export type SessionReasonName = keyof typeof SessionReason;

export interface Hello {
  version: number;
  /** The caller's matricule. */
  centre: string;
  /** Chunk size the caller would send with. */
  chunkSize: number;
  /** Largest frame payload the caller accepts; at least CONTROL_MAX_PAYLOAD. */
  maxPayload: number;
}

export interface Welcome {
  version: number;
  /** SessionReason.None when accepted. */
  reason: number;
  text: string;
  /** Chunk size the answerer sends with; 0 when refused. */
  chunkSize: number;
  /** Largest frame payload the answerer accepts; 0 when refused. */
  maxPayload: number;
  /** Status frames the answerer sent just before this Welcome. */
  partials: number;
}

export interface Bye {
  reason: number;
  text: string;
}

export interface Decline {
  /** Refused for good (too large, bad data); otherwise held and offered again in a later session. */
  final: boolean;
  reason: number;
  text: string;
}

const HELLO_FIXED = 6;
const WELCOME_FIXED = 9;
const BYE_FIXED = 2;
const DECLINE_FIXED = 3;
const DECLINE_FINAL = 0x01;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8');

export function reasonName(reason: number): SessionReasonName {
  const found = (Object.keys(SessionReason) as SessionReasonName[]).find((k) => SessionReason[k] === reason);
  return found ?? 'Other';
}

/** UTF-8 of `text`, cut to MAX_REASON_TEXT bytes without splitting a character. */
export function reasonTextBytes(text: string): Uint8Array {
  const bytes = utf8.encode(text);
  if (bytes.length <= MAX_REASON_TEXT) return bytes;
  let end = MAX_REASON_TEXT;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.slice(0, end);
}

export function encodeHello(h: Omit<Hello, 'version'>): Uint8Array {
  const centre = checkSender(h.centre);
  checkU16(h.chunkSize, MIN_CHUNK_SIZE, 'Hello chunk size');
  checkU16(h.maxPayload, CONTROL_MAX_PAYLOAD, 'Hello largest payload');
  const out = new Uint8Array(HELLO_FIXED + centre.length);
  out[0] = SESSION_VERSION;
  putU16(out, 1, h.chunkSize);
  putU16(out, 3, h.maxPayload);
  out[5] = centre.length;
  for (let i = 0; i < centre.length; i++) out[HELLO_FIXED + i] = centre.charCodeAt(i);
  return out;
}

/** Throws E_BAD_VERSION (details.version) for a Hello of another session version, so the answerer can say so. */
export function decodeHello(p: Uint8Array): Hello {
  if (p.length < 1) throw new TamtamError('E_TRUNCATED', 'Hello payload is empty');
  if (p[0] !== SESSION_VERSION) {
    throw new TamtamError('E_BAD_VERSION', `caller speaks stream session version ${p[0]}; this hub speaks ${SESSION_VERSION}`, { details: { version: p[0] } });
  }
  if (p.length < HELLO_FIXED) throw new TamtamError('E_TRUNCATED', `Hello of ${p.length} bytes is shorter than ${HELLO_FIXED}`);
  const n = p[5];
  expectLength(p, HELLO_FIXED + n, 'Hello');
  const centre = String.fromCharCode(...p.subarray(HELLO_FIXED));
  try {
    checkSender(centre);
  } catch (e) {
    throw new TamtamError('E_MALFORMED', 'Hello names a centre that is not a valid matricule', { cause: e });
  }
  const chunkSize = u16(p, 1);
  const maxPayload = u16(p, 3);
  if (chunkSize < MIN_CHUNK_SIZE) throw new TamtamError('E_MALFORMED', `Hello chunk size ${chunkSize} is below ${MIN_CHUNK_SIZE}`);
  if (maxPayload < CONTROL_MAX_PAYLOAD) throw new TamtamError('E_MALFORMED', `Hello largest payload ${maxPayload} is below ${CONTROL_MAX_PAYLOAD}`);
  return { version: SESSION_VERSION, centre, chunkSize, maxPayload };
}

export function encodeWelcome(w: Omit<Welcome, 'version'>): Uint8Array {
  checkByte(w.reason, 'Welcome reason');
  const accepted = w.reason === SessionReason.None;
  checkU16(w.chunkSize, accepted ? MIN_CHUNK_SIZE : 0, 'Welcome chunk size');
  checkU16(w.maxPayload, accepted ? CONTROL_MAX_PAYLOAD : 0, 'Welcome largest payload');
  checkU16(w.partials, 0, 'Welcome partial count');
  const text = reasonTextBytes(w.text);
  const out = new Uint8Array(WELCOME_FIXED + text.length);
  out[0] = SESSION_VERSION;
  out[1] = w.reason;
  putU16(out, 2, w.chunkSize);
  putU16(out, 4, w.maxPayload);
  putU16(out, 6, w.partials);
  out[8] = text.length;
  out.set(text, WELCOME_FIXED);
  return out;
}

/** A refusal of another version is still read (version and reason come first), so the caller learns why. */
export function decodeWelcome(p: Uint8Array): Welcome {
  if (p.length < WELCOME_FIXED) throw new TamtamError('E_TRUNCATED', `Welcome of ${p.length} bytes is shorter than ${WELCOME_FIXED}`);
  const version = p[0];
  const reason = p[1];
  if (version !== SESSION_VERSION && reason === SessionReason.None) {
    throw new TamtamError('E_BAD_VERSION', `hub accepted in stream session version ${version}; this agent speaks ${SESSION_VERSION}`, { details: { version } });
  }
  expectLength(p, WELCOME_FIXED + p[8], 'Welcome');
  const w: Welcome = { version, reason, chunkSize: u16(p, 2), maxPayload: u16(p, 4), partials: u16(p, 6), text: fromUtf8.decode(p.subarray(WELCOME_FIXED)) };
  if (reason === SessionReason.None && (w.chunkSize < MIN_CHUNK_SIZE || w.maxPayload < CONTROL_MAX_PAYLOAD)) {
    throw new TamtamError('E_MALFORMED', `Welcome accepts with chunk size ${w.chunkSize} and largest payload ${w.maxPayload}, below ${MIN_CHUNK_SIZE} and ${CONTROL_MAX_PAYLOAD}`);
  }
  return w;
}

export function encodeBye(b: Bye): Uint8Array {
  checkByte(b.reason, 'Bye reason');
  const text = reasonTextBytes(b.text);
  const out = new Uint8Array(BYE_FIXED + text.length);
  out[0] = b.reason;
  out[1] = text.length;
  out.set(text, BYE_FIXED);
  return out;
}

export function decodeBye(p: Uint8Array): Bye {
  if (p.length < BYE_FIXED) throw new TamtamError('E_TRUNCATED', `Bye of ${p.length} bytes is shorter than ${BYE_FIXED}`);
  expectLength(p, BYE_FIXED + p[1], 'Bye');
  return { reason: p[0], text: fromUtf8.decode(p.subarray(BYE_FIXED)) };
}

export function encodeDecline(d: Decline): Uint8Array {
  checkByte(d.reason, 'Decline reason');
  const text = reasonTextBytes(d.text);
  const out = new Uint8Array(DECLINE_FIXED + text.length);
  out[0] = d.final ? DECLINE_FINAL : 0;
  out[1] = d.reason;
  out[2] = text.length;
  out.set(text, DECLINE_FIXED);
  return out;
}

export function decodeDecline(p: Uint8Array): Decline {
  if (p.length < DECLINE_FIXED) throw new TamtamError('E_TRUNCATED', `Decline of ${p.length} bytes is shorter than ${DECLINE_FIXED}`);
  if ((p[0] & ~DECLINE_FINAL) !== 0) throw new TamtamError('E_MALFORMED', `Decline has unknown flags 0x${p[0].toString(16)}`);
  expectLength(p, DECLINE_FIXED + p[2], 'Decline');
  return { final: (p[0] & DECLINE_FINAL) !== 0, reason: p[1], text: fromUtf8.decode(p.subarray(DECLINE_FIXED)) };
}

export const helloFrame = (h: Omit<Hello, 'version'>): Uint8Array => control(FrameType.Hello, 0, encodeHello(h));
export const welcomeFrame = (w: Omit<Welcome, 'version'>): Uint8Array => control(FrameType.Welcome, 0, encodeWelcome(w));
export const byeFrame = (b: Bye): Uint8Array => control(FrameType.Bye, 0, encodeBye(b));
export const declineFrame = (transferId: number, d: Decline): Uint8Array => control(FrameType.Decline, transferId, encodeDecline(d));

/**
 * The error a caller reports for a refused Welcome, a Bye or a Decline.
 * Refusals the caller can do nothing about by retrying are not retryable.
 */
export function reasonError(reason: number, text: string, what: string): TamtamError {
  const name = reasonName(reason);
  const said = text ? `: ${text}` : '';
  const details = { reason: name };
  const table: Partial<Record<SessionReasonName, [ErrorCode, boolean, string]>> = {
    UnknownCentre: ['E_UNKNOWN_SIGNER', false, 'the hub does not know this centre; check its matricule and that it is enrolled'],
    Suspended: ['E_SUSPENDED', false, 'the hub has suspended this centre; ask central staff to reinstate it'],
    Busy: ['E_LINK_DOWN', true, 'the hub is busy; call again later'],
    ShuttingDown: ['E_LINK_DOWN', true, 'the hub is shutting down; call again later'],
    SessionLimit: ['E_LINK_DOWN', true, 'the call reached its time limit; it is redialled when work is left'],
    Idle: ['E_LINK_DOWN', true, 'the call was idle too long'],
    ApplicationFailed: ['E_INTERNAL', true, 'the far side holds it but could not take it now; it is taken in a later session without being sent again'],
    TooLarge: ['E_TOO_LARGE', false, "it is over the far side's size limits"],
    BadData: ['E_BAD_HASH', false, 'the far side found it does not match its own manifest'],
    BadVersion: ['E_LINK_DOWN', false, 'the two sides speak different stream session versions; upgrade the older one'],
  };
  const [code, retryable, hint] = table[name] ?? ['E_LINK_DOWN', false, 'the far side refused; see its reason'];
  return new TamtamError(code, `${what} (${name}${said}); ${hint}`, { retryable, details });
}

function control(type: number, transferId: number, payload: Uint8Array): Uint8Array {
  if (payload.length > CONTROL_MAX_PAYLOAD || payload.length > MAX_FRAME_PAYLOAD) throw new TamtamError('E_INTERNAL', 'control payload over its limit');
  return encodeFrame({ type, transferId, index: 0, payload });
}

function u16(p: Uint8Array, at: number): number {
  return (p[at] << 8) | p[at + 1];
}

function putU16(p: Uint8Array, at: number, v: number): void {
  p[at] = v >>> 8;
  p[at + 1] = v & 0xff;
}

function checkU16(v: number, min: number, what: string): void {
  if (!Number.isInteger(v) || v < min || v > 0xffff) throw new TamtamError('E_BAD_INPUT', `${what} ${v} is not an integer from ${min} to 65535`);
}

function checkByte(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new TamtamError('E_BAD_INPUT', `${what} ${v} is not a byte`);
}

function expectLength(p: Uint8Array, want: number, what: string): void {
  if (p.length < want) throw new TamtamError('E_TRUNCATED', `${what} announces ${want} bytes but has ${p.length}`);
  if (p.length > want) throw new TamtamError('E_MALFORMED', `${p.length - want} bytes follow the ${what}`);
}
