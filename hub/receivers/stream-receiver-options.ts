import { TamtamError } from '../../protocol/errors.js';
import type { ReceiverHandler } from './mqtt-receiver.js';
import type { OutboundStore } from './outbound-store.js';

export type CentreStatus = 'ok' | 'unknown' | 'suspended';

export interface StreamReceiverOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0: any free port, read it from `port` once started. */
  port: number;
  /** Each whole SDC; resolves once it is ingested and committed. Its reply goes down the same call. */
  onUp: ReceiverHandler;
  /** Whether a centre may call: checked at every Hello. */
  centreStatus: (matricule: string) => Promise<CentreStatus>;
  /** Default: a MemoryOutboundStore. */
  outbound?: OutboundStore;
  /** Partial up-transfers are saved here at the end of each call and on stop(), and loaded on start(). */
  stateDir?: string;
  /** Handler failures, damaged state files, protocol trouble: the receiver carries on. */
  onError?: (e: TamtamError) => void;
  /** Calls at once; more are answered Busy. Default 64. */
  maxCalls?: number;
  /** Partial transfers kept per centre (the stalest is forgotten beyond). Default 8. */
  maxPartialsPerCentre?: number;
  /** Whole SDCs of one centre waiting for onUp; beyond, new transfers are declined as Busy for the call. Default 32. */
  maxWaitingPerCentre?: number;
  /** Largest SDC taken. Default 16 MiB. */
  maxSdcBytes?: number;
  /** Largest chunk taken; a caller asking for more is told this. Default 16384. */
  maxChunkBytes?: number;
  /** A call silent this long is ended. Default 120 s. */
  idleTimeoutMs?: number;
  /** A connection that has not said a good Hello by then is dropped. Default 30 s. */
  helloTimeoutMs?: number;
  /** Round trip assumed for timing re-asks of replies. Default 2000 ms (satellite). */
  rttMs?: number;
  now?: () => number;
}

/** Per-call overrides for acceptStream(): a link unlike the TCP calls the options were set for. */
export interface StreamCallTuning {
  /** Capped by the receiver's maxChunkBytes. SBD: what fits one MT message. */
  maxChunkBytes?: number;
  idleTimeoutMs?: number;
  helloTimeoutMs?: number;
  rttMs?: number;
}

export interface StreamReceiverStats {
  connections: number;
  activeCalls: number;
  refused: number;
  sdcsTaken: number;
  repliesDelivered: number;
  bytesIn: number;
  bytesOut: number;
  /** Noise and damaged frames skipped. */
  bytesDropped: number;
}

export type ResolvedStreamReceiverOptions = Required<Omit<StreamReceiverOptions, 'outbound' | 'stateDir' | 'onError' | 'now'>>;

/** Defaults applied and every limit checked, so a typo in the hub's config stops it at start. */
export function resolveStreamReceiverOptions(options: StreamReceiverOptions): ResolvedStreamReceiverOptions {
  const o = {
    host: '127.0.0.1', maxCalls: 64, maxPartialsPerCentre: 8, maxWaitingPerCentre: 32, maxSdcBytes: 16 << 20, maxChunkBytes: 16384, idleTimeoutMs: 120_000, helloTimeoutMs: 30_000, rttMs: 2000,
    ...definedOnly(options),
  } as ResolvedStreamReceiverOptions;
  for (const k of ['maxCalls', 'maxPartialsPerCentre', 'maxWaitingPerCentre', 'maxSdcBytes', 'idleTimeoutMs', 'helloTimeoutMs', 'rttMs'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new TamtamError('E_CONFIG', `stream receiver ${k} must be a positive whole number, got ${o[k]}`);
  }
  if (!Number.isInteger(o.maxChunkBytes) || o.maxChunkBytes < 16 || o.maxChunkBytes > 65535) {
    throw new TamtamError('E_CONFIG', `stream receiver maxChunkBytes must be from 16 to 65535, got ${o.maxChunkBytes}`);
  }
  return o;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
