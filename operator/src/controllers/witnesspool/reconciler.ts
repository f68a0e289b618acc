/**
 * WitnessPool reconcile: the pool's pods belong to its network (the network controller creates
 * them, one per key); this writes the pool's status — what `kubectl get witnesspool` and the scale
 * subresource show — when it changed. Ready counts pods whose key the ledger knows (committee or
 * standby list), from the node poller's cache: a pod with a key nobody registered is not a witness.
 */
import type { Logger } from 'pino'
import { Annotations } from '../../api/v1alpha1/labels.ts'
import type { EchoNetNetwork, WitnessPool } from '../../api/v1alpha1/types.ts'
import type { ObjectCache } from '../../k8s/index.ts'
import type { K8sClient } from '../../k8s/index.ts'
import { patchStatus } from '../../k8s/index.ts'
import { objectKey, splitKey } from '../../runtime/index.ts'
import type { ReconcileResult } from '../../runtime/index.ts'
import type { PodView, SecretView } from '../shared/pods.ts'
import { podReady } from '../shared/pods.ts'
import { keySecretName, nodeMarks, podName, poolMembers } from '../shared/nodes.ts'
import { committeeView, referenceVoter } from '../shared/committee.ts'
import type { NodePoller } from '../shared/node-poller.ts'
import { stableJson } from '../objects.ts'
import { poolStatus } from './status.ts'
import type { PoolMemberObservation } from './status.ts'

export interface PoolReconcilerOptions {
  readonly client: K8sClient
  readonly pools: ObjectCache<WitnessPool>
  readonly networks: ObjectCache<EchoNetNetwork>
  readonly pods: ObjectCache<PodView>
  readonly secrets: ObjectCache<SecretView>
  readonly poller: NodePoller
  readonly log: Logger
}

export function poolReconciler(o: PoolReconcilerOptions): (key: string) => Promise<ReconcileResult | undefined> {
  return async (key) => {
    const { namespace, name } = splitKey(key)
    const pool = o.pools.get(name, namespace)
    if (pool === undefined || pool.metadata.deletionTimestamp !== undefined) return undefined
    const network = pool.spec.networkRef.name
    const found = o.networks.get(network, namespace) !== undefined
    const observed = o.poller.observations(objectKey({ namespace, name: network }))
    const byNode = new Map(observed.map((x) => [x.node, x.status]))
    const committee = new Set(committeeView(observed)?.members.map((m) => m.did) ?? [])
    const ref = referenceVoter(observed)
    const standbys = new Set(ref?.governance?.standbys ?? [])
    const secrets = o.secrets.list(namespace).filter((s) => s.metadata?.labels?.['echonet.io/network'] === network)
    const marks = nodeMarks(secrets)
    const members: PoolMemberObservation[] = poolMembers(pool, marks)
      .filter((m) => marks.get(m.name)?.retired === undefined)
      .map((m) => {
        const pod = o.pods.get(podName(network, m.name), namespace)
        const exists = pod !== undefined && pod.metadata?.deletionTimestamp === undefined
        const did = o.secrets.get(keySecretName(network, m.name), namespace)?.metadata?.annotations?.[Annotations.did]
        const status = byNode.get(m.name)
        const ledger: PoolMemberObservation['ledger'] =
          ref === undefined || did === undefined
            ? undefined
            : committee.has(did)
              ? 'committee'
              : standbys.has(did)
                ? 'standby'
                : 'unknown'
        return {
          node: m.name,
          exists,
          ready: exists && podReady(pod),
          ...(status !== undefined && status.did === did ? { finalizedHeight: status.finalizedHeight } : {}),
          ...(ledger !== undefined ? { ledger } : {}),
        }
      })
    const next = poolStatus(pool, members, new Date(), found)
    if (stableJson(pool.status ?? {}) === stableJson(next)) return undefined
    await patchStatus(o.client, pool, next, { mode: 'merge' })
    o.log.debug({ witnesspool: key, ready: next.readyReplicas, replicas: next.replicas }, 'status written')
    return undefined
  }
}
