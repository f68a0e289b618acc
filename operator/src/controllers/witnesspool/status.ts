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
  const ready = members.filter((m) => m.exists && m.ready)
  const heights = ready.flatMap((m) => (m.finalizedHeight === undefined ? [] : [m.finalizedHeight]))
  const want = pool.spec.replicas
  const out: WitnessPoolStatus = {
    ...prev,
    replicas: exists,
    readyReplicas: ready.length,
    selector: poolSelector(pool.spec.networkRef.name, metaName(pool.metadata)),
  }
  if (gen !== undefined) out.observedGeneration = gen
  if (heights.length > 0) out.syncedHeight = Math.min(...heights)
  const readyCond = !networkFound
    ? {
        type: PoolCondition.Ready,
        status: 'False' as const,
        reason: 'NetworkNotFound',
        message: `EchoNetNetwork ${pool.spec.networkRef.name} does not exist in this namespace`,
      }
    : ready.length === want
      ? { type: PoolCondition.Ready, status: 'True' as const, reason: 'AllReady', message: `${want} of ${want} ready` }
      : {
          type: PoolCondition.Ready,
          status: 'False' as const,
          reason: 'NotAllReady',
          message: `${ready.length} of ${want} ready`,
        }
  const progressing =
    exists === want && ready.length === want
      ? { type: PoolCondition.Progressing, status: 'False' as const, reason: 'Stable', message: 'no change pending' }
      : {
          type: PoolCondition.Progressing,
          status: 'True' as const,
          reason: exists < want ? 'ScalingUp' : exists > want ? 'ScalingDown' : 'Starting',
          message: `${exists} pods exist, ${want} wanted, ${ready.length} ready`,
        }
  let conditions = prev.conditions
  for (const c of [readyCond, progressing]) conditions = setCondition(conditions, c, gen, now)
  out.conditions = conditions ?? []
  return out
}
