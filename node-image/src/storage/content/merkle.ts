import { createHash } from 'node:crypto'
import { bytesEqual } from '../../crypto/hash.ts'

/**
 * Merkle trees over a shard's fixed-size segments, RFC 6962 / RFC 9162 style: a leaf hash is
 * sha256(0x00 || segment), an interior node sha256(0x01 || left || right), and a tree of n leaves
 * splits at the largest power of two below n (so no leaf is ever duplicated and the tree size is
 * bound into every path). Segments are `segmentSize` bytes except the last, which may be shorter;
 * an empty shard has one empty segment, so every shard has a root and PoSR segment 0 exists.
 */

const LEAF = Uint8Array.of(0x00)
const NODE = Uint8Array.of(0x01)

export function leafHash(segment: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(LEAF).update(segment).digest())
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(NODE).update(left).update(right).digest())
}

/** Number of segments of a shard of `shardSize` bytes (at least 1). */
export function segmentCount(shardSize: number, segmentSize: number): number {
  return Math.max(1, Math.ceil(shardSize / segmentSize))
}

/** Length of segment `index` of a shard of `shardSize` bytes (the last one may be short). */
export function segmentLength(shardSize: number, segmentSize: number, index: number): number {
  return Math.max(0, Math.min(segmentSize, shardSize - index * segmentSize))
}

/** Leaf hashes of the segments of `bytes`, which must start on a segment boundary of its shard. */
export function segmentLeaves(bytes: Uint8Array, segmentSize: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let at = 0; at < bytes.length; at += segmentSize) out.push(leafHash(bytes.subarray(at, at + segmentSize)))
  return out
}

function largestPowerOfTwoBelow(n: number): number {
  let p = 1
  while (p * 2 < n) p *= 2
  return p
}

/** The root over leaf hashes (at least one). */
export function rootOfLeaves(leaves: readonly Uint8Array[], lo = 0, hi = leaves.length): Uint8Array {
  const n = hi - lo
  if (n < 1) throw new RangeError('a Merkle tree needs at least one leaf')
  if (n === 1) return leaves[lo]!
  const split = largestPowerOfTwoBelow(n)
  return nodeHash(rootOfLeaves(leaves, lo, lo + split), rootOfLeaves(leaves, lo + split, hi))
}

/** Audit path for leaf `index` (sibling hashes, bottom up). */
export function pathOfLeaves(leaves: readonly Uint8Array[], index: number, lo = 0, hi = leaves.length): Uint8Array[] {
  const n = hi - lo
  if (n <= 1) return []
  const split = largestPowerOfTwoBelow(n)
  if (index - lo < split) {
    return [...pathOfLeaves(leaves, index, lo, lo + split), rootOfLeaves(leaves, lo + split, hi)]
  }
  return [...pathOfLeaves(leaves, index, lo + split, hi), rootOfLeaves(leaves, lo, lo + split)]
}

/** Root over the segments of a whole shard. */
export function shardRoot(shard: Uint8Array, segmentSize: number): Uint8Array {
  return rootOfLeaves(shard.length === 0 ? [leafHash(shard)] : segmentLeaves(shard, segmentSize))
}

/** RFC 9162 §2.1.3.2 inclusion-proof verification. Pure; any malformed input is simply false. */
export function verifyInclusion(
  root: Uint8Array,
  index: number,
  leaf: Uint8Array,
  path: readonly Uint8Array[],
  treeSize: number,
): boolean {
  if (!Number.isSafeInteger(treeSize) || !Number.isSafeInteger(index) || index < 0 || index >= treeSize) return false
  let fn = index
  let sn = treeSize - 1
  let r = leaf
  for (const p of path) {
    if (!(p instanceof Uint8Array) || p.length !== 32 || sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && bytesEqual(r, root)
}
