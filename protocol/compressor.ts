import { createRequire } from 'node:module';
import type { DictHandle, ZstdApi } from 'zstd-codec';
import { TamtamError } from './errors.js';
import type { Dictionary } from './dictionary.js';

export const DEFAULT_LEVEL = 9;
const CACHE_MAX = 4;
/**
 * zstd-codec runs in a fixed 16 MiB WebAssembly heap that aborts for good when
 * full; 1 MiB bodies (about 2,000 acts) leave room for contexts and cached
 * dictionaries at every level, so nothing larger is handed to it.
 */
export const MAX_BODY_SIZE = 1024 * 1024;

/**
 * zstd through zstd-codec (WebAssembly). Its heap is small and not garbage
 * collected, so prepared dictionaries are cached and freed on eviction rather
 * than made per call.
 */
export class Compressor {
  private readonly simple: InstanceType<ZstdApi['Simple']>;
  private readonly generic: InstanceType<ZstdApi['Generic']>;
  private readonly cdicts = new Map<string, DictHandle>();
  private readonly ddicts = new Map<number, DictHandle>();

  constructor(private readonly zstd: ZstdApi) {
    this.simple = new zstd.Simple();
    this.generic = new zstd.Generic();
  }

  private cached<K>(map: Map<K, DictHandle>, key: K, make: () => DictHandle): DictHandle {
    let h = map.get(key);
    if (h) {
      map.delete(key);
      map.set(key, h);
      return h;
    }
    h = make();
    map.set(key, h);
    if (map.size > CACHE_MAX) {
      const [oldKey, old] = map.entries().next().value as [K, DictHandle];
      map.delete(oldKey);
      old.delete();
    }
    return h;
  }

  compress(raw: Uint8Array, dictionary?: Dictionary, level = DEFAULT_LEVEL): Uint8Array {
    if (raw.length > MAX_BODY_SIZE) throw new TamtamError('E_TOO_LARGE', `a body of ${raw.length} bytes is over the ${MAX_BODY_SIZE}-byte limit of one SDC; split the batch`);
    if (!Number.isInteger(level) || level < 1 || level > 19) throw new TamtamError('E_BAD_INPUT', `zstd level ${level} is not a whole number from 1 to 19`);
    const out = dictionary
      ? this.simple.compressUsingDict(raw, this.cached(this.cdicts, `${dictionary.id}:${level}`, () => new this.zstd.Dict.Compression(dictionary.content, level)))
      : this.simple.compress(raw, level);
    if (!out) throw new TamtamError('E_INTERNAL', `zstd could not compress ${raw.length} bytes`);
    return out;
  }

  /**
   * The frame must state its content size, which must be `expectedSize` and at
   * most `maxSize`: the output is sized before anything is inflated, so a
   * decompression bomb costs nothing.
   */
  decompress(compressed: Uint8Array, expectedSize: number, maxSize: number, dictionary?: Dictionary): Uint8Array {
    maxSize = Math.min(maxSize, MAX_BODY_SIZE);
    if (expectedSize > maxSize) throw new TamtamError('E_TOO_LARGE', `body would inflate to ${expectedSize} bytes, over the limit of ${maxSize}`);
    const declared = compressed.length >= 4 ? this.generic.contentSize(compressed) : null;
    if (declared === null) throw new TamtamError('E_DECOMPRESS', 'the compressed body is not a zstd frame with a stated size');
    if (declared !== expectedSize) throw new TamtamError('E_DECOMPRESS', `the zstd frame says ${declared} bytes, the header ${expectedSize}`);
    if (expectedSize === 0) return new Uint8Array(0);
    let out: Uint8Array | null;
    try {
      out = dictionary
        ? this.simple.decompressUsingDict(compressed, this.cached(this.ddicts, dictionary.id, () => new this.zstd.Dict.Decompression(dictionary.content)))
        : this.simple.decompress(compressed);
    } catch (e) {
      throw new TamtamError('E_DECOMPRESS', `zstd failed on the body: ${String(e)}`, { cause: e });
    }
    if (!out || out.length !== expectedSize) throw new TamtamError('E_DECOMPRESS', 'the compressed body is corrupt or needs another dictionary');
    return out;
  }
}

let loading: Promise<Compressor> | undefined;

/** Loads the WebAssembly codec once per process. */
export function loadCompressor(): Promise<Compressor> {
  loading ??= new Promise((resolve, reject) => {
    try {
      const { ZstdCodec } = createRequire(import.meta.url)('zstd-codec') as typeof import('zstd-codec');
      ZstdCodec.run((zstd) => resolve(new Compressor(zstd)));
    } catch (e) {
      reject(new TamtamError('E_INTERNAL', `cannot load zstd-codec: ${(e as Error).message}; run 'npm ci'`, { cause: e }));
    }
  });
  return loading;
}
