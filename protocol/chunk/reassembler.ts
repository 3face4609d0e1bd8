import { TamtamError, wrapError } from '../errors.js';
import { encodeFrame, FrameType, MAX_FRAME_PAYLOAD, type Frame } from './chunk-frame.js';
import { bitmapFor, decodeStatusRequest, describeBitmap, encodeChunkStatus, hasBit, setBit, type ChunkStatus } from './chunk-status.js';
import {
  chunkMatches, decodeManifest, decodeManifestPart, DEFAULT_MAX_CHUNK_COUNT, DEFAULT_MAX_TOTAL_SIZE, MANIFEST_FIXED_SIZE, MAX_HASH_LENGTH, sha256, type Manifest,
} from './manifest.js';

export interface ReassemblerOptions {
  /** Largest SDC accepted; a manifest announcing more is refused. Default 64 MiB. */
  maxTotalSize?: number;
  /** Default 2^20. */
  maxChunkCount?: number;
  /** Transfers in progress at once. Default 16. */
  maxTransfers?: number;
  /** Chunk bytes kept, all transfers together, while their manifest has not arrived. Default 1 MiB. */
  maxPendingBytes?: number;
  /** Completed and refused transfer ids remembered, so late duplicates do not reopen them. Default 4096. */
  maxRemembered?: number;
}

export type AcceptResult =
  | { kind: 'stored'; transferId: number; index: number }
  | { kind: 'duplicate'; transferId: number; index: number }
  | { kind: 'manifest-part'; transferId: number; index: number }
  | { kind: 'manifest'; transferId: number; manifest: Manifest }
  | { kind: 'complete'; transferId: number; sdc: Uint8Array }
  | { kind: 'status-request'; transferId: number; reply: Uint8Array }
  | { kind: 'ignored'; transferId: number; reason: string }
  | { kind: 'rejected'; transferId: number; error: TamtamError };

/** What a restarted receiver needs to resume one transfer; only chunks whose bit is set in `have` matter in `data`. */
export interface TransferSnapshot { transferId: number; manifest: Uint8Array; have: Uint8Array; data: Uint8Array }

export interface ReassemblerSnapshot { version: 1; transfers: TransferSnapshot[]; completed: number[]; refused: number[] }

interface PartSet { count: number; data: Uint8Array[]; have: Uint8Array; got: number; bytes: number }

interface Transfer {
  id: number;
  manifest?: Manifest;
  manifestBytes?: Uint8Array;
  data: Uint8Array;
  have: Uint8Array;
  haveCount: number;
  /** Manifest parts collected so far, until the manifest is whole. */
  parts?: PartSet;
  /** Chunks that came before their manifest, checked when it arrives. */
  pending: Map<number, Uint8Array>;
}

/**
 * Receiver side: takes manifest and chunk frames of many transfers in any
 * order, with duplicates; checks every chunk against the manifest as it comes,
 * answers status requests, and hands back each SDC once its SHA-256 matches.
 * It never throws on what arrives from the link: bad frames come back as
 * `rejected` with a TamtamError. Transfers whose manifest has not arrived are
 * not part of a snapshot; after a restart the sender sends them again.
 * Memory is bounded by maxTransfers × maxTotalSize + maxPendingBytes: the
 * buffer for an SDC is allocated when its manifest is whole.
 */
export class Reassembler {
  private readonly limits: Required<ReassemblerOptions>;
  private readonly transfers = new Map<number, Transfer>();
  private readonly completed = new Map<number, true>();
  private readonly refused = new Map<number, true>();
  private pendingBytes = 0;

  constructor(options: ReassemblerOptions = {}) {
    this.limits = {
      maxTotalSize: option(options.maxTotalSize, DEFAULT_MAX_TOTAL_SIZE, 'maxTotalSize'),
      maxChunkCount: option(options.maxChunkCount, DEFAULT_MAX_CHUNK_COUNT, 'maxChunkCount'),
      maxTransfers: option(options.maxTransfers, 16, 'maxTransfers'),
      maxPendingBytes: option(options.maxPendingBytes, 1 << 20, 'maxPendingBytes'),
      maxRemembered: option(options.maxRemembered, 4096, 'maxRemembered'),
    };
  }

