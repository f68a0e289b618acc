/**
 * Carrying out what a WitnessLoss runbook decided after a restart (marks on key Secrets), pure.
 * A retired node's pod object is force-deleted (its machine is gone: no kubelet will confirm a
 * graceful end, and its key was demoted by the restart, so it can no longer sign in the new
 * epoch). A node to re-key loses its pod, then its volume, then gets a fresh key in the same
 * Secret — in that order, one step per reconcile, so a key never meets a stale volume or pod.
 */
import type { NodeMarks, NodePlan } from '../shared/nodes.ts'

export type MarkAction =
  | { readonly kind: 'forceDeletePod'; readonly node: string; readonly pod: string; readonly why: string }
  | { readonly kind: 'deleteVolume'; readonly node: string; readonly pvc: string }
  | { readonly kind: 'rotateKey'; readonly node: string; readonly secret: string; readonly declaration: string }

export interface MarkedNode {
  readonly node: string
  readonly podName: string
  readonly pvcName: string
  readonly keySecretName: string
  readonly marks: NodeMarks
  /** Any pod object of the node exists (running, terminating, or stuck on a lost machine). */
  readonly podExists: boolean
  readonly pvcExists: boolean
}

export function markActions(nodes: readonly MarkedNode[]): MarkAction[] {
  const out: MarkAction[] = []
  for (const n of nodes) {
    if (n.marks.retired !== undefined) {
      if (n.podExists)
        out.push({ kind: 'forceDeletePod', node: n.node, pod: n.podName, why: `retired by ${n.marks.retired}` })
      continue
    }
    const decl = n.marks.rekey
    if (decl === undefined) continue
    if (n.podExists) out.push({ kind: 'forceDeletePod', node: n.node, pod: n.podName, why: `re-keyed by ${decl}` })
    else if (n.pvcExists) out.push({ kind: 'deleteVolume', node: n.node, pvc: n.pvcName })
    else out.push({ kind: 'rotateKey', node: n.node, secret: n.keySecretName, declaration: decl })
  }
  return out
}

/** Nodes of the plan (and retired ones left out of it) with their marks. */
export function markedNodes(
  plan: readonly NodePlan[],
  retired: readonly NodePlan[],
  marks: ReadonlyMap<string, NodeMarks>,
  has: { pod(name: string): boolean; pvc(name: string): boolean },
): MarkedNode[] {
  return [...plan, ...retired].flatMap((n) => {
    const m = marks.get(n.node)
    if (m === undefined || (m.retired === undefined && m.rekey === undefined)) return []
    return [
      {
        node: n.node,
        podName: n.podName,
        pvcName: n.pvcName,
        keySecretName: n.keySecretName,
        marks: m,
        podExists: has.pod(n.podName),
        pvcExists: has.pvc(n.pvcName),
      },
    ]
  })
}
