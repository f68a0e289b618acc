import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ContentManifest, ShardStore } from '../../storage/content/index.ts'
import { ContentError, placementScore } from '../../storage/content/index.ts'
import { gatherShardFiles, rebuildShardFiles, shardFile } from '../../storage/content/spool.ts'
import type { ShardProtocol } from '../../p2p/shard-protocol.ts'
import type { ContentRecord } from '../../ledger/state.ts'
import type { NodeMetrics } from '../../api/metrics.ts'
import type { RepairRunResult, StorageStatus } from '../../api/admin-contract.ts'
import type { ContentService } from './content-service.ts'
import type { SsnEntry } from './locator.ts'
import { peerIdOfDid } from './peers.ts'
import type { RepairPriorityStore } from './repair-priorities.ts'

/**
 * Repair on SSNs (DESIGN §4 "DDS"). Each scan asks every registered SSN for its inventory (one
 * request each), counts per registered content the shards held by reachable, unsuspended SSNs, and
 * takes on the content it *leads*: the reachable holder with the highest rendezvous score for the
 * ContentID, so SSNs that see the same inventories split the work without talking. Shards on an
 * unreachable or suspended SSN count as missing; corrupt shards were quarantined by the read or the
 * scrub below and so are missing too. Queue order: see repairOrder. Each repair spools k verified shards, rebuilds the
 * missing ones stripe by stripe and places them on live SSNs that hold the fewest shards of that
 * content; bytes placed are throttled to `bytesPerSecond`.
 */

export interface RepairLedger {
  ssns(): readonly SsnEntry[]
  contents(): { cid: string; rec: ContentRecord }[]
}

export interface RepairDeps {
  readonly selfDid: string
  readonly store: ShardStore
  readonly shards: ShardProtocol
  readonly content: ContentService
  readonly metrics: NodeMetrics
  readonly workDir: string
  readonly bytesPerSecond: number
  ledger(): RepairLedger
  /** Recent reads of a content served by this node (high-demand content is repaired earlier). */
  demand(cid: string): number
  /** The operator's persisted priorities (repair-priorities.ts). */
  readonly priorities: RepairPriorityStore
  log(level: 'info' | 'warn' | 'debug', msg: string, data?: Record<string, unknown>): void
}

interface Health {
  readonly cid: string
  readonly rec: ContentRecord
  /** Shard index → reachable SSN DIDs holding it (any, for reading). */
  readonly sources: Map<number, string[]>
  /** Indexes held by at least one reachable, unsuspended SSN. */
  readonly healthy: Set<number>
  readonly margin: number
}

/**
 * The repair queue order: least margin (healthy − k) first — content one more loss away from being
 * unrecoverable goes before anything else —, then the operator's priority (class, then number:
 * critical metadata, high-demand, recent — repair-priorities.ts),
 * then demand (recent reads), then the newest registration.
 */
export function repairOrder<T extends { cid: string; margin: number; rec: { height: number } }>(
  items: readonly T[],
  priority: (cid: string) => number,
  demand: (cid: string) => number,
): T[] {
  return [...items].sort(
    (a, b) =>
      a.margin - b.margin ||
      priority(b.cid) - priority(a.cid) ||
      demand(b.cid) - demand(a.cid) ||
      b.rec.height - a.rec.height ||
      (a.cid < b.cid ? -1 : a.cid > b.cid ? 1 : 0),
  )
}

/** Bytes of local shards re-hashed per scan (finds bit rot that no read has touched yet). */
const SCRUB_BYTES_PER_SCAN = 256 * 1024 * 1024

export class Repairer {
  readonly #d: RepairDeps
  #underReplicated = 0
  #queue: string[] = []
  #repairedBytes = 0
  #lastScanAtMs = 0
  #running: Promise<RepairRunResult> | undefined
  #scrubCursor = 0
  #timer: NodeJS.Timeout | undefined
  #snapshot: StorageStatus | undefined