  accept(frame: Frame): AcceptResult {
    const transferId = frame.transferId;
    try {
      switch (frame.type) {
        case FrameType.Chunk: return this.acceptChunk(frame);
        case FrameType.Manifest: return this.acceptManifestPart(frame);
        case FrameType.StatusRequest:
          return { kind: 'status-request', transferId, reply: this.statusFrame(transferId, decodeStatusRequest(frame.payload)) };
        default: return { kind: 'ignored', transferId, reason: `frame type 0x${frame.type.toString(16)} is not for a receiver` };
      }
    } catch (e) {
      return { kind: 'rejected', transferId, error: wrapError(e, 'E_INTERNAL', 'reassembler failed on a frame') };
    }
  }

  /** What this receiver holds of a transfer, fitted into `maxPayload` bytes. */
  status(transferId: number, maxPayload = MAX_FRAME_PAYLOAD): ChunkStatus {
    const none: ChunkStatus = { transferId, subject: 'manifest', complete: false, refused: false, chunkSize: 0, count: 0, base: 0, span: 0, missing: [] };
    if (this.completed.has(transferId)) return { ...none, subject: 'chunks', complete: true };
    if (this.refused.has(transferId)) return { ...none, refused: true };
    const t = this.transfers.get(transferId);
    if (t?.manifest) {
      const m = t.manifest;
      return { ...none, subject: 'chunks', chunkSize: m.chunkSize, count: m.chunkCount, ...describeBitmap(t.have, m.chunkCount, maxPayload) };
    }
    if (t?.parts) return { ...none, count: t.parts.count, ...describeBitmap(t.parts.have, t.parts.count, maxPayload) };
    return none;
  }

  statusFrame(transferId: number, maxPayload = MAX_FRAME_PAYLOAD): Uint8Array {
    return encodeFrame({ type: FrameType.Status, transferId, index: 0, payload: encodeChunkStatus(this.status(transferId, maxPayload)) });
  }

  /** Transfers in progress, least recently touched first: the caller forgets stale ones. */
  transferIds(): number[] { return [...this.transfers.keys()]; }

  /** Drops everything known of a transfer, including that it completed or was refused. */
  forget(transferId: number): void {
    this.drop(transferId);
    this.completed.delete(transferId);
    this.refused.delete(transferId);
  }

  exportTransfer(transferId: number): TransferSnapshot | undefined {
    const t = this.transfers.get(transferId);
    if (!t?.manifestBytes) return undefined;
    return { transferId, manifest: t.manifestBytes.slice(), have: t.have.slice(), data: t.data.slice() };
  }

  exportState(): ReassemblerSnapshot {
    const transfers = [...this.transfers.keys()].map((id) => this.exportTransfer(id)).filter((s): s is TransferSnapshot => s !== undefined);
    return { version: 1, transfers, completed: [...this.completed.keys()], refused: [...this.refused.keys()] };
  }

  /**
   * Restores one transfer. Every chunk marked held is checked again against
   * the manifest and forgotten if it does not match (`dropped`), so damaged
   * storage costs a resend, never a bad SDC. Returns the SDC if nothing is missing.
   */
  importTransfer(snapshot: TransferSnapshot): { dropped: number; sdc?: Uint8Array } {
    const { transferId, manifest, have, data } = snapshot;
    if (!(manifest instanceof Uint8Array) || !(have instanceof Uint8Array) || !(data instanceof Uint8Array)) {
      throw new TamtamError('E_MALFORMED', 'transfer snapshot fields must be byte arrays');
    }
    const m = decodeManifest(manifest, this.limits);
    if (m.transferId !== transferId) throw new TamtamError('E_MALFORMED', 'transfer snapshot id does not match its manifest');
    if (have.length !== Math.ceil(m.chunkCount / 8) || data.length !== m.totalSize) {
      throw new TamtamError('E_MALFORMED', 'transfer snapshot bitmap or data length does not match its manifest');
    }
    this.drop(transferId);
    const t = this.open(transferId);
    this.install(t, m, manifest.slice());
    let dropped = 0;
    for (let i = 0; i < m.chunkCount; i++) {
      if (!hasBit(have, i)) continue;
      const chunk = data.subarray(i * m.chunkSize, Math.min(m.totalSize, (i + 1) * m.chunkSize));
      if (chunkMatches(m, i, chunk)) this.store(t, i, chunk);
      else dropped++;
    }
    if (t.haveCount < m.chunkCount) return { dropped };
    const done = this.finish(t);
    if (done.kind === 'rejected') throw done.error;
    return { dropped, sdc: done.kind === 'complete' ? done.sdc : undefined };
  }

