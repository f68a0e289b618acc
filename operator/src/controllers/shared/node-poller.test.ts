import { describe, expect, it } from 'vitest'
import type { AdminStatus } from '@echonet/node/admin'
import { FakeNodeAdmin } from './fake-node-admin.ts'
import { NodePoller, nextProgress, notFinalizing, stalledMs } from './node-poller.ts'
import type { NodeObservation, PollTarget } from './node-poller.ts'

function status(over: Partial<AdminStatus> = {}): AdminStatus {
  return {
    did: 'did:key:z6MkA',
    peerId: '12D3KooA',
    role: 'witness',
    chainId: 'c',
    epoch: 0,
    mode: 'running',
    version: '0.1.0',
    finalizedHeight: 10,
    finalizedHash: 'aa'.repeat(32),
    stateRoot: 'bb'.repeat(32),
    highestCertifiedHeight: 10,
    highestCertifiedHash: 'aa'.repeat(32),
    highestCertifiedStateRoot: 'bb'.repeat(32),
    lastBlockTimeMs: 1_000,
    consensus: { height: 11, round: 0, step: 'propose' },
    committee: {
      totalPower: 1,
      powerNeeded: 1,
      powerOnline: 1,
      members: [{ did: 'did:key:z6MkA', power: 1, online: true }],
    },
    mempool: { size: 0, bytes: 0 },
    peers: { connected: 1, known: 1 },
    ...over,
  }
}

const obs = (s: AdminStatus, role: NodeObservation['role'] = 'witness'): NodeObservation => ({
  node: 'n',
  role,
  ready: true,
  status: s,
})

describe('finality progress (observer clock)', () => {
  it('moves with the highest finalized height or a new epoch; stalls are measured from then, and by the newest block time', () => {
    let p = nextProgress(undefined, [obs(status({ finalizedHeight: 10, lastBlockTimeMs: 1_000 }))], 1_000)
    expect(p).toMatchObject({ height: 10, sinceMs: 1_000 })
    p = nextProgress(p, [obs(status({ finalizedHeight: 10, lastBlockTimeMs: 1_000 }))], 20_000)
    expect(p?.sinceMs).toBe(1_000)
    expect(stalledMs(p, 20_000)).toBe(19_000)
    expect(notFinalizing(p, 20_000)).toBe(true)
    // A restart: epoch 1 at the same height is progress.
    p = nextProgress(p, [obs(status({ epoch: 1, finalizedHeight: 10, lastBlockTimeMs: 21_000 }))], 21_000)
    expect(p).toMatchObject({ epoch: 1, sinceMs: 21_000 })
    expect(notFinalizing(p, 22_000)).toBe(false)
  })

  it('a fresh observer never calls a live network halted: the node clocks must agree', () => {
    // The operator just started (sinceMs = now) although the last block is old: not stalled yet.
    const p = nextProgress(undefined, [obs(status({ lastBlockTimeMs: 0 }))], 100_000)
    expect(stalledMs(p, 100_000)).toBe(0)
    // SSNs and seeds lag and are no evidence of finality.
    expect(nextProgress(undefined, [obs(status({ finalizedHeight: 99 }), 'ssn')], 1)).toBeUndefined()
  })
})

describe('NodePoller', () => {
  const targets: PollTarget[] = [
    { node: 'w0', role: 'witness', ip: '10.0.0.1', ready: true },
    { node: 'w1', role: 'witness', ip: '10.0.0.2', ready: true },
    { node: 'w2', role: 'witness', ready: false },
  ]

  it('polls on track, caches answers and failures, and calls onChange only when something that matters changed', async () => {
    const admin = new FakeNodeAdmin()
    admin.statuses.set('10.0.0.1', status())
    const changes: string[] = []
    let now = 1_000
    const poller = new NodePoller({ admin, intervalMs: 60_000, now: () => now, onChange: (k) => changes.push(k) })
    poller.track('ns/net', targets, 'tok')
    await poller.pollNow('ns/net')
    const o = poller.observations('ns/net')
    expect(o.find((x) => x.node === 'w0')?.status?.finalizedHeight).toBe(10)
    expect(o.find((x) => x.node === 'w1')?.error).toMatch(/^UNREACHABLE/)
    expect(o.find((x) => x.node === 'w2')?.error).toBe('no pod IP yet')
    expect(changes).toEqual(['ns/net'])
    // Only the height moved: no change event (heights move every second).
    admin.statuses.set('10.0.0.1', status({ finalizedHeight: 11, lastBlockTimeMs: 2_000 }))
    now = 2_000
    await poller.pollNow('ns/net')
    expect(changes).toHaveLength(1)
    // The network stops finalizing: a change once the window has passed.
    now = 14_000
    await poller.pollNow('ns/net')
    expect(changes).toHaveLength(2)
    // A node answers again: a change.
    admin.statuses.set('10.0.0.2', status({ mode: 'halted', haltCode: 'QUORUM_LOST' }))
    await poller.pollNow('ns/net')
    expect(changes).toHaveLength(3)
    // A key bonds as a standby (the ledger's standby list grows): a change, so pools recount.
    const gov = { council: { members: [], threshold: 1 }, committeeSize: 4, eventFee: 1 }
    admin.statuses.set(
      '10.0.0.2',
      status({ mode: 'halted', haltCode: 'QUORUM_LOST', governance: { ...gov, standbys: [] } }),
    )
    await poller.pollNow('ns/net')
    expect(changes).toHaveLength(3) // the same ledger view: no change
    const bonded = { ...gov, standbys: ['did:key:z6MkB'] }
    admin.statuses.set('10.0.0.2', status({ mode: 'halted', haltCode: 'QUORUM_LOST', governance: bonded }))
    await poller.pollNow('ns/net')
    expect(changes).toHaveLength(4)
    poller.untrack('ns/net')
    expect(poller.observations('ns/net')).toEqual([])
    await poller.stop()
  })

  it('without a token it asks nobody and says why', async () => {
    const admin = new FakeNodeAdmin()
    const poller = new NodePoller({ admin, intervalMs: 60_000, onChange: () => undefined })
    poller.track('ns/net', targets, undefined)
    await poller.pollNow('ns/net')
    expect(admin.calls).toEqual([])
    expect(poller.observations('ns/net')[0]?.error).toBe('no admin token')
  })
})
