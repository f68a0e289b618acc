import type { NodeMetrics } from '../api/metrics.ts'
import { BLOCKLIST_KINDS } from '../defence/blocklist.ts'
import type { DefenceCounters, Defences, DefencesView } from '../defence/defences.ts'
import type { InboundPolicy } from '../p2p/inbound-gate.ts'
import type { BucketRate } from '../defence/token-bucket.ts'
import type { PeerScore } from '../defence/peer-score.ts'

/** The defences' counts as Prometheus metrics (`echonet_ratelimit_*`), and a hook on changes. */
export function metricsCounters(m: NodeMetrics, onChange: (v: DefencesView) => void): DefenceCounters {
  return {
    throttled: (surface) => m.throttled.inc({ surface }),
    blocked: (surface) => m.blocked.inc({ surface }),
    changed: (v) => {
      for (const [name, value] of Object.entries(v.limits) as [string, number | BucketRate][]) {
        if (typeof value === 'number') m.limit.set({ limit: name, param: 'count' }, value)
        else {
          m.limit.set({ limit: name, param: 'rate' }, value.ratePerSec)
          m.limit.set({ limit: name, param: 'burst' }, value.burst)
        }
      }
      for (const kind of BLOCKLIST_KINDS)
        m.blocklistEntries.set({ kind }, v.blocklist.filter((e) => e.kind === kind).length)
      onChange(v)
    },
  }
}

/** What the libp2p connection gater asks of the defences. */
export function inboundPolicy(d: Defences): InboundPolicy {
  return {
    blocksIp: (ip) => d.blocksIp(ip),
    blocksPeer: (peer) => d.blocksPeer(peer),
    maxOpenPerIp: () => d.limits.connectionsPerIp,
    refused: (reason) => d.refusedConnection(reason),
  }
}

/** How long a peer that sent invalid events stays blocked. */
export const INVALID_PEER_BLOCK_SECONDS = 600

/**
 * The engine's gossip verdicts → peer scores: a peer past its budget of invalid events is put on
 * the blocklist for a while (persisted like any entry; the blocklist hook closes its connections).
 */
export function gossipScorer(
  d: Defences,
  score: PeerScore,
  log: (msg: string, data: Record<string, unknown>) => void,
): (peer: string, codes: readonly (string | undefined)[]) => void {
  return (peer, codes) => {
    if (!score.record(peer, codes, Date.now()) || d.blocksPeer(peer)) return
    log('blocking a peer that sends invalid events', { peer, seconds: INVALID_PEER_BLOCK_SECONDS })
    void d
      .block([{ kind: 'peer', value: peer, ttlSeconds: INVALID_PEER_BLOCK_SECONDS, reason: 'sent invalid events' }])
      .catch((err: unknown) => log('could not block a peer', { peer, err: (err as Error).message }))
  }
}
