export * from './crc32.js';
export {
  FRAME_MAGIC, FRAME_VERSION, FRAME_HEADER_SIZE, FRAME_CRC_SIZE, FRAME_OVERHEAD, MAX_FRAME_PAYLOAD, FrameType, type FrameTypeName, type Frame,
  transferIdOf, frameLength, encodeFrame, decodeFrame,
} from './chunk-frame.js';
export * from './frame-parser.js';
export {
  MANIFEST_MAGIC, MANIFEST_VERSION, MANIFEST_FIXED_SIZE, MANIFEST_PART_HEADER, DEFAULT_HASH_LENGTH, MIN_HASH_LENGTH, MAX_HASH_LENGTH,
  DEFAULT_MAX_TOTAL_SIZE, DEFAULT_MAX_CHUNK_COUNT, type Manifest, type ManifestLimits, type ManifestPart,
  buildManifest, encodeManifest, decodeManifest, chunkLength, chunkMatches, splitManifest, decodeManifestPart,
} from './manifest.js';
export * from './chunk-status.js';
export * from './chunker.js';
export * from './reassembler.js';
