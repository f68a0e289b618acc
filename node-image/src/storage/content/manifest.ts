import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { isDid } from '../../crypto/did.ts'
import type { Did } from '../../crypto/did.ts'
import { SIGNATURE_LENGTH } from '../../crypto/ed25519.ts'
import type { Signer } from '../../crypto/ed25519.ts'
import { decode, DAG_CBOR_CODE, encode } from '../../crypto/encoding.ts'
import { fromHex, sha256 } from '../../crypto/hash.ts'
import { signPayload, verifyPayload } from '../../crypto/signing.ts'
import { ContentError } from './errors.ts'
import { leafHash, pathOfLeaves, segmentCount, segmentLeaves, segmentLength, verifyInclusion } from './merkle.ts'

/**
 * Content manifests (DESIGN §4 "DDS"): what a creator signs about a published body, and whose
 * hash is the ContentID. The unsigned part is encoded as deterministic DAG-CBOR and signed with
 * domain 'content-manifest'; the ContentID is the CIDv1 (dag-cbor, sha2-256) of the encoded
 * *signed* manifest, so IPFS tooling can fetch and decode it as an ordinary dag-cbor block.
 *
 * Layout: the body is split into k data shards of shardSize = ceil(size / k) bytes (the last
 * zero-padded) plus m Reed-Solomon parity shards (storage/erasure). Each shard has a sha256 and
 * a Merkle root over its segmentSize-byte segments (merkle.ts), which PoSR challenges sample.
 */

export const MANIFEST_VERSION = 1
export const DEFAULT_SEGMENT_SIZE = 64 * 1024
export const MIN_SEGMENT_SIZE = 64
export const MAX_SEGMENT_SIZE = 16 * 1024 * 1024
export const MAX_TOTAL_SHARDS = 256

export interface ShardDescriptor {
  /** Hex sha256 of the whole shard. */
  readonly hash: string
  /** Hex Merkle root over the shard's segments. */
  readonly root: string
}

export interface UnsignedContentManifest {
  readonly version: 1
  /** Hex sha256 of the body. */
  readonly bodyHash: string
  /** Body length in bytes. */
  readonly size: number
  readonly k: number
  readonly m: number
  /** ceil(size / k). */
  readonly shardSize: number
  /** Power of two in [MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE]. */
  readonly segmentSize: number
  /** k + m entries: data shards first, then parity. */
  readonly shards: readonly ShardDescriptor[]
  readonly creator: Did
  readonly createdAtMs: number
}

export interface ContentManifest extends UnsignedContentManifest {
  /** Ed25519 signature by `creator` over the unsigned part, domain 'content-manifest'. */
  readonly sig: Uint8Array
}

const SHA2_256 = 0x12
const HEX64 = /^[0-9a-f]{64}$/
const MANIFEST_KEYS = [
  'bodyHash',
  'createdAtMs',
  'creator',
  'k',
  'm',
  'segmentSize',
  'shardSize',
  'shards',
  'sig',
  'size',
  'version',
]

export function unsignedPart(m: ContentManifest): UnsignedContentManifest {
  const { sig: _sig, ...rest } = m
  return rest
}

export function signManifest(unsigned: UnsignedContentManifest, signer: Signer): ContentManifest {
  return { ...unsigned, sig: signPayload(signer, 'content-manifest', unsigned) }
}

/** The deterministic DAG-CBOR bytes of a signed manifest (the block the ContentID names). */
export function encodeManifest(m: ContentManifest): Uint8Array {
  return encode(m)
}

export function contentIdOfBytes(encoded: Uint8Array): string {
  return CID.create(1, DAG_CBOR_CODE, Digest.create(SHA2_256, sha256(encoded))).toString()
}

/** ContentID: CIDv1 (dag-cbor, sha2-256) of the encoded signed manifest, base32 (`bafy…`). */
export function contentId(m: ContentManifest): string {
  return contentIdOfBytes(encodeManifest(m))
}

/** Parses a ContentID; only canonical base32 CIDv1 dag-cbor/sha2-256 strings are accepted. */
export function parseContentId(s: unknown): CID {
  if (typeof s !== 'string' || s.length > 100)
    throw new ContentError('INVALID_CONTENT_ID', 'ContentID must be a string')
  let cid: CID
  try {
    cid = CID.parse(s)
  } catch (err) {
    throw new ContentError('INVALID_CONTENT_ID', `not a CID: ${s}`, { cause: err })
  }
  if (cid.version !== 1) throw new ContentError('INVALID_CONTENT_ID', `not a CIDv1: ${s}`)
  if (cid.code !== DAG_CBOR_CODE) throw new ContentError('INVALID_CONTENT_ID', `codec is not dag-cbor: ${s}`)
  if (cid.multihash.code !== SHA2_256 || cid.multihash.digest.length !== 32) {
    throw new ContentError('INVALID_CONTENT_ID', `multihash is not sha2-256: ${s}`)
  }
  if (cid.toString() !== s) throw new ContentError('INVALID_CONTENT_ID', `not canonical base32: ${s}`)
  return cid
}

function bad(message: string): never {
  throw new ContentError('INVALID_MANIFEST', message)
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function int(v: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    bad(`${name} must be an integer in [${min}, ${max}]`)
  }
  return v
}

