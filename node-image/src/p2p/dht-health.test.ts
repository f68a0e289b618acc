import { describe, expect, it } from 'vitest'
import { Registry } from 'prom-client'
import type { CID } from 'multiformats/cid'
import { canaryCid, canaryVerdict, DhtHealthMonitor } from './dht-health.ts'
import type { DhtHealthPort } from './dht-health.ts'
import type { DhtPeer } from './dht.ts'

const SELF = '12D3KooWSelf'
const seed = (id: string): DhtPeer => ({ peerId: id, addrs: [`/ip4/127.0.0.1/tcp/7000/p2p/${id}`] })

/** A DHT whose seeds and lookups the test sets: what the monitor reports must follow them. */
function fakeDht(): DhtHealthPort & {
  up: Set<string>
  dialable: Set<string>
  providers: DhtPeer[]
  lookupError?: Error
  looked: CID[]
} {
  const f = {
    selfPeerId: SELF,
    up: new Set<string>(),
    dialable: new Set<string>(),
    providers: [] as DhtPeer[],
    lookupError: undefined as Error | undefined,
    looked: [] as CID[],
    seeds: () => [seed('seedA'), seed('seedB'), seed(SELF)],
    connected: (id: string) => f.up.has(id),
    dial: (p: DhtPeer) => Promise.resolve(f.dialable.has(p.peerId)),
    routingTableSize: () => f.up.size + 3,
    provide: () => Promise.resolve(f.up.size),
    findProviders: (cid: CID) => {
      f.looked.push(cid)
      return f.lookupError ? Promise.reject(f.lookupError) : Promise.resolve(f.providers)
    },
  }
  return f
}

describe('canary', () => {
  it('is one key per network', () => {
    expect(canaryCid('net-a').toString()).toBe(canaryCid('net-a').toString())
    expect(canaryCid('net-a').toString()).not.toBe(canaryCid('net-b').toString())
  })

  it('only a provider other than this node counts', () => {
    expect(canaryVerdict([], SELF)).toEqual({ ok: false, others: 0, code: 'NO_PROVIDERS' })
    expect(canaryVerdict([seed(SELF)], SELF)).toEqual({ ok: false, others: 0, code: 'NO_PROVIDERS' })
    expect(canaryVerdict([seed(SELF), seed('x'), seed('x'), seed('y')], SELF)).toEqual({ ok: true, others: 2 })
  })
})

describe('DhtHealthMonitor', () => {
  it('reports seeds connected and reachable, and canary successes then failures with their times', async () => {
    const f = fakeDht()
    let now = 1_000
    const registry = new Registry()
    const m = new DhtHealthMonitor(f, 'net', { intervalMs: 5_000, registry, now: () => now })
    // Before any check: nothing claimed.
    expect(m.status().canary).toMatchObject({ successes: 0, failures: 0, lastSuccessMs: 0 })
    f.up.add('seedA')
    f.dialable.add('seedB')
    f.providers = [seed('ssn1')]
    await m.check()
    let s = m.status()
    // This node itself is never counted as one of its seeds.
    expect(s).toMatchObject({ seedsConfigured: 2, seedsConnected: 1, seedsReachable: 2, routingTableSize: 4 })
    expect(s.canary).toMatchObject({ successes: 1, failures: 0, lastSuccessMs: 1_000, lastProviders: 1 })
    expect(f.looked[0]!.toString()).toBe(canaryCid('net').toString())

    // Seeds die: nothing connected or dialable, and the lookup finds nobody else.
    now = 2_000
    f.up.clear()
    f.dialable.clear()
    f.providers = [seed(SELF)]
    await m.check()
    now = 3_000
    f.lookupError = new Error('query aborted')
    await m.check()
    s = m.status()
    expect(s).toMatchObject({ seedsConnected: 0, seedsReachable: 0 })
    expect(s.canary).toMatchObject({
      successes: 1,
      failures: 2,
      consecutiveFailures: 2,
      lastSuccessMs: 1_000,
      lastFailureMs: 3_000,
      lastErrorCode: 'LOOKUP_FAILED',
      lastError: 'query aborted',
    })
    const text = await registry.metrics()
    expect(text).toContain('echonet_dht_canary_lookups_total{result="success"} 1')
    expect(text).toContain('echonet_dht_canary_lookups_total{result="failure"} 2')
    expect(text).toContain('echonet_dht_seeds_reachable 0')
    expect(text).toContain('echonet_dht_seeds_configured 2')
    expect(text).toContain('echonet_dht_canary_last_success_timestamp_seconds 1')
    expect(text).toContain('echonet_dht_canary_consecutive_failures 2')

    // Back: a success resets the run of failures and clears the error.
    now = 4_000
    f.lookupError = undefined
    f.providers = [seed('seedC')]
    await m.check()
    expect(m.status().canary).toMatchObject({ consecutiveFailures: 0, lastSuccessMs: 4_000 })
    expect(m.status().canary.lastErrorCode).toBeUndefined()
  })

  it('concurrent checks share one run', async () => {
    const f = fakeDht()
    f.providers = [seed('x')]
    const m = new DhtHealthMonitor(f, 'net')
    await Promise.all([m.check(), m.check(), m.check()])
    expect(f.looked).toHaveLength(1)
    expect(m.status().canary.successes).toBe(1)
  })
})
