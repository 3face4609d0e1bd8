import { TamtamError } from '../errors.js';
import { encodeFrame, FrameType, transferIdOf } from '../chunk/chunk-frame.js';
import { encodeStatusRequest, type ChunkStatus } from '../chunk/chunk-status.js';
import { Chunker, MIN_CHUNK_SIZE } from '../chunk/chunker.js';
import { DEFAULT_HASH_LENGTH, sha256 } from '../chunk/manifest.js';
import { bytesEqual } from '../bytes.js';
import { reasonError, SessionReason, type Decline } from './session-frames.js';

export interface SenderTiming {
  /** First wait for a Status after a StatusRequest; doubled at each unanswered or "not yet" ask. */
  rtoMs: number;
  maxRtoMs: number;
  /** A transfer that streams longer than this is interrupted by a StatusRequest, so a dead call shows before the end of a long SDC. */
  checkpointMs: number;
}

/** What the session negotiated; the sender cuts nothing before it knows. */
export interface SenderLink {
  chunkSize: number;
  /** Largest frame payload the peer accepts: a chunk size it asks for above this cannot be honoured. */
  peerMaxPayload: number;
  /** Asked for in StatusRequests: the largest frame payload this side accepts. */
  maxStatusPayload: number;
}

export type SenderEvent =
  | { kind: 'sent'; transferId: number }
  | { kind: 'failed'; transferId: number; error: TamtamError };

/** A run of manifest parts or chunks still to send: [start, end). */
interface Piece { manifest: boolean; start: number; end: number }

interface OutTransfer {
  id: number;
  sdc: Uint8Array;
  chunker?: Chunker;
  work: Piece[];
  phase: 'pending' | 'sending' | 'waiting' | 'over';
  /** Number of the last StatusRequest; the peer echoes it in the frame index of its Status. */
  seq: number;
  /** First request of the current wait; older answers predate frames sent since and are ignored. */
  roundSeq: number;
  askAt: number;
  rto: number;
  sentSinceAsk: number;
  /** When the current run of frames began: a checkpoint is due checkpointMs later. */
  runSince: number;
}

/**
 * Sender half of a session: a queue of transfers, each sent as manifest parts
 * and chunks then a StatusRequest, the next transfer following at once so no
 * round trip is spent per SDC. A Status listing missing items puts exactly
 * those frames ahead of fresh ones; "complete" ends a transfer, "refused" or
 * a final Decline fails it. A transfer the peer already listed (Welcome
 * phase) starts from that status. Pure: time is passed in.
 */
export class TransferSender {
  private readonly transfers = new Map<number, OutTransfer>();
  private readonly urgent: OutTransfer[] = [];
  private readonly fresh: OutTransfer[] = [];
  /** Statuses the peer volunteered for transfers not (yet) sent: where they start. */
  private readonly known = new Map<number, ChunkStatus>();
  private readonly events: SenderEvent[] = [];
  private link: SenderLink | undefined;
  private probeUnknown = false;
  /** Frames emitted again because a Status listed them missing. */
  resent = 0;

  constructor(private readonly timing: SenderTiming, private readonly hashLength = DEFAULT_HASH_LENGTH) {}

  /** Sets what the handshake agreed; transfers added before start now. */
  configure(link: SenderLink): void {
    this.link = link;
    for (const t of this.transfers.values()) if (t.phase === 'pending') this.start(t);
  }

  /**
   * When statuses announced in a Welcome did not all arrive, a transfer the
   * peer did not list may still be one it holds: ask before sending it.
   */
  setProbeUnknown(on: boolean): void {
    this.probeUnknown = on;
  }

  get size(): number {
    return this.transfers.size;
  }

  has(transferId: number): boolean {
    return this.transfers.has(transferId);
  }

  /** Queues an SDC and returns its transfer id; the same bytes already queued join that transfer. */
  add(sdc: Uint8Array): number {
    if (sdc.length === 0) throw new TamtamError('E_BAD_INPUT', 'an empty payload cannot be sent');
    const id = transferIdOf(sha256(sdc));
    const same = this.transfers.get(id);
    if (same) {
      if (!bytesEqual(same.sdc, sdc)) {
        throw new TamtamError('E_BAD_INPUT', `another payload with transfer id ${id.toString(16)} is in flight; send this one after it settles`, { retryable: true });
      }
      return id;
    }
    const t: OutTransfer = { id, sdc, work: [], phase: 'pending', seq: 0, roundSeq: Infinity, askAt: Infinity, rto: this.timing.rtoMs, sentSinceAsk: 0, runSince: 0 };
    this.transfers.set(id, t);
    if (this.link) this.start(t);
    return id;
  }

