/**
 * Force-deleting a pod object (grace period 0): for pods on a lost machine, where no kubelet will
 * ever confirm the end of the process. Callers decide when this is safe for the node's role.
 */
import type { K8sClient } from '../../k8s/index.ts'
import { isNotFound } from '../../k8s/index.ts'

export async function forceDeletePod(client: K8sClient, ns: string | undefined, pod: string): Promise<void> {
  const path = await client.path('v1', 'Pod', ns, pod)
  try {
    await client.request('DELETE', path, { body: { gracePeriodSeconds: 0 } })
  } catch (e) {
    if (!isNotFound(e)) throw e
  }
}
