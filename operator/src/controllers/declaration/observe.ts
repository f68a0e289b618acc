/**
 * What a runbook step looks at, gathered from the informer caches and the node poller's cache —
 * never from a node directly (DESIGN §6: a reconcile never waits on a node).
 */
import type { CouncilSpec } from '@echonet/node/governance'
import { Annotations } from '../../api/v1alpha1/labels.ts'
import type { DisasterDeclaration, EchoNetNetwork, WitnessPool } from '../../api/v1alpha1/types.ts'
import type { ObjectCache } from '../../k8s/index.ts'
import { committeeView, referenceVoter } from '../shared/committee.ts'
import { networkNodes, nodeMarks, poolsOf } from '../shared/nodes.ts'
import { stalledMs } from '../shared/node-poller.ts'
import type { NodePoller } from '../shared/node-poller.ts'
import { podReady } from '../shared/pods.ts'
import type { PodView, SecretView } from '../shared/pods.ts'
import type { NodeView, Observation, PolicyBounds, PoolView } from '../../runbooks/types.ts'

export interface ObserveInputs {
  readonly network: EchoNetNetwork
  readonly declaration: DisasterDeclaration
  readonly pools: ObjectCache<WitnessPool>
  readonly pods: ObjectCache<PodView>
  readonly secrets: ObjectCache<SecretView>
  readonly poller: NodePoller
  readonly networkKey: string
  readonly policy: PolicyBounds | undefined
  readonly nowMs: number
}

export function observe(i: ObserveInputs): Observation {
  const net = i.network
  const ns = net.metadata.namespace
  const name = net.metadata.name ?? ''
  const secrets = i.secrets.list(ns).filter((s) => s.metadata?.labels?.['echonet.io/network'] === name)
  const didOf = new Map(
    secrets.flatMap((s) => {
      const node = s.metadata?.labels?.['echonet.io/node']
      const did = s.metadata?.annotations?.[Annotations.did]
      return node !== undefined && did !== undefined ? [[node, did] as const] : []
    }),
  )
  const pools = poolsOf(net, i.pools.list(ns))
  const poolByName = new Map(pools.map((p) => [p.metadata.name ?? '', p]))
  const plan = networkNodes(net, pools, nodeMarks(secrets))
  const polled = new Map(i.poller.observations(i.networkKey).map((o) => [o.node, o]))
  const nodes: NodeView[] = plan.map((n) => {
    const pod = i.pods.get(n.podName, ns)
    const live = pod !== undefined && pod.metadata?.deletionTimestamp === undefined
    const pool = n.pool === undefined ? undefined : poolByName.get(n.pool)
    const ip = pod?.status?.podIP
    const status = polled.get(n.node)?.status
    const did = didOf.get(n.node)
    return {
      node: n.node,
      role: n.role,
      ...(n.pool !== undefined ? { pool: n.pool } : {}),
      ...(pool !== undefined ? { poolMode: pool.spec.mode, promotionPriority: pool.spec.promotionPriority } : {}),
      ...(did !== undefined ? { did } : {}),
      podExists: live,
      podReady: live && podReady(pod),
      ...(live && ip !== undefined && ip !== '' ? { ip } : {}),
      // A status whose key is not this node's (a pod from before a re-key) is no evidence about it.
      ...(live && status !== undefined && (did === undefined || status.did === did) ? { status } : {}),
    }
  })
  const obs = i.poller.observations(i.networkKey)
  const ref = referenceVoter(obs)
  const council: CouncilSpec | undefined = ref?.governance?.council
  const poolViews: PoolView[] = pools.map((p) => ({
    name: p.metadata.name ?? '',
    mode: p.spec.mode,
    replicas: p.spec.replicas,
    promotionPriority: p.spec.promotionPriority,
  }))
  const spec = i.declaration.spec
  const expiresAtMs = spec.expiresAt === undefined ? undefined : Date.parse(spec.expiresAt)
  return {
    nowMs: i.nowMs,
    dryRun: spec.dryRun,
    actions: spec.actions,
    nodes,
    pools: poolViews,
    stalledMs: stalledMs(i.poller.progress(i.networkKey), i.nowMs),
    committee: committeeView(obs),
    council,
    registeredStandbys: ref?.governance?.standbys ?? [],
    committeeSize: ref?.governance?.committeeSize,
    auth: i.policy !== undefined ? { mode: 'policy', policy: i.policy } : { mode: 'council' },
    manifestSignatures: (spec.manifestSignatures ?? []).map((s) => ({ did: s.did, signature: s.signature })),
    resolveRequested: i.declaration.metadata.annotations?.[Annotations.resolve] === 'true',
    ...(spec.nonce !== undefined ? { nonce: spec.nonce } : {}),
    ...(expiresAtMs !== undefined && Number.isFinite(expiresAtMs) ? { expiresAtMs } : {}),
  }
}
