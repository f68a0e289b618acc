import { ClassicLevel } from 'classic-level'
import { encode, decode } from '../crypto/encoding.ts'
import { isCertificate } from '../consensus/block.ts'
import type { CommitCertificate } from '../consensus/messages.ts'
import type { SigningRecord } from '../consensus/signing-guard.ts'
import { CodedError } from '../util/coded-error.ts'

/**
 * Crash-safe persistence of a node: finalized blocks with their certificates, state snapshots,
 * the signing record and the block we are locked on. LevelDB writes with `sync: true` are
 * durable when they return and a batch is atomic, so a SIGKILL at any moment leaves either the
 * old or the new state, never half of one.
 */

const K = {
  block: (h: number) => `b/${h.toString(16).padStart(12, '0')}`,
  meta: 'm/tip',
  snapshot: (h: number) => `s/${h.toString(16).padStart(12, '0')}`,
  signing: 'sr',
  locked: 'lk',
  validators: (hash: string) => `v/${hash}`,
  restart: (epoch: number) => `r/${epoch.toString(16).padStart(12, '0')}`,
} as const

export interface StoredBlock {
  readonly height: number
  readonly block: Uint8Array
  readonly certificate: CommitCertificate
}

export interface SnapshotMeta {
  readonly height: number
  readonly blockHash: string
  readonly stateRoot: string
  readonly createdAtMs: number
  readonly bytes: number
}

export class StoreError extends CodedError {}

const SYNC = { sync: true } as const

export class NodeStore {
  readonly #db: ClassicLevel<string, Uint8Array>
  #tip = 0
  #base = 0

  private constructor(db: ClassicLevel<string, Uint8Array>) {
    this.#db = db
  }

  static async open(dir: string): Promise<NodeStore> {
    const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    try {
      await db.open()
    } catch (err) {
      throw new StoreError('STORE_UNAVAILABLE', `cannot open store at ${dir}: ${(err as Error).message}`)
    }
    const s = new NodeStore(db)
    const meta = await db.get(K.meta)
    if (meta !== undefined) {
      const m = decode(meta) as { tip: number; base: number }
      s.#tip = m.tip
      s.#base = m.base
    }
    return s
  }

  /** Highest height stored with a certificate (0 when none). */
  get tip(): number {
    return this.#tip
  }

  /** Lowest height whose block is kept (blocks below a state-synced snapshot are absent). */
  get base(): number {
    return this.#base
  }

