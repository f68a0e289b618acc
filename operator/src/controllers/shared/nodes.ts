/**
 * The nodes of a network (pure): every seed, SSN and pool member with its deterministic names.
 * Node names are `seed-<i>`, `ssn-<i>` and `<pool>-<i>`; each node's objects are named
 * `<network>-<node>` (Pod), `<network>-<node>-data` (PVC) and `<network>-<node>-key` (Secret).
 */
import { DEFAULT_PARAMS } from '@echonet/node/governance'
import type { NodeRoleLabel } from '../../api/v1alpha1/labels.ts'
import type { EchoNetNetwork, WitnessPool } from '../../api/v1alpha1/types.ts'
import { metaName } from '../objects.ts'
import { Annotations } from '../../api/v1alpha1/labels.ts'
import type { SecretView } from './pods.ts'

export interface NodeResources {
  requests?: Record<string, string | number>
  limits?: Record<string, string | number>
}

export interface NodePlan {
  /** Node name, unique within the network (also the `echonet.io/node` label). */
  readonly node: string
  readonly role: NodeRoleLabel
  readonly ordinal: number
  /** WitnessPool name, for witness and standby nodes. */
  readonly pool?: string
  readonly podName: string
  readonly pvcName: string
  readonly keySecretName: string
  readonly volume: { readonly size: string | number; readonly storageClassName?: string }
  readonly resources?: NodeResources
  /** The pod's nodeSelector (from its WitnessPool). */
  readonly nodeSelector?: Readonly<Record<string, string>>
  /** Machines the pod must not run on (where the node was lost). */
  readonly avoidMachines?: readonly string[]
  /** Stake registered in the genesis (witnesses, standbys, SSNs). */
  readonly stake: number
}

/* Pool membership ---------------------------------------------------------------------------- */

export type PoolRole = 'witness' | 'standby'

export interface PoolMember {
  /** Node name `<pool>-<i>`: the identity of the key, volume and pod, stable across replacements. */
  readonly name: string
  readonly pool: string
  readonly ordinal: number
  /** Active pools vote (`witness`); Standby pools follow without voting (`standby`). */
  readonly role: PoolRole
}

export function poolRole(pool: WitnessPool): PoolRole {
  return pool.spec.mode === 'Standby' ? 'standby' : 'witness'
}

export function memberName(pool: string, ordinal: number): string {
  return `${pool}-${ordinal}`
}

/**
 * Members `<pool>-0 … <pool>-(n-1)`, in ordinal order: n is `replicas`, plus, for a Standby pool,
 * one for each member marked promoted (those now vote; the new ones keep the pool warm).
 */
export function poolMembers(pool: WitnessPool, marks: ReadonlyMap<string, NodeMarks> = new Map()): PoolMember[] {
  const name = metaName(pool.metadata)
  const role = poolRole(pool)
  const out: PoolMember[] = []
  let n = pool.spec.replicas
  for (let i = 0; i < n; i++) {
    const member = memberName(name, i)
    if (role === 'standby' && marks.get(member)?.promoted !== undefined) n++
    out.push({ name: member, pool: name, ordinal: i, role })
  }
  return out
}

/**
 * Members of a pool that exist but are beyond `replicas` (after a scale-down): their pods are to
 * be deleted (their keys and volumes are kept, see the key finalizer).
 */
export function surplusMembers(pool: WitnessPool, observedNodeNames: Iterable<string>): string[] {
  const want = new Set(poolMembers(pool).map((m) => m.name))
  const prefix = `${metaName(pool.metadata)}-`
  return [...observedNodeNames]
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)) && !want.has(n))
    .sort()
}

export const NODE_LABEL = 'echonet.io/node'

export function podName(network: string, node: string): string {
  return `${network}-${node}`
}
export function keySecretName(network: string, node: string): string {
  return `${network}-${node}-key`
}
export function pvcName(network: string, node: string): string {
  return `${network}-${node}-data`
}

/** The WitnessPools of `network` (by networkRef, not being deleted), sorted by name. */
export function poolsOf(network: EchoNetNetwork, pools: readonly WitnessPool[]): WitnessPool[] {
  const name = metaName(network.metadata)
  const ns = network.metadata.namespace
  return pools
    .filter(
      (p) =>
        p.spec.networkRef.name === name &&
        (ns === undefined || p.metadata.namespace === undefined || p.metadata.namespace === ns) &&
        p.metadata.deletionTimestamp === undefined,
    )
    .sort((a, b) => (metaName(a.metadata) < metaName(b.metadata) ? -1 : 1))
}

