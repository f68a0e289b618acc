import { Counter, Gauge } from 'prom-client'
import type { Registry } from 'prom-client'
import type { Libp2p } from 'libp2p'
import type { KadDHT } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from '../crypto/hash.ts'
import type { DhtCanaryErrorCode, DhtHealthStatus } from '../api/storage-signals-contract.ts'
import { findProviders, provide } from './dht.ts'
import type { DhtPeer } from './dht.ts'

/**
 * DHT health measured by the node itself (scenario B, seed §2.B.1): pod readiness says nothing
 * about whether lookups work. Each check counts the seeds connected (and dials the others once),
 * provides the network's canary record and looks it up; a lookup that finds a provider other than
 * this node is a success. The I/O is behind DhtHealthPort so the decisions are tested without libp2p.
 */

export interface DhtHealthPort {
  readonly selfPeerId: string
  seeds(): readonly DhtPeer[]
  connected(peerId: string): boolean
  /** True when a connection to `peer` could be opened within `timeoutMs`. */
  dial(peer: DhtPeer, timeoutMs: number): Promise<boolean>
  routingTableSize(): number
  /** DHT servers that accepted the provider record. */
  provide(cid: CID, timeoutMs: number): Promise<number>
  findProviders(cid: CID, timeoutMs: number): Promise<readonly DhtPeer[]>
}

export const DEFAULT_CANARY_INTERVAL_MS = 30_000
const DIAL_TIMEOUT_MS = 3_000
const LOOKUP_TIMEOUT_MS = 10_000

/** The canary record's key: the same for every node of one network, different across networks. */
export function canaryCid(chainId: string): CID {
  const digest = sha256(new TextEncoder().encode(`echonet/dht-canary/v1/${chainId}`))
  return CID.createV1(0x55, createDigest(0x12, digest))
}

/** A lookup's verdict: only a provider other than this node proves that the DHT answered. */
export function canaryVerdict(
  providers: readonly DhtPeer[],
  selfPeerId: string,
): { ok: true; others: number } | { ok: false; others: 0; code: DhtCanaryErrorCode } {
  const others = new Set(providers.filter((p) => p.peerId !== selfPeerId).map((p) => p.peerId)).size
  return others > 0 ? { ok: true, others } : { ok: false, others: 0, code: 'NO_PROVIDERS' }
}

interface CanaryCounts {
  successes: number
  failures: number
  consecutiveFailures: number
  lastSuccessMs: number
  lastFailureMs: number
  lastCheckMs: number
  lastProviders: number
  lastProvideAccepted: number
  lastErrorCode?: DhtCanaryErrorCode
  lastError?: string
}