function hex64(v: unknown, name: string): string {
  if (typeof v !== 'string' || !HEX64.test(v)) bad(`${name} must be 64 lowercase hex digits`)
  return v
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0
}

/**
 * Checks that `v` is a well-formed, self-consistent, correctly signed manifest and returns it
 * typed. INVALID_MANIFEST for anything structural, BAD_SIGNATURE if only the signature fails.
 */
export function validateManifest(v: unknown): ContentManifest {
  if (!isRecord(v)) bad('manifest must be a map')
  const keys = Object.keys(v).sort()
  if (keys.length !== MANIFEST_KEYS.length || keys.some((key, i) => key !== MANIFEST_KEYS[i])) {
    bad(`manifest must have exactly the fields ${MANIFEST_KEYS.join(', ')}`)
  }
  if (v.version !== MANIFEST_VERSION) bad(`unsupported manifest version ${String(v.version)}`)
  hex64(v.bodyHash, 'bodyHash')
  const size = int(v.size, 'size', 0)
  const k = int(v.k, 'k', 1, MAX_TOTAL_SHARDS - 1)
  const m = int(v.m, 'm', 1, MAX_TOTAL_SHARDS - 1)
  if (k + m > MAX_TOTAL_SHARDS) bad(`k + m must be at most ${MAX_TOTAL_SHARDS}, got ${k + m}`)
  const shardSize = int(v.shardSize, 'shardSize', 0)
  if (shardSize !== Math.ceil(size / k)) bad(`shardSize must be ceil(size / k) = ${Math.ceil(size / k)}`)
  const segmentSize = int(v.segmentSize, 'segmentSize', MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE)
  if (!isPowerOfTwo(segmentSize)) bad('segmentSize must be a power of two')
  if (!Array.isArray(v.shards) || v.shards.length !== k + m) bad(`shards must be an array of k + m = ${k + m}`)
  v.shards.forEach((s: unknown, i) => {
    if (!isRecord(s) || Object.keys(s).length !== 2) bad(`shards[${i}] must be { hash, root }`)
    hex64(s.hash, `shards[${i}].hash`)
    hex64(s.root, `shards[${i}].root`)
  })
  if (!isDid(v.creator)) bad('creator must be a did:key')
  int(v.createdAtMs, 'createdAtMs', 0)
  if (!(v.sig instanceof Uint8Array) || v.sig.length !== SIGNATURE_LENGTH) bad('sig must be 64 bytes')
  const manifest = v as unknown as ContentManifest
  if (!verifyPayload(manifest.creator, 'content-manifest', unsignedPart(manifest), manifest.sig)) {
    throw new ContentError('BAD_SIGNATURE', 'manifest signature does not verify against its creator')
  }
  return manifest
}

/** Decodes and validates a manifest block; with `expectedCid`, also checks that it is that block. */
export function decodeManifest(bytes: Uint8Array, expectedCid?: string): ContentManifest {
  let v: unknown
  try {
    v = decode(bytes)
  } catch (err) {
    throw new ContentError('INVALID_MANIFEST', 'manifest is not canonical DAG-CBOR', { cause: err })
  }
  const manifest = validateManifest(v)
  if (expectedCid !== undefined && contentIdOfBytes(bytes) !== expectedCid) {
    throw new ContentError('INVALID_MANIFEST', `manifest does not hash to ${expectedCid}`)
  }
  return manifest
}

/** Number of segments of each shard of this manifest. */
export function manifestSegmentCount(m: UnsignedContentManifest): number {
  return segmentCount(m.shardSize, m.segmentSize)
}

export interface SegmentProof {
  readonly segment: Uint8Array
  /** Sibling hashes from the leaf up (RFC 9162 audit path). */
  readonly path: Uint8Array[]
}

/** The segment and its Merkle path: a PoSR answer. O(shard) hashing per call. */
export function segmentProof(
  shard: Uint8Array,
  segmentIndex: number,
  segmentSize: number = DEFAULT_SEGMENT_SIZE,
): SegmentProof {
  const count = segmentCount(shard.length, segmentSize)
  if (!Number.isSafeInteger(segmentIndex) || segmentIndex < 0 || segmentIndex >= count) {
    throw new RangeError(`segment index must be in [0, ${count}), got ${segmentIndex}`)
  }
  const leaves = shard.length === 0 ? [leafHash(shard)] : segmentLeaves(shard, segmentSize)
  const start = segmentIndex * segmentSize
  const segment = shard.slice(start, start + segmentLength(shard.length, segmentSize, segmentIndex))
  return { segment, path: pathOfLeaves(leaves, segmentIndex) }
}

/**
 * Pure PoSR check: does `segment` sit at `index` of the tree with `segmentCount` leaves and root
 * `root` (hex or bytes)? The caller should also check the segment's length against the manifest
 * (segmentLength), which this cannot know.
 */
export function verifySegment(
  root: string | Uint8Array,
  index: number,
  segment: Uint8Array,
  path: readonly Uint8Array[],
  segmentCount: number,
): boolean {
  let rootBytes: Uint8Array
  if (typeof root === 'string') {
    if (!HEX64.test(root)) return false
    rootBytes = fromHex(root)
  } else {
    rootBytes = root
  }
  return verifyInclusion(rootBytes, index, leafHash(segment), path, segmentCount)
}