  importState(snapshot: ReassemblerSnapshot): { dropped: number; completed: { transferId: number; sdc: Uint8Array }[] } {
    if (snapshot?.version !== 1) throw new TamtamError('E_BAD_VERSION', `reassembler snapshot version ${String(snapshot?.version)} is not 1`);
    if (![snapshot.transfers, snapshot.completed, snapshot.refused].every(Array.isArray)) throw new TamtamError('E_MALFORMED', 'reassembler snapshot lists are missing');
    for (const id of snapshot.completed) this.remember(this.completed, id);
    for (const id of snapshot.refused) this.remember(this.refused, id);
    let dropped = 0;
    const completed: { transferId: number; sdc: Uint8Array }[] = [];
    for (const s of snapshot.transfers) {
      const r = this.importTransfer(s);
      dropped += r.dropped;
      if (r.sdc) completed.push({ transferId: s.transferId, sdc: r.sdc });
    }
    return { dropped, completed };
  }

  private acceptChunk(frame: Frame): AcceptResult {
    const { transferId, index, payload } = frame;
    if (this.completed.has(transferId)) return { kind: 'duplicate', transferId, index };
    if (this.refused.has(transferId)) return { kind: 'ignored', transferId, reason: 'transfer was refused' };
    const t = this.open(transferId);
    const m = t.manifest;
    if (!m) {
      if (t.pending.has(index)) return { kind: 'duplicate', transferId, index };
      if (index >= this.limits.maxChunkCount) throw new TamtamError('E_TOO_LARGE', `chunk index ${index} is beyond the receiver's limit`);
      if (this.pendingBytes + payload.length > this.limits.maxPendingBytes) return { kind: 'ignored', transferId, reason: 'no room for chunks ahead of their manifest' };
      t.pending.set(index, payload.slice());
      this.pendingBytes += payload.length;
      return { kind: 'stored', transferId, index };
    }
    if (index >= m.chunkCount) throw new TamtamError('E_MALFORMED', `chunk ${index} of a transfer of ${m.chunkCount} chunks`);
    if (hasBit(t.have, index)) return { kind: 'duplicate', transferId, index };
    if (!chunkMatches(m, index, payload)) throw new TamtamError('E_BAD_HASH', `chunk ${index} does not match its hash in the manifest`, { details: { index } });
    this.store(t, index, payload);
    return t.haveCount === m.chunkCount ? this.finish(t) : { kind: 'stored', transferId, index };
  }

