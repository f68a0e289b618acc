/**
 * The recovery agent's key (`spec.recovery.agentKeySecretRef`): read from the user's Secret on
 * demand, parsed once per Secret version. The operator holds no council key; this key signs only
 * what the council's standing policy allows (nodes check), and funds the keys it adds.
 */
import { parseKeyFile } from '@echonet/node/identity'
import type { NodeIdentity } from '@echonet/node/identity'
import type { EchoNetNetwork } from '../../api/v1alpha1/types.ts'
import type { K8sClient } from '../../k8s/index.ts'
import type { SecretView } from './pods.ts'

export class AgentKeys {
  readonly #client: K8sClient
  readonly #cache = new Map<string, { version: string; id: NodeIdentity }>()

  constructor(client: K8sClient) {
    this.#client = client
  }

  /** The agent identity of `network`, or undefined (no ref, no Secret, or not a key: `problem` says). */
  async get(network: EchoNetNetwork): Promise<{ id?: NodeIdentity; problem?: string }> {
    const ref = network.spec.recovery.agentKeySecretRef
    if (ref === undefined) return { problem: 'no recovery.agentKeySecretRef' }
    const ns = network.metadata.namespace
    const s = await this.#client.getOrUndefined<SecretView>('v1', 'Secret', ref.name, ns)
    if (s === undefined) return { problem: `Secret ${ref.name} (recovery.agentKeySecretRef) does not exist` }
    const cacheKey = `${ns ?? ''}/${ref.name}/${ref.key}`
    const version = s.metadata?.resourceVersion ?? ''
    const hit = this.#cache.get(cacheKey)
    if (hit !== undefined && hit.version === version) return { id: hit.id }
    const b64 = s.data?.[ref.key]
    if (b64 === undefined) return { problem: `Secret ${ref.name} has no key ${ref.key}` }
    try {
      const id = parseKeyFile(Buffer.from(b64, 'base64').toString('utf8'), `Secret ${ref.name}/${ref.key}`)
      this.#cache.set(cacheKey, { version, id })
      return { id }
    } catch (err) {
      return { problem: (err as Error).message }
    }
  }
}
