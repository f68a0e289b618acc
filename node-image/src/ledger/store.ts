import { bytesEqual } from '../crypto/hash.ts'
import { encodeValueTemp } from './cbor.ts'
import { BucketTree, bucketOf, isValidKey, recordOf } from './merkle.ts'
import type { StateProof, TreeUpdate } from './merkle.ts'

/**
 * The committed key→value state. Keys are namespaced by module (`acct/<did>`, `stake/<did>`, …);
 * values are immutable plain objects, kept both decoded (modules read them without decoding)
 * and as canonical DAG-CBOR (what the Merkle tree commits to and snapshots carry).
 */
export interface Entry {
  readonly value: unknown
  readonly bytes: Uint8Array
  readonly bucket: number
  /** The entry's bytes inside its bucket hash (merkle.ts recordOf), cached. */
  readonly record: Uint8Array
}

function entry(key: string, value: unknown, bytes: Uint8Array, bucket: number): Entry {
  const record = recordOf(key, bytes)
  // The value bytes are the record's tail: one allocation per entry.
  return { value, bytes: record.subarray(record.length - bytes.length), bucket, record }
}

export function namespaceOf(key: string): string {
  const i = key.indexOf('/')
  return i < 0 ? key : key.slice(0, i)
}

/** Pending changes of an overlay: new entries (or null = delete) plus the tree update. */
export interface PreparedChanges {
  readonly entries: Map<string, Entry | null>
  readonly tree: TreeUpdate
}

export class Store {
  readonly entries = new Map<string, Entry>()
  readonly tree = new BucketTree()
  /** Keys per namespace, so modules can iterate e.g. all stakes without scanning the state. */
  readonly namespaces = new Map<string, Set<string>>()
  /** Bumped by every commit: an execution prepared against an older version is stale. */
  version = 0

  get(key: string): unknown {
    return this.entries.get(key)?.value
  }

  /** Loads entries without hashing (genesis, snapshot), then `rebuild()` once. */
  load(key: string, value: unknown, bytes: Uint8Array): void {
    if (!isValidKey(key)) throw new Error(`invalid state key ${JSON.stringify(key)}`)
    const bucket = bucketOf(key)
    this.entries.set(key, entry(key, value, bytes, bucket))
    this.tree.load(bucket, key)
    this.#index(key)
  }

  rebuild(): void {
    this.tree.rebuild((k) => this.entries.get(k)!.record)
  }

  root(): Uint8Array {
    return this.tree.root()
  }

  prove(key: string): { value: Uint8Array | undefined; proof: StateProof } {
    const bytes = this.entries.get(key)?.bytes
    return {
      value: bytes === undefined ? undefined : Uint8Array.from(bytes),
      proof: this.tree.prove(key, (k) => this.entries.get(k)!.bytes),
    }
  }

  #index(key: string): void {
    const ns = namespaceOf(key)
    let set = this.namespaces.get(ns)
    if (set === undefined) {
      set = new Set()
      this.namespaces.set(ns, set)
    }
    set.add(key)
  }

  /** Encodes the overlay's writes and computes the resulting tree, leaving the store untouched. */
  prepare(writes: ReadonlyMap<string, unknown>): PreparedChanges {
    const changes = new Map<string, Entry | null>()
    const dirty = new Set<number>()
    const structural = new Map<number, { add: string[]; del: string[] }>()
    for (const [key, v] of writes) {
      const base = this.entries.get(key)
      if (v === DELETED) {
        if (base === undefined) continue
        changes.set(key, null)
        dirty.add(base.bucket)
        let s = structural.get(base.bucket)
        if (s === undefined) structural.set(base.bucket, (s = { add: [], del: [] }))
        s.del.push(key)
        continue
      }
      const bytes = encodeValueTemp(v) // copied into the entry's record below
      if (base !== undefined && bytesEqual(base.bytes, bytes)) continue
      if (base === undefined && !isValidKey(key)) throw new Error(`invalid state key ${JSON.stringify(key)}`)
      const bucket = base?.bucket ?? bucketOf(key)
      changes.set(key, entry(key, v, bytes, bucket))
      dirty.add(bucket)
      if (base === undefined) {
        let s = structural.get(bucket)
        if (s === undefined) structural.set(bucket, (s = { add: [], del: [] }))
        s.add.push(key)
      }
    }
    const newKeys = new Map<number, string[]>()
    for (const [b, s] of structural) {
      const set = new Set(this.tree.keysOf(b))
      for (const k of s.del) set.delete(k)
      for (const k of s.add) set.add(k)
      newKeys.set(b, [...set].sort())
    }
    const recordFor = (k: string): Uint8Array => (changes.get(k) ?? this.entries.get(k)!).record
    return { entries: changes, tree: this.tree.prepare(dirty, newKeys, recordFor) }
  }

  apply(p: PreparedChanges): void {
    for (const [key, e] of p.entries) {
      if (e === null) {
        this.entries.delete(key)
        this.namespaces.get(namespaceOf(key))?.delete(key)
      } else {
        if (!this.entries.has(key)) this.#index(key)
        this.entries.set(key, e)
      }
    }
    this.tree.apply(p.tree)
    this.version++
  }
}

export const DELETED: unique symbol = Symbol('deleted')
const ABSENT: unique symbol = Symbol('absent')

/**
 * Copy-on-write view over a Store: reads fall through to the committed state, writes stay here.
 * A journal gives per-event atomicity: mark() before an event, rollback(mark) if it fails.
 */
export class Overlay {
  readonly base: Store
  readonly writes = new Map<string, unknown>()
  readonly #journal: { key: string; prev: unknown }[] = []

  constructor(base: Store) {
    this.base = base
  }

  get(key: string): unknown {
    const w = this.writes.get(key)
    if (w !== undefined) return w === DELETED ? undefined : w
    return this.base.get(key)
  }

  set(key: string, value: unknown): void {
    this.#journal.push({ key, prev: this.writes.has(key) ? this.writes.get(key) : ABSENT })
    this.writes.set(key, value)
  }

  delete(key: string): void {
    this.set(key, DELETED)
  }

  mark(): number {
    return this.#journal.length
  }

  rollback(mark: number): void {
    while (this.#journal.length > mark) {
      const j = this.#journal.pop()!
      if (j.prev === ABSENT) this.writes.delete(j.key)
      else this.writes.set(j.key, j.prev)
    }
  }

  /** Forget the journal (after a successful event) so it does not grow over a block. */
  settle(): void {
    this.#journal.length = 0
  }

  /** Live keys of a namespace, sorted (deterministic iteration). */
  keys(namespace: string): string[] {
    const out = new Set(this.base.namespaces.get(namespace))
    const prefix = namespace + '/'
    for (const [k, v] of this.writes) {
      if (!k.startsWith(prefix)) continue
      if (v === DELETED) out.delete(k)
      else out.add(k)
    }
    return [...out].sort()
  }
}
