import type { NodeMetrics } from '../api/metrics.ts'
import { BLOCKLIST_KINDS } from '../defence/blocklist.ts'
import type { DefenceCounters, Defences, DefencesView } from '../defence/defences.ts'
import type { InboundPolicy } from '../p2p/inbound-gate.ts'
import type { BucketRate } from '../defence/token-bucket.ts'

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
