import { hash } from 'node:crypto'
import { bytesEqual } from '../crypto/hash.ts'

/**
 * The state commitment: a fixed-shape Merkle tree over 65,536 buckets. A key lives in the bucket
 * named by the first 16 bits of sha256(key); a bucket's hash covers its entries sorted by key; a
 * node's hash covers its 16 children (depth 4). Only dirty buckets and their paths are rehashed.
 *
 * Why this shape: on these machines a SHA-256 call costs ~0.5–1 µs plus ~0.6 ns per byte, so a
 * root costs about one µs per hash call. A 2,000-transfer block dirties ~4,000 keys: here that is
 * ~3,900 small bucket hashes + ~2,800 node hashes. A binary tree would need ~4× the node hashes;
 * 4,096 big buckets would hash far more bytes per block and grow linearly with the state (at 1M
 * accounts, ~20 KiB per bucket). Proofs carry 60 sibling hashes (~2 KiB).
 *
 *   record     = u16 len(key) ‖ key ‖ u32 len(value) ‖ value
 *   bucketHash = sha256(0x00 ‖ records of the bucket in key order)      (empty: sha256(0x00))
 *   nodeHash   = sha256(0x01 ‖ child_0 ‖ … ‖ child_15)
 *
 * Keys are printable ASCII (so string order is byte order); values are canonical DAG-CBOR.
 *
 * Allocation matters as much as hashing here: a fresh ArrayBuffer per hash or per record costs
 * more than the hash under GC pressure, so hashes are produced as 32-char latin1 strings and
 * written into preallocated level buffers, and records are carved from shared slabs.
 */
export const ARITY = 16
export const DEPTH = 4
export const BUCKETS = ARITY ** DEPTH

export function sha256(data: Uint8Array | string): Uint8Array {
  return hash('sha256', data, 'buffer')
}

/** SHA-256 as a 32-character latin1 string: no ArrayBuffer allocated. */
function sha256s(data: Uint8Array | string): string {
  return hash('sha256', data, 'binary') // 'binary' = latin1: one char per byte
}

export function bucketOf(key: string): number {
  const h = sha256s(key)
  return (h.charCodeAt(0) << 8) | h.charCodeAt(1)
}

export const MAX_KEY_LENGTH = 1024
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/

export function isValidKey(key: string): boolean {
  return key.length <= MAX_KEY_LENGTH && PRINTABLE_ASCII.test(key)
}

// Slab allocation of small records (the approach of Node's Buffer pool): one ArrayBuffer per 64 KiB
// instead of one per entry. A slab lives while any record in it does.
const SLAB = 64 * 1024
let slab = new ArrayBuffer(SLAB)
let slabUsed = 0

function alloc(n: number): Uint8Array {
  if (n > 4096) return new Uint8Array(n)
  if (slabUsed + n > SLAB) {
    slab = new ArrayBuffer(SLAB)
    slabUsed = 0
  }
  const out = new Uint8Array(slab, slabUsed, n)
  slabUsed += (n + 7) & ~7
  return out
}

/** The bytes an entry contributes to its bucket's hash (cached per entry by the store). */
export function recordOf(key: string, value: Uint8Array): Uint8Array {
  const r = alloc(6 + key.length + value.length)
  r[0] = key.length >>> 8
  r[1] = key.length & 0xff
  for (let j = 0; j < key.length; j++) r[2 + j] = key.charCodeAt(j)
  const p = 2 + key.length
  r[p] = value.length >>> 24
  r[p + 1] = (value.length >>> 16) & 0xff
  r[p + 2] = (value.length >>> 8) & 0xff
  r[p + 3] = value.length & 0xff
  r.set(value, p + 4)
  return r
}

const EMPTY_BUCKET = sha256s(new Uint8Array([0]))
export const EMPTY_BUCKET_HASH = Uint8Array.from(Buffer.from(EMPTY_BUCKET, 'latin1'))

let scratch = Buffer.alloc(64 * 1024)