  /** Stops sending a transfer nobody waits for any more. */
  cancel(transferId: number): void {
    const t = this.transfers.get(transferId);
    if (t) this.end(t);
  }

  takeEvents(): SenderEvent[] {
    return this.events.splice(0);
  }

  /** A Status frame; `index` is the request it answers, 0 if volunteered. */
  noteStatus(index: number, s: ChunkStatus, now: number): void {
    const t = this.transfers.get(s.transferId);
    if (!t || t.phase === 'pending') {
      if (index === 0) this.known.set(s.transferId, s);
      return;
    }
    if (s.complete) return this.finish(t);
    if (s.refused) return this.fail(t, new TamtamError('E_MALFORMED', 'the far side refused this transfer (over its limits, or a manifest contradicting chunks it holds)', { details: { transferId: t.id } }));
    if (t.phase !== 'waiting' || index === 0 || index < t.roundSeq) return;
    let pieces: Piece[];
    try {
      pieces = this.piecesFor(t, s);
    } catch (e) {
      return this.fail(t, e as TamtamError);
    }
    if (pieces.length === 0) {
      // "Not yet": the peer holds it all and its application is still at work; it volunteers "complete" when done.
      t.rto = Math.min(2 * t.rto, this.timing.maxRtoMs);
      t.askAt = now + t.rto;
      return;
    }
    t.work = pieces;
    t.phase = 'sending';
    t.rto = this.timing.rtoMs;
    t.askAt = Infinity;
    this.resent += pieces.reduce((n, p) => n + p.end - p.start, 0);
    this.urgent.push(t);
  }

  noteDecline(transferId: number, d: Decline): void {
    const t = this.transfers.get(transferId);
    if (!t || t.phase === 'pending') return;
    const c = t.chunker;
    if (!d.final && d.reason === SessionReason.ApplicationFailed && c) {
      // The peer holds every chunk: sent again in this session, it costs one StatusRequest.
      this.known.set(t.id, { transferId: t.id, subject: 'chunks', complete: false, refused: false, chunkSize: c.chunkSize, count: c.chunkCount, base: c.chunkCount, span: 0, missing: [] });
    }
    this.fail(t, reasonError(d.reason, d.text, `transfer ${transferId.toString(16).padStart(8, '0')} declined`));
  }

  /** The next frame to write: due re-asks, then repairs, then fresh transfers, each run of frames closed by a StatusRequest. */
  next(now: number): Uint8Array | undefined {
    if (!this.link) return undefined;
    for (const t of this.transfers.values()) {
      if (t.phase === 'waiting' && t.askAt <= now) {
        t.rto = Math.min(2 * t.rto, this.timing.maxRtoMs);
        return this.ask(t, now, t.rto);
      }
    }
    for (const queue of [this.urgent, this.fresh]) {
      while (queue.length > 0) {
        const t = queue[0];
        if (t.phase !== 'sending') {
          queue.shift();
          continue;
        }
        if (t.sentSinceAsk > 0 && now - t.runSince >= this.timing.checkpointMs) return this.ask(t, now, undefined);
        const piece = t.work[0];
        if (!piece) {
          queue.shift();
          t.phase = 'waiting';
          const frame = this.ask(t, now, t.rto);
          t.roundSeq = t.seq;
          return frame;
        }
        const c = this.chunker(t);
        const frame = piece.manifest ? c.manifestFrame(piece.start) : c.chunkFrame(piece.start);
        if (++piece.start === piece.end) t.work.shift();
        if (t.sentSinceAsk++ === 0) t.runSince = now;
        return frame;
      }
    }
    return undefined;
  }

  /** When next() has something: -Infinity if frames are ready now, else when a StatusRequest is due again, if ever. */
  nextDeadline(): number | undefined {
    if (this.link && [...this.urgent, ...this.fresh].some((t) => t.phase === 'sending')) return -Infinity;
    let at = Infinity;
    for (const t of this.transfers.values()) if (t.phase === 'waiting') at = Math.min(at, t.askAt);
    return at === Infinity ? undefined : at;
  }

