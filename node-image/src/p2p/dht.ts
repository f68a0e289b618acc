import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import { join } from 'node:path'
import { MessageType, kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { KadDHT, KadDHTComponents } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import type { Libp2p } from 'libp2p'
import { writeFileAtomic } from '../util/fs.ts'
import { CodedError } from '../util/coded-error.ts'
import type { PeerEntry } from './peers-file.ts'

/** Kademlia on our own protocol id, so EchoNet nodes never mix routing tables with the IPFS DHT. */
export const DHT_PROTOCOL = '/echonet/kad/1.0.0'
export const DHT_PEERS_FILE = 'dht-peers.json'
export const DHT_PROVIDED_FILE = 'dht-provided.json'
/** Routing-table peers are tagged with this in the peer store by @libp2p/kad-dht. */
const KAD_PEER_TAG = 'kad-peer'
const SAVE_EVERY_MS = 10_000
const MAX_PERSISTED_PEERS = 256
const MAX_PROVIDED = 100_000

/**
 * The kad-dht service. Seeds (and SSNs, which hold shards) answer queries (server mode); other
 * nodes are clients. Addresses are passed through unfiltered: LAN and loopback testnets need them.
 */
export function dhtService(server: boolean): (components: KadDHTComponents) => KadDHT {
  return kadDHT({ protocol: DHT_PROTOCOL, clientMode: !server, peerInfoMapper: passthroughMapper })
}

export interface DhtLog {
  (level: 'info' | 'warn' | 'debug', msg: string, data?: Record<string, unknown>): void
}

export interface DhtPeer {
  readonly peerId: string
  readonly addrs: readonly string[]
}

export const DHT_ERROR_CODES = [
  'BAD_CID',
  'BAD_SEED',
  /** A re-bootstrap whose seeds name only this node: there is nobody to bootstrap from. */
  'SELF_SEED',
  'DUPLICATE_SEED',
  'TOO_MANY_PROVIDED',
] as const

export type DhtErrorCode = (typeof DHT_ERROR_CODES)[number]

export class DhtError extends CodedError<DhtErrorCode> {}

export function parseCid(text: string): CID {
  try {
    return CID.parse(text)
  } catch {
    throw new DhtError('BAD_CID', `not a CID: ${text.slice(0, 100)}`)
  }
}

/**
 * Announce a CID through the DHT; returns how many DHT servers accepted the record. kad-dht's own
 * provide resolves even when the record reached nobody (e.g. only dead peers in the table), so the
 * count is what tells whether the CID is really findable.
 */
export async function provide(node: Libp2p<{ dht: KadDHT }>, cid: CID, timeoutMs = 20_000): Promise<number> {
  let sent = 0
  for await (const ev of node.services.dht.provide(cid, { signal: AbortSignal.timeout(timeoutMs) }))
    if (ev.name === 'PEER_RESPONSE' && ev.messageType === MessageType.ADD_PROVIDER) sent++
  return sent
}

/** Providers of a CID found through the DHT (deduplicated; stops after `max`). */
export async function findProviders(node: Libp2p, cid: CID, timeoutMs = 20_000, max = 20): Promise<DhtPeer[]> {
  const found = new Map<string, DhtPeer>()
  try {
    for await (const p of node.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(timeoutMs) })) {
      found.set(p.id.toString(), { peerId: p.id.toString(), addrs: p.multiaddrs.map((a) => a.toString()) })
      if (found.size >= max) break
    }
  } catch (err) {
    if (found.size === 0) throw err
  }
  return [...found.values()]
}

/**
 * Routing-table persistence (`<dataDir>/dht-peers.json`, re-dialled on start), the set of CIDs
 * this node provides (`dht-provided.json`, re-provided on start and on re-bootstrap), and
 * re-bootstrap from seeds named at run time.
 */
