import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { NodeIdentity } from '../../crypto/identity.ts'
import {
  ContentError,
  decodeManifest,
  describeStream,
  encodeManifest,
  parseContentId,
  placeShards,
  placementScore,
  spoolStripes,
} from '../../storage/content/index.ts'
import type { ContentManifest, ShardStore, SpooledBody } from '../../storage/content/index.ts'
import {
  bodyFromShardFiles,
  gatherShardFiles,
  rebuildShardFiles,
  shardFile,
  spoolShard,
} from '../../storage/content/spool.ts'
import type { ShardStreamSource } from '../../storage/content/spool.ts'
import type { ShardProtocol } from '../../p2p/shard-protocol.ts'
import type { ContentRecord } from '../../ledger/state.ts'
import { requiredFee } from '../../ledger/modules/accounts.ts'
import type { SignedPublishAuthorization } from '../../ledger/publish-authorization.ts'
import { AuthorizationsInUse, bodyProblem, publishGateProblem, PublishGateError } from '../../api/publish-gate.ts'
import type { Params } from '../../ledger/params.ts'
import { CodedError } from '../../util/coded-error.ts'
import type { EventSender } from '../event-sender.ts'
import type { ContentPublishCounts } from '../../api/storage-signals-contract.ts'
import { locate, SELF } from './locator.ts'
import type { Holders, SsnEntry } from './locator.ts'
import { peerIdOfDid } from './peers.ts'
import { Channel } from './channel.ts'

/** Stripe chunk: one frame of the shard protocol per shard per stripe. */
const STRIPE_CHUNK = 1024 * 1024
/** Shards uploaded in one pass over the spool (all of them for the usual k + m). */
const UPLOAD_GROUP = 16
/** Chunks queued per upload: encoding runs ahead of the slowest SSN by this much. */
const UPLOAD_QUEUE_CHUNKS = 2

/**
 * The content API of every node (DESIGN §4 "DDS"): publish (as a creator, ADR 0016), fetch,
 * community shard submission, creator re-upload. Bodies and shards pass through files in a work directory under the data dir,
 * never whole in memory; the work directory is removed whatever happens, so a failed or truncated
 * request leaves nothing behind.
 */

export class DdsError extends CodedError {}

export interface DdsLedgerView {
  readonly chainId: string
  ssns(): readonly SsnEntry[]
  balanceOf(did: string): number
  publishNonceUsed(creator: string, nonce: number): boolean
  content(cid: string): ContentRecord | undefined
  contentByBodyHash(bodyHash: string): string | undefined
  params(): Params
}

export interface ContentServiceDeps {
  readonly identity: NodeIdentity
  /** This node's store: manifests it has seen, and shards if it is an SSN. */
  readonly store: ShardStore
  /** Whether this node keeps shards itself (role ssn). */
  readonly holdsShards: boolean
  readonly shards: ShardProtocol
  readonly workDir: string
  readonly sender: EventSender
  ledger(): DdsLedgerView
  findProviders(cid: string): Promise<{ peerId: string }[]>
  onStored(cid: string): void
  log(level: 'info' | 'warn' | 'debug', msg: string, data?: Record<string, unknown>): void
}

export interface PublishResult {
  readonly cid: string
  readonly bodyHash: string
  readonly size: number
  readonly k: number
  readonly m: number
  /** The creator who authorized (and pays for) the publish. */
  readonly creator: string
  /** Shards stored on SSNs (k + m when all placements succeeded). */
  readonly stored: number
  /** A creator re-upload matched to this already registered ContentID. */
  readonly matched: boolean
  /** content.register submitted (false if the ledger already had it). */
  readonly registered: boolean
}

export class ContentService {
  readonly #d: ContentServiceDeps
  readonly #inUse = new AuthorizationsInUse()
  #published = 0
  #reuploadsMatched = 0

  constructor(deps: ContentServiceDeps) {
    this.#d = deps
  }