  private start(t: OutTransfer): void {
    t.phase = 'sending';
    const k = this.known.get(t.id);
    this.known.delete(t.id);
    if (k?.complete) return this.finish(t);
    if (k?.refused) return this.fail(t, new TamtamError('E_MALFORMED', 'the far side refused this transfer in an earlier session', { details: { transferId: t.id } }));
    if (k) {
      try {
        t.work = this.piecesFor(t, k);
      } catch (e) {
        return this.fail(t, e as TamtamError);
      }
    } else if (!this.probeUnknown) {
      const c = this.chunker(t);
      t.work = [{ manifest: true, start: 0, end: c.manifestPartCount }, { manifest: false, start: 0, end: c.chunkCount }];
    }
    // With no work the first thing sent is the StatusRequest: a probe, or a resume where the peer holds every chunk.
    this.fresh.push(t);
  }

  /**
   * Chunker.framesForStatus as index runs, so a big resend is not encoded up
   * front: the chunks the status lists missing; while the peer lacks the
   * manifest, only its missing parts (it keeps chunks that came ahead of the
   * manifest, and the next status lists what it still lacks); everything for
   * a transfer it does not know. Re-cuts on E_HEADER_MISMATCH.
   */
  private piecesFor(t: OutTransfer, s: ChunkStatus): Piece[] {
    let c = this.chunker(t);
    if (s.subject === 'manifest') {
      const parts = { manifest: true, start: 0, end: c.manifestPartCount };
      if (s.count === 0) return [parts, { manifest: false, start: 0, end: c.chunkCount }];
      if (s.count !== c.manifestPartCount) return [parts];
      const missing: Piece[] = s.missing.map((r) => ({ manifest: true, start: r.start, end: r.start + r.count }));
      if (s.base + s.span < s.count) missing.push({ manifest: true, start: s.base + s.span, end: s.count });
      return missing;
    }
    if (s.chunkSize !== c.chunkSize || s.count !== c.chunkCount) {
      const link = this.link as SenderLink;
      if (s.chunkSize < MIN_CHUNK_SIZE || s.chunkSize > link.peerMaxPayload) {
        throw new TamtamError('E_HEADER_MISMATCH', `the far side holds this transfer in chunks of ${s.chunkSize} bytes, which it no longer accepts (largest ${link.peerMaxPayload}); it must forget the partial transfer`, {
          details: { chunkSize: s.chunkSize, count: s.count },
        });
      }
      c = t.chunker = new Chunker(t.sdc, { chunkSize: s.chunkSize, hashLength: this.hashLength });
      if (s.count !== c.chunkCount) {
        throw new TamtamError('E_HEADER_MISMATCH', `the far side holds ${s.count} chunks of ${s.chunkSize} bytes for this transfer id, not ${c.chunkCount}: another payload shares the id`, { details: { count: s.count } });
      }
    }
    return s.missing.map((r) => ({ manifest: false, start: r.start, end: r.start + r.count }));
  }

  private chunker(t: OutTransfer): Chunker {
    t.chunker ??= new Chunker(t.sdc, { chunkSize: (this.link as SenderLink).chunkSize, hashLength: this.hashLength });
    return t.chunker;
  }

  /** `rto` undefined: a checkpoint, which does not open a round and sets no timer. */
  private ask(t: OutTransfer, now: number, rto: number | undefined): Uint8Array {
    t.seq++;
    t.sentSinceAsk = 0;
    if (rto !== undefined) t.askAt = now + rto;
    const payload = encodeStatusRequest((this.link as SenderLink).maxStatusPayload);
    return encodeFrame({ type: FrameType.StatusRequest, transferId: t.id, index: t.seq, payload });
  }

  private finish(t: OutTransfer): void {
    this.end(t);
    this.events.push({ kind: 'sent', transferId: t.id });
  }

  private fail(t: OutTransfer, error: TamtamError): void {
    this.end(t);
    this.events.push({ kind: 'failed', transferId: t.id, error });
  }

  private end(t: OutTransfer): void {
    t.phase = 'over';
    this.transfers.delete(t.id);
  }
}
