import { join } from 'node:path'
import type { Libp2p } from 'libp2p'
import type { NodeIdentity } from '../../crypto/identity.ts'
import { ShardStore } from '../../storage/content/index.ts'
import { ShardProtocol } from '../../p2p/shard-protocol.ts'
import type { ContentApiPort, ContentManifestView } from '../../api/content-routes.ts'
import type { NodeMetrics } from '../../api/metrics.ts'
import type { EventSender } from '../event-sender.ts'
import { ContentService } from './content-service.ts'
import type { DdsLedgerView } from './content-service.ts'
import type { SignedPublishAuthorization } from '../../ledger/publish-authorization.ts'
import { SsnStorage } from './ssn-storage.ts'
import { Repairer } from './repair.ts'
import { REPAIR_PRIORITIES_FILE, RepairPriorityStore } from './repair-priorities.ts'
import type { RepairPriorityEntry, RepairPriorityList } from '../../api/storage-signals-contract.ts'
import { StorageSignalsError } from '../../api/storage-signals-routes.ts'
import { PosrChallenger } from './posr.ts'
import type { PosrLedger } from './posr.ts'
import type { RepairLedger } from './repair.ts'
import type { RepairPriority, RepairRunResult, StorageStatus } from '../../api/admin-contract.ts'
import { ContentError, parseContentId } from '../../storage/content/index.ts'

/**
 * DDS composition for one node: its ShardStore (`<data>/dds`), the shard protocol (served by SSNs),
 * the content API, and the background provider announcements of held content.
 */

export type DdsLog = (level: 'info' | 'warn' | 'debug', msg: string, data?: Record<string, unknown>) => void

export interface DdsDeps {
  readonly identity: NodeIdentity
  readonly dataDir: string
  readonly isSsn: boolean
  readonly libp2p: Libp2p
  readonly sender: EventSender
  readonly metrics: NodeMetrics
  readonly log: DdsLog
  ledger(): DdsLedgerView & RepairLedger & PosrLedger
  /** Witnesses audit SSNs (PoSR). */
  readonly isWitness: boolean
  /** Repair scan interval and throttle (SSNs). */
  readonly repairIntervalMs: number
  readonly repairBytesPerSecond: number
  /** Per-peer admission of shard requests (the node's rate limits). */
  readonly admitShardRequest?: (peer: string) => boolean
  provide(cid: string): Promise<{ announced: boolean }>
  findProviders(cid: string): Promise<{ peerId: string }[]>
}

/** Largest shard an SSN accepts in one upload (a 4 GiB body at k = 1). */
const MAX_SHARD_BYTES = 4 * 1024 * 1024 * 1024

export class Dds implements ContentApiPort {
  readonly store: ShardStore
  readonly shards: ShardProtocol
  readonly content: ContentService
  readonly #d: DdsDeps
  readonly #toProvide = new Set<string>()
  readonly #provided = new Set<string>()
  #providing = false
  #stopped = false
  #repairer: Repairer | undefined
  #priorities: RepairPriorityStore | undefined
  #posr: PosrChallenger | undefined

  private constructor(d: DdsDeps, store: ShardStore) {
    this.#d = d
    this.store = store
    this.shards = new ShardProtocol(d.libp2p)
    this.content = new ContentService({
      identity: d.identity,
      store,
      holdsShards: d.isSsn,
      shards: this.shards,
      workDir: join(d.dataDir, 'dds-work'),
      sender: d.sender,
      ledger: () => d.ledger(),
      findProviders: (cid) => d.findProviders(cid),
      onStored: (cid) => this.#announce(cid),
      log: d.log,
    })
  }