  private acceptManifestPart(frame: Frame): AcceptResult {
    const { transferId, index } = frame;
    if (this.completed.has(transferId)) return { kind: 'duplicate', transferId, index };
    if (this.refused.has(transferId)) return { kind: 'ignored', transferId, reason: 'transfer was refused' };
    const part = decodeManifestPart(frame.payload, index);
    const t = this.open(transferId);
    if (t.manifest) return { kind: 'duplicate', transferId, index };
    // A different part count means the sender re-cut the SDC: start the manifest over with its parts.
    if (!t.parts || t.parts.count !== part.partCount) t.parts = { count: part.partCount, data: [], have: bitmapFor(part.partCount), got: 0, bytes: 0 };
    const parts = t.parts;
    if (hasBit(parts.have, index)) return { kind: 'duplicate', transferId, index };
    if (parts.bytes + part.data.length > MANIFEST_FIXED_SIZE + this.limits.maxChunkCount * MAX_HASH_LENGTH) {
      return this.refuse(transferId, new TamtamError('E_TOO_LARGE', 'manifest is larger than any this receiver accepts'));
    }
    parts.data[index] = part.data;
    setBit(parts.have, index);
    parts.got++;
    parts.bytes += part.data.length;
    if (parts.got < parts.count) return { kind: 'manifest-part', transferId, index };
    t.parts = undefined;
    const bytes = new Uint8Array(parts.bytes);
    let at = 0;
    for (const d of parts.data) { bytes.set(d, at); at += d.length; }
    let m: Manifest;
    try {
      m = decodeManifest(bytes, this.limits);
    } catch (e) {
      if (e instanceof TamtamError && e.code === 'E_TOO_LARGE') return this.refuse(transferId, e);
      throw e;
    }
    if (m.transferId !== transferId) throw new TamtamError('E_MALFORMED', 'manifest belongs to another transfer than its frames say');
    this.install(t, m, bytes);
    return t.haveCount === m.chunkCount ? this.finish(t) : { kind: 'manifest', transferId, manifest: m };
  }

  private open(id: number): Transfer {
    const found = this.transfers.get(id);
    if (found) {
      this.transfers.delete(id);
      this.transfers.set(id, found);
      return found;
    }
    if (this.transfers.size >= this.limits.maxTransfers) {
      const idle = [...this.transfers.values()].find((t) => !t.manifest);
      if (!idle) throw new TamtamError('E_TOO_LARGE', `${this.transfers.size} transfers are already in progress`, { retryable: true });
      this.drop(idle.id);
    }
    const t: Transfer = { id, data: new Uint8Array(0), have: new Uint8Array(0), haveCount: 0, pending: new Map() };
    this.transfers.set(id, t);
    return t;
  }

  private install(t: Transfer, m: Manifest, manifestBytes: Uint8Array): void {
    t.manifest = m;
    t.manifestBytes = manifestBytes;
    t.data = new Uint8Array(m.totalSize);
    t.have = bitmapFor(m.chunkCount);
    for (const [i, chunk] of t.pending) {
      this.pendingBytes -= chunk.length;
      if (i < m.chunkCount && !hasBit(t.have, i) && chunkMatches(m, i, chunk)) this.store(t, i, chunk);
    }
    t.pending.clear();
  }

  private store(t: Transfer, index: number, chunk: Uint8Array): void {
    t.data.set(chunk, index * (t.manifest as Manifest).chunkSize);
    setBit(t.have, index);
    t.haveCount++;
  }

  private finish(t: Transfer): AcceptResult {
    const m = t.manifest as Manifest;
    const digest = sha256(t.data);
    if (!digest.every((b, i) => b === m.sha256[i])) {
      return this.refuse(t.id, new TamtamError('E_BAD_HASH', 'every chunk matched the manifest but the whole SDC does not match its SHA-256; the manifest is wrong'));
    }
    this.transfers.delete(t.id);
    this.remember(this.completed, t.id);
    return { kind: 'complete', transferId: t.id, sdc: t.data };
  }

  private refuse(id: number, error: TamtamError): AcceptResult {
    this.drop(id);
    this.remember(this.refused, id);
    return { kind: 'rejected', transferId: id, error };
  }

  private drop(id: number): void {
    const t = this.transfers.get(id);
    if (!t) return;
    for (const chunk of t.pending.values()) this.pendingBytes -= chunk.length;
    this.transfers.delete(id);
  }

  private remember(set: Map<number, true>, id: number): void {
    set.delete(id);
    set.set(id, true);
    if (set.size > this.limits.maxRemembered) set.delete(set.keys().next().value as number);
  }
}

function option(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new TamtamError('E_BAD_INPUT', `reassembler option ${name} must be a positive integer, got ${value}`);
  return value;
}
