import { sha256, toHex } from '../../crypto/hash.ts'
import type { NodeIdentity } from '../../crypto/identity.ts'
import { signPosrAnswer } from '../../ledger/event.ts'
import { ContentError, decodeManifest, encodeManifest, segmentProof } from '../../storage/content/index.ts'
import type { ShardStore } from '../../storage/content/index.ts'
import type { ShardServerPort } from '../../p2p/shard-protocol.ts'
import type { SegmentAnswer } from '../../p2p/shard-wire.ts'
import { MAX_INVENTORY } from '../../p2p/shard-wire.ts'

/**
 * The SSN side of the shard protocol: shards land in the node's ShardStore only after they match
 * the manifest (the store checks length and hash before the atomic rename), every served shard is
 * re-verified on the way out (a corrupt one is quarantined, reported, never delivered whole: its
 * last chunk is held back and the stream ends with SHARD_CORRUPT), and PoSR
 * challenges are answered with the segment, its Merkle path and a signature over what was served.
 */

export interface SsnStorageHooks {
  /** A shard of `cid` is now held: announce it (DHT provider record). */
  onStored(cid: string): void
  /** A stored shard failed its check. */
  onCorrupt(cid: string, index: number): void
  chainId(): string
}

/**
 * Fault injection for the PoSR tests only (ECHONET_FAULT_POSR_WRONG_DATA=1): the SSN answers
 * challenges with one flipped byte, as a lying or bit-rotted node would, and signs that answer.
 */
const WRONG_DATA = process.env.ECHONET_FAULT_POSR_WRONG_DATA === '1'

/** Distinct contents whose read counts are kept (the least read are forgotten first). */
const MAX_DEMAND_ENTRIES = 10_000

export class SsnStorage implements ShardServerPort {
  readonly #store: ShardStore
  readonly #reads = new Map<string, number>()
  readonly #id: NodeIdentity
  readonly #hooks: SsnStorageHooks

  constructor(store: ShardStore, identity: NodeIdentity, hooks: SsnStorageHooks) {
    this.#store = store
    this.#id = identity
    this.#hooks = hooks
  }

  static get faultWrongData(): boolean {
    return WRONG_DATA
  }

  async put(cid: string, index: number, manifest: Uint8Array, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if ((await this.#store.getManifest(cid)) === undefined) {
      await this.#store.putManifest(decodeManifest(manifest, cid))
    }
    await this.#store.putStream(cid, index, chunks)
    this.#hooks.onStored(cid)
  }

  /** Shard reads served for `cid` since start (repair serves high-demand content earlier). */
  demand(cid: string): number {
    return this.#reads.get(cid) ?? 0
  }

  #countRead(cid: string): void {
    this.#reads.set(cid, (this.#reads.get(cid) ?? 0) + 1)
    if (this.#reads.size > MAX_DEMAND_ENTRIES) {
      let least: string | undefined
      for (const [c, n] of this.#reads) if (least === undefined || n < (this.#reads.get(least) ?? 0)) least = c
      if (least !== undefined) this.#reads.delete(least)
    }
  }

  async get(cid: string, index: number): Promise<{ size: number; chunks: AsyncIterable<Uint8Array> } | undefined> {
    if ((await this.#store.getManifest(cid)) === undefined) return undefined
    this.#countRead(cid)
    const reportCorrupt = (err: unknown): void => {
      if (err instanceof ContentError && err.code === 'SHARD_CORRUPT') this.#hooks.onCorrupt(cid, index)
    }
    let got: { size: number; chunks: AsyncIterable<Uint8Array> } | undefined
    try {
      got = await this.#store.readVerified(cid, index)
    } catch (err) {
      reportCorrupt(err)
      throw err
    }
    if (got === undefined) return undefined
    // The shard is read once, hashed on the way out: corruption can also show at its end.
    const inner = got.chunks
    async function* chunks(): AsyncGenerator<Uint8Array> {
      try {
        yield* inner
      } catch (err) {
        reportCorrupt(err)
        throw err
      }
    }
    return { size: got.size, chunks: chunks() }
  }

  async have(cid: string): Promise<{ shards: number[]; manifest?: Uint8Array }> {
    const m = await this.#store.getManifest(cid)
    if (m === undefined) return { shards: [] }
    return { shards: await this.#store.list(cid), manifest: encodeManifest(m) }
  }

  async inventory(): Promise<[string, number[]][]> {
    const out: [string, number[]][] = []
    for (const cid of await this.#store.listManifests()) {
      const shards = await this.#store.list(cid)
      if (shards.length > 0) out.push([cid, shards])
      if (out.length >= MAX_INVENTORY) break
    }
    return out
  }

  async segment(cid: string, index: number, segment: number, challengeHeight: number): Promise<SegmentAnswer> {
    const m = await this.#store.getManifest(cid)
    if (m === undefined) throw new ContentError('UNKNOWN_CONTENT', `no manifest for ${cid}`)
    let shard: Uint8Array | undefined
    try {
      shard = await this.#store.get(cid, index)
    } catch (err) {
      if (err instanceof ContentError && err.code === 'SHARD_CORRUPT') this.#hooks.onCorrupt(cid, index)
      throw err
    }
    if (shard === undefined) throw new ContentError('UNKNOWN_CONTENT', `shard ${index} of ${cid} is not held`)
    let proof: { segment: Uint8Array; path: Uint8Array[] }
    try {
      proof = segmentProof(shard, segment, m.segmentSize)
    } catch {
      throw new ContentError('INVALID_SHARD_INDEX', `segment ${segment} does not exist`)
    }
    const served = WRONG_DATA ? flipFirstByte(proof.segment) : proof.segment
    const sig = signPosrAnswer(this.#id.signer, {
      chainId: this.#hooks.chainId(),
      ssn: this.#id.did,
      cid,
      shard: index,
      segment,
      challengeHeight,
      dataHash: toHex(sha256(served)),
    })
    return { segment: served, path: proof.path, sig }
  }
}

function flipFirstByte(b: Uint8Array): Uint8Array {
  const out = b.length === 0 ? new Uint8Array(1) : b.slice()
  out[0] = (out[0] ?? 0) ^ 0xff
  return out
}
