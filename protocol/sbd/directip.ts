import { TamtamError } from '../errors.js';

/**
 * Iridium DirectIP (SBD Service Developers Guide): how the gateway hands MO
 * messages to the hub and takes the hub's MT messages. Every message is
 *
 *   protocol revision u8 (1) | overall length u16 BE | IEs
 *   IE: IEI u8 | length u16 BE | value
 *
 * Decoders skip IEs they do not know (the gateway adds new ones over time) and
 * never read past a length. Layouts: protocol/FORMAT.md §16.
 */

export const DIRECTIP_REVISION = 1;
export const DIRECTIP_PREHEADER = 3;

export const Iei = {
  MoHeader: 0x01,
  MoPayload: 0x02,
  MoLocation: 0x03,
  MoConfirmation: 0x05,
  MtHeader: 0x41,
  MtPayload: 0x42,
  MtConfirmation: 0x44,
  MtPriority: 0x46,
} as const;

/** Fixed IE value lengths; a different length is a malformed message. */
const FIXED: Record<number, number> = { 0x01: 28, 0x03: 11, 0x05: 1, 0x41: 21, 0x44: 25, 0x46: 2 };

/** MO header session status: 0–2 delivered a good MO; 10–15 the session failed (no payload). */
export const MoSessionStatus = {
  Success: 0, MtTooLarge: 1, BadLocation: 2, Timeout: 10, MoTooLarge: 12, RfLoss: 13, ImeiAnomaly: 14, ImeiProhibited: 15,
} as const;

/** MT header disposition flags. */
export const MtFlags = { FlushQueue: 0x0001, RingAlert: 0x0002, UpdateLocation: 0x0008, HighPriority: 0x0010, AssignMtmsn: 0x0020 } as const;

/** MT confirmation statuses: 1–50 queue position, 0 accepted without payload, negatives below. */
export const MtStatus = {
  InvalidImei: -1, UnknownImei: -2, PayloadTooLarge: -3, PayloadMissing: -4, QueueFull: -5, ResourcesUnavailable: -6,
  ProtocolViolation: -7, RingAlertsDisabled: -8, ImeiNotAttached: -9, SourceIpRejected: -10, MtmsnOutOfRange: -11,
} as const;

const MT_STATUS_TEXT: Record<number, string> = {
  [-1]: 'invalid IMEI (too few characters, or not digits)',
  [-2]: 'unknown IMEI (not provisioned on the Iridium gateway)',
  [-3]: 'payload size exceeded the maximum allowed',
  [-4]: 'payload expected, but none received',
  [-5]: 'MT message queue full (max of 50)',
  [-6]: 'MT resources unavailable',
  [-7]: 'violation of the MT DirectIP protocol',
  [-8]: 'ring alerts to this IMEI are disabled',
  [-9]: 'this IMEI is not attached (not set to receive ring alerts)',
  [-10]: 'source IP address rejected by the MT filter',
  [-11]: 'MTMSN out of range (1–65535)',
};

export function mtStatusText(status: number): string {
  if (status > 0) return `queued at position ${status}`;
  if (status === 0) return 'accepted, no payload';
  return MT_STATUS_TEXT[status] ?? `unknown MT status ${status}`;
}

export interface MoMessage {
  cdrReference: number;
  imei: string;
  sessionStatus: number;
  momsn: number;
  mtmsn: number;
  /** Time of session, seconds since 1970 (UTC). */
  time: number;
  /** Absent when the session carried none (a mailbox check) or failed. */
  payload?: Uint8Array;
  /** The 11-byte location IE, kept raw: the hub does not use it. */
  location?: Uint8Array;
}

export interface MtMessage {
  /** Echoed in the confirmation so the client can match it. */
  clientMessageId: number;
  imei: string;
  flags: number;
  payload?: Uint8Array;
  /** 1 (highest) to 5. */
  priority?: number;
}

export interface MtConfirmation {
  clientMessageId: number;
  imei: string;
  /** The gateway's reference for the queued payload. */
  autoIdReference: number;
  status: number;
}

export const isImei = (s: string): boolean => /^[0-9]{15}$/.test(s);

/** Total bytes of the DirectIP message whose first bytes are `head`, once its 3-byte pre-header is in. */
export function directIpMessageLength(head: Uint8Array): number | undefined {
  if (head.length < DIRECTIP_PREHEADER) return undefined;
  return DIRECTIP_PREHEADER + ((head[1] << 8) | head[2]);
}

