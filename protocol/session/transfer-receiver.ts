import { TamtamError } from '../errors.js';
import { encodeFrame, FrameType, type Frame } from '../chunk/chunk-frame.js';
import { bitmapFor, decodeStatusRequest, encodeChunkStatus, type ChunkStatus } from '../chunk/chunk-status.js';
import { buildManifest, decodeManifest, DEFAULT_HASH_LENGTH, encodeManifest, MANIFEST_PART_HEADER, MIN_HASH_LENGTH, MAX_HASH_LENGTH } from '../chunk/manifest.js';
import { Reassembler, type ReassemblerOptions, type TransferSnapshot } from '../chunk/reassembler.js';
import { declineFrame, SessionReason } from './session-frames.js';

export interface TransferReceiverOptions extends ReassemblerOptions {
  /** Whole SDCs waiting for the application; beyond, new transfers are declined (Busy) for the session. Default maxTransfers. */
  maxHeld?: number;
  /** Completes re-announced in the next Welcome after a call dropped. Default 32. */
  maxReported?: number;
}

export interface ReceiverResult {
  /** Answers to send: Status frames (the index echoes the request), Declines. */
  frames: Uint8Array[];
  /** An SDC for the application, whole and checked; answer with taken() or declined(). */
  received?: { transferId: number; sdc: Uint8Array };
  /** What a log should hear about: a chunk that failed its hash, a refused manifest. */
  error?: TamtamError;
}

interface Cut { chunkSize: number; hashLength: number }
interface Held extends Cut {
  sdc: Uint8Array;
  state: 'handling' | 'failed';
  /** A StatusRequest came while handling: later ones get "not yet", so a long wait still shows the call is alive. */
  asked: boolean;
}

/**
 * Receiver half of a session, kept per peer across calls (the hub keeps one
 * per centre): the Reassembler plus what it does not know, the application.
 * A whole SDC is "held" until the application took it; meanwhile the first
 * StatusRequest is not answered and later ones get "not yet" (every chunk
 * held, not complete); "complete" is volunteered once taken. An SDC the application failed on
 * stays held, so a later session resumes with no chunk sent again and its
 * StatusRequest hands it to the application once more. Pure.
 */
export class TransferReceiver {
  private readonly reassembler: Reassembler;
  private readonly held = new Map<number, Held>();
  private readonly cuts = new Map<number, Cut>();
  private readonly maxTransfers: number;
  private readonly maxHeld: number;
  private readonly maxReported: number;
  /** Transfers declined as Busy this session: their further frames are dropped without another Decline. */
  private readonly busy = new Set<number>();
  private takenThisSession: number[] = [];
  /** Transfers the Reassembler remembers as completed or refused: forgotten once the sender surely knows. */
  private readonly settledIds = new Set<number>();
  /** Taken while no call was up, or during a call that dropped: the peer may not have heard. */
  private unreported: number[] = [];
  private inSession = false;

  constructor(options: TransferReceiverOptions = {}) {
    const { maxReported = 32, maxHeld, ...limits } = options;
    this.maxTransfers = limits.maxTransfers ?? 16;
    this.maxHeld = maxHeld ?? this.maxTransfers;
    this.maxReported = maxReported;
    this.reassembler = new Reassembler({ ...limits, maxTransfers: this.maxTransfers });
  }

  /** SDCs handed to the application and not yet taken or declined. */
  get handling(): number {
    let n = 0;
    for (const h of this.held.values()) if (h.state === 'handling') n++;
    return n;
  }

  /** Partial transfers and held SDCs, for limits and tests. */
  get transferCount(): number {
    return this.reassembler.transferIds().length + this.held.size;
  }

  sessionStarted(): void {
    this.inSession = true;
    this.takenThisSession = [];
    this.busy.clear();
  }