/** Hash (latin1 string) of a bucket given its records in key order. */
function bucketHashS(records: readonly Uint8Array[]): string {
  if (records.length === 0) return EMPTY_BUCKET
  let need = 1
  for (const r of records) need += r.length
  if (scratch.length < need) scratch = Buffer.alloc(2 * need)
  scratch[0] = 0
  let p = 1
  for (const r of records) {
    scratch.set(r, p)
    p += r.length
  }
  return sha256s(scratch.subarray(0, p))
}

export function bucketHash(records: readonly Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.from(bucketHashS(records), 'latin1'))
}

const nodeScratch = Buffer.alloc(1 + ARITY * 32)
nodeScratch[0] = 1

/** Node hash over 16 children laid out at `children[offset …]`. */
function nodeHashS(children: Uint8Array, offset: number): string {
  nodeScratch.set(children.subarray(offset, offset + ARITY * 32), 1)
  return sha256s(nodeScratch)
}

/** Pending changes to a tree, computed without touching it (see BucketTree.prepare). */
export interface TreeUpdate {
  readonly root: Uint8Array
  /** New sorted key lists of buckets whose key set changed. */
  readonly bucketKeys: Map<number, string[]>
  /** New hashes (latin1 strings) per level (level DEPTH = buckets, level 0 = root). */
  readonly hashes: Map<number, string>[]
}

const NO_KEYS: readonly string[] = Object.freeze([])

/** Reads the cached record of a key (see recordOf). */
export type RecordLookup = (key: string) => Uint8Array

export class BucketTree {
  /** Sorted keys of each bucket. */
  readonly #bucketKeys = new Map<number, string[]>()
  /** levels[l] holds ARITY^l hashes of 32 bytes; levels[DEPTH] are the bucket hashes. */
  readonly levels: Buffer[]

  constructor() {
    this.levels = []
    for (let l = 0; l <= DEPTH; l++) this.levels.push(Buffer.alloc(ARITY ** l * 32))
  }

  /** Sorted keys of a bucket (sparse: most buckets of a small state are empty). */
  keysOf(b: number): readonly string[] {
    return this.#bucketKeys.get(b) ?? NO_KEYS
  }

  /** Adds a key without hashing or sorting (bulk load, then rebuild()). */
  load(b: number, key: string): void {
    const keys = this.#bucketKeys.get(b)
    if (keys === undefined) this.#bucketKeys.set(b, [key])
    else keys.push(key)
  }

  root(): Uint8Array {
    return Uint8Array.from(this.levels[0]!.subarray(0, 32))
  }

  hashAt(level: number, index: number): Uint8Array {
    return Uint8Array.from(this.levels[level]!.subarray(index * 32, index * 32 + 32))
  }

  /** Builds every hash from scratch (genesis, snapshot load); all-empty subtrees are constants. */
  rebuild(recordOf: RecordLookup): void {
    let empty = EMPTY_BUCKET
    let nonEmpty = new Set<number>()
    const leaves = this.levels[DEPTH]!
    leaves.fill(Buffer.from(empty, 'latin1'))
    for (const [b, keys] of this.#bucketKeys) {
      keys.sort()
      nonEmpty.add(b)
      leaves.write(bucketHashS(keys.map(recordOf)), b * 32, 'latin1')
    }
    const emptyChildren = Buffer.alloc(ARITY * 32)
    for (let l = DEPTH - 1; l >= 0; l--) {
      emptyChildren.fill(Buffer.from(empty, 'latin1'))
      empty = nodeHashS(emptyChildren, 0)
      const below = this.levels[l + 1]!
      const here = this.levels[l]!
      here.fill(Buffer.from(empty, 'latin1'))
      const parents = new Set<number>()
      for (const i of nonEmpty) parents.add((i / ARITY) | 0)
      for (const p of parents) here.write(nodeHashS(below, p * ARITY * 32), p * 32, 'latin1')
      nonEmpty = parents
    }
  }

