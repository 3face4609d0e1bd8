declare module 'zstd-codec' {
  interface DictHandle { delete(): void }
  interface ZstdApi {
    Generic: new () => { contentSize(compressed: Uint8Array): number | null };
    Simple: new () => {
      compress(content: Uint8Array, level?: number): Uint8Array | null;
      decompress(compressed: Uint8Array): Uint8Array | null;
      compressUsingDict(content: Uint8Array, cdict: DictHandle): Uint8Array | null;
      decompressUsingDict(compressed: Uint8Array, ddict: DictHandle): Uint8Array | null;
    };
    Dict: {
      Compression: new (dict: Uint8Array, level: number) => DictHandle;
      Decompression: new (dict: Uint8Array) => DictHandle;
    };
  }
  export const ZstdCodec: { run(callback: (zstd: ZstdApi) => void): void };
  export type { ZstdApi, DictHandle };
}