  async putBlock(height: number, block: Uint8Array, certificate: CommitCertificate): Promise<void> {
    if (height !== this.#tip + 1 && !(this.#tip === 0 && height >= 1)) {
      throw new StoreError('NON_CONTIGUOUS', `block ${height} does not follow stored tip ${this.#tip}`)
    }
    const base = this.#tip === 0 ? height : this.#base
    await this.#db.batch(
      [
        { type: 'put', key: K.block(height), value: encode({ block, certificate }) },
        { type: 'put', key: K.meta, value: encode({ tip: height, base }) },
        { type: 'del', key: K.locked },
      ],
      SYNC,
    )
    this.#tip = height
    this.#base = base
  }

  /**
   * The first block of a state-synced store (its snapshot is at the same height): the tip and
   * base start there. Only on an empty store, or to rewrite the same anchor.
   */
  async putAnchorBlock(height: number, block: Uint8Array, certificate: CommitCertificate): Promise<void> {
    if (this.#tip !== 0 && this.#tip !== height) {
      throw new StoreError('NOT_EMPTY', `store already holds blocks up to ${this.#tip}`)
    }
    await this.#db.batch(
      [
        { type: 'put', key: K.block(height), value: encode({ block, certificate }) },
        { type: 'put', key: K.meta, value: encode({ tip: height, base: height }) },
      ],
      SYNC,
    )
    this.#tip = height
    this.#base = height
  }

  /** Committees by hash, so peers doing state sync can follow committee changes. */
  async putValidatorSet(hash: string, validators: readonly { did: string; power: number }[]): Promise<void> {
    await this.#db.put(K.validators(hash), encode(validators.map((v) => ({ did: v.did, power: v.power }))), SYNC)
  }

  async getValidatorSet(hash: string): Promise<{ did: string; power: number }[] | undefined> {
    const v = await this.#db.get(K.validators(hash))
    return v === undefined ? undefined : (decode(v) as { did: string; power: number }[])
  }

  async getBlock(height: number): Promise<StoredBlock | undefined> {
    const v = await this.#db.get(K.block(height))
    if (v === undefined) return undefined
    const d = decode(v) as { block: unknown; certificate: unknown }
    if (!(d.block instanceof Uint8Array) || !isCertificate(d.certificate)) {
      throw new StoreError('CORRUPT', `stored block ${height} is corrupt`)
    }
    return { height, block: d.block, certificate: d.certificate }
  }

  /** Stores a snapshot; keeps the newest `keep`. Records the tip if the store starts from it (state sync). */
  async putSnapshot(meta: SnapshotMeta, bytes: Uint8Array, keep = 3): Promise<void> {
    const ops: { type: 'put' | 'del'; key: string; value?: Uint8Array }[] = [
      { type: 'put', key: K.snapshot(meta.height), value: encode({ meta, bytes }) },
    ]
    const existing = await this.listSnapshots()
    const all = [...existing.map((s) => s.height), meta.height].sort((a, b) => b - a)
    for (const h of all.slice(keep)) ops.push({ type: 'del', key: K.snapshot(h) })
    if (this.#tip === 0) {
      ops.push({ type: 'put', key: K.meta, value: encode({ tip: meta.height, base: meta.height + 1 }) })
    }
    await this.#db.batch(
      ops.map((o) => (o.type === 'put' ? { type: 'put', key: o.key, value: o.value! } : { type: 'del', key: o.key })),
      SYNC,
    )
    if (this.#tip === 0) {
      this.#tip = meta.height
      this.#base = meta.height + 1
    }
  }

  async listSnapshots(): Promise<SnapshotMeta[]> {
    const out: SnapshotMeta[] = []
    for await (const [, v] of this.#db.iterator({ gte: 's/', lt: 's0' })) {
      out.push((decode(v) as { meta: SnapshotMeta }).meta)
    }
    return out.sort((a, b) => b.height - a.height)
  }

  async getSnapshot(height: number): Promise<{ meta: SnapshotMeta; bytes: Uint8Array } | undefined> {
    const v = await this.#db.get(K.snapshot(height))
    if (v === undefined) return undefined
    return decode(v) as { meta: SnapshotMeta; bytes: Uint8Array }
  }

  async latestSnapshot(): Promise<{ meta: SnapshotMeta; bytes: Uint8Array } | undefined> {
    const [latest] = await this.listSnapshots()
    return latest ? this.getSnapshot(latest.height) : undefined
  }

  async readSigningRecord(): Promise<SigningRecord | undefined> {
    const v = await this.#db.get(K.signing)
    return v === undefined ? undefined : (decode(v) as SigningRecord)
  }

  /** Durable before it returns: the caller signs only after this. */
  async writeSigningRecord(r: SigningRecord): Promise<void> {
    const value = encode({ ...r, blockHash: r.blockHash, lock: r.lock })
    await this.#db.put(K.signing, value, SYNC)
  }

  /** The block we precommitted (locked on), so we can re-propose it after a restart. */
  async putLockedBlock(block: Uint8Array): Promise<void> {
    await this.#db.put(K.locked, block, SYNC)
  }

  async getLockedBlock(): Promise<Uint8Array | undefined> {
    return this.#db.get(K.locked)
  }

  /**
   * The restart record (manifest + authorization, DAG-CBOR) that opened `epoch`: durable before
   * the ledger adopts it, so replay after a crash crosses the epoch boundary the same way.
   */
  async putRestart(epoch: number, record: Uint8Array): Promise<void> {
    await this.#db.put(K.restart(epoch), record, SYNC)
  }

  async getRestart(epoch: number): Promise<Uint8Array | undefined> {
    return this.#db.get(K.restart(epoch))
  }

  async deleteRestart(epoch: number): Promise<void> {
    await this.#db.del(K.restart(epoch), SYNC)
  }

  async close(): Promise<void> {
    await this.#db.close()
  }
}
