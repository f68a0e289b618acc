import { bytesEqual } from '../crypto/hash.ts'
import { encodeValueTemp } from './cbor.ts'
import { BucketTree, bucketOf, isValidKey, recordOf } from './merkle.ts'
import type { BucketChange, BucketItem, StateProof, TreeUpdate } from './merkle.ts'

/**
 * The committed key→value state. Keys are namespaced by module (`acct/<did>`, `stake/<did>`, …);
 * values are immutable plain objects, kept both decoded (modules read them without decoding)
 * and as canonical DAG-CBOR (what the Merkle tree commits to and snapshots carry).
 */
export interface Entry extends BucketItem {
  readonly value: unknown
  /** Canonical DAG-CBOR of the value (the tail of `record`). */
  readonly bytes: Uint8Array
  readonly bucket: number
}

function entry(key: string, value: unknown, bytes: Uint8Array, bucket: number): Entry {
  const record = recordOf(key, bytes)
  // The value bytes are the record's tail: one allocation per entry.
  return { key, value, bytes: record.subarray(record.length - bytes.length), bucket, record }
}

export function namespaceOf(key: string): string {
  const i = key.indexOf('/')
  return i < 0 ? key : key.slice(0, i)
}

/** Pending changes of an overlay: new entries (or null = delete) plus the tree update. */
export interface PreparedChanges {
  readonly changes: BucketChange<Entry>[]
  readonly added: string[]
  readonly removed: string[]
  readonly tree: TreeUpdate<Entry>
}

export class Store {
  readonly entries = new Map<string, Entry>()
  readonly tree = new BucketTree<Entry>()
  /** Keys per namespace, so modules can iterate e.g. all stakes without scanning the state. */
  readonly namespaces = new Map<string, Set<string>>()
  /** Bumped by every commit: an execution prepared against an older version is stale. */
  version = 0
  /** Bumped by commits that touch stakes or governance: the committee can only change then. */
  committeeVersion = 0

  get(key: string): unknown {
    return this.entries.get(key)?.value
  }

  /** Loads entries without hashing (genesis, snapshot), then `rebuild()` once. */
  load(key: string, value: unknown, bytes: Uint8Array): void {
    if (!isValidKey(key)) throw new Error(`invalid state key ${JSON.stringify(key)}`)
    if (this.entries.has(key)) throw new Error(`duplicate state key ${key}`)
    const e = entry(key, value, bytes, bucketOf(key))
    this.entries.set(key, e)
    this.tree.load(e.bucket, e)
    this.#index(key)
  }

  rebuild(): void {
    this.tree.rebuild()
  }

  root(): Uint8Array {
    return this.tree.root()
  }

  prove(key: string): { value: Uint8Array | undefined; proof: StateProof } {
    const bytes = this.entries.get(key)?.bytes
    return {
      value: bytes === undefined ? undefined : Uint8Array.from(bytes),
      proof: this.tree.prove(key, (e) => e.bytes),
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

  /**
   * Encodes the overlay's writes and computes the resulting tree, leaving the store untouched.
   * `seen` holds base entries the overlay already looked up (saves a second big-map lookup).
   */
  prepare(writes: ReadonlyMap<string, unknown>, seen?: ReadonlyMap<string, Entry | null>): PreparedChanges {
    const changes: BucketChange<Entry>[] = []
    const byBucket = new Map<number, BucketChange<Entry>[]>()
    const added: string[] = []
    const removed: string[] = []
    const push = (bucket: number, c: BucketChange<Entry>): void => {
      changes.push(c)
      const list = byBucket.get(bucket)
      if (list === undefined) byBucket.set(bucket, [c])
      else list.push(c)
    }
    for (const [key, v] of writes) {
      const known = seen?.get(key)
      const base = known === undefined ? this.entries.get(key) : (known ?? undefined)
      if (v === DELETED) {
        if (base === undefined) continue
        push(base.bucket, { key, item: null })
        removed.push(key)
        continue
      }
      const bytes = encodeValueTemp(v) // copied into the entry's record below
      if (base !== undefined && bytesEqual(base.bytes, bytes)) continue
      if (base === undefined) {
        if (!isValidKey(key)) throw new Error(`invalid state key ${JSON.stringify(key)}`)
        added.push(key)
      }
      const bucket = base?.bucket ?? bucketOf(key)
      push(bucket, { key, item: entry(key, v, bytes, bucket) })
    }
    return { changes, added, removed, tree: this.tree.prepare(byBucket) }
  }

  apply(p: PreparedChanges): void {
    let committeeInputs = false
    for (const c of p.changes) {
      if (c.item === null) this.entries.delete(c.key)
      else this.entries.set(c.key, c.item)
      committeeInputs ||= c.key.startsWith('stake/') || c.key.startsWith('gov/')
    }
    if (committeeInputs) this.committeeVersion++
    for (const k of p.added) this.#index(k)
    for (const k of p.removed) this.namespaces.get(namespaceOf(k))?.delete(k)
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
  /** Base entries read so far (null = absent): Store.prepare reuses them. */
  readonly seen = new Map<string, Entry | null>()
  // Journal as two parallel arrays: no allocation per write.
  readonly #jKeys: string[] = []
  readonly #jPrev: unknown[] = []

  constructor(base: Store) {
    this.base = base
  }

  get(key: string): unknown {
    const w = this.writes.get(key)
    if (w !== undefined) return w === DELETED ? undefined : w
    const e = this.base.entries.get(key)
    this.seen.set(key, e ?? null)
    return e?.value
  }

  set(key: string, value: unknown): void {
    const prev = this.writes.get(key)
    this.#jKeys.push(key)
    this.#jPrev.push(prev === undefined ? ABSENT : prev)
    this.writes.set(key, value)
  }

  delete(key: string): void {
    this.set(key, DELETED)
  }

  mark(): number {
    return this.#jKeys.length
  }

  rollback(mark: number): void {
    while (this.#jKeys.length > mark) {
      const key = this.#jKeys.pop()!
      const prev = this.#jPrev.pop()
      if (prev === ABSENT) this.writes.delete(key)
      else this.writes.set(key, prev)
    }
  }

  /** Forget the journal (after a successful event) so it does not grow over a block. */
  settle(): void {
    this.#jKeys.length = 0
    this.#jPrev.length = 0
  }

  /** Pending changes of this overlay against its base (see Store.prepare). */
  prepare(): PreparedChanges {
    return this.base.prepare(this.writes, this.seen)
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
