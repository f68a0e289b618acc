import { describe, expect, it } from 'vitest'
import type { AdminStatus } from '@echonet/node/admin'
import { getCondition } from '../../api/v1alpha1/conditions.ts'
import { aggregateNetworkStatus } from './status.ts'
import type { NodeObservation } from './status.ts'
import { exampleObjects, keyOf } from './test-fixtures.ts'

const NOW = new Date('2026-11-24T12:00:00Z')
const LATER = new Date('2026-11-24T12:05:00Z')

/** The 4 committee members; the first `online` of them heard from by this node. */
function members(online: number): AdminStatus['committee']['members'] {
  return [0, 1, 2, 3].map((i) => ({ did: keyOf(`witnesses-${i}`).did, power: 1, online: i < online }))
}

function admin(node: string, over: Partial<AdminStatus> = {}, online = 4): AdminStatus {
  const k = keyOf(node)
  return {
    did: k.did,
    peerId: k.peerId,
    role: 'witness',
    chainId: 'echonet-testnet',
    epoch: 0,
    mode: 'running',
    version: '0.1.0',
    finalizedHeight: 100,
    finalizedHash: 'aa'.repeat(32),
    stateRoot: 'bb'.repeat(32),
    highestCertifiedHeight: 100,
    highestCertifiedHash: 'aa'.repeat(32),
    highestCertifiedStateRoot: 'bb'.repeat(32),
    lastBlockTimeMs: 0,
    consensus: { height: 101, round: 0, step: 'propose' },
    committee: { totalPower: 4, powerNeeded: 3, powerOnline: online, members: members(online) },
    mempool: { size: 0, bytes: 0 },
    peers: { connected: 14, known: 14 },
    ...over,
  }
}

function healthy(): NodeObservation[] {
  const out: NodeObservation[] = []
  for (let i = 0; i < 3; i++) out.push({ node: `seed-${i}`, role: 'seed', ready: true })
  for (let i = 0; i < 6; i++) out.push({ node: `ssn-${i}`, role: 'ssn', ready: true })
  for (let i = 0; i < 4; i++) {
    out.push({
      node: `witnesses-${i}`,
      role: 'witness',
      ready: true,
      status: admin(`witnesses-${i}`, { finalizedHeight: 100 + i, highestCertifiedHeight: 100 + i }),
    })
  }
  for (let i = 0; i < 2; i++) {
    out.push({
      node: `standbys-${i}`,
      role: 'standby',
      ready: true,
      status: admin(`standbys-${i}`, {
        role: 'standby',
        highestCertifiedHeight: 110,
        highestCertifiedHash: 'cc'.repeat(32),
      }),
    })
  }
  // Seeds and SSNs answer too (with lower heights).
  return out.map((n) =>
    n.status === undefined && (n.role === 'seed' || n.role === 'ssn')
      ? { ...n, status: admin(n.node, { role: n.role, finalizedHeight: 90, highestCertifiedHeight: 90 }) }
      : n,
  )
}

const cond = (s: ReturnType<typeof aggregateNetworkStatus>, t: string) => getCondition(s.conditions, t)