  /**
   * `clean`: the peer said Bye, so it heard every "complete" sent before.
   * Completed ids are then forgotten, except those the peer may not have
   * heard of and those still with the application: a 32-bit transfer id
   * remembered for ever would one day answer "complete" for another SDC.
   */
  sessionEnded(clean: boolean): void {
    if (!this.inSession) return;
    this.inSession = false;
    this.unreported = clean ? [] : [...this.unreported, ...this.takenThisSession].slice(-this.maxReported);
    this.takenThisSession = [];
    const keep = new Set([...this.unreported, ...this.held.keys()]);
    for (const id of this.settledIds) {
      if (keep.has(id)) continue;
      this.reassembler.forget(id);
      this.settledIds.delete(id);
    }
  }

  /** Chunk, Manifest and StatusRequest frames; never throws on what arrives. */
  accept(frame: Frame): ReceiverResult {
    const id = frame.transferId;
    if (frame.type === FrameType.StatusRequest) return this.answer(frame);
    if (frame.type !== FrameType.Chunk && frame.type !== FrameType.Manifest) return { frames: [] };
    if (this.held.has(id) || this.busy.has(id)) return { frames: [] };
    if (!this.makeRoomFor(id)) {
      this.busy.add(id);
      return { frames: [declineFrame(id, { final: false, reason: SessionReason.Busy, text: `${this.maxHeld} SDCs already wait for the application` })] };
    }
    if (frame.type === FrameType.Manifest && frame.index === 0) this.peekCut(id, frame.payload);
    const r = this.reassembler.accept(frame);
    if (r.kind === 'manifest') this.cuts.set(id, { chunkSize: r.manifest.chunkSize, hashLength: r.manifest.hashLength });
    if (r.kind === 'complete') {
      this.settledIds.add(id);
      const cut = this.cuts.get(id) ?? { chunkSize: Math.min(0xffff, Math.max(16, r.sdc.length)), hashLength: DEFAULT_HASH_LENGTH };
      this.cuts.delete(id);
      this.held.set(id, { ...cut, sdc: r.sdc, state: 'handling', asked: false });
      return { frames: [], received: { transferId: id, sdc: r.sdc } };
    }
    if (r.kind === 'rejected') {
      if (!this.reassembler.status(id).refused) return { frames: [], error: r.error };
      this.cuts.delete(id);
      this.settledIds.add(id);
      const reason = r.error.code === 'E_TOO_LARGE' ? SessionReason.TooLarge : SessionReason.BadData;
      return { frames: [declineFrame(id, { final: true, reason, text: r.error.message })], error: r.error };
    }
    return { frames: [] };
  }

  /** The application took the SDC: the "complete" Status to volunteer. */
  taken(transferId: number): Uint8Array {
    this.held.delete(transferId);
    if (this.inSession) this.takenThisSession.push(transferId);
    else this.unreported = [...this.unreported, transferId].slice(-this.maxReported);
    return this.statusFrame(transferId, 0, this.status(transferId));
  }

  /** The application could not take it now: kept whole, and the Decline that tells the sender to stop for this session. */
  declined(transferId: number, text: string): Uint8Array {
    const h = this.held.get(transferId);
    if (h) {
      h.state = 'failed';
      h.asked = false;
    }
    return declineFrame(transferId, { final: false, reason: SessionReason.ApplicationFailed, text });
  }

  /** What this side holds, for transfer ids it was not asked about: sent before a Welcome. */
  welcomeStatuses(maxPayload: number): Uint8Array[] {
    const reported = this.unreported.filter((id) => this.status(id).complete);
    const ids = new Set([...this.reassembler.transferIds(), ...this.held.keys(), ...reported]);
    return [...ids].map((id) => this.statusFrame(id, 0, this.status(id, maxPayload)));
  }

  status(transferId: number, maxPayload?: number): ChunkStatus {
    const h = this.held.get(transferId);
    if (!h) return this.reassembler.status(transferId, maxPayload);
    const count = Math.ceil(h.sdc.length / h.chunkSize);
    return { transferId, subject: 'chunks', complete: false, refused: false, chunkSize: h.chunkSize, count, base: count, span: 0, missing: [] };
  }

