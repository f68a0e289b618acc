/**
 * Node key and admin token Secrets (pure): the objects to create from generated material, and the
 * node keys read back from existing Secrets. A key Secret carries the node's DID and PeerId as
 * annotations, so that the operator never parses private keys after generating them.
 */
import { Annotations, Labels, networkLabels } from '../../api/v1alpha1/labels.ts'
import type { EchoNetNetwork } from '../../api/v1alpha1/types.ts'
import { controllerRef, metaName } from '../objects.ts'
import type { DesiredMeta } from '../objects.ts'
import type { NodeKey } from './desired.ts'
import type { AdminTokenSecret, NodeKeySecret } from './keys.ts'
import { NODE_LABEL } from '../shared/nodes.ts'

export interface SecretObject {
  apiVersion: 'v1'
  kind: 'Secret'
  metadata: DesiredMeta & { finalizers?: string[] }
  type: 'Opaque'
  /** Plain values; the API server stores them base64 in `data`. */
  stringData: Record<string, string>
}

/** What the reconcile reads of an existing Secret. */
export interface ObservedSecret {
  readonly metadata?: {
    readonly name?: string
    readonly labels?: Readonly<Record<string, string>>
    readonly annotations?: Readonly<Record<string, string>>
    readonly deletionTimestamp?: string | Date
    readonly finalizers?: readonly string[]
  }
}

export interface GeneratedKey {
  readonly did: string
  readonly peerId: string
  /** The key file (`echonet-node keygen` JSON). */
  readonly keyFile: string
}

/** An Opaque Secret owned by the network, with its labels and one key. */
function ownedSecret(
  network: EchoNetNetwork,
  name: string,
  labels: Record<string, string>,
  data: Record<string, string>,
  extra: { annotations?: Record<string, string>; finalizers?: readonly string[] } = {},
): SecretObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      ...(network.metadata.namespace !== undefined ? { namespace: network.metadata.namespace } : {}),
      labels,
      ...(extra.annotations !== undefined ? { annotations: extra.annotations } : {}),
      ownerReferences: [controllerRef(network)],
      ...(extra.finalizers !== undefined && extra.finalizers.length > 0 ? { finalizers: [...extra.finalizers] } : {}),
    },
    type: 'Opaque',
    stringData: data,
  }
}

export function nodeKeySecret(network: EchoNetNetwork, plan: NodeKeySecret, key: GeneratedKey): SecretObject {
  const net = metaName(network.metadata)
  return ownedSecret(
    network,
    plan.secretName,
    { ...networkLabels(net, plan.role), [Labels.component]: 'node-key', [NODE_LABEL]: plan.node },
    { [plan.key]: key.keyFile },
    { annotations: { [Annotations.did]: key.did, [Annotations.peerId]: key.peerId }, finalizers: plan.finalizers },
  )
}

export function adminTokenSecretObject(network: EchoNetNetwork, plan: AdminTokenSecret, token: string): SecretObject {
  const net = metaName(network.metadata)
  return ownedSecret(
    network,
    plan.secretName,
    { ...networkLabels(net), [Labels.component]: 'admin-token' },
    { [plan.key]: token },
  )
}

/**
 * DID and PeerId per node name, from the key Secrets of the network (by the node label and the
 * annotations written at generation). A Secret without them (e.g. made by hand) is skipped.
 */
export function nodeKeysFromSecrets(secrets: readonly ObservedSecret[]): Map<string, NodeKey> {
  const out = new Map<string, NodeKey>()
  for (const s of secrets) {
    const node = s.metadata?.labels?.[NODE_LABEL]
    const did = s.metadata?.annotations?.[Annotations.did]
    const peerId = s.metadata?.annotations?.[Annotations.peerId]
    if (node === undefined || did === undefined || peerId === undefined) continue
    if (s.metadata?.deletionTimestamp !== undefined) continue
    out.set(node, { did, peerId })
  }
  return out
}