  static async start(d: DdsDeps): Promise<Dds> {
    const store = await ShardStore.open(join(d.dataDir, 'dds'))
    const dds = new Dds(d, store)
    if (d.isSsn) {
      if (SsnStorage.faultWrongData) d.log('warn', 'FAULT INJECTION: this SSN answers PoSR challenges with wrong data')
      const ssn = new SsnStorage(store, d.identity, {
        onStored: (cid) => dds.#announce(cid),
        onCorrupt: (cid, index) => {
          d.metrics.corruptShards.inc()
          d.log('warn', 'corrupt shard detected and quarantined', { cid, index })
        },
        chainId: () => d.ledger().chainId,
      })
      await dds.shards.serve(
        ssn,
        MAX_SHARD_BYTES,
        (op, code) => d.metrics.shardRequestErrors.inc({ op, code }),
        d.admitShardRequest,
      )
      for (const { cid } of await store.list()) dds.#announce(cid)
      const priorities = await RepairPriorityStore.open(join(d.dataDir, REPAIR_PRIORITIES_FILE), d.log)
      dds.#priorities = priorities
      dds.#repairer = new Repairer({
        priorities,
        selfDid: d.identity.did,
        store,
        shards: dds.shards,
        content: dds.content,
        metrics: d.metrics,
        workDir: join(d.dataDir, 'dds-work'),
        bytesPerSecond: d.repairBytesPerSecond,
        ledger: () => d.ledger(),
        demand: (cid) => ssn.demand(cid),
        log: d.log,
      })
      dds.#repairer.start(d.repairIntervalMs)
      // So the admin status carries a storage section from the start (lastScanAtMs 0: no scan yet).
      await dds.#repairer.status()
    }
    if (d.isWitness) {
      dds.#posr = new PosrChallenger({
        selfDid: d.identity.did,
        shards: dds.shards,
        sender: d.sender,
        metrics: d.metrics,
        ledger: () => d.ledger(),
        manifest: (cid) => dds.content.manifest(cid),
        log: d.log,
      })
    }
    return dds
  }

  /** A block was finalized: witnesses may owe PoSR challenges for it. */
  onCommit(height: number, randomness: Uint8Array): void {
    this.#posr?.onCommit(height, randomness)
  }

  stop(): void {
    this.#stopped = true
    this.#repairer?.stop()
  }

  get storageSnapshot(): StorageStatus | undefined {
    return this.#repairer?.snapshot
  }

  async storageStatus(): Promise<StorageStatus> {
    if (this.#repairer) return this.#repairer.status()
    const stats = await this.store.stats()
    return {
      holdsShards: false,
      shards: stats.shards,
      bytes: stats.bytes,
      underReplicated: 0,
      repairQueue: 0,
      repairedBytes: 0,
      lastScanAtMs: 0,
      priorities: [],
      quarantined: stats.quarantined,
    }
  }

  storageRepair(): Promise<RepairRunResult> {
    if (!this.#repairer) return Promise.resolve({ scanned: 0, underReplicated: 0, repaired: 0, failed: 0 })
    return this.#repairer.run()
  }

  async setRepairPriority(p: RepairPriority): Promise<RepairPriority> {
    parseContentId(p.cid)
    if (!this.#repairer) throw new ContentError('INVALID_PARAMETERS', 'only storage nodes repair content')
    await this.#repairer.setPriority(p.cid, p.priority)
    return p
  }

  /** The persisted class list (SSNs only: other roles do not repair). */
  repairPriorities(): RepairPriorityList {
    return this.#prioritiesOrRefuse().list()
  }

  setRepairPriorities(entries: readonly RepairPriorityEntry[]): Promise<RepairPriorityList> {
    return this.#prioritiesOrRefuse().replace(entries)
  }

  #prioritiesOrRefuse(): RepairPriorityStore {
    if (this.#priorities === undefined)
      throw new StorageSignalsError('NOT_A_STORAGE_NODE', 'only storage nodes (role ssn) hold repair priorities')
    return this.#priorities
  }

  /** Provider records go out one at a time in the background: a slow DHT never blocks a put. */
  #announce(cid: string): void {
    if (this.#provided.has(cid)) return
    this.#toProvide.add(cid)
    if (this.#providing) return
    this.#providing = true
    void (async () => {
      while (!this.#stopped) {
        const next = this.#toProvide.values().next()
        if (next.done === true) break
        this.#toProvide.delete(next.value)
        this.#provided.add(next.value)
        try {
          await this.#d.provide(next.value)
        } catch (err) {
          this.#d.log('debug', 'provide failed', { cid: next.value, err: (err as Error).message })
        }
      }
      this.#providing = false
    })()
  }

  // --- ContentApiPort ---------------------------------------------------------------------------

  authorizePublish(auth: SignedPublishAuthorization): () => void {
    return this.content.authorizePublish(auth)
  }

  publish(body: AsyncIterable<Uint8Array>, auth: SignedPublishAuthorization): Promise<unknown> {
    return this.content.publish(body, auth).then((r) => {
      this.#d.metrics.contentBytes.inc({ dir: 'published' }, r.size)
      return r
    })
  }

  async fetch(cid: string): Promise<{ size: number; bodyHash: string; body: AsyncIterable<Uint8Array> }> {
    const { manifest, body } = await this.content.fetch(cid)
    this.#d.metrics.contentBytes.inc({ dir: 'fetched' }, manifest.size)
    return { size: manifest.size, bodyHash: manifest.bodyHash, body }
  }

  async manifest(cid: string): Promise<ContentManifestView | undefined> {
    const m = await this.content.manifest(cid)
    if (m === undefined) return undefined
    const rec = this.#d.ledger().content(cid)
    return {
      cid,
      bodyHash: m.bodyHash,
      size: m.size,
      k: m.k,
      m: m.m,
      shardSize: m.shardSize,
      segmentSize: m.segmentSize,
      // The creator is who registered it on the ledger; the manifest is signed by the node that encoded it.
      creator: rec?.creator ?? m.creator,
      publisher: m.creator,
      shards: m.shards,
      ...(rec ? { registeredAtHeight: rec.height } : {}),
    }
  }

  submitShard(cid: string, index: number, body: AsyncIterable<Uint8Array>): Promise<unknown> {
    return this.content.submitShard(cid, index, body)
  }
}
