/**
 * Which Secrets a network needs (pure). The reconcile generates an Ed25519 key for every missing
 * node Secret and a random admin token if the user gave none. The operator only ever holds node
 * keys and the admin token — never council keys (council actions are signed outside the cluster).
 */
import { Finalizers } from '../../api/v1alpha1/labels.ts'
import type { NodeRoleLabel } from '../../api/v1alpha1/labels.ts'
import type { EchoNetNetwork, WitnessPool } from '../../api/v1alpha1/types.ts'
import { networkNodes } from '../shared/nodes.ts'
import type { NodePlan } from '../shared/nodes.ts'

/** Key within a node key Secret holding the key file (`echonet-node keygen` JSON). */
export const NODE_KEY_SECRET_KEY = 'node.key'

export interface NodeKeySecret {
  readonly secretName: string
  readonly node: string
  readonly role: NodeRoleLabel
  readonly key: typeof NODE_KEY_SECRET_KEY
  /**
   * Finalizers to put on the Secret: witness and standby keys are protected, so a key is never
   * lost while a pod may still sign with it (labels.ts `Finalizers.witnessKey`).
   */
  readonly finalizers: readonly string[]
}

/** Every node key Secret the network needs, in node order (of `plan`, the reconcile's node plan). */
export function requiredNodeKeys(
  network: EchoNetNetwork,
  pools: readonly WitnessPool[],
  plan: readonly NodePlan[] = networkNodes(network, pools),
): NodeKeySecret[] {
  return plan.map((n) => ({
    secretName: n.keySecretName,
    node: n.node,
    role: n.role,
    key: NODE_KEY_SECRET_KEY,
    finalizers: n.role === 'witness' || n.role === 'standby' ? [Finalizers.witnessKey] : [],
  }))
}

/** The required node key Secrets not among `existingSecretNames`: the ones to generate. */
export function missingNodeKeys(
  network: EchoNetNetwork,
  pools: readonly WitnessPool[],
  existingSecretNames: ReadonlySet<string>,
  plan?: readonly NodePlan[],
): NodeKeySecret[] {
  return requiredNodeKeys(network, pools, plan).filter((k) => !existingSecretNames.has(k.secretName))
}

export { adminTokenSecret } from '../shared/network-objects.ts'
export type { AdminTokenSecret } from '../shared/network-objects.ts'
