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
 *   record     = 0x00 ‖ u16 len(key) ‖ key ‖ u32 len(value) ‖ value
 *   bucketHash = sha256(records of the bucket in key order)   (empty bucket: sha256(""))
 *   nodeHash   = sha256(0x01 ‖ child_0 ‖ … ‖ child_15)
 * (A bucket preimage starts with 0x00 or is empty, a node preimage with 0x01: never confused.)
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

/**
 * The bytes an entry contributes to its bucket's hash, cached per entry by the store: a
 * single-entry bucket is hashed straight from it, without a copy.
 */
export function recordOf(key: string, value: Uint8Array): Uint8Array {
  const r = alloc(7 + key.length + value.length)
  r[0] = 0
  r[1] = key.length >>> 8
  r[2] = key.length & 0xff
  for (let j = 0; j < key.length; j++) r[3 + j] = key.charCodeAt(j)
  const p = 3 + key.length
  r[p] = value.length >>> 24
  r[p + 1] = (value.length >>> 16) & 0xff
  r[p + 2] = (value.length >>> 8) & 0xff
  r[p + 3] = value.length & 0xff
  r.set(value, p + 4)
  return r
}

const EMPTY_BUCKET = sha256s(new Uint8Array(0))
export const EMPTY_BUCKET_HASH = Uint8Array.from(Buffer.from(EMPTY_BUCKET, 'latin1'))

let scratch = Buffer.alloc(64 * 1024)

/** What the tree needs of an entry: its key and its record (see recordOf). */
export interface BucketItem {
  readonly key: string
  readonly record: Uint8Array
}

/** Hash (latin1 string) of a bucket given its items in key order. */
function bucketHashS(items: readonly BucketItem[]): string {
  if (items.length === 0) return EMPTY_BUCKET
  if (items.length === 1) return sha256s(items[0]!.record)
  let need = 0
  for (const it of items) need += it.record.length
  if (scratch.length < need) scratch = Buffer.alloc(2 * need)
  let p = 0
  for (const it of items) {
    scratch.set(it.record, p)
    p += it.record.length
  }
  return sha256s(scratch.subarray(0, p))
}

export function bucketHash(items: readonly BucketItem[]): Uint8Array {
  return Uint8Array.from(Buffer.from(bucketHashS(items), 'latin1'))
}

const nodeScratch = Buffer.alloc(1 + ARITY * 32)
nodeScratch[0] = 1

/** Node hash over 16 children laid out at `children[offset …]`. */
function nodeHashS(children: Uint8Array, offset: number): string {
  nodeScratch.set(children.subarray(offset, offset + ARITY * 32), 1)
  return sha256s(nodeScratch)
}

const byKey = (a: BucketItem, b: BucketItem): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)

/** A change to one key: its new item, or null to delete it. */
export interface BucketChange<T extends BucketItem> {
  readonly key: string
  readonly item: T | null
}

/** Pending changes to a tree, computed without touching it (see BucketTree.prepare). */
export interface TreeUpdate<T extends BucketItem> {
  readonly root: Uint8Array
  /** New content (sorted by key) of every dirty bucket. */
  readonly buckets: Map<number, T[]>
  /** New hashes (latin1 strings) per level (level DEPTH = buckets, level 0 = root). */
  readonly hashes: Map<number, string>[]
}

/**
 * The tree keeps each bucket's items (sorted by key) itself, so hashing a dirty bucket reads the
 * neighbours' cached records directly instead of looking each up in the 100k-entry state map —
 * random map lookups are what a block's root mostly cost before.
 */
export class BucketTree<T extends BucketItem> {
  readonly #buckets: (T[] | undefined)[] = new Array<T[] | undefined>(BUCKETS).fill(undefined)
  /** levels[l] holds ARITY^l hashes of 32 bytes; levels[DEPTH] are the bucket hashes. */
  readonly levels: Buffer[]

  constructor() {
    this.levels = []
    for (let l = 0; l <= DEPTH; l++) this.levels.push(Buffer.alloc(ARITY ** l * 32))
  }

  /** Items of a bucket in key order (sparse: most buckets of a small state are empty). */
  items(b: number): readonly T[] {
    return this.#buckets[b] ?? NONE
  }

  /** Adds an item without hashing or sorting (bulk load, then rebuild()). */
  load(b: number, item: T): void {
    const items = this.#buckets[b]
    if (items === undefined) this.#buckets[b] = [item]
    else items.push(item)
  }

