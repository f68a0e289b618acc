/** DDS content: manifests and ContentIDs, encoding, the on-disk shard store, retrieval, placement. */
export { CONTENT_ERROR_CODES, ContentError, type ContentErrorCode } from './errors.ts'
export {
  DEFAULT_SEGMENT_SIZE,
  MANIFEST_VERSION,
  MAX_SEGMENT_SIZE,
  MIN_SEGMENT_SIZE,
  contentId,
  decodeManifest,
  encodeManifest,
  manifestSegmentCount,
  parseContentId,
  segmentProof,
  signManifest,
  unsignedPart,
  validateManifest,
  verifySegment,
  type ContentManifest,
  type SegmentProof,
  type ShardDescriptor,
  type UnsignedContentManifest,
} from './manifest.ts'
export { segmentCount, segmentLength, shardRoot } from './merkle.ts'
export { spoolBody, spoolStripes, type SpooledBody } from './stripe-encoder.ts'
export {
  describeStream,
  encodeContent,
  type EncodeOptions,
  type EncodedContent,
  type EncodedContentFiles,
  type StreamEncodeOptions,
} from './encoder.ts'
export {
  ShardStore,
  nodeStoreFs,
  type ShardRef,
  type ShardStoreOptions,
  type ShardStoreStats,
  type StoreFs,
  type WritableFile,
} from './shard-store.ts'
export { gatherShards, reassemble, reassembleToBuffer, type ReassembleOptions, type ShardFetch } from './reassemble.ts'
export { placeShards, placementScore, rebalance } from './placement.ts'