  /**
   * Computes the root after changing `dirty` buckets, without mutating the tree.
   * `newKeys` gives the new sorted key list of buckets whose key set changed.
   */
  prepare(dirty: Iterable<number>, newKeys: Map<number, string[]>, recordOf: RecordLookup): TreeUpdate {
    const hashes: Map<number, string>[] = []
    for (let l = 0; l <= DEPTH; l++) hashes.push(new Map())
    const leafMap = hashes[DEPTH]!
    for (const b of dirty) leafMap.set(b, bucketHashS((newKeys.get(b) ?? this.keysOf(b)).map(recordOf)))
    const children = Buffer.alloc(ARITY * 32)
    for (let l = DEPTH - 1; l >= 0; l--) {
      const below = hashes[l + 1]!
      const parents = new Set<number>()
      for (const i of below.keys()) parents.add((i / ARITY) | 0)
      const belowLevel = this.levels[l + 1]!
      for (const parent of parents) {
        const first = parent * ARITY
        belowLevel.copy(children, 0, first * 32, (first + ARITY) * 32)
        for (let c = 0; c < ARITY; c++) {
          const h = below.get(first + c)
          if (h !== undefined) children.write(h, c * 32, 'latin1')
        }
        hashes[l]!.set(parent, nodeHashS(children, 0))
      }
    }
    const root = hashes[0]!.get(0)
    return {
      root: root === undefined ? this.root() : Uint8Array.from(Buffer.from(root, 'latin1')),
      bucketKeys: newKeys,
      hashes,
    }
  }

  apply(update: TreeUpdate): void {
    for (const [b, keys] of update.bucketKeys) {
      if (keys.length === 0) this.#bucketKeys.delete(b)
      else this.#bucketKeys.set(b, keys)
    }
    for (let l = 0; l <= DEPTH; l++) {
      const level = this.levels[l]!
      for (const [i, h] of update.hashes[l]!) level.write(h, i * 32, 'latin1')
    }
  }

  /** Proof for any key (present or absent): its bucket's entries and the sibling hashes. */
  prove(key: string, valueOf: (key: string) => Uint8Array): StateProof {
    const bucket = bucketOf(key)
    const entries = this.keysOf(bucket).map((k) => ({ key: k, value: Uint8Array.from(valueOf(k)) }))
    const siblings: Uint8Array[] = []
    let index = bucket
    for (let l = DEPTH; l >= 1; l--) {
      const first = index - (index % ARITY)
      for (let c = first; c < first + ARITY; c++) if (c !== index) siblings.push(this.hashAt(l, c))
      index = Math.floor(index / ARITY)
    }
    return { entries, siblings }
  }
}

export interface StateProof {
  /** All entries of the key's bucket, in key order. */
  entries: { key: string; value: Uint8Array }[]
  /** (ARITY − 1) sibling hashes per level, from the bucket level up to the root's children. */
  siblings: Uint8Array[]
}

/**
 * Verifies that under `root` the key holds `value` (DAG-CBOR bytes), or is absent when `value`
 * is undefined. Pure: needs only the root, never the state.
 */
export function verifyProof(root: Uint8Array, key: string, value: Uint8Array | undefined, proof: StateProof): boolean {
  if (!isValidKey(key) || proof.siblings.length !== DEPTH * (ARITY - 1)) return false
  const bucket = bucketOf(key)
  const records: Uint8Array[] = []
  let prev: string | undefined
  let held: Uint8Array | undefined
  for (const e of proof.entries) {
    if (!isValidKey(e.key) || !(e.value instanceof Uint8Array) || bucketOf(e.key) !== bucket) return false
    if (prev !== undefined && !(prev < e.key)) return false
    prev = e.key
    if (e.key === key) held = e.value
    records.push(recordOf(e.key, e.value))
  }
  if (value === undefined ? held !== undefined : held === undefined || !bytesEqual(held, value)) return false
  let h = bucketHashS(records)
  let index = bucket
  const children = Buffer.alloc(ARITY * 32)
  let s = 0
  for (let l = DEPTH; l >= 1; l--) {
    const at = index % ARITY
    for (let c = 0; c < ARITY; c++) {
      if (c === at) {
        children.write(h, c * 32, 'latin1')
        continue
      }
      const sib = proof.siblings[s++]
      if (!(sib instanceof Uint8Array) || sib.length !== 32) return false
      children.set(sib, c * 32)
    }
    h = nodeHashS(children, 0)
    index = Math.floor(index / ARITY)
  }
  return bytesEqual(Buffer.from(h, 'latin1'), root)
}
