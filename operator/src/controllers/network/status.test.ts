import { describe, expect, it } from 'vitest'
import type { AdminStatus } from '@echonet/node/admin'
import { getCondition } from '../../api/v1alpha1/conditions.ts'
import { aggregateNetworkStatus } from './status.ts'
import type { NodeObservation } from './status.ts'
import { exampleObjects, keyOf } from './test-fixtures.ts'

const NOW = new Date('2026-11-24T12:00:00Z')
const LATER = new Date('2026-11-24T12:05:00Z')

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
    committee: { totalPower: 4, powerNeeded: 3, powerOnline: online, members: [] },
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

  it('quorum lost: 2 of 4 witnesses gone → QuorumAvailable=False QuorumLost, Degraded, not Ready', () => {
    const { network } = exampleObjects()
    const nodes = healthy()
      .filter((n) => n.node !== 'witnesses-2' && n.node !== 'witnesses-3')
      .map((n) => (n.role === 'witness' && n.status ? { ...n, status: admin(n.node, {}, 2) } : n))
    const s = aggregateNetworkStatus(network, { nodes, waiting: [], desiredNodes: 15, now: NOW })
    expect(s.powerOnline).toBe(2)
    expect(s.powerNeeded).toBe(3)
    expect(cond(s, 'QuorumAvailable')).toMatchObject({ status: 'False', reason: 'QuorumLost' })
    expect(cond(s, 'QuorumAvailable')?.message).toContain('2 of 4, 3 needed')
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'QuorumLost' })
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'QuorumLost' })
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'True', reason: 'NodesStarting' })
  })

  it('takes the best witness view: one witness seeing 3/4 keeps quorum although another sees 1/4', () => {
    const { network } = exampleObjects()
    const nodes = healthy().map((n) =>
      n.node === 'witnesses-0'
        ? { ...n, status: admin(n.node, {}, 1) }
        : n.role === 'witness'
          ? { ...n, status: admin(n.node, {}, 3) }
          : n,
    )
    const s = aggregateNetworkStatus(network, { nodes, waiting: [], desiredNodes: 15, now: NOW })
    expect(s.powerOnline).toBe(3)
    expect(cond(s, 'QuorumAvailable')?.status).toBe('True')
  })

  it('halted: any node in mode halted → ConsensusHalted=True with its reason, not Ready', () => {
    const { network } = exampleObjects()
    const nodes = healthy().map((n) =>
      n.node === 'witnesses-1' ? { ...n, status: admin(n.node, { mode: 'halted', haltReason: 'QUORUM_LOST' }) } : n,
    )
    const s = aggregateNetworkStatus(network, { nodes, waiting: [], desiredNodes: 15, now: NOW })
    expect(cond(s, 'ConsensusHalted')).toMatchObject({ status: 'True', reason: 'Halted' })
    expect(cond(s, 'ConsensusHalted')?.message).toContain('witnesses-1 (QUORUM_LOST)')
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'ConsensusHalted' })
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'ConsensusHalted' })
  })

  it('no witness status → QuorumAvailable Unknown; waiting → Progressing with the reason', () => {
    const { network } = exampleObjects()
    const nodes = healthy().map((n) =>
      n.role === 'witness' ? { node: n.node, role: n.role, ready: false, error: 'ECONNREFUSED' } : n,
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