export class DhtManager {
  readonly #node: Libp2p<{ dht: KadDHT }>
  readonly #dir: string
  readonly #log: DhtLog
  readonly #provided = new Set<string>()
  #seeds: DhtPeer[] = []
  #timer: NodeJS.Timeout | undefined
  #refreshTimer: NodeJS.Timeout | undefined
  #refreshes = 0
  #lastRefreshMs = 0
  #stopped = false
  /** Seconds between routing-table refreshes: the ledger's dhtRefreshSeconds, read every time. */
  readonly #refreshSeconds: () => number

  constructor(node: Libp2p<{ dht: KadDHT }>, dataDir: string, log: DhtLog, refreshSeconds: () => number = () => 600) {
    this.#node = node
    this.#dir = dataDir
    this.#log = log
    this.#refreshSeconds = refreshSeconds
  }

  /** Refreshes so far, when the last one ran, and the interval in force now. */
  refreshInfo(): { refreshSeconds: number; refreshes: number; lastRefreshMs: number } {
    return { refreshSeconds: this.#refreshSeconds(), refreshes: this.#refreshes, lastRefreshMs: this.#lastRefreshMs }
  }

  /**
   * The periodic refresh (scenario D: a council may shorten dhtRefreshSeconds while the routing
   * tables are being poisoned, and it reverts at the override's expiry): re-dial the seeds, refresh
   * the routing table, re-provide what this node holds. The interval is read again before each
   * wait, so a change applies from the next cycle, and a shorter one also cuts the current wait.
   */
  #scheduleRefresh(): void {
    if (this.#stopped) return
    const every = Math.max(1, this.#refreshSeconds()) * 1000
    const due = Math.max(0, this.#lastRefreshMs + every - Date.now())
    // Re-checked at least every 5 s so that a lowered interval does not wait out the old one.
    this.#refreshTimer = setTimeout(
      () => {
        if (Date.now() - this.#lastRefreshMs < Math.max(1, this.#refreshSeconds()) * 1000) {
          this.#scheduleRefresh()
          return
        }
        void this.#refresh().finally(() => this.#scheduleRefresh())
      },
      Math.min(due, 5_000),
    )
    this.#refreshTimer.unref()
  }

  async #refresh(): Promise<void> {
    this.#lastRefreshMs = Date.now()
    this.#refreshes++
    await this.#dialAll(this.#seeds)
    await this.#node.services.dht
      .refreshRoutingTable({ signal: AbortSignal.timeout(10_000) })
      .catch((err: unknown) => this.#log('debug', 'routing table refresh failed', { err: (err as Error).message }))
    await this.#reprovideAll()
  }

  async start(): Promise<void> {
    const peers = await readJsonList(join(this.#dir, DHT_PEERS_FILE))
    const saved = peers.filter(isPeer)
    for (const c of await readJsonList(join(this.#dir, DHT_PROVIDED_FILE)))
      if (typeof c === 'string') this.#provided.add(c)
    this.#log('info', 'dht state loaded', { peers: saved.length, provided: this.#provided.size })
    this.#timer = setInterval(() => void this.save(), SAVE_EVERY_MS)
    void this.#dialAll(saved).then(() => this.#reprovideAll())
    this.#lastRefreshMs = Date.now()
    this.#scheduleRefresh()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer) clearInterval(this.#timer)
    if (this.#refreshTimer) clearTimeout(this.#refreshTimer)
    await this.save()
  }

  /** Bootstrap peers: the seed entries of the peer list. */
  setSeeds(peers: readonly PeerEntry[]): void {
    this.#seeds = peers.filter((p) => p.role === 'seed').map((p) => ({ peerId: p.peerId, addrs: p.addrs }))
    void this.#dialAll(this.#seeds)
  }

  get mode(): 'client' | 'server' {
    return this.#node.services.dht.getMode()
  }

  routingTablePeers(): Promise<DhtPeer[]> {
    return this.#node.peerStore
      .all({ filters: [(p) => p.tags.has(KAD_PEER_TAG) || p.protocols.includes(DHT_PROTOCOL)] })
      .then((list) =>
        list
          .map((p) => ({ peerId: p.id.toString(), addrs: p.addresses.map((a) => a.multiaddr.toString()) }))
          .filter((p) => p.addrs.length > 0 && p.peerId !== this.#node.peerId.toString())
          .slice(0, MAX_PERSISTED_PEERS),
      )
  }

  routingTableSize(): number {
    const dht = this.#node.services.dht as KadDHT & { routingTable?: { size?: unknown } }
    const size = dht.routingTable?.size
    return typeof size === 'number' ? size : 0
  }

  providedCount(): number {
    return this.#provided.size
  }

  seeds(): readonly DhtPeer[] {
    return this.#seeds
  }

  async save(): Promise<void> {
    try {
      const peers = await this.routingTablePeers()
      await writeFileAtomic(join(this.#dir, DHT_PEERS_FILE), JSON.stringify(peers))
    } catch (err) {
      this.#log('warn', 'saving the dht routing table failed', { err: (err as Error).message })
    }
  }

  /** Records `cid` as held by this node and announces it; the record is kept even if announcing fails now. */
  async provide(text: string): Promise<{ cid: string; announced: boolean; error?: string }> {
    const cid = parseCid(text)
    const key = cid.toString()
    if (!this.#provided.has(key)) {
      if (this.#provided.size >= MAX_PROVIDED) throw new DhtError('TOO_MANY_PROVIDED', 'provided-CID limit reached')
      this.#provided.add(key)
      await this.#saveProvided()
    }
    try {
      const sent = await provide(this.#node, cid)
      if (sent > 0) return { cid: key, announced: true }
      return { cid: key, announced: false, error: 'no DHT server accepted the provider record' }
    } catch (err) {
      this.#log('warn', 'dht provide failed', { cid: key, err: (err as Error).message })
      return { cid: key, announced: false, error: (err as Error).message }
    }
  }

  findProviders(text: string, timeoutMs?: number): Promise<DhtPeer[]> {
    return findProviders(this.#node, parseCid(text), timeoutMs)
  }

  /** Dials the new seeds, refreshes the routing table and re-provides every CID this node holds. */
  async rebootstrap(seeds: readonly DhtPeer[]): Promise<{ dialled: number; routingTable: number; reprovided: number }> {
    const self = this.#node.peerId.toString()
    const ids = new Set<string>()
    for (const s of seeds) {
      if (!isPeer(s)) throw new DhtError('BAD_SEED', 'each seed needs peerId and addrs')
      try {
        peerIdFromString(s.peerId)
        s.addrs.forEach((a) => multiaddr(a))
      } catch {
        throw new DhtError('BAD_SEED', `invalid seed ${s.peerId.slice(0, 80)}`)
      }
      if (ids.has(s.peerId)) throw new DhtError('DUPLICATE_SEED', `seed ${s.peerId} is listed twice`)
      ids.add(s.peerId)
    }
    // The same seed list goes to every node, seeds included: this node is skipped in it. A list of
    // only this node is refused (it used to run the whole wait-and-reprovide cycle, ~40 s, for nothing).
    const others = seeds.filter((s) => s.peerId !== self)
    if (others.length === 0) throw new DhtError('SELF_SEED', 'the seeds name only this node itself')
    this.#seeds = others
    const dialled = await this.#dialAll(this.#seeds)
    await this.#adoptSeedsAndPrune()
    // Identify also tells kad-dht which peers speak the protocol; wait until the seeds are in.
    const end = Date.now() + 10_000
    while (!(await this.#seedsInTable()) && Date.now() < end) await sleep(100)
    await this.#node.services.dht
      .refreshRoutingTable({ signal: AbortSignal.timeout(10_000) })
      .catch((err: unknown) => this.#log('warn', 'routing table refresh failed', { err: (err as Error).message }))
    // A re-provide that reached no server (the table still led only to dead peers) is retried.
    let reprovided = await this.#reprovideAll()
    while (reprovided < this.#provided.size && Date.now() < end + 10_000) {
      await sleep(250)
      reprovided = await this.#reprovideAll()
    }
    await this.save()
    this.#log('info', 'dht re-bootstrapped', { seeds: this.#seeds.length, dialled, reprovided })
    return { dialled, routingTable: this.routingTableSize(), reprovided }
  }

  /**
   * Puts the seeds this node is connected to into kad-dht's routing table at once (identify, which
   * would add them, can lag under load, and lookups must start from them now), and drops table
   * entries that cannot be reached any more (the dead old seeds), so queries do not start there.
   */
  async #adoptSeedsAndPrune(): Promise<void> {
    const table = (this.#node.services.dht as KadDHT & { routingTable?: RoutingTableView }).routingTable
    if (table === undefined) return
    const seedIds = new Set(this.#seeds.map((s) => s.peerId))
    for (const s of this.#seeds) {
      const id = peerIdFromString(s.peerId)
      if (this.#node.getConnections(id).length === 0) continue
      await table.add(id).catch((err: unknown) => this.#log('debug', 'seed not added', { err: String(err) }))
    }
    for (const p of await this.routingTablePeers()) {
      if (seedIds.has(p.peerId)) continue
      const id = peerIdFromString(p.peerId)
      if (this.#node.getConnections(id).length > 0) continue
      try {
        await this.#node.dial(id, { signal: AbortSignal.timeout(2_000) })
      } catch {
        await table.remove(id).catch(() => undefined)
        this.#log('info', 'dropped an unreachable peer from the dht routing table', { peer: p.peerId })
      }
    }
  }

  /**
   * True once kad-dht's own routing table (not just the peer store) holds every seed this node is
   * connected to (one it could not reach will not appear however long we wait).
   */
  async #seedsInTable(): Promise<boolean> {
    const table = (this.#node.services.dht as KadDHT & { routingTable?: RoutingTableView }).routingTable
    if (table === undefined) return true
    for (const s of this.#seeds) {
      const id = peerIdFromString(s.peerId)
      if (this.#node.getConnections(id).length > 0 && (await table.find(id)) === undefined) return false
    }
    return true
  }

  async #dialAll(peers: readonly DhtPeer[]): Promise<number> {
    const self = this.#node.peerId.toString()
    const ok = await Promise.all(
      peers
        .filter((p) => p.peerId !== self)
        .map(async (p) => {
          try {
            const id = peerIdFromString(p.peerId)
            await this.#node.peerStore.merge(id, { multiaddrs: p.addrs.map((a) => multiaddr(a)) })
            await this.#node.dial(id, { signal: AbortSignal.timeout(5_000) })
            return true
          } catch (err) {
            this.#log('debug', 'dht dial failed', { peer: p.peerId, err: (err as Error).message })
            return false
          }
        }),
    )
    return ok.filter(Boolean).length
  }

  async #reprovideAll(): Promise<number> {
    let n = 0
    for (const key of this.#provided) {
      try {
        if ((await provide(this.#node, CID.parse(key))) > 0) n++
      } catch (err) {
        this.#log('debug', 're-provide failed', { cid: key, err: (err as Error).message })
      }
    }
    return n
  }

  async #saveProvided(): Promise<void> {
    await writeFileAtomic(join(this.#dir, DHT_PROVIDED_FILE), JSON.stringify([...this.#provided]))
  }
}

/** The part of kad-dht's (untyped) routing table we read. */
interface RoutingTableView {
  find(peer: PeerId): Promise<PeerId | undefined>
  add(peer: PeerId): Promise<void>
  remove(peer: PeerId): Promise<void>
}

function isPeer(v: unknown): v is DhtPeer {
  if (typeof v !== 'object' || v === null) return false
  const p = v as Record<string, unknown>
  return (
    typeof p.peerId === 'string' &&
    Array.isArray(p.addrs) &&
    p.addrs.length > 0 &&
    p.addrs.length <= 16 &&
    p.addrs.every((a) => typeof a === 'string')
  )
}

async function readJsonList(path: string): Promise<unknown[]> {
  try {
    const v: unknown = JSON.parse(await readFile(path, 'utf8'))
    return Array.isArray(v) ? (v as unknown[]) : []
  } catch {
    return []
  }
}
