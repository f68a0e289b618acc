import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { WitnessPool } from '../../api/v1alpha1/types.ts'
import { keyPodAction } from './key-pods.ts'
import type { KeyPodAction, ObservedKeyPod } from './key-pods.ts'
import { poolMembers, poolRole, surplusMembers } from './nodes.ts'

function pool(name: string, mode: 'Active' | 'Standby', replicas: number): WitnessPool {
  return {
    apiVersion: 'echonet.io/v1alpha1',
    kind: 'WitnessPool',
    metadata: { name, namespace: 'echonet' },
    spec: { networkRef: { name: 'testnet' }, replicas, mode, volume: { size: '10Gi' }, promotionPriority: 0 },
  }
}

describe('pool members', () => {
  it('are <pool>-<i> for i < replicas, witness for Active pools and standby for Standby pools', () => {
    expect(poolMembers(pool('witnesses', 'Active', 3))).toEqual([
      { name: 'witnesses-0', pool: 'witnesses', ordinal: 0, role: 'witness' },
      { name: 'witnesses-1', pool: 'witnesses', ordinal: 1, role: 'witness' },
      { name: 'witnesses-2', pool: 'witnesses', ordinal: 2, role: 'witness' },
    ])
    expect(poolRole(pool('standbys', 'Standby', 2))).toBe('standby')
    expect(poolMembers(pool('standbys', 'Standby', 0))).toEqual([])
  })

  it('finds the members left over after a scale-down', () => {
    expect(surplusMembers(pool('w', 'Active', 2), ['w-0', 'w-1', 'w-3', 'w-2', 'wx-5', 'w-a'])).toEqual(['w-2', 'w-3'])
  })
})

describe('keyPodAction: one running pod per witness key', () => {
  const T = '2026-11-24T12:00:00Z'
  it('creates only when no pod object exists', () => {
    expect(keyPodAction('net-w-0', [])).toEqual({ action: 'create', name: 'net-w-0' })
  })
  it('waits while the old pod is terminating', () => {
    expect(keyPodAction('net-w-0', [{ name: 'net-w-0', deletionTimestamp: T, phase: 'Running' }])).toMatchObject({
      action: 'wait',
    })
  })
  it('replaces an outdated or finished pod by deleting it first', () => {
    expect(keyPodAction('net-w-0', [{ name: 'net-w-0', phase: 'Running', specHash: 'old' }], 'new')).toMatchObject({
      action: 'delete',
      names: ['net-w-0'],
      cause: 'outdated',
    })
    expect(keyPodAction('net-w-0', [{ name: 'net-w-0', phase: 'Failed', specHash: 'h' }], 'h')).toMatchObject({
      action: 'delete',
      cause: 'finished',
    })
    // Finished and outdated: finished wins (it is replaced at once, not rolled).
    expect(keyPodAction('net-w-0', [{ name: 'net-w-0', phase: 'Failed', specHash: 'old' }], 'new')).toMatchObject({
      cause: 'finished',
    })
    expect(keyPodAction('net-w-0', [{ name: 'net-w-0', phase: 'Running', specHash: 'h' }], 'h')).toEqual({
      action: 'keep',
      name: 'net-w-0',
    })
  })
  it('deletes extra live pods, keeping the desired one', () => {
    expect(
      keyPodAction('net-w-0', [
        { name: 'net-w-0-copy', phase: 'Running' },
        { name: 'net-w-0', phase: 'Running' },
      ]),
    ).toMatchObject({ action: 'delete', names: ['net-w-0-copy'], cause: 'duplicate' })
  })

  const podArb: fc.Arbitrary<ObservedKeyPod> = fc.record(
    {
      name: fc.constantFrom('p', 'q', 'r'),
      deletionTimestamp: fc.constant(T),
      phase: fc.constantFrom('Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'),
      specHash: fc.constantFrom('h1', 'h2'),
    },
    { requiredKeys: ['name'] },
  )

  it('never creates while any pod object of the key exists (property)', () => {
    fc.assert(
      fc.property(
        fc.array(podArb, { maxLength: 4 }),
        fc.constantFrom('p', 'q'),
        fc.option(fc.constantFrom('h1', 'h2'), { nil: undefined }),
        (observed, desired, hash) => {
          const a = keyPodAction(desired, observed, hash)
          if (a.action === 'create') expect(observed).toHaveLength(0)
          if (a.action === 'delete') {
            const live = observed.filter((p) => p.deletionTimestamp === undefined).map((p) => p.name)
            for (const n of a.names) expect(live).toContain(n)
            // Never deletes every live pod unless there is exactly one (replacement); never creates in the same step.
            if (live.length > 1) expect(a.names.length).toBe(live.length - 1)
          }
        },
      ),
      { numRuns: 2000 },
    )
  })

  type Pod = { name: string; uid: number; terminating: boolean; phase: ObservedKeyPod['phase']; specHash: string }
  type EnvEvent =
    | { kind: 'reconcile'; hash: string }
    | { kind: 'gone' }
    | { kind: 'phase'; phase: NonNullable<ObservedKeyPod['phase']> }
    | { kind: 'evict' }

  const eventArb: fc.Arbitrary<EnvEvent> = fc.oneof(
    fc.record({ kind: fc.constant('reconcile' as const), hash: fc.constantFrom('h1', 'h2') }),
    fc.constant({ kind: 'gone' as const }),
    fc.record({ kind: fc.constant('phase' as const), phase: fc.constantFrom('Running', 'Failed', 'Succeeded') }),
    fc.constant({ kind: 'evict' as const }),
  )

  it('in any sequence of reconciles and cluster events, at most one pod object per key ever exists (property)', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 60 }), (events) => {
        let pods: Pod[] = []
        let nextUid = 1
        for (const e of events) {
          if (e.kind === 'reconcile') {
            const observed: ObservedKeyPod[] = pods.map((p) => ({
              name: p.name,
              ...(p.terminating ? { deletionTimestamp: T } : {}),
              ...(p.phase !== undefined ? { phase: p.phase } : {}),
              specHash: p.specHash,
            }))
            const a: KeyPodAction = keyPodAction('net-w-0', observed, e.hash)
            if (a.action === 'create')
              pods.push({ name: a.name, uid: nextUid++, terminating: false, phase: 'Pending', specHash: e.hash })
            if (a.action === 'delete')
              pods = pods.map((p) => (a.names.includes(p.name) ? { ...p, terminating: true } : p))
          } else if (e.kind === 'gone') {
            // The kubelet finishes one terminating pod (its process is gone).
            const i = pods.findIndex((p) => p.terminating)
            if (i >= 0) pods.splice(i, 1)
          } else if (e.kind === 'phase') {
            const p = pods[0]
            if (p !== undefined) pods[0] = { ...p, phase: e.phase }
          } else {
            const p = pods[0]
            if (p !== undefined) pods[0] = { ...p, terminating: true }
          }
          expect(pods.length).toBeLessThanOrEqual(1)
        }
      }),
      { numRuns: 2000 },
    )
  })
})