  /** Publishes carried out since the node started (admin status `content`). */
  get publishCounts(): ContentPublishCounts {
    return { published: this.#published, reuploadsMatched: this.#reuploadsMatched }
  }

  async #work(): Promise<string> {
    await mkdir(this.#d.workDir, { recursive: true })
    return mkdtemp(join(this.#d.workDir, 'w-'))
  }

  /** Live (not suspended) SSNs from the ledger. */
  #liveSsns(): string[] {
    return this.#d
      .ledger()
      .ssns()
      .filter((s) => !s.suspended)
      .map((s) => s.did)
  }

  #locate(cid: string, needed?: number): Promise<Holders> {
    return locate(
      {
        selfDid: this.#d.identity.did,
        store: this.#d.store,
        shards: this.#d.shards,
        ssns: () => this.#d.ledger().ssns(),
        findProviders: (c) => this.#d.findProviders(c),
      },
      cid,
      needed,
    )
  }

  /** Stores one shard file on SSN `did` (locally if that is this node). */
  async pushShard(did: string, cid: string, manifest: ContentManifest, index: number, path: string): Promise<void> {
    const chunks = createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Uint8Array>
    await this.#pushStream(did, cid, manifest, index, chunks)
  }

  /**
   * Places shard `index` on the first SSN of `candidates` that takes it (in order), skipping
   * `avoid`. Returns the SSN or undefined.
   */
  async placeShard(
    cid: string,
    manifest: ContentManifest,
    index: number,
    path: string,
    candidates: readonly string[],
  ): Promise<string | undefined> {
    for (const did of candidates) {
      try {
        await this.pushShard(did, cid, manifest, index, path)
        return did
      } catch (err) {
        this.#d.log('warn', 'shard placement failed; trying the next SSN', {
          cid,
          index,
          ssn: did,
          code: (err as { code?: string }).code,
          err: (err as Error).message,
        })
      }
    }
    return undefined
  }

  /**
   * Checks a creator's publish authorization before its body is read (ADR 0016): signed by the
   * creator for this network, unexpired, the fee within its maxFee and payable by the creator,
   * its nonce unused — and claims it, so the same authorization cannot start a second upload.
   * Returns the release for a publish that fails before anything is registered.
   */
  authorizePublish(auth: SignedPublishAuthorization): () => void {
    const ledger = this.#d.ledger()
    const now = Date.now()
    const problem = publishGateProblem(auth, {
      chainId: ledger.chainId,
      nowMs: now,
      fee: requiredFee(ledger.params()),
      balanceOf: (did) => ledger.balanceOf(did),
      nonceUsed: (creator, nonce) => ledger.publishNonceUsed(creator, nonce),
    })
    if (problem !== undefined) throw problem
    if (!this.#inUse.claim(auth, now))
      throw new PublishGateError('AUTHORIZATION_USED', `authorization nonce ${auth.auth.nonce} is in use on this node`)
    return () => this.#inUse.release(auth)
  }

  /**
   * Publishes a body (streamed) for the creator whose authorization `auth` is (checked by
   * authorizePublish): spool and describe it (manifest, ContentID), refuse it unless it is the
   * authorized body, then stream its stripes to the SSNs as they are encoded, every shard to its
   * first candidate at once; shards whose SSN failed go to the next candidate in another pass.
   * Register on the ledger with the authorization, so the creator owns the body and pays.
   */
  async publish(body: AsyncIterable<Uint8Array>, auth: SignedPublishAuthorization): Promise<PublishResult> {
    const { k, m, creator } = auth.auth
    const live = this.#liveSsns()
    if (live.length === 0) throw new DdsError('NO_SSNS', 'no storage node is registered and unsuspended')
    const work = await this.#work()
    const t0 = performance.now()
    try {
      const enc = await describeStream(
        body,
        {
          k,
          m,
          signer: this.#d.identity.signer,
          creator: this.#d.identity.did,
          chunkSize: STRIPE_CHUNK,
        },
        work,
      )
      const { manifest } = enc
      // Nothing is stored before the body is known to be the authorized one.
      const wrong = bodyProblem(auth, manifest)
      if (wrong !== undefined) throw wrong
      let cid = enc.cid
      let target = manifest
      let matched = false
      const existing = this.#d.ledger().contentByBodyHash(manifest.bodyHash)
      const owner = existing === undefined ? undefined : this.#d.ledger().content(existing)?.creator
      if (owner !== undefined && owner !== creator) {
        throw new DdsError('ALREADY_REGISTERED', `this body is registered as ${existing} by another creator`)
      }
      if (existing !== undefined && existing !== cid) {
        // The same creator's re-upload (through any node): keep the registered ContentID if these
        // shards are its shards.
        const old = await this.manifest(existing)
        const same =
          old !== undefined &&
          old.k === k &&
          old.m === m &&
          old.segmentSize === manifest.segmentSize &&
          old.shards.every((s, i) => s.hash === manifest.shards[i]?.hash)
        if (!same) {
          throw new DdsError('ALREADY_REGISTERED', `this body is registered as ${existing} with other parameters`)
        }
        cid = existing
        target = old
        matched = true
      }
      const encodedMs = performance.now() - t0
      await this.#d.store.putManifest(target)
      const holders = matched ? await this.#locate(cid, k + m) : undefined
      const placement = placeShards(cid, k + m, live)
      let stored = 0
      // Candidates per shard, in order: its rendezvous SSN, then the others by score.
      const pending = new Map<number, string[]>()
      for (let i = 0; i < k + m; i++) {
        if ((holders?.byIndex.get(i)?.length ?? 0) > 0) {
          stored++
          continue
        }
        const first = placement[i]!
        pending.set(i, [first, ...live.filter((s) => s !== first).sort((a, b) => scoreCmp(cid, i, a, b))])
      }
      while (pending.size > 0) {
        // At most UPLOAD_GROUP shards stream at once (one pass over the spool per group).
        const group = [...pending.keys()].slice(0, UPLOAD_GROUP)
        const jobs = group.map((i) => ({ index: i, did: pending.get(i)!.shift()! }))
        const results = await this.#streamShards(enc.spooled, cid, target, enc.chunk, jobs)
        for (const [j, job] of jobs.entries()) {
          const r = results[j]!
          if (r.status === 'fulfilled') {
            stored++
            pending.delete(job.index)
            continue
          }
          const err = r.reason as { code?: string; message?: string }
          this.#d.log('warn', 'shard placement failed; trying the next SSN', {
            cid,
            index: job.index,
            ssn: job.did,
            code: err.code,
            err: err.message,
          })
          if (pending.get(job.index)!.length === 0) pending.delete(job.index)
        }
      }
      if (stored < k) throw new DdsError('PLACEMENT_FAILED', `only ${stored} of ${k + m} shards could be stored`)
      let registered = false
      if (this.#d.ledger().content(cid) === undefined) {
        this.#d.sender.send('content.register', { cid, bodyHash: target.bodyHash, size: target.size, k, m, auth })
        registered = true
      }
      this.#published++
      if (matched) this.#reuploadsMatched++
      this.#d.log('info', 'content published', {
        cid,
        size: target.size,
        stored,
        matched,
        creator,
        encodeMs: Math.round(encodedMs),
        totalMs: Math.round(performance.now() - t0),
      })
      return { cid, bodyHash: target.bodyHash, size: target.size, k, m, creator, stored, matched, registered }
    } finally {
      await rm(work, { recursive: true, force: true })
    }
  }

  /**
   * One pass over the spooled body: each stripe's chunk of shard `index` goes to its job's SSN as
   * soon as it is encoded (a few chunks queued per upload, so the slowest SSN sets the pace and
   * memory stays bounded). Settles per job.
   */
  async #streamShards(
    spooled: SpooledBody,
    cid: string,
    manifest: ContentManifest,
    chunk: number,
    jobs: readonly { index: number; did: string }[],
  ): Promise<PromiseSettledResult<void>[]> {
    const channels = jobs.map(() => new Channel<Uint8Array>(UPLOAD_QUEUE_CHUNKS))
    const uploads = jobs.map((job, j) => {
      const ch = channels[j]!
      const p = this.#pushStream(job.did, cid, manifest, job.index, ch)
      // A failed upload stops taking chunks; the others go on.
      p.catch(() => undefined).finally(() => ch.close())
      return p
    })
    const want = new Set(jobs.map((j) => j.index))
    try {
      for await (const stripe of spoolStripes(spooled, manifest.k, manifest.m, chunk, want)) {
        if (channels.every((c) => c.closed)) break
        await Promise.all(jobs.map((job, j) => channels[j]!.push(stripe[job.index]!)))
      }
    } finally {
      for (const c of channels) c.end()
    }
    return Promise.allSettled(uploads)
  }

  /** Stores one shard, streamed, on SSN `did` (locally if that is this node). */
  async #pushStream(
    did: string,
    cid: string,
    manifest: ContentManifest,
    index: number,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    if (did === this.#d.identity.did && this.#d.holdsShards) {
      await this.#d.store.putManifest(manifest)
      await this.#d.store.putStream(cid, index, chunks)
      this.#d.onStored(cid)
      return
    }
    await this.#d.shards.put(peerIdOfDid(did), cid, index, encodeManifest(manifest), chunks)
  }

  /** The manifest of `cid`: from the local store, else from a holder (verified against the cid). */
  async manifest(cid: string): Promise<ContentManifest | undefined> {
    parseContentId(cid)
    const local = await this.#d.store.getManifest(cid)
    if (local !== undefined) return local
    const h = await this.#locate(cid)
    if (h.manifest === undefined) return undefined
    const m = decodeManifest(h.manifest, cid)
    await this.#d.store.putManifest(m)
    return m
  }

  /** A shard source over the holders found by locate (local store first). */
  sourceFor(cid: string, holders: Holders): ShardStreamSource {
    return async (index) => {
      for (const peer of holders.byIndex.get(index) ?? []) {
        try {
          if (peer === SELF) {
            const r = await this.#d.store.readVerified(cid, index)
            if (r) return r.chunks
            continue
          }
          const r = await this.#d.shards.get(peer, cid, index)
          if (r) return r.chunks
        } catch (err) {
          this.#d.log('debug', 'shard fetch failed', { cid, index, peer, code: (err as { code?: string }).code })
        }
      }
      return undefined
    }
  }

  /**
   * Fetches, verifies and reassembles a body. The returned iterable removes the work directory
   * when it ends (or is abandoned).
   */
  async fetch(cid: string): Promise<{ manifest: ContentManifest; body: AsyncIterable<Uint8Array> }> {
    parseContentId(cid)
    const local = await this.#d.store.getManifest(cid)
    // k from the local manifest or the ledger: enough shards found among SSNs means no DHT lookup.
    const holders = await this.#locate(cid, local?.k ?? this.#d.ledger().content(cid)?.k)
    const manifest = local ?? (holders.manifest ? decodeManifest(holders.manifest, cid) : undefined)
    if (manifest === undefined) throw new ContentError('UNKNOWN_CONTENT', `no node holds ${cid}`)
    const work = await this.#work()
    try {
      const held = await gatherShardFiles(manifest, this.sourceFor(cid, holders), work, {
        onBadShard: (i, r) =>
          this.#d.log('warn', 'bad shard skipped', { cid, index: i, code: codeOf(r), err: (r as Error).message }),
      })
      const data = Array.from({ length: manifest.k }, (_, i) => i)
      await rebuildShardFiles(manifest, held, data, work)
      const body = await bodyFromShardFiles(manifest, work)
      const cleanup = (): Promise<void> => rm(work, { recursive: true, force: true })
      async function* stream(): AsyncGenerator<Uint8Array> {
        try {
          yield* body
        } finally {
          await cleanup()
        }
      }
      return { manifest, body: stream() }
    } catch (err) {
      await rm(work, { recursive: true, force: true })
      throw err
    }
  }

  /**
   * Community recovery: a shard offered by anyone is kept only if it matches the manifest, then
   * placed on a live SSN that lacks it (this node, if it is an SSN).
   */
  async submitShard(
    cid: string,
    index: number,
    body: AsyncIterable<Uint8Array>,
  ): Promise<{ cid: string; index: number; storedOn: string }> {
    const manifest = await this.manifest(cid)
    if (manifest === undefined) throw new ContentError('UNKNOWN_CONTENT', `no manifest known for ${cid}`)
    if (!Number.isInteger(index) || index < 0 || index >= manifest.k + manifest.m) {
      throw new ContentError('INVALID_SHARD_INDEX', `shard index must be in [0, ${manifest.k + manifest.m})`)
    }
    const work = await this.#work()
    try {
      let reason: unknown
      const ok = await spoolShard(
        manifest,
        index,
        () => Promise.resolve(body),
        work,
        (_i, r) => (reason = r),
      )
      if (!ok) {
        if (reason instanceof ContentError) throw reason
        throw new ContentError('SHARD_MISMATCH', `the upload is not shard ${index} of ${cid}`, { cause: reason })
      }
      const holders = await this.#locate(cid, manifest.k + manifest.m)
      const holding = new Set<string>()
      for (const peers of holders.byIndex.values()) for (const p of peers) holding.add(p)
      const live = this.#liveSsns().filter((s) => holders.reachable.has(s) || s === this.#d.identity.did)
      const candidates = [...live].sort(
        (a, b) =>
          Number(holding.has(peerOrSelf(a, this.#d.identity.did))) -
            Number(holding.has(peerOrSelf(b, this.#d.identity.did))) || scoreCmp(cid, index, a, b),
      )
      const on = await this.placeShard(cid, manifest, index, shardFile(work, index), candidates)
      if (on === undefined) throw new DdsError('PLACEMENT_FAILED', 'no storage node took the shard')
      return { cid, index, storedOn: on }
    } finally {
      await rm(work, { recursive: true, force: true })
    }
  }
}

function peerOrSelf(did: string, self: string): string {
  return did === self ? SELF : peerIdOfDid(did)
}

/** Descending rendezvous score for shard `index` of `cid`. */
export function scoreCmp(cid: string, index: number, a: string, b: string): number {
  return Buffer.compare(placementScore(cid, index, b), placementScore(cid, index, a))
}

function codeOf(err: unknown): string | undefined {
  const c = (err as { code?: unknown }).code
  return typeof c === 'string' ? c : undefined
}