function encode(ies: [number, Uint8Array][]): Uint8Array {
  const body = ies.reduce((n, [, v]) => n + 3 + v.length, 0);
  if (body > 0xffff) throw new TamtamError('E_TOO_LARGE', `a DirectIP message of ${body} bytes exceeds 65535`);
  const out = new Uint8Array(DIRECTIP_PREHEADER + body);
  const view = new DataView(out.buffer);
  out[0] = DIRECTIP_REVISION;
  view.setUint16(1, body);
  let pos = DIRECTIP_PREHEADER;
  for (const [iei, v] of ies) {
    out[pos] = iei;
    view.setUint16(pos + 1, v.length);
    out.set(v, pos + 3);
    pos += 3 + v.length;
  }
  return out;
}

function decode(bytes: Uint8Array, what: string): Map<number, Uint8Array> {
  if (bytes.length < DIRECTIP_PREHEADER) throw new TamtamError('E_TRUNCATED', `${what}: ${bytes.length} bytes is shorter than the 3-byte DirectIP pre-header`);
  if (bytes[0] !== DIRECTIP_REVISION) throw new TamtamError('E_BAD_VERSION', `${what}: DirectIP protocol revision ${bytes[0]} is not supported (expected ${DIRECTIP_REVISION})`);
  const total = directIpMessageLength(bytes) as number;
  if (bytes.length < total) throw new TamtamError('E_TRUNCATED', `${what}: announces ${total} bytes but only ${bytes.length} arrived`);
  if (bytes.length > total) throw new TamtamError('E_MALFORMED', `${what}: ${bytes.length - total} bytes follow the announced length`);
  const ies = new Map<number, Uint8Array>();
  let pos = DIRECTIP_PREHEADER;
  while (pos < total) {
    if (pos + 3 > total) throw new TamtamError('E_TRUNCATED', `${what}: an IE header at offset ${pos} runs past the end`);
    const iei = bytes[pos];
    const len = (bytes[pos + 1] << 8) | bytes[pos + 2];
    if (pos + 3 + len > total) throw new TamtamError('E_TRUNCATED', `${what}: IE 0x${hex(iei)} of ${len} bytes at offset ${pos} runs past the end`);
    const fixed = FIXED[iei];
    if (fixed !== undefined && len !== fixed) throw new TamtamError('E_MALFORMED', `${what}: IE 0x${hex(iei)} is ${len} bytes, the guide says ${fixed}`);
    if (ies.has(iei)) throw new TamtamError('E_MALFORMED', `${what}: IE 0x${hex(iei)} appears twice`);
    ies.set(iei, bytes.subarray(pos + 3, pos + 3 + len));
    pos += 3 + len;
  }
  return ies;
}

const hex = (b: number): string => b.toString(16).padStart(2, '0');
const ascii = (b: Uint8Array): string => String.fromCharCode(...b);
const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

function imeiBytes(imei: string): Uint8Array {
  if (!isImei(imei)) throw new TamtamError('E_BAD_INPUT', `IMEI "${imei}" is not 15 digits; check the centre's --imei`);
  return Uint8Array.from(imei, (c) => c.charCodeAt(0));
}

function u(n: number, bytes: 1 | 2 | 4, field: string): void {
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** (8 * bytes)) throw new TamtamError('E_BAD_INPUT', `DirectIP ${field} ${n} does not fit ${bytes} unsigned byte(s)`);
}

export function encodeMo(m: MoMessage): Uint8Array {
  u(m.cdrReference, 4, 'CDR reference'); u(m.sessionStatus, 1, 'session status'); u(m.momsn, 2, 'MOMSN'); u(m.mtmsn, 2, 'MTMSN'); u(m.time, 4, 'time of session');
  const h = new Uint8Array(28);
  const v = view(h);
  v.setUint32(0, m.cdrReference);
  h.set(imeiBytes(m.imei), 4);
  h[19] = m.sessionStatus;
  v.setUint16(20, m.momsn);
  v.setUint16(22, m.mtmsn);
  v.setUint32(24, m.time);
  const ies: [number, Uint8Array][] = [[Iei.MoHeader, h]];
  if (m.payload) ies.push([Iei.MoPayload, m.payload]);
  if (m.location) ies.push([Iei.MoLocation, m.location]);
  return encode(ies);
}

