/**
 * Names of the objects every controller of a network reads: the admin token Secret and the
 * genesis ConfigMap.
 */
import type { EchoNetNetwork } from '../../api/v1alpha1/types.ts'
import { metaName } from '../objects.ts'

export const GENESIS_KEY = 'genesis.json'

export function genesisConfigMapName(network: string): string {
  return `${network}-genesis`
}

export interface AdminTokenSecret {
  readonly secretName: string
  readonly key: string
  /** True when the operator generates it (no spec.adminTokenSecretRef). */
  readonly generate: boolean
}

/** The admin API token Secret: the user's, or `<network>-admin-token` that the operator generates. */
export function adminTokenSecret(network: EchoNetNetwork): AdminTokenSecret {
  const ref = network.spec.adminTokenSecretRef
  if (ref !== undefined) return { secretName: ref.name, key: ref.key, generate: false }
  return { secretName: `${metaName(network.metadata)}-admin-token`, key: 'token', generate: true }
}
