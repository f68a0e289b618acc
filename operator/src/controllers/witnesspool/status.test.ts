import { describe, expect, it } from 'vitest'
import { getCondition } from '../../api/v1alpha1/conditions.ts'
import type { WitnessPool } from '../../api/v1alpha1/types.ts'
import { poolStatus } from './status.ts'
import type { PoolMemberObservation } from './status.ts'

const NOW = new Date('2026-12-06T12:00:00Z')
const pool = (mode: 'Active' | 'Standby', replicas: number): WitnessPool => ({
  apiVersion: 'echonet.io/v1alpha1',
  kind: 'WitnessPool',
  metadata: { name: mode === 'Active' ? 'witnesses' : 'standbys', namespace: 'ns', generation: 3 },
  spec: { networkRef: { name: 'testnet' }, replicas, mode, volume: { size: '1Gi' }, promotionPriority: 0 },
})
const m = (node: string, ledger?: PoolMemberObservation['ledger'], ready = true): PoolMemberObservation => ({
  node,
  exists: true,
  ready,
  ...(ledger !== undefined ? { ledger } : {}),
})

describe('WitnessPool status is honest about keys', () => {
  it('pods running keys the ledger does not know are not ready witnesses (the issue 8 report: 4 of 4 ready after 3 keys were replaced)', () => {
    const s = poolStatus(
      pool('Active', 4),
      [m('w-0', 'committee'), m('w-1', 'unknown'), m('w-2', 'unknown'), m('w-3', 'unknown')],
      NOW,
      true,
    )
    expect(s).toMatchObject({ replicas: 4, readyReplicas: 1, inCommittee: 1 })
    const ready = getCondition(s.conditions, 'Ready')
    expect(ready).toMatchObject({ status: 'False', reason: 'UnregisteredKeys', observedGeneration: 3 })
    expect(ready?.message).toContain('w-1, w-2, w-3 run a key the ledger does not know')
  })

  it('a Standby pool counts promoted members and wants replicas warm standbys besides them', () => {
    const before = poolStatus(
      pool('Standby', 2),
      [m('s-0', 'committee'), m('s-1', 'committee'), m('s-2', 'standby')],
      NOW,
      true,
    )
    expect(before).toMatchObject({ promoted: 2, inCommittee: 2, readyReplicas: 3 })
    expect(getCondition(before.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'NotAllReady' })
    const after = poolStatus(
      pool('Standby', 2),
      [m('s-0', 'committee'), m('s-1', 'committee'), m('s-2', 'standby'), m('s-3', 'standby')],
      NOW,
      true,
    )
    expect(getCondition(after.conditions, 'Ready')).toMatchObject({ status: 'True', reason: 'AllReady' })
  })

  it('before any node answers, ready pods count (nothing is known yet either way)', () => {
    const s = poolStatus(pool('Active', 2), [m('w-0'), m('w-1')], NOW, true)
    expect(s.readyReplicas).toBe(2)
    expect(getCondition(s.conditions, 'Ready')?.status).toBe('True')
  })
})