export function decodeMo(bytes: Uint8Array): MoMessage {
  const ies = decode(bytes, 'MO message');
  const h = ies.get(Iei.MoHeader);
  if (!h) throw new TamtamError('E_MALFORMED', 'MO message has no MO header IE (0x01)');
  const v = view(h);
  const imei = ascii(h.subarray(4, 19));
  if (!isImei(imei)) throw new TamtamError('E_MALFORMED', `MO header IMEI "${imei}" is not 15 digits`);
  const payload = ies.get(Iei.MoPayload);
  const location = ies.get(Iei.MoLocation);
  return {
    cdrReference: v.getUint32(0), imei, sessionStatus: h[19], momsn: v.getUint16(20), mtmsn: v.getUint16(22), time: v.getUint32(24),
    ...(payload ? { payload: payload.slice() } : {}), ...(location ? { location: location.slice() } : {}),
  };
}

export function encodeMoConfirmation(ok: boolean): Uint8Array {
  return encode([[Iei.MoConfirmation, Uint8Array.of(ok ? 1 : 0)]]);
}

export function decodeMoConfirmation(bytes: Uint8Array): boolean {
  const c = decode(bytes, 'MO confirmation').get(Iei.MoConfirmation);
  if (!c) throw new TamtamError('E_MALFORMED', 'MO confirmation message has no confirmation IE (0x05)');
  return c[0] === 1;
}

export function encodeMt(m: MtMessage): Uint8Array {
  u(m.clientMessageId, 4, 'unique client message id'); u(m.flags, 2, 'disposition flags');
  const h = new Uint8Array(21);
  view(h).setUint32(0, m.clientMessageId);
  h.set(imeiBytes(m.imei), 4);
  view(h).setUint16(19, m.flags);
  const ies: [number, Uint8Array][] = [[Iei.MtHeader, h]];
  if (m.payload) ies.push([Iei.MtPayload, m.payload]);
  if (m.priority !== undefined) {
    u(m.priority, 2, 'priority');
    const p = new Uint8Array(2);
    view(p).setUint16(0, m.priority);
    ies.push([Iei.MtPriority, p]);
  }
  return encode(ies);
}

/** The IMEI is returned as sent, even when not 15 digits: the gateway answers that with status −1. */
export function decodeMt(bytes: Uint8Array): MtMessage {
  const ies = decode(bytes, 'MT message');
  const h = ies.get(Iei.MtHeader);
  if (!h) throw new TamtamError('E_MALFORMED', 'MT message has no MT header IE (0x41)');
  const payload = ies.get(Iei.MtPayload);
  const p = ies.get(Iei.MtPriority);
  return {
    clientMessageId: view(h).getUint32(0), imei: ascii(h.subarray(4, 19)), flags: view(h).getUint16(19),
    ...(payload ? { payload: payload.slice() } : {}), ...(p ? { priority: view(p).getUint16(0) } : {}),
  };
}

export function encodeMtConfirmation(c: MtConfirmation): Uint8Array {
  u(c.clientMessageId, 4, 'unique client message id'); u(c.autoIdReference, 4, 'auto id reference');
  if (!Number.isInteger(c.status) || c.status < -32768 || c.status > 32767) throw new TamtamError('E_BAD_INPUT', `MT status ${c.status} is not a 16-bit signed integer`);
  const b = new Uint8Array(25);
  const v = view(b);
  v.setUint32(0, c.clientMessageId);
  b.set(Uint8Array.from(c.imei.padEnd(15, ' ').slice(0, 15), (ch) => ch.charCodeAt(0) & 0xff), 4);
  v.setUint32(19, c.autoIdReference);
  v.setInt16(23, c.status);
  return encode([[Iei.MtConfirmation, b]]);
}

export function decodeMtConfirmation(bytes: Uint8Array): MtConfirmation {
  const b = decode(bytes, 'MT confirmation').get(Iei.MtConfirmation);
  if (!b) throw new TamtamError('E_MALFORMED', 'MT confirmation message has no confirmation IE (0x44)');
  const v = view(b);
  return { clientMessageId: v.getUint32(0), imei: ascii(b.subarray(4, 19)), autoIdReference: v.getUint32(19), status: v.getInt16(23) };
}
