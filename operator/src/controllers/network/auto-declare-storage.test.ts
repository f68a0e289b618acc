import { describe, expect, it } from 'vitest'
import type { Condition, DisasterDeclaration, EchoNetNetwork } from '../../api/v1alpha1/types.ts'
import { validateResource } from '../../api/v1alpha1/validate.ts'
import { exampleObjects } from './test-fixtures.ts'
import { storageAutoDeclaration, storageAutoDeclareDecision } from './auto-declare-storage.ts'

const T0 = Date.parse('2026-12-07T12:00:00Z')
const cond = (type: string, status: 'True' | 'False', at: number, reason = 'SsnsNotReady'): Condition => ({
  type,
  status,
  reason,
  message: `${type} ${status}`,
  lastTransitionTime: new Date(at).toISOString(),
  observedGeneration: 1,
})
function withConditions(network: EchoNetNetwork, conditions: Condition[]): EchoNetNetwork {
  return { ...network, status: { ...network.status, conditions } }
}
const decl = (
  over: Partial<DisasterDeclaration['spec']>,
  status?: DisasterDeclaration['status'],
): DisasterDeclaration => ({
  apiVersion: 'echonet.io/v1alpha1',
  kind: 'DisasterDeclaration',
  metadata: { name: 'd' },
  spec: { networkRef: { name: 'testnet' }, scenario: 'DataUnavailability', actions: [], dryRun: false, ...over },
  ...(status !== undefined ? { status } : {}),
})

describe('recovery.autoDeclare for storage incidents', () => {
  const { network } = exampleObjects()
  const limit = network.spec.recovery.storageIncidentSeconds * 1000

  it('declares once StorageDegraded or DHTDegraded has held for storageIncidentSeconds, not before', () => {
    expect(network.spec.recovery.storageIncidentSeconds).toBe(900)
    const storage = withConditions(network, [cond('StorageDegraded', 'True', T0), cond('DHTDegraded', 'False', T0)])
    expect(
      storageAutoDeclareDecision({ network: storage, nowMs: T0 + limit - 1, active: [], seenHealthy: true }).declare,
    ).toBe(false)
    const d = storageAutoDeclareDecision({ network: storage, nowMs: T0 + limit, active: [], seenHealthy: true })
    expect(d).toMatchObject({ declare: true, sinceMs: T0, dht: false })
    // Healthy: nothing, however long.
    const healthy = withConditions(network, [cond('StorageDegraded', 'False', T0), cond('DHTDegraded', 'False', T0)])
    expect(
      storageAutoDeclareDecision({ network: healthy, nowMs: T0 + 10 * limit, active: [], seenHealthy: true }).declare,
    ).toBe(false)
    // A network coming up (storage never seen healthy by this operator): starting, not an incident.
    expect(
      storageAutoDeclareDecision({ network: storage, nowMs: T0 + 10 * limit, active: [], seenHealthy: false }),
    ).toEqual({ declare: false, why: 'storage and DHT were not healthy yet: the network is starting' })
    // Off: nothing.
    const off = { ...storage, spec: { ...storage.spec, recovery: { ...storage.spec.recovery, autoDeclare: false } } }
    expect(storageAutoDeclareDecision({ network: off, nowMs: T0 + limit, active: [], seenHealthy: true }).declare).toBe(
      false,
    )
  })

  it('never two at once: a pending or running one blocks; a dry run, another scenario or one refused before it ran does not', () => {
    const net = withConditions(network, [cond('DHTDegraded', 'True', T0, 'NoSeedsReady')])
    const at = (d: DisasterDeclaration) =>
      storageAutoDeclareDecision({ network: net, nowMs: T0 + limit, active: [d], seenHealthy: true })
    expect(at(decl({})).declare).toBe(false)
    expect(at(decl({}, { phase: 'Executing', authorizedAt: '2026-12-07T12:00:00Z' })).declare).toBe(false)
    expect(at(decl({}, { phase: 'Failed', authorizedAt: '2026-12-07T12:00:00Z' })).declare).toBe(false)
    expect(at(decl({ dryRun: true })).declare).toBe(true)
    expect(at(decl({ scenario: 'WitnessLoss' })).declare).toBe(true)
    expect(at(decl({}, { phase: 'Failed' })).declare).toBe(true)
  })

  it('the declaration: unsigned, slashing paused, the DHT re-bootstrapped when it is degraded; valid against the CRD schema; one name per onset', () => {
    const net = withConditions(network, [
      cond('StorageDegraded', 'True', T0 + 5_000),
      cond('DHTDegraded', 'True', T0, 'NoSeedsReady'),
    ])
    const d = storageAutoDeclareDecision({ network: net, nowMs: T0 + limit, active: [], seenHealthy: true })
    if (!d.declare) throw new Error(d.why)
    expect(d).toMatchObject({ sinceMs: T0, dht: true })
    expect(d.reason).toMatch(/DHTDegraded \(NoSeedsReady/)
    const out = storageAutoDeclaration(net, d, T0 + limit)
    expect(out.spec.scenario).toBe('DataUnavailability')
    expect(out.spec.actions.map((a) => a.type)).toEqual(['PausePoSRSlashing', 'RebootstrapDHT'])
    expect(out.spec.standingPolicy).toBeUndefined()
    expect(out.spec.councilSignatures).toBeUndefined()
    expect(out.metadata.name).toBe(`testnet-data-unavailability-${T0 / 1000}`)
    expect(out.metadata.labels?.['echonet.io/automatic']).toBe('true')
    const v = validateResource(out)
    expect(v.ok, JSON.stringify(v)).toBe(true)
    // Only storage degraded: no re-bootstrap.
    const s = storageAutoDeclareDecision({
      network: withConditions(network, [cond('StorageDegraded', 'True', T0)]),
      nowMs: T0 + limit,
      active: [],
      seenHealthy: true,
    })
    if (!s.declare) throw new Error(s.why)
    expect(storageAutoDeclaration(network, s, T0 + limit).spec.actions.map((a) => a.type)).toEqual([
      'PausePoSRSlashing',
    ])
  })
})
