import { TamtamError } from '../../protocol/errors.js';

/**
 * What a link is like and what it costs: the agent cuts chunks, times out and
 * meters by it. Figures of the built-in profiles are the services' published
 * nominal ones; a centre whose contract differs defines its own (config
 * `link.profile` as an object with `base` and the fields it changes).
 */
export interface LinkProfile {
  name: string;
  label: string;
  /** Nominal rates in kilobits a second (1 kbit = 1000 bits). */
  upKbps: number;
  downKbps: number;
  /** Round trip through the satellite and the ground network. */
  rttMs: number;
  /** Chunk size on byte streams: the frame payload; the best size for the link's bit error rate (FORMAT.md §12). */
  chunkBytes: number;
  /** US$ per kilobyte (1024 bytes), up and down alike. */
  perKbUsd: number;
  /** Bytes are billed in steps of this many. */
  incrementBytes: number;
  /** Least billed for a session, however few bytes it carried (Certus: 5 KB). */
  minBytesPerSession: number;
  /** Links billed per message (SBD): each message is billed at least this many bytes, then by `incrementBytes`. */
  minBytesPerMessage: number;
  /** Circuit-switched calls bill airtime instead: US$ per minute, in steps of `incrementSeconds`. */
  perMinuteUsd: number;
  incrementSeconds: number;
  /** A session is hung up after this long and redialled if work is left (carriers cut long calls; a stuck call costs). */
  maxSessionSeconds: number;
  /** MQTT keepalive on IP links: long on satellite, where every ping is billed. */
  keepaliveSeconds: number;
}

const MB_5USD = 5 / 1024;

export const BUILT_IN_PROFILES: readonly LinkProfile[] = [
  {
    name: 'internet', label: 'Internet (ADSL, fibre, 4G)', upKbps: 1000, downKbps: 1000, rttMs: 100, chunkBytes: 16384,
    perKbUsd: 0, incrementBytes: 1, minBytesPerSession: 0, minBytesPerMessage: 0, perMinuteUsd: 0, incrementSeconds: 1, maxSessionSeconds: 86_400, keepaliveSeconds: 60,
  },
  {
    name: 'iridium-csd', label: 'Iridium circuit-switched data, 2.4 kbps', upKbps: 2.4, downKbps: 2.4, rttMs: 1800, chunkBytes: 256,
    perKbUsd: 0, incrementBytes: 1, minBytesPerSession: 0, minBytesPerMessage: 0, perMinuteUsd: 1.0, incrementSeconds: 20, maxSessionSeconds: 3600, keepaliveSeconds: 600,
  },
  {
    name: 'iridium-certus-100', label: 'Iridium Certus 100, 22 kbps up', upKbps: 22, downKbps: 88, rttMs: 1500, chunkBytes: 1024,
    perKbUsd: MB_5USD, incrementBytes: 1024, minBytesPerSession: 5 * 1024, minBytesPerMessage: 0, perMinuteUsd: 0, incrementSeconds: 1, maxSessionSeconds: 3600, keepaliveSeconds: 900,
  },
  {
    name: 'iridium-go-exec', label: 'Iridium GO! exec (Certus 100)', upKbps: 22, downKbps: 88, rttMs: 1600, chunkBytes: 1024,
    perKbUsd: MB_5USD, incrementBytes: 1024, minBytesPerSession: 5 * 1024, minBytesPerMessage: 0, perMinuteUsd: 0, incrementSeconds: 1, maxSessionSeconds: 3600, keepaliveSeconds: 900,
  },
  {
    // One 340-byte message per SBDIX session of 10–20 s: about 0.2 kbps; receipts come back as 270-byte MT messages.
    name: 'iridium-sbd', label: 'Iridium Short Burst Data (9602/9603)', upKbps: 0.2, downKbps: 0.15, rttMs: 20_000, chunkBytes: 259,
    perKbUsd: 1.25, incrementBytes: 1, minBytesPerSession: 0, minBytesPerMessage: 10, perMinuteUsd: 0, incrementSeconds: 1, maxSessionSeconds: 3600, keepaliveSeconds: 0,
  },
  {
    name: 'thuraya-gmprs', label: 'Thuraya GmPRS, about 15 kbps up', upKbps: 15, downKbps: 60, rttMs: 1200, chunkBytes: 1024,
    perKbUsd: MB_5USD, incrementBytes: 10 * 1024, minBytesPerSession: 0, minBytesPerMessage: 0, perMinuteUsd: 0, incrementSeconds: 1, maxSessionSeconds: 3600, keepaliveSeconds: 900,
  },
  {
    name: 'thuraya-ip', label: 'Thuraya IP, 444 kbps', upKbps: 444, downKbps: 444, rttMs: 900, chunkBytes: 4096,
    perKbUsd: MB_5USD, incrementBytes: 1024, minBytesPerSession: 0, minBytesPerMessage: 0, perMinuteUsd: 0, incrementSeconds: 1, maxSessionSeconds: 14_400, keepaliveSeconds: 900,
  },
];

