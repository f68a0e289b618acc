/**
 * How the CLI reaches a network's nodes — the way the operator does: each node pod's IP on the
 * admin port, with the network's admin token from its Secret. The token is read, sent to the
 * node, and never printed (errors name the Secret, not its data). Where pod IPs are not routable
 * from the user's machine, `--admin-url` (e.g. through `kubectl port-forward`) replaces discovery.
 */
import type { AdminStatus } from '@echonet/node/admin'
import type { EchoNetNetwork } from '../api/v1alpha1/types.ts'
import { Labels } from '../api/v1alpha1/labels.ts'
import type { K8sClient } from '../k8s/index.ts'
import { adminTokenSecret } from '../controllers/shared/network-objects.ts'
import { NODE_LABEL } from '../controllers/shared/nodes.ts'
import { adminUrl, publicUrl } from '../controllers/shared/node-admin.ts'
import { podReady } from '../controllers/shared/pods.ts'
import type { PodView, SecretView } from '../controllers/shared/pods.ts'
import { CodedError } from '@echonet/node/errors'

export interface NodeTarget {
  /** The node's name in the network (`<pool>-<i>`), or the URL given. */
  readonly node: string
  readonly adminUrl: string
  /** The node's public API (events, accounts, the emergency state), when discovered. */
  readonly publicUrl?: string
}

export class NodeReachError extends CodedError {}

/** The network's admin token (from the Secret the operator uses); never printed. */
export async function adminTokenOf(c: K8sClient, net: EchoNetNetwork, namespace: string): Promise<string> {
  const ref = adminTokenSecret(net)
  const s = await c.getOrUndefined<SecretView>('v1', 'Secret', ref.secretName, namespace)
  const b64 = s?.data?.[ref.key]
  if (b64 === undefined) {
    throw new NodeReachError('NO_ADMIN_TOKEN', `no key ${ref.key} in Secret ${namespace}/${ref.secretName}`)
  }
  return Buffer.from(b64, 'base64').toString('utf8').trim()
}

/** Ready witness and standby pods with an IP: the nodes that hold the certified chain and vote. */
export async function voterTargets(c: K8sClient, net: EchoNetNetwork, namespace: string): Promise<NodeTarget[]> {
  const pods = await c.list<PodView>('v1', 'Pod', namespace, {
    labelSelector: `${Labels.network}=${net.metadata.name ?? ''}`,
  })
  return pods.items
    .filter((p) => ['witness', 'standby'].includes(p.metadata?.labels?.[Labels.role] ?? ''))
    .filter((p) => podReady(p) && (p.status?.podIP ?? '') !== '')
    .map((p) => ({
      node: p.metadata?.labels?.[NODE_LABEL] ?? p.metadata?.name ?? '',
      adminUrl: adminUrl(p.status?.podIP ?? ''),
      publicUrl: publicUrl(p.status?.podIP ?? ''),
    }))
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
}

/**
 * The node to plan on, pure: the one named, or else the answering node with the highest finalized
 * block (what every other node can reach by block sync; nothing finalized is left out).
 */
export function pickNode<T extends { node: string; status?: AdminStatus }>(
  candidates: readonly T[],
  named?: string,
): T {
  if (named !== undefined) {
    const n = candidates.find((c) => c.node === named)
    if (n === undefined) throw new NodeReachError('NODE_NOT_FOUND', `no ready witness or standby named ${named}`)
    if (n.status === undefined) throw new NodeReachError('UNREACHABLE', `${named} does not answer on its admin API`)
    return n
  }
  let best: T | undefined
  for (const c of candidates) {
    if (
      c.status !== undefined &&
      (best?.status === undefined || c.status.finalizedHeight > best.status.finalizedHeight)
    ) {
      best = c
    }
  }
  if (best === undefined) throw new NodeReachError('UNREACHABLE', 'no witness or standby answers on its admin API')
  return best
}
