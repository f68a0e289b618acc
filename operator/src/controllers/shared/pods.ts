/**
 * The parts of Pods, Secrets and ConfigMaps the controllers read from the informer caches, and
 * the pod predicates they share.
 */
import type { KubeObject } from '../../k8s/index.ts'
import type { ObservedKeyPod } from './key-pods.ts'

export interface PodView extends KubeObject {
  spec?: { nodeName?: string }
  status?: {
    phase?: ObservedKeyPod['phase']
    podIP?: string
    conditions?: { type: string; status: string; lastTransitionTime?: string }[]
    containerStatuses?: { restartCount?: number; state?: { waiting?: { reason?: string } } }[]
  }
}

export interface SecretView extends KubeObject {
  data?: Record<string, string>
}

/** An owned object as cached; `data` is read on ConfigMaps. */
export interface ConfigMapView extends KubeObject {
  data?: Record<string, string>
}

export function podReady(p: PodView | undefined): boolean {
  return p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
}

export function crashLooping(p: PodView): boolean {
  return p.status?.containerStatuses?.some((c) => c.state?.waiting?.reason === 'CrashLoopBackOff') ?? false
}

/** Exists and is not being deleted. */
export function podLive(p: PodView | undefined): p is PodView {
  return p !== undefined && p.metadata?.deletionTimestamp === undefined
}
