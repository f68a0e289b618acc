/**
 * WitnessPool reconcile: the pool's pods belong to its network (the network controller creates
 * them, one per key); this writes the pool's status — what `kubectl get witnesspool` and the scale
 * subresource show — when it changed.
 */
import type { Logger } from 'pino'
import type { EchoNetNetwork, WitnessPool } from '../../api/v1alpha1/types.ts'
import type { ObjectCache } from '../../k8s/index.ts'
import type { K8sClient } from '../../k8s/index.ts'
import { patchStatus } from '../../k8s/index.ts'
import { splitKey } from '../../runtime/index.ts'
import type { ReconcileResult } from '../../runtime/index.ts'
import type { PodView } from '../shared/pods.ts'
import { podReady } from '../shared/pods.ts'
import { podName, poolMembers } from '../shared/nodes.ts'
import { stableJson } from '../objects.ts'
import { poolStatus } from './status.ts'

export interface PoolReconcilerOptions {
  readonly client: K8sClient
  readonly pools: ObjectCache<WitnessPool>
  readonly networks: ObjectCache<EchoNetNetwork>
  readonly pods: ObjectCache<PodView>
  readonly log: Logger
}

export function poolReconciler(o: PoolReconcilerOptions): (key: string) => Promise<ReconcileResult | undefined> {
  return async (key) => {
    const { namespace, name } = splitKey(key)
    const pool = o.pools.get(name, namespace)
    if (pool === undefined || pool.metadata.deletionTimestamp !== undefined) return undefined
    const network = pool.spec.networkRef.name
    const found = o.networks.get(network, namespace) !== undefined
    const members = poolMembers(pool).map((m) => {
      const pod = o.pods.get(podName(network, m.name), namespace)
      const exists = pod !== undefined && pod.metadata?.deletionTimestamp === undefined
      return { node: m.name, exists, ready: exists && podReady(pod) }
    })
    const next = poolStatus(pool, members, new Date(), found)
    if (stableJson(pool.status ?? {}) === stableJson(next)) return undefined
    await patchStatus(o.client, pool, next, { mode: 'merge' })
    o.log.debug({ witnesspool: key, ready: next.readyReplicas, replicas: next.replicas }, 'status written')
    return undefined
  }
}
