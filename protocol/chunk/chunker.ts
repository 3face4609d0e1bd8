import { TamtamError } from '../errors.js';
import { encodeFrame, FrameType, MAX_FRAME_PAYLOAD } from './chunk-frame.js';
import { encodeStatusRequest, type ChunkStatus } from './chunk-status.js';
import { buildManifest, DEFAULT_HASH_LENGTH, encodeManifest, splitManifest, type Manifest } from './manifest.js';

/** Below this the 18-byte frame overhead dominates and manifests need too many parts. */
export const MIN_CHUNK_SIZE = 16;

export interface ChunkerOptions {
  /** Payload bytes per chunk frame, chosen by the link (e.g. 322 for 340-byte SBD messages). */
  chunkSize: number;
  hashLength?: number;
}

/**
 * Sender side of a transfer: cuts an SDC into chunk frames and manifest
 * frames (manifest parts are no bigger than a chunk, so every frame fits the
 * link), and answers a receiver's status with exactly the frames it lacks.
 */
export class Chunker {
  readonly manifest: Manifest;
  readonly manifestBytes: Uint8Array;
  private readonly manifestPayloads: Uint8Array[];
  private readonly sdc: Uint8Array;

  constructor(sdc: Uint8Array, options: ChunkerOptions) {
    const { chunkSize, hashLength = DEFAULT_HASH_LENGTH } = options;
    if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_FRAME_PAYLOAD) {
      throw new TamtamError('E_BAD_INPUT', `chunk size must be an integer from ${MIN_CHUNK_SIZE} to ${MAX_FRAME_PAYLOAD}, got ${chunkSize}`);
    }
    this.sdc = sdc;
    this.manifest = buildManifest(sdc, chunkSize, hashLength);
    this.manifestBytes = encodeManifest(this.manifest);
    this.manifestPayloads = splitManifest(this.manifestBytes, chunkSize);
  }

  get transferId(): number {
    return this.manifest.transferId;
  }
  get chunkSize(): number {
    return this.manifest.chunkSize;
  }
  get chunkCount(): number {
    return this.manifest.chunkCount;
  }
  get manifestPartCount(): number {
    return this.manifestPayloads.length;
  }

  chunk(index: number): Uint8Array {
    this.checkIndex(index, this.chunkCount, 'chunk');
    const size = this.chunkSize;
    return this.sdc.subarray(index * size, Math.min(this.sdc.length, (index + 1) * size));
  }

  chunkFrame(index: number): Uint8Array {
    return encodeFrame({ type: FrameType.Chunk, transferId: this.transferId, index, payload: this.chunk(index) });
  }

  manifestFrame(part: number): Uint8Array {
    this.checkIndex(part, this.manifestPartCount, 'manifest part');
    return encodeFrame({ type: FrameType.Manifest, transferId: this.transferId, index: part, payload: this.manifestPayloads[part] });
  }

  manifestFrames(): Uint8Array[] {
    return this.manifestPayloads.map((_, part) => this.manifestFrame(part));
  }

  /** Everything, manifest first: what to send when nothing is known of the receiver. */
  frames(): Uint8Array[] {
    return [...this.manifestFrames(), ...this.framesFor(range(0, this.chunkCount))];
  }

  /** Chunk frames for the given chunk indices, in the order given. */
  framesFor(missing: Iterable<number>): Uint8Array[] {
    return Array.from(missing, (i) => this.chunkFrame(i));
  }

  /** Asks the receiver what it holds; `maxStatusPayload` bounds the answer for small-message links (0 = no limit). */
  statusRequestFrame(maxStatusPayload = 0): Uint8Array {
    return encodeFrame({ type: FrameType.StatusRequest, transferId: this.transferId, index: 0, payload: encodeStatusRequest(maxStatusPayload) });
  }

  /**
   * The frames a receiver's status says it lacks, and never one it holds.
   * When the status does not describe every item (`base + span < count`), send
   * these, then ask again. Throws E_HEADER_MISMATCH if the receiver cut the
   * SDC differently: make a Chunker with `status.chunkSize` and resume.
   */
  framesForStatus(status: ChunkStatus): Uint8Array[] {
    if (status.transferId !== this.transferId) {
      throw new TamtamError('E_BAD_INPUT', `status is for transfer ${hex(status.transferId)}, this chunker sends ${hex(this.transferId)}`);
    }
    if (status.complete || status.refused) return [];
    if (status.subject === 'manifest') {
      if (status.count === 0) return this.frames();
      if (status.count !== this.manifestPartCount) return this.manifestFrames();
      const end = status.base + status.span;
      const parts = [...expand(status.missing), ...range(end, this.manifestPartCount)];
      return parts.map((part) => this.manifestFrame(part));
    }
    if (status.chunkSize !== this.chunkSize || status.count !== this.chunkCount) {
      throw new TamtamError('E_HEADER_MISMATCH', `receiver holds this transfer as ${status.count} chunks of ${status.chunkSize} bytes, not ${this.chunkCount} of ${this.chunkSize}; resume with chunkSize ${status.chunkSize}`, {
        details: { chunkSize: status.chunkSize, count: status.count },
      });
    }
    return this.framesFor(expand(status.missing));
  }

  private checkIndex(i: number, count: number, what: string): void {
    if (!Number.isInteger(i) || i < 0 || i >= count) throw new TamtamError('E_BAD_INPUT', `${what} ${i} does not exist; there are ${count}`);
  }
}

function* range(from: number, to: number): Generator<number> {
  for (let i = from; i < to; i++) yield i;
}

function* expand(ranges: ChunkStatus['missing']): Generator<number> {
  for (const r of ranges) yield* range(r.start, r.start + r.count);
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