describe('aggregateNetworkStatus', () => {
  it('quorum kept: heights, power, counts, Ready=True, observedGeneration', () => {
    const { network } = exampleObjects()
    const s = aggregateNetworkStatus(network, { nodes: healthy(), waiting: [], desiredNodes: 15, now: NOW })
    expect(s).toMatchObject({
      observedGeneration: 1,
      finalizedHeight: 103,
      certifiedHeight: 110,
      certifiedBlockHash: 'cc'.repeat(32),
      powerOnline: 4,
      powerNeeded: 3,
      powerTotal: 4,
      seedsReady: 3,
      ssnsReady: 6,
    })
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', reason: 'NetworkReady', observedGeneration: 1 })
    expect(cond(s, 'QuorumAvailable')).toMatchObject({ status: 'True', reason: 'QuorumAvailable' })
    expect(cond(s, 'ConsensusHalted')).toMatchObject({ status: 'False' })
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'False', reason: 'ReconcileComplete' })
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'False' })
  })

  it('is stable: the same observation later gives an identical status (no spurious write)', () => {
    const { network } = exampleObjects()
    const first = aggregateNetworkStatus(network, { nodes: healthy(), waiting: [], desiredNodes: 15, now: NOW })
    network.status = first
    const again = aggregateNetworkStatus(network, { nodes: healthy(), waiting: [], desiredNodes: 15, now: LATER })
    expect(again).toEqual(first)
  })

  it('a rolling update: Progressing=RollingUpdate with what it waits for, status.rollout, not Ready; gone once done', () => {
    const { network } = exampleObjects()
    const nodes = healthy().map((n) => (n.node === 'witnesses-1' ? { ...n, ready: false } : n))
    const rolling = aggregateNetworkStatus(network, {
      nodes,
      waiting: [],
      desiredNodes: 15,
      rollout: { updated: 12, total: 15, waitingFor: 'witnesses-1 to become ready' },
      now: NOW,
    })
    expect(rolling.rollout).toEqual({ updated: 12, total: 15, waitingFor: 'witnesses-1 to become ready' })
    expect(cond(rolling, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'RollingUpdate',
      message: 'rolling out a pod-template change: 12 of 15 pods updated; waiting for witnesses-1 to become ready',
      observedGeneration: 1,
    })
    expect(cond(rolling, 'Ready')).toMatchObject({ status: 'False', reason: 'RollingUpdate' })
    expect(cond(rolling, 'QuorumAvailable')).toMatchObject({ status: 'True' })
    network.status = rolling
    const done = aggregateNetworkStatus(network, { nodes: healthy(), waiting: [], desiredNodes: 15, now: LATER })
    expect(done.rollout).toBeUndefined()
    expect(cond(done, 'Progressing')).toMatchObject({ status: 'False', reason: 'ReconcileComplete' })
    expect(cond(done, 'Ready')).toMatchObject({ status: 'True' })
  })

  it('quorum lost: 2 of 4 witnesses gone and nothing final for the window → QuorumAvailable=False QuorumLost, ConsensusHalted, Degraded, not Ready', () => {
    const { network } = exampleObjects()
    const nodes = healthy()
      .filter((n) => n.node !== 'witnesses-2' && n.node !== 'witnesses-3')
      .map((n) => (n.status ? { ...n, status: admin(n.node, { role: n.status.role }, 2) } : n))
    const s = aggregateNetworkStatus(network, { nodes, waiting: [], desiredNodes: 15, stalledMs: 12_000, now: NOW })
    expect(s.powerOnline).toBe(2)
    expect(s.powerNeeded).toBe(3)
    expect(cond(s, 'QuorumAvailable')).toMatchObject({ status: 'False', reason: 'QuorumLost' })
    expect(cond(s, 'QuorumAvailable')?.message).toContain('online 2 of 4, 3 needed')
    expect(cond(s, 'QuorumAvailable')?.message).toContain(`not heard from: ${keyOf('witnesses-2').did}`)
    expect(cond(s, 'ConsensusHalted')).toMatchObject({ status: 'True', reason: 'QuorumLost' })
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'QuorumLost' })
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'QuorumLost' })
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'True', reason: 'NodesStarting' })
  })

  it('finality is the truth: a network that finalizes has quorum whatever the power count says, and one that does not is never Ready', () => {
    const { network } = exampleObjects()
    const weak = healthy().map((n) => (n.status ? { ...n, status: admin(n.node, { role: n.status.role }, 1) } : n))
    const live = aggregateNetworkStatus(network, {
      nodes: weak,
      waiting: [],
      desiredNodes: 15,
      stalledMs: 2_000,
      now: NOW,
    })
    expect(cond(live, 'QuorumAvailable')).toMatchObject({ status: 'True' })
    expect(cond(live, 'ConsensusHalted')).toMatchObject({ status: 'False' })
    // Every member heard from, but nothing final: a stuck committee is not Ready either.
    const stuck = aggregateNetworkStatus(network, {
      nodes: healthy(),
      waiting: [],
      desiredNodes: 15,
      stalledMs: 60_000,
      now: NOW,
    })
    expect(cond(stuck, 'QuorumAvailable')).toMatchObject({ status: 'False', reason: 'NotFinalizing' })
    expect(cond(stuck, 'ConsensusHalted')).toMatchObject({ status: 'True', reason: 'NotFinalizing' })
    expect(cond(stuck, 'Ready')?.status).toBe('False')
  })

  it('online is the union of what voters heard directly: one witness hearing 3 and another 1 make 3 online', () => {
    const { network } = exampleObjects()
    const nodes = healthy().map((n) =>
      n.node === 'witnesses-0'
        ? { ...n, status: admin(n.node, {}, 1) }
        : n.role === 'witness'
          ? { ...n, status: admin(n.node, {}, 3) }
          : n,
    )
    const s = aggregateNetworkStatus(network, { nodes, waiting: [], desiredNodes: 15, now: NOW })
    expect(s.powerOnline).toBe(4)
    expect(cond(s, 'QuorumAvailable')?.status).toBe('True')
  })

  it('a lagging node that reports halted while the network finalizes: not ConsensusHalted, but Degraded', () => {
    const { network } = exampleObjects()
    const nodes = healthy().map((n) =>
      n.node === 'witnesses-1'
        ? { ...n, status: admin(n.node, { mode: 'halted', haltCode: 'NOT_FINALIZING', haltReason: 'x' }) }
        : n,
    )
    const s = aggregateNetworkStatus(network, { nodes, waiting: [], desiredNodes: 15, stalledMs: 0, now: NOW })
    expect(cond(s, 'ConsensusHalted')).toMatchObject({ status: 'False', reason: 'Finalizing' })
    expect(cond(s, 'ConsensusHalted')?.message).toContain('witnesses-1 (NOT_FINALIZING)')
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'NodesHalted' })
  })

  it('no witness or standby status → QuorumAvailable Unknown; waiting → Progressing with the reason', () => {
    const { network } = exampleObjects()
    const nodes = healthy().map((n) =>
      n.role === 'witness' || n.role === 'standby'
        ? { node: n.node, role: n.role, ready: false, error: 'ECONNREFUSED' }
        : n,
    )
    const s = aggregateNetworkStatus(network, {
      nodes,
      waiting: ['genesis: waiting for the keys of witnesses-2'],
      desiredNodes: 15,
      now: NOW,
    })
    expect(cond(s, 'QuorumAvailable')).toMatchObject({ status: 'Unknown', reason: 'NoWitnessStatus' })
    expect(cond(s, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'Waiting',
      message: 'genesis: waiting for the keys of witnesses-2',
    })
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'NodesUnreachable' })
    expect(cond(s, 'Ready')?.status).toBe('False')
  })
})

