/**
 * Test inputs shared by the controller tests: the chart's example network (validated, defaults
 * applied, as read from the API server) and deterministic node keys (real did:key and PeerId).
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import yaml from 'js-yaml'
import { NodeIdentity } from '../../../../node-image/src/crypto/identity.ts'
import { formatErrors, validateResource } from '../../api/v1alpha1/validate.ts'
import type { EchoNetNetwork, WitnessPool } from '../../api/v1alpha1/types.ts'
import type { NodeKey } from './desired.ts'

const EXAMPLE = fileURLToPath(new URL('../../../../charts/echonet-operator/examples/network.yaml', import.meta.url))

export function exampleObjects(): { network: EchoNetNetwork; pools: WitnessPool[] } {
  const docs = yaml.loadAll(readFileSync(EXAMPLE, 'utf8')).filter((d) => d !== null && d !== undefined)
  const valid = docs.map((d) => {
    const r = validateResource(d)
    if (!r.ok) throw new Error(formatErrors(r.errors))
    return r.value
  })
  const [network, ...pools] = valid as [EchoNetNetwork, ...WitnessPool[]]
  network.metadata = {
    ...network.metadata,
    namespace: 'echonet',
    uid: '8b1e3c1a-0000-4000-8000-000000000001',
    generation: 1,
    creationTimestamp: '2026-11-24T10:00:00Z',
  }
  for (const p of pools) p.metadata = { ...p.metadata, namespace: 'echonet' }
  return { network, pools }
}

const cache = new Map<string, NodeKey>()

/** A deterministic key per node name: seed = sha256(name). */
export function keyOf(node: string): NodeKey {
  let k = cache.get(node)
  if (k === undefined) {
    const id = NodeIdentity.fromSeed(createHash('sha256').update(node).digest())
    k = { did: id.did, peerId: id.peerId().toString() }
    cache.set(node, k)
  }
  return k
}

export function keysFor(nodes: Iterable<string>): Map<string, NodeKey> {
  return new Map([...nodes].map((n) => [n, keyOf(n)]))
}