  root(): Uint8Array {
    return Uint8Array.from(this.levels[0]!.subarray(0, 32))
  }

  hashAt(level: number, index: number): Uint8Array {
    return Uint8Array.from(this.levels[level]!.subarray(index * 32, index * 32 + 32))
  }

  /** Builds every hash from scratch (genesis, snapshot load); all-empty subtrees are constants. */
  rebuild(): void {
    let empty = EMPTY_BUCKET
    let nonEmpty = new Set<number>()
    const leaves = this.levels[DEPTH]!
    leaves.fill(Buffer.from(empty, 'latin1'))
    for (let b = 0; b < BUCKETS; b++) {
      const items = this.#buckets[b]
      if (items === undefined) continue
      items.sort(byKey)
      nonEmpty.add(b)
      leaves.write(bucketHashS(items), b * 32, 'latin1')
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

  /** Computes the root after `changes` (grouped by bucket), without mutating the tree. */
  prepare(changes: ReadonlyMap<number, readonly BucketChange<T>[]>): TreeUpdate<T> {
    const hashes: Map<number, string>[] = []
    for (let l = 0; l <= DEPTH; l++) hashes.push(new Map())
    const leafMap = hashes[DEPTH]!
    const buckets = new Map<number, T[]>()
    for (const [b, list] of changes) {
      const base = this.#buckets[b] ?? NONE
      const out: T[] = []
      let matched = 0
      for (const it of base) {
        const c = find(list, it.key)
        if (c === undefined) out.push(it)
        else {
          matched++
          if (c.item !== null) out.push(c.item)
        }
      }
      if (matched < list.length) {
        for (const c of list) if (c.item !== null && find(base, c.key) === undefined) out.push(c.item)
        out.sort(byKey)
      }
      buckets.set(b, out)
      leafMap.set(b, bucketHashS(out))
    }
    for (let l = DEPTH - 1; l >= 0; l--) {
      // Each dirty child is written once into its parent's copy of the 16 children.
      const belowLevel = this.levels[l + 1]!
      const parents = new Map<number, Buffer>()
      for (const [i, h] of hashes[l + 1]!) {
        const parent = (i / ARITY) | 0
        let children = parents.get(parent)
        if (children === undefined) {
          children = Buffer.allocUnsafe(ARITY * 32)
          belowLevel.copy(children, 0, parent * ARITY * 32, (parent + 1) * ARITY * 32)
          parents.set(parent, children)
        }
        children.write(h, (i % ARITY) * 32, 'latin1')
      }
      const here = hashes[l]!
      for (const [parent, children] of parents) here.set(parent, nodeHashS(children, 0))
    }
    const root = hashes[0]!.get(0)
    return {
      root: root === undefined ? this.root() : Uint8Array.from(Buffer.from(root, 'latin1')),
      buckets,
      hashes,
    }
  }

  apply(update: TreeUpdate<T>): void {
    for (const [b, items] of update.buckets) this.#buckets[b] = items.length === 0 ? undefined : items
    for (let l = 0; l <= DEPTH; l++) {
      const level = this.levels[l]!
      for (const [i, h] of update.hashes[l]!) level.write(h, i * 32, 'latin1')
    }
  }

  /** Proof for any key (present or absent): its bucket's entries and the sibling hashes. */
  prove(key: string, valueOf: (item: T) => Uint8Array): StateProof {
    const bucket = bucketOf(key)
    const entries = this.items(bucket).map((it) => ({ key: it.key, value: Uint8Array.from(valueOf(it)) }))
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

const NONE: readonly never[] = Object.freeze([])

function find<I extends { readonly key: string }>(list: readonly I[], key: string): I | undefined {
  for (const x of list) if (x.key === key) return x
  return undefined
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
  const items: BucketItem[] = []
  let prev: string | undefined
  let held: Uint8Array | undefined
  for (const e of proof.entries) {
    if (!isValidKey(e.key) || !(e.value instanceof Uint8Array) || bucketOf(e.key) !== bucket) return false
    if (prev !== undefined && !(prev < e.key)) return false
    prev = e.key
    if (e.key === key) held = e.value
    items.push({ key: e.key, record: recordOf(e.key, e.value) })
  }
  if (value === undefined ? held !== undefined : held === undefined || !bytesEqual(held, value)) return false
  let h = bucketHashS(items)
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
