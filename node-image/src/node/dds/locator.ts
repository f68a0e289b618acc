import { placementScore } from '../../storage/content/index.ts'
import type { ShardStore } from '../../storage/content/index.ts'
import type { ShardProtocol } from '../../p2p/shard-protocol.ts'
import { peerIdOfDid } from './peers.ts'

/**
 * Where the shards of a content are: every SSN registered on the ledger is asked `have` (in
 * parallel, short timeout), plus the DHT's providers of the ContentID when that leaves shards
 * unaccounted for. Placement is by rendezvous hashing, but repair may move shards, so holders are
 * asked rather than computed.
 */

export interface SsnEntry {
  readonly did: string
  readonly suspended: boolean
}

export interface Holders {
  /** Peer ids holding each shard index (self as 'self'). */
  readonly byIndex: Map<number, string[]>
  /** A copy of the manifest block from any holder (unverified: decode with the cid). */
  readonly manifest?: Uint8Array
  /** SSN DIDs that answered. */
  readonly reachable: Set<string>
}

export interface LocatorDeps {
  readonly selfDid: string
  readonly store: ShardStore
  readonly shards: ShardProtocol
  ssns(): readonly SsnEntry[]
  findProviders(cid: string): Promise<{ peerId: string }[]>
}

export const SELF = 'self'

/**
 * `needed`: how many distinct shards the caller needs (k for a read, k + m for a health check);
 * the DHT is only consulted when the registered SSNs do not have that many (a lookup costs seconds
 * when the record is missing).
 */
export async function locate(d: LocatorDeps, cid: string, needed?: number): Promise<Holders> {
  const byIndex = new Map<number, string[]>()
  const reachable = new Set<string>()
  let manifest: Uint8Array | undefined
  const add = (peer: string, shards: readonly number[]): void => {
    for (const i of shards) {
      const list = byIndex.get(i) ?? []
      if (!list.includes(peer)) list.push(peer)
      byIndex.set(i, list)
    }
  }
  const local = await d.store.list(cid)
  if (local.length > 0) {
    add(SELF, local)
    reachable.add(d.selfDid)
  }
  // Ask SSNs in placement order for shard 0, so the likeliest holders come first in each list.
  const ssns = [...d.ssns()]
    .filter((s) => s.did !== d.selfDid)
    .sort((a, b) => Buffer.compare(placementScore(cid, 0, b.did), placementScore(cid, 0, a.did)))
  await Promise.all(
    ssns.map(async (s) => {
      try {
        const h = await d.shards.have(peerIdOfDid(s.did), cid, 3_000)
        reachable.add(s.did)
        if (h.manifest) manifest ??= h.manifest
        add(peerIdOfDid(s.did), h.shards)
      } catch {
        // unreachable: its shards count as missing
      }
    }),
  )
  if (byIndex.size < (needed ?? 1)) {
    try {
      const known = new Set(ssns.map((s) => peerIdOfDid(s.did)))
      for (const p of await d.findProviders(cid)) {
        if (known.has(p.peerId)) continue
        try {
          const h = await d.shards.have(p.peerId, cid, 3_000)
          if (h.manifest) manifest ??= h.manifest
          add(p.peerId, h.shards)
        } catch {
          // a stale provider record
        }
      }
    } catch {
      // DHT unavailable: the registered SSNs are all we can ask
    }
  }
  return { byIndex, reachable, ...(manifest ? { manifest } : {}) }
}
