/**
 * WitnessPool status (pure): pods that exist and are ready, the lowest finalized height among the
 * ready members, the selector the scale subresource reports, and Ready/Progressing conditions.
 */
import { PoolCondition, setCondition } from '../../api/v1alpha1/conditions.ts'
import { poolSelector } from '../../api/v1alpha1/labels.ts'
import type { WitnessPool, WitnessPoolStatus } from '../../api/v1alpha1/types.ts'
import { metaName } from '../objects.ts'

export interface PoolMemberObservation {
  readonly node: string
  /** The pod exists and is not being deleted. */
  readonly exists: boolean
  readonly ready: boolean
  readonly finalizedHeight?: number
  /**
   * What the ledger knows of the member's key (from the nodes' status): in the committee, on the
   * standby list, or neither (a key the ledger does not know cannot vote or be promoted).
   * Undefined while no node has answered.
   */
  readonly ledger?: 'committee' | 'standby' | 'unknown'
}

export function poolStatus(
  pool: WitnessPool,
  members: readonly PoolMemberObservation[],
  now: Date,
  networkFound: boolean,
): WitnessPoolStatus {
  const prev = pool.status ?? {}
  const gen = pool.metadata.generation
  const exists = members.filter((m) => m.exists).length
  const running = members.filter((m) => m.exists && m.ready)
  // Ready means usable: the pod runs and the ledger knows its key (committee or standby list).
  const ready = running.filter((m) => m.ledger !== 'unknown')
  const unknown = running.filter((m) => m.ledger === 'unknown').map((m) => m.node)
  const heights = running.flatMap((m) => (m.finalizedHeight === undefined ? [] : [m.finalizedHeight]))
  const want = pool.spec.replicas
  const inCommittee = members.filter((m) => m.exists && m.ledger === 'committee').length
  const out: WitnessPoolStatus = {
    ...prev,
    replicas: exists,
    readyReplicas: ready.length,
    inCommittee,
    selector: poolSelector(pool.spec.networkRef.name, metaName(pool.metadata)),
  }
  if (pool.spec.mode === 'Standby') out.promoted = inCommittee
  if (gen !== undefined) out.observedGeneration = gen
  if (heights.length > 0) out.syncedHeight = Math.min(...heights)
  // A Standby pool keeps `replicas` warm standbys besides the members it gave to the committee.
  const wantReady = pool.spec.mode === 'Standby' ? want + inCommittee : want
  const readyCond = !networkFound
    ? {
        type: PoolCondition.Ready,
        status: 'False' as const,
        reason: 'NetworkNotFound',
        message: `EchoNetNetwork ${pool.spec.networkRef.name} does not exist in this namespace`,
      }
    : unknown.length > 0
      ? {
          type: PoolCondition.Ready,
          status: 'False' as const,
          reason: 'UnregisteredKeys',
          message: `${ready.length} of ${wantReady} ready; ${unknown.join(', ')} run${unknown.length === 1 ? 's' : ''} a key the ledger does not know (not in the committee or on the standby list: it cannot vote or be promoted until it is funded and bonds)`,
        }
      : ready.length >= wantReady
        ? {
            type: PoolCondition.Ready,
            status: 'True' as const,
            reason: 'AllReady',
            message: `${ready.length} of ${wantReady} ready${inCommittee > 0 ? `, ${inCommittee} in the committee` : ''}`,
          }
        : {
            type: PoolCondition.Ready,
            status: 'False' as const,
            reason: 'NotAllReady',
            message: `${ready.length} of ${wantReady} ready`,
          }
  const progressing =
    exists === wantReady && ready.length === wantReady
      ? { type: PoolCondition.Progressing, status: 'False' as const, reason: 'Stable', message: 'no change pending' }
      : {
          type: PoolCondition.Progressing,
          status: 'True' as const,
          reason: exists < wantReady ? 'ScalingUp' : exists > wantReady ? 'ScalingDown' : 'Starting',
          message: `${exists} pods exist, ${wantReady} wanted, ${ready.length} ready`,
        }
  let conditions = prev.conditions
  for (const c of [readyCond, progressing]) conditions = setCondition(conditions, c, gen, now)
  out.conditions = conditions ?? []
  return out
}