  /** Partial transfers with a whole manifest, and held SDCs, as the Reassembler snapshots them. */
  exportTransfers(): TransferSnapshot[] {
    const out: TransferSnapshot[] = [];
    for (const id of this.reassembler.transferIds()) {
      const s = this.reassembler.exportTransfer(id);
      if (s) out.push(s);
    }
    for (const [transferId, h] of this.held) {
      const m = buildManifest(h.sdc, h.chunkSize, h.hashLength);
      out.push({ transferId, manifest: encodeManifest(m), have: bitmapFor(m.chunkCount).fill(0xff), data: h.sdc.slice() });
    }
    return out;
  }

  /**
   * Restores a saved transfer; every held chunk is checked again (a damaged
   * one costs a resend). A whole one comes back held, its application work
   * to be redone when the sender asks. Throws TamtamError on a bad snapshot.
   */
  importTransfer(snapshot: TransferSnapshot): { dropped: number; whole: boolean } {
    if (this.held.has(snapshot.transferId)) return { dropped: 0, whole: true };
    if (!this.makeRoomFor(snapshot.transferId)) throw new TamtamError('E_TOO_LARGE', `no room for transfer ${snapshot.transferId.toString(16)}: ${this.maxHeld} SDCs wait for the application`);
    const { dropped, sdc } = this.reassembler.importTransfer(snapshot);
    if (!sdc) return { dropped, whole: false };
    const m = decodeManifest(snapshot.manifest);
    this.settledIds.add(snapshot.transferId);
    this.held.set(snapshot.transferId, { chunkSize: m.chunkSize, hashLength: m.hashLength, sdc, state: 'failed', asked: false });
    return { dropped, whole: true };
  }

  private answer(frame: Frame): ReceiverResult {
    let max: number;
    try {
      max = decodeStatusRequest(frame.payload);
    } catch (e) {
      return { frames: [], error: e as TamtamError };
    }
    const id = frame.transferId;
    const h = this.held.get(id);
    if (h && !h.asked) {
      // The first request while the application works is not answered: "complete" follows soon, volunteered, and saves a Status.
      h.asked = true;
      if (h.state === 'handling') return { frames: [] };
    }
    if (h?.state === 'failed') {
      h.state = 'handling';
      return { frames: [], received: { transferId: id, sdc: h.sdc } };
    }
    return { frames: [this.statusFrame(id, frame.index, this.status(id, max))] };
  }

  private statusFrame(transferId: number, index: number, s: ChunkStatus): Uint8Array {
    return encodeFrame({ type: FrameType.Status, transferId, index, payload: encodeChunkStatus(s) });
  }

  /** Chunk size and hash length from manifest part 0, for an SDC whose manifest completes it (so no 'manifest' result is seen). */
  private peekCut(id: number, payload: Uint8Array): void {
    const m = MANIFEST_PART_HEADER;
    if (payload.length < m + 18) return;
    const hashLength = payload[m + 3];
    const chunkSize = (payload[m + 16] << 8) | payload[m + 17];
    if (chunkSize >= 1 && hashLength >= MIN_HASH_LENGTH && hashLength <= MAX_HASH_LENGTH) this.cuts.set(id, { chunkSize, hashLength });
  }

  /**
   * Forgets the stalest partial transfer (its sender resends it whole)
   * rather than refuse a new one; for a whole SDC, the oldest the application
   * failed on. False when every held SDC is with the application.
   */
  private makeRoomFor(id: number): boolean {
    const partial = this.reassembler.transferIds();
    if (partial.includes(id)) return true;
    const s = this.reassembler.status(id);
    if (s.complete || s.refused) return true;
    if (partial.length >= this.maxTransfers) {
      this.reassembler.forget(partial[0]);
      this.cuts.delete(partial[0]);
    }
    // A transfer not yet whole may complete at its next frame, so a place for it is kept among the held ones.
    if (this.held.size < this.maxHeld) return true;
    for (const [stale, h] of this.held) {
      if (h.state !== 'failed') continue;
      this.held.delete(stale);
      // The Reassembler remembers it completed; left so, it would answer "complete" for an SDC nobody took.
      this.reassembler.forget(stale);
      this.settledIds.delete(stale);
      return true;
    }
    return false;
  }
}
