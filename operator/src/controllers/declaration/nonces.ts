/**
 * Replay protection for declarations: every nonce a declaration of a network was authorized
 * with is kept, until its declaration's expiry, in a ConfigMap the network owns
 * (`<network>-declaration-nonces`). A signed declaration applied again under another name — or
 * after the first was deleted — is refused while its signatures are still valid. Written with
 * optimistic concurrency (resourceVersion), so two writers can never both claim a nonce.
 */
import { networkLabels } from '../../api/v1alpha1/labels.ts'
import type { EchoNetNetwork } from '../../api/v1alpha1/types.ts'
import type { K8sClient } from '../../k8s/index.ts'
import { isAlreadyExists } from '../../k8s/index.ts'
import { controllerRef, metaName } from '../objects.ts'
import type { ConfigMapView } from '../shared/pods.ts'

export function noncesConfigMapName(network: string): string {
  return `${network}-declaration-nonces`
}

interface Entry {
  readonly declaration: string
  readonly expiresAtMs: number
}

function parse(cm: ConfigMapView | undefined): Map<number, Entry> {
  const out = new Map<number, Entry>()
  for (const [k, v] of Object.entries(cm?.data ?? {})) {
    const nonce = Number(k.replace(/^nonce-/, ''))
    const [declaration, expires] = v.split('|')
    const expiresAtMs = Date.parse(expires ?? '')
    if (Number.isSafeInteger(nonce) && declaration !== undefined && Number.isFinite(expiresAtMs))
      out.set(nonce, { declaration, expiresAtMs })
  }
  return out
}

/** Nonces still protected now, with the declaration that used each. */
export function usedNonces(cm: ConfigMapView | undefined, nowMs: number): Map<number, string> {
  const out = new Map<number, string>()
  for (const [n, e] of parse(cm)) if (e.expiresAtMs > nowMs) out.set(n, e.declaration)
  return out
}

export class NonceTaken extends Error {
  readonly code = 'NONCE_TAKEN'
}

/**
 * Claims `nonce` for `declaration` (idempotent for the same declaration); drops expired entries.
 * Throws NonceTaken when another declaration holds it, and the API's 409 when the ConfigMap
 * changed since it was read (the caller retries with a fresh read).
 */
export async function claimNonce(
  client: K8sClient,
  network: EchoNetNetwork,
  nonce: number,
  declaration: string,
  expiresAtMs: number,
  nowMs: number,
): Promise<void> {
  const ns = network.metadata.namespace
  const name = noncesConfigMapName(metaName(network.metadata))
  const cm = await client.getOrUndefined<ConfigMapView>('v1', 'ConfigMap', name, ns)
  const entries = parse(cm)
  const held = entries.get(nonce)
  if (held !== undefined && held.expiresAtMs > nowMs) {
    if (held.declaration === declaration) return
    throw new NonceTaken(`nonce ${nonce} is held by declaration ${held.declaration}`)
  }
  const data: Record<string, string> = {}
  for (const [n, e] of entries)
    if (e.expiresAtMs > nowMs) data[`nonce-${n}`] = `${e.declaration}|${new Date(e.expiresAtMs).toISOString()}`
  data[`nonce-${nonce}`] = `${declaration}|${new Date(expiresAtMs).toISOString()}`
  if (cm === undefined) {
    try {
      await client.create({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name,
          ...(ns !== undefined ? { namespace: ns } : {}),
          labels: networkLabels(metaName(network.metadata)),
          ownerReferences: [controllerRef(network)],
        },
        data,
      })
    } catch (e) {
      if (isAlreadyExists(e)) return claimNonce(client, network, nonce, declaration, expiresAtMs, nowMs)
      throw e
    }
    return
  }
  await client.request('PUT', await client.path('v1', 'ConfigMap', ns, name), {
    body: { ...cm, data },
  })
}