export const DEFAULT_PROFILE = 'internet';

const NUMERIC: readonly (keyof LinkProfile)[] = [
  'upKbps', 'downKbps', 'rttMs', 'chunkBytes', 'perKbUsd', 'incrementBytes', 'minBytesPerSession', 'minBytesPerMessage', 'perMinuteUsd', 'incrementSeconds',
  'maxSessionSeconds', 'keepaliveSeconds',
];
const POSITIVE: readonly (keyof LinkProfile)[] = ['upKbps', 'downKbps', 'chunkBytes', 'incrementBytes', 'incrementSeconds', 'maxSessionSeconds'];

export function builtInProfile(name: string): LinkProfile | undefined {
  return BUILT_IN_PROFILES.find((p) => p.name === name);
}

/**
 * A profile from config: a built-in name, or an object naming its `base`
 * (default 'internet') and overriding fields. Every number is checked, so a
 * typo stops the agent at start with the field's name, not mid-call.
 */
export function resolveProfile(input: unknown, where = 'link.profile'): LinkProfile {
  const names = BUILT_IN_PROFILES.map((p) => p.name).join(', ');
  if (input === undefined) return { ...builtInProfile(DEFAULT_PROFILE)! };
  if (typeof input === 'string') {
    const p = builtInProfile(input);
    if (!p) throw new TamtamError('E_CONFIG', `${where}: "${input}" is not a link profile; use one of ${names}, or an object { "base": ..., fields to change }`);
    return { ...p };
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TamtamError('E_CONFIG', `${where} must be a profile name (${names}) or an object { "base": ..., fields to change }`);
  }
  const o = input as Record<string, unknown>;
  const baseName = o.base ?? DEFAULT_PROFILE;
  const base = typeof baseName === 'string' ? builtInProfile(baseName) : undefined;
  if (!base) throw new TamtamError('E_CONFIG', `${where}.base: ${JSON.stringify(baseName)} is not a link profile; use one of ${names}`);
  const out: LinkProfile = { ...base, name: typeof o.name === 'string' && o.name ? o.name : `${base.name}-custom` };
  if (typeof o.label === 'string') out.label = o.label;
  for (const key of Object.keys(o)) {
    if (key === 'base' || key === 'name' || key === 'label') continue;
    if (!NUMERIC.includes(key as keyof LinkProfile)) {
      throw new TamtamError('E_CONFIG', `${where}.${key} is not a profile field; the fields are ${NUMERIC.join(', ')}`);
    }
    const v = o[key];
    const positive = POSITIVE.includes(key as keyof LinkProfile);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (positive && v === 0)) {
      throw new TamtamError('E_CONFIG', `${where}.${key} must be a ${positive ? 'positive' : 'non-negative'} number, got ${JSON.stringify(v)}`);
    }
    (out as unknown as Record<string, number>)[key] = v;
  }
  if (!Number.isInteger(out.chunkBytes) || out.chunkBytes < 16 || out.chunkBytes > 65535) {
    throw new TamtamError('E_CONFIG', `${where}.chunkBytes must be a whole number from 16 to 65535, got ${out.chunkBytes}`);
  }
  return out;
}

export interface SessionUse {
  bytesUp: number;
  bytesDown: number;
  /** Airtime: from dialling to hang-up. */
  seconds: number;
}

/** What a carrier bills for one session under this profile, in US$. */
export function sessionCost(p: LinkProfile, use: SessionUse): number {
  const bytes = use.bytesUp + use.bytesDown;
  const billedBytes = bytes === 0 && use.seconds === 0 ? 0 : Math.max(p.minBytesPerSession, Math.ceil(bytes / p.incrementBytes) * p.incrementBytes);
  const billedSeconds = use.seconds <= 0 ? 0 : Math.ceil(use.seconds / p.incrementSeconds) * p.incrementSeconds;
  return (billedBytes / 1024) * p.perKbUsd + (billedSeconds / 60) * p.perMinuteUsd;
}

/** Bytes a carrier bills for one message of `size` bytes on a per-message link. */
export function billedMessageBytes(p: Pick<LinkProfile, 'minBytesPerMessage' | 'incrementBytes'>, size: number): number {
  return Math.max(p.minBytesPerMessage, Math.ceil(size / p.incrementBytes) * p.incrementBytes);
}

/** Seconds that many bytes take on the link's upstream, at its nominal rate. */
export function uploadSeconds(p: LinkProfile, bytes: number): number {
  return (bytes * 8) / (p.upKbps * 1000);
}