describe('storage and DHT conditions', () => {
  const net = exampleObjects().network
  const inputs = (nodes: NodeObservation[]) => ({
    nodes,
    waiting: [],
    desiredNodes: 15,
    desiredSeeds: 3,
    desiredSsns: 6,
    now: NOW,
  })
  it('all seeds and SSNs ready: neither degraded', () => {
    const st = aggregateNetworkStatus(net, inputs(healthy()))
    expect(getCondition(st.conditions, 'StorageDegraded')?.status).toBe('False')
    expect(getCondition(st.conditions, 'DHTDegraded')?.status).toBe('False')
  })
  it('an SSN not ready degrades storage; no seed ready degrades the DHT', () => {
    const nodes = healthy().map((n) => (n.node === 'ssn-3' || n.role === 'seed' ? { ...n, ready: false } : n))
    const st = aggregateNetworkStatus(net, inputs(nodes))
    expect(getCondition(st.conditions, 'StorageDegraded')).toMatchObject({ status: 'True', reason: 'SsnsNotReady' })
    expect(getCondition(st.conditions, 'DHTDegraded')).toMatchObject({ status: 'True', reason: 'NoSeedsReady' })
  })
})

describe('conditions while a declaration is active', () => {
  const net = exampleObjects().network
  const base = { nodes: healthy(), waiting: [], desiredNodes: 15, now: NOW }
  const decl = (phase: string, over: object = {}) => ({
    name: 'witnessloss-auto',
    scenario: 'WitnessLoss',
    phase,
    dryRun: false,
    ...over,
  })
  it('a runbook at work: Progressing=True (Recovering) and not Ready, even with every node up', () => {
    const st = aggregateNetworkStatus(net, {
      ...base,
      declarations: [decl('Executing', { step: 'RestoreResilience' })],
    })
    expect(getCondition(st.conditions, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'Recovering',
      message: 'declaration witnessloss-auto (WitnessLoss) Executing, step RestoreResilience',
    })
    expect(getCondition(st.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'Recovering' })
  })
  it('a NetworkAttack declaration holding its defences: Progressing=True (Defending), still Ready', () => {
    const st = aggregateNetworkStatus(net, {
      ...base,
      declarations: [decl('Verifying', { name: 'flood', scenario: 'NetworkAttack', step: 'Hold' })],
    })
    expect(getCondition(st.conditions, 'Progressing')).toMatchObject({ status: 'True', reason: 'Defending' })
    expect(getCondition(st.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'NetworkReady' })
    expect(getCondition(st.conditions, 'Ready')?.message).toContain(
      'defences in force: declaration flood (NetworkAttack)',
    )
    // While it is still pushing them (Executing), it is work in progress like any runbook.
    const pushing = aggregateNetworkStatus(net, {
      ...base,
      declarations: [decl('Executing', { name: 'flood', scenario: 'NetworkAttack', step: 'ApplyDefences' })],
    })
    expect(getCondition(pushing.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'Recovering' })
  })
  it('a failed recovery degrades the network until someone resolves it; Pending and dry runs change nothing', () => {
    const failed = aggregateNetworkStatus(net, { ...base, declarations: [decl('Failed', { step: 'Verify' })] })
    expect(getCondition(failed.conditions, 'Degraded')).toMatchObject({ status: 'True', reason: 'RecoveryFailed' })
    const quiet = aggregateNetworkStatus(net, {
      ...base,
      declarations: [decl('Pending'), decl('Executing', { dryRun: true })],
    })
    expect(getCondition(quiet.conditions, 'Ready')?.status).toBe('True')
    expect(getCondition(quiet.conditions, 'Degraded')?.status).toBe('False')
  })
})