  constructor(deps: RepairDeps) {
    this.#d = deps
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      if (this.#running === undefined) void this.run().catch(() => undefined)
    }, intervalMs)
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
  }

  /** Persists before resolving (a restarted SSN repairs in the same order). */
  setPriority(cid: string, priority: number): Promise<void> {
    return this.#d.priorities.setNumeric(cid, priority)
  }

  /** The status as of the last run or status() call (for the synchronous admin status). */
  get snapshot(): StorageStatus | undefined {
    return this.#snapshot
  }

  async status(): Promise<StorageStatus> {
    const stats = await this.#d.store.stats()
    return (this.#snapshot = {
      holdsShards: true,
      shards: stats.shards,
      bytes: stats.bytes,
      underReplicated: this.#underReplicated,
      repairQueue: this.#queue.length,
      repairedBytes: this.#repairedBytes,
      lastScanAtMs: this.#lastScanAtMs,
      priorities: this.#d.priorities.numeric(),
      quarantined: stats.quarantined,
    })
  }

  /** One scan plus the repairs this node leads; concurrent callers share the run in progress. */
  run(): Promise<RepairRunResult> {
    this.#running ??= this.#run().finally(() => (this.#running = undefined))
    return this.#running
  }

  async #run(): Promise<RepairRunResult> {
    await this.#scrub()
    const health = await this.#scan()
    const mine = repairOrder(
      health.filter((h) => h.healthy.size < h.rec.k + h.rec.m && this.#leads(h)),
      (cid) => this.#d.priorities.priority(cid),
      (cid) => this.#d.demand(cid),
    )
    this.#queue = mine.map((h) => h.cid)
    this.#d.metrics.repairQueue.set(this.#queue.length)
    let repaired = 0
    let failed = 0
    for (const h of mine) {
      try {
        await this.#repair(h)
        repaired++
        this.#d.metrics.repairs.inc({ result: 'ok' })
      } catch (err) {
        failed++
        this.#d.metrics.repairs.inc({ result: 'failed' })
        this.#d.log('warn', 'repair failed', {
          cid: h.cid,
          code: (err as { code?: string }).code,
          err: (err as Error).message,
        })
      }
      this.#queue = this.#queue.filter((c) => c !== h.cid)
      this.#d.metrics.repairQueue.set(this.#queue.length)
    }
    // Re-count after repairing (inventory requests only), so the status says what is left.
    if (repaired > 0) await this.#scan()
    await this.status()
    return { scanned: health.length, underReplicated: this.#underReplicated, repaired, failed }
  }

  /** Re-hashes a slice of the local shards per run, round robin; corrupt ones get quarantined. */
  async #scrub(): Promise<void> {
    const all = await this.#d.store.list()
    if (all.length === 0) return
    let budget = SCRUB_BYTES_PER_SCAN
    const start = this.#scrubCursor
    let checked = 0
    for (; checked < all.length && budget > 0; checked++) {
      const ref = all[(start + checked) % all.length]!
      try {
        const m = await this.#d.store.getManifest(ref.cid)
        budget -= m?.shardSize ?? 0
        await this.#d.store.verify(ref.cid, ref.index)
      } catch (err) {
        if (err instanceof ContentError && err.code === 'SHARD_CORRUPT') {
          this.#d.metrics.corruptShards.inc()
          this.#d.log('warn', 'scrub found a corrupt shard; quarantined', { cid: ref.cid, index: ref.index })
        }
      }
    }
    this.#scrubCursor = (start + checked) % all.length
  }

  async #scan(): Promise<Health[]> {
    const ssns = this.#d.ledger().ssns()
    const suspended = new Set(ssns.filter((s) => s.suspended).map((s) => s.did))
    const inventories = new Map<string, Map<string, number[]>>()
    await Promise.all(
      ssns.map(async (s) => {
        try {
          const inv =
            s.did === this.#d.selfDid
              ? await this.#localInventory()
              : await this.#d.shards.inventory(peerIdOfDid(s.did), 5_000)
          inventories.set(s.did, new Map(inv))
        } catch {
          // unreachable: its shards count as missing
        }
      }),
    )
    const out: Health[] = []
    for (const { cid, rec } of this.#d.ledger().contents()) {
      const sources = new Map<number, string[]>()
      const healthy = new Set<number>()
      for (const [did, inv] of inventories) {
        for (const i of inv.get(cid) ?? []) {
          if (i >= rec.k + rec.m) continue
          sources.set(i, [...(sources.get(i) ?? []), did])
          if (!suspended.has(did)) healthy.add(i)
        }
      }
      out.push({ cid, rec, sources, healthy, margin: healthy.size - rec.k })
    }
    this.#underReplicated = out.filter((h) => h.healthy.size < h.rec.k + h.rec.m).length
    this.#d.metrics.underReplicated.set(this.#underReplicated)
    this.#lastScanAtMs = Date.now()
    this.#live = ssns.filter((s) => !s.suspended && inventories.has(s.did)).map((s) => s.did)
    return out
  }

  #live: string[] = []

  async #localInventory(): Promise<[string, number[]][]> {
    const out = new Map<string, number[]>()
    for (const { cid, index } of await this.#d.store.list()) out.set(cid, [...(out.get(cid) ?? []), index])
    return [...out]
  }

  #leads(h: Health): boolean {
    const holders = new Set<string>()
    for (const dids of h.sources.values()) for (const d of dids) holders.add(d)
    const ranked = [...holders].sort((a, b) =>
      Buffer.compare(placementScore(h.cid, 0xffff, b), placementScore(h.cid, 0xffff, a)),
    )
    return ranked[0] === this.#d.selfDid
  }

  async #repair(h: Health): Promise<void> {
    const manifest = await this.#d.content.manifest(h.cid)
    if (manifest === undefined) throw new ContentError('UNKNOWN_CONTENT', `no manifest for ${h.cid}`)
    const total = manifest.k + manifest.m
    const missing = Array.from({ length: total }, (_, i) => i).filter((i) => !h.healthy.has(i))
    if (missing.length === 0) return
    await mkdir(this.#d.workDir, { recursive: true })
    const work = await mkdtemp(join(this.#d.workDir, 'repair-'))
    try {
      const order = [...h.sources.keys()].sort((a, b) => a - b)
      const held = await gatherShardFiles(manifest, (i) => this.#source(h, i), work, { order })
      await rebuildShardFiles(manifest, held, missing, work)
      await this.#place(h, manifest, missing, work)
      this.#d.log('info', 'content repaired', { cid: h.cid, rebuilt: missing, margin: h.margin })
    } finally {
      await rm(work, { recursive: true, force: true })
    }
  }

  async #source(h: Health, index: number): Promise<AsyncIterable<Uint8Array> | undefined> {
    for (const did of h.sources.get(index) ?? []) {
      try {
        const r =
          did === this.#d.selfDid
            ? await this.#d.store.readVerified(h.cid, index)
            : await this.#d.shards.get(peerIdOfDid(did), h.cid, index)
        if (r) return r.chunks
      } catch (err) {
        this.#d.log('debug', 'repair source failed', { cid: h.cid, index, ssn: did, err: (err as Error).message })
      }
    }
    return undefined
  }

  /** Puts each rebuilt shard on the live SSN holding the fewest shards of this content. */
  async #place(h: Health, manifest: ContentManifest, missing: readonly number[], work: string): Promise<void> {
    const load = new Map<string, number>(this.#live.map((d) => [d, 0]))
    for (const i of h.healthy) for (const d of h.sources.get(i) ?? []) if (load.has(d)) load.set(d, load.get(d)! + 1)
    for (const index of missing) {
      const candidates = [...load.keys()].sort(
        (a, b) =>
          load.get(a)! - load.get(b)! ||
          Buffer.compare(placementScore(h.cid, index, b), placementScore(h.cid, index, a)),
      )
      const started = Date.now()
      const on = await this.#d.content.placeShard(h.cid, manifest, index, shardFile(work, index), candidates)
      if (on === undefined) throw new ContentError('TOO_FEW_SHARDS', `no live SSN took rebuilt shard ${index}`)
      load.set(on, load.get(on)! + 1)
      this.#repairedBytes += manifest.shardSize
      this.#d.metrics.repairBytes.inc(manifest.shardSize)
      // Throttle: a shard of s bytes may not go out faster than s / bytesPerSecond.
      const due = (manifest.shardSize / this.#d.bytesPerSecond) * 1000 - (Date.now() - started)
      if (due > 0) await sleep(due)
    }
  }
}