export class DhtHealthMonitor {
  readonly #port: DhtHealthPort
  readonly #cid: CID
  readonly #intervalMs: number
  readonly #now: () => number
  readonly #c: CanaryCounts = {
    successes: 0,
    failures: 0,
    consecutiveFailures: 0,
    lastSuccessMs: 0,
    lastFailureMs: 0,
    lastCheckMs: 0,
    lastProviders: 0,
    lastProvideAccepted: 0,
  }
  #reachable = 0
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #stopped = false
  readonly #lookups: Counter | undefined

  constructor(
    port: DhtHealthPort,
    chainId: string,
    opts: { intervalMs?: number; registry?: Registry; now?: () => number } = {},
  ) {
    this.#port = port
    this.#cid = canaryCid(chainId)
    this.#intervalMs = opts.intervalMs ?? DEFAULT_CANARY_INTERVAL_MS
    this.#now = opts.now ?? Date.now
    if (opts.registry !== undefined) this.#lookups = this.#register(opts.registry)
  }

  get cid(): string {
    return this.#cid.toString()
  }

  /** First check soon after start (the routing table needs a moment), then every interval. */
  start(firstAfterMs = Math.min(2_000, this.#intervalMs)): void {
    const loop = (after: number): void => {
      if (this.#stopped) return
      this.#timer = setTimeout(() => {
        void this.check().finally(() => loop(this.#intervalMs))
      }, after)
      this.#timer.unref()
    }
    loop(firstAfterMs)
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer) clearTimeout(this.#timer)
  }

  /** One check; concurrent callers share the one in progress. */
  check(): Promise<void> {
    this.#running ??= this.#check().finally(() => (this.#running = undefined))
    return this.#running
  }

  async #check(): Promise<void> {
    const seeds = this.#port.seeds().filter((s) => s.peerId !== this.#port.selfPeerId)
    const reach = await Promise.all(
      seeds.map(async (s) => this.#port.connected(s.peerId) || (await this.#port.dial(s, DIAL_TIMEOUT_MS))),
    )
    this.#reachable = reach.filter(Boolean).length
    this.#c.lastProvideAccepted = await this.#port.provide(this.#cid, LOOKUP_TIMEOUT_MS).catch(() => 0)
    const now = (): number => this.#now()
    try {
      const v = canaryVerdict(await this.#port.findProviders(this.#cid, LOOKUP_TIMEOUT_MS), this.#port.selfPeerId)
      if (v.ok) this.#success(now(), v.others)
      else this.#failure(now(), v.code, 'the lookup found no provider other than this node')
    } catch (err) {
      this.#failure(now(), 'LOOKUP_FAILED', (err as Error).message.slice(0, 200))
    }
  }

  #success(at: number, others: number): void {
    Object.assign(this.#c, { lastCheckMs: at, lastSuccessMs: at, lastProviders: others, consecutiveFailures: 0 })
    this.#c.successes++
    delete this.#c.lastErrorCode
    delete this.#c.lastError
    this.#lookups?.inc({ result: 'success' })
  }

  #failure(at: number, code: DhtCanaryErrorCode, message: string): void {
    Object.assign(this.#c, { lastCheckMs: at, lastFailureMs: at, lastProviders: 0, lastErrorCode: code })
    this.#c.lastError = message
    this.#c.failures++
    this.#c.consecutiveFailures++
    this.#lookups?.inc({ result: 'failure' })
  }

  status(): DhtHealthStatus {
    const seeds = this.#port.seeds().filter((s) => s.peerId !== this.#port.selfPeerId)
    return {
      routingTableSize: this.#port.routingTableSize(),
      seedsConfigured: seeds.length,
      seedsConnected: seeds.filter((s) => this.#port.connected(s.peerId)).length,
      seedsReachable: this.#reachable,
      canary: { cid: this.cid, intervalMs: this.#intervalMs, ...this.#c },
    }
  }

  /** `echonet_dht_*` series; gauges are read from status() at scrape time. */
  #register(registry: Registry): Counter {
    const gauge = (name: string, help: string, read: (s: DhtHealthStatus) => number): void => {
      const status = (): DhtHealthStatus => this.status()
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read(status()))
        },
      })
    }
    gauge('echonet_dht_routing_table_peers', 'kad-dht routing-table size', (s) => s.routingTableSize)
    gauge('echonet_dht_seeds_configured', 'DHT seeds this node was given', (s) => s.seedsConfigured)
    gauge('echonet_dht_seeds_connected', 'DHT seeds this node is connected to now', (s) => s.seedsConnected)
    gauge('echonet_dht_seeds_reachable', 'DHT seeds reachable at the last health check', (s) => s.seedsReachable)
    gauge(
      'echonet_dht_canary_last_success_timestamp_seconds',
      'When a canary lookup last found another provider (0: never)',
      (s) => s.canary.lastSuccessMs / 1000,
    )
    gauge(
      'echonet_dht_canary_consecutive_failures',
      'Canary lookups failed since the last success',
      (s) => s.canary.consecutiveFailures,
    )
    return new Counter({
      name: 'echonet_dht_canary_lookups_total',
      help: 'Canary lookups through the DHT, by result (success: another provider found)',
      labelNames: ['result'],
      registers: [registry],
    })
  }
}

/** The port over a libp2p node with kad-dht and the seed list of a DhtManager. */
export function libp2pHealthPort(
  node: Libp2p<{ dht: KadDHT }>,
  dht: { seeds(): readonly DhtPeer[]; routingTableSize(): number },
): DhtHealthPort {
  return {
    selfPeerId: node.peerId.toString(),
    seeds: () => dht.seeds(),
    connected: (peerId) => {
      try {
        return node.getConnections(peerIdFromString(peerId)).length > 0
      } catch {
        return false
      }
    },
    dial: async (peer, timeoutMs) => {
      try {
        const id = peerIdFromString(peer.peerId)
        await node.peerStore.merge(id, { multiaddrs: peer.addrs.map((a) => multiaddr(a)) })
        await node.dial(id, { signal: AbortSignal.timeout(timeoutMs) })
        return true
      } catch {
        return false
      }
    },
    routingTableSize: () => dht.routingTableSize(),
    provide: (cid, timeoutMs) => provide(node, cid, timeoutMs),
    findProviders: (cid, timeoutMs) => findProviders(node, cid, timeoutMs),
  }
}