/**
 * What a WitnessLoss runbook decided about a node after a restart (annotations on its key Secret,
 * see Annotations.retired/rekey/promoted; the value names the declaration).
 */
export interface NodeMarks {
  /** Its seat went to a promoted standby: no pod is created for it again. */
  readonly retired?: string
  /** It gets a fresh key and volume, then registers itself. */
  readonly rekey?: string
  /** A standby promoted into the committee: its pool grows one more member to stay warm. */
  readonly promoted?: string
  /** Machines the node's lost pod ran on: a re-keyed node's new pod stays off them. */
  readonly avoidMachines?: readonly string[]
}

/**
 * Every node of the network in a fixed order: seeds, SSNs, then pools by name, by ordinal.
 * Retired nodes are left out; a Standby pool has one member more for each of its members that
 * was promoted, so that `replicas` standbys stay warm after a disaster.
 */
export function networkNodes(
  network: EchoNetNetwork,
  pools: readonly WitnessPool[],
  marks: ReadonlyMap<string, NodeMarks> = new Map(),
): NodePlan[] {
  const net = metaName(network.metadata)
  const spec = network.spec
  const params = spec.genesis?.params ?? {}
  const minWitnessStake = params.minWitnessStake ?? DEFAULT_PARAMS.minWitnessStake
  const minSsnStake = params.minSsnStake ?? DEFAULT_PARAMS.minSsnStake
  const out: NodePlan[] = []
  const add = (
    node: string,
    role: NodeRoleLabel,
    ordinal: number,
    volume: NodePlan['volume'],
    resources: NodeResources | undefined,
    stake: number,
    pool?: string,
    nodeSelector?: Readonly<Record<string, string>>,
  ): void => {
    out.push({
      node,
      role,
      ordinal,
      ...(pool !== undefined ? { pool } : {}),
      ...(nodeSelector !== undefined ? { nodeSelector } : {}),
      podName: podName(net, node),
      pvcName: pvcName(net, node),
      keySecretName: keySecretName(net, node),
      volume,
      ...(resources !== undefined ? { resources } : {}),
      stake,
    })
  }
  for (let i = 0; i < spec.seeds.replicas; i++) add(`seed-${i}`, 'seed', i, spec.seeds.volume, spec.seeds.resources, 0)
  for (let i = 0; i < spec.storage.replicas; i++) {
    add(`ssn-${i}`, 'ssn', i, spec.storage.volume, spec.storage.resources, minSsnStake)
  }
  for (const pool of poolsOf(network, pools)) {
    for (const m of poolMembers(pool, marks)) {
      if (marks.get(m.name)?.retired !== undefined) continue
      const stake = pool.spec.stake ?? minWitnessStake
      add(m.name, m.role, m.ordinal, pool.spec.volume, pool.spec.resources, stake, m.pool, pool.spec.nodeSelector)
      const avoid = marks.get(m.name)?.avoidMachines
      if (avoid !== undefined && avoid.length > 0)
        out[out.length - 1] = { ...out[out.length - 1]!, avoidMachines: avoid }
    }
  }
  return out
}

/** Node names that two sources would both claim (e.g. a pool named `seed`): their pods would clash. */
export function duplicateNodeNames(nodes: readonly NodePlan[]): string[] {
  const seen = new Set<string>()
  const dup = new Set<string>()
  for (const n of nodes) {
    if (seen.has(n.node)) dup.add(n.node)
    seen.add(n.node)
  }
  return [...dup].sort()
}

/** Retire / rekey / promoted marks the runbooks left on the key Secrets of a network. */
export function nodeMarks(secrets: readonly SecretView[]): Map<string, NodeMarks> {
  const out = new Map<string, NodeMarks>()
  for (const s of secrets) {
    const node = s.metadata?.labels?.[NODE_LABEL]
    const a = s.metadata?.annotations ?? {}
    if (node === undefined) continue
    const avoid = a[Annotations.avoidMachines]
    const m: NodeMarks = {
      ...(a[Annotations.retired] !== undefined ? { retired: a[Annotations.retired] } : {}),
      ...(a[Annotations.rekey] !== undefined ? { rekey: a[Annotations.rekey] } : {}),
      ...(a[Annotations.promoted] !== undefined ? { promoted: a[Annotations.promoted] } : {}),
      ...(avoid !== undefined ? { avoidMachines: avoid.split(',').filter((x) => x !== '') } : {}),
    }
    if (Object.keys(m).length > 0) out.set(node, m)
  }
  return out
}
