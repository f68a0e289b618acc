// Minimal shapes of the Kubernetes objects the agent reads and writes, as plain JSON.
//
// Spec types come from @kubernetes/client-node (they hold no dates); metadata and status are
// declared here because the agent talks raw JSON (timestamps are RFC 3339 strings, not the
// `Date` objects of client-node's deserializer).
import type * as k8s from '@kubernetes/client-node'

/**
 * Structural (plain JSON) version of a client-node model class: the agent builds and receives
 * object literals, never instances of those classes.
 */
export type Plain<T> = T extends (infer U)[]
  ? Plain<U>[]
  : T extends Date
    ? string
    : T extends object
      ? { [K in keyof T]: Plain<T[K]> }
      : T

export type PodSpec = Plain<k8s.V1PodSpec>
export type Container = Plain<k8s.V1Container>
export type Probe = Plain<k8s.V1Probe>
export type Volume = Plain<k8s.V1Volume>
export type KeyToPath = Plain<k8s.V1KeyToPath>
export type ObjectFieldSelector = Plain<k8s.V1ObjectFieldSelector>
export type ResourceFieldSelector = Plain<k8s.V1ResourceFieldSelector>
export type PersistentVolumeClaimSpec = Plain<k8s.V1PersistentVolumeClaimSpec>
export type PersistentVolumeSpec = Plain<k8s.V1PersistentVolumeSpec>
export type NodeSpec = Plain<k8s.V1NodeSpec>

export interface OwnerReference {
  apiVersion: string
  kind: string
  name: string
  uid: string
  controller?: boolean
}

export interface ObjectMeta {
  name: string
  namespace?: string
  uid: string
  resourceVersion?: string
  generation?: number
  creationTimestamp?: string
  deletionTimestamp?: string
  deletionGracePeriodSeconds?: number
  labels?: Record<string, string>
  annotations?: Record<string, string>
  ownerReferences?: OwnerReference[]
  finalizers?: string[]
}

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
}

export interface Condition {
  type: string
  status: 'True' | 'False' | 'Unknown'
  reason?: string
  message?: string
  lastTransitionTime?: string
  lastProbeTime?: string | null
  lastHeartbeatTime?: string
}

/** Container state with string timestamps (client-node's types use `Date`). */
export interface ContainerState {
  running?: { startedAt?: string }
  waiting?: { reason?: string; message?: string }
  terminated?: {
    exitCode: number
    signal?: number
    reason?: string
    message?: string
    startedAt?: string
    finishedAt?: string
    containerID?: string
  }
}

export interface ContainerStatus {
  name: string
  image: string
  imageID: string
  containerID?: string
  ready: boolean
  started?: boolean
  restartCount: number
  state: ContainerState
  lastState: ContainerState
}

export interface PodStatus {
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown'
  conditions?: Condition[]
  message?: string
  reason?: string
  hostIP?: string
  hostIPs?: { ip: string }[]
  podIP?: string
  podIPs?: { ip: string }[]
  startTime?: string
  initContainerStatuses?: ContainerStatus[]
  containerStatuses?: ContainerStatus[]
}

export interface Pod extends KubeObject {
  spec: PodSpec
  status?: PodStatus
}

export interface Secret extends KubeObject {
  data?: Record<string, string>
  stringData?: Record<string, string>
  type?: string
}

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>
  binaryData?: Record<string, string>
}

export interface PersistentVolumeClaim extends KubeObject {
  spec: PersistentVolumeClaimSpec
  status?: { phase?: 'Pending' | 'Bound' | 'Lost'; capacity?: Record<string, string> }
}

export interface PersistentVolume extends KubeObject {
  spec: PersistentVolumeSpec
  status?: { phase?: 'Pending' | 'Available' | 'Bound' | 'Released' | 'Failed'; message?: string }
}

export interface NodeStatus {
  capacity?: Record<string, string>
  allocatable?: Record<string, string>
  conditions?: Condition[]
  addresses?: { type: string; address: string }[]
  daemonEndpoints?: { kubeletEndpoint?: { Port: number } }
  nodeInfo?: Record<string, string>
}

export interface Node extends KubeObject {
  spec?: NodeSpec
  status?: NodeStatus
}

export interface Lease extends KubeObject {
  spec: {
    holderIdentity?: string
    leaseDurationSeconds?: number
    acquireTime?: string
    renewTime?: string
  }
}

export interface ObjectList<T> {
  metadata: { resourceVersion?: string; continue?: string }
  items: T[]
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'
  object: T
}

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(o: KubeObject): string {
  return o.metadata.namespace === undefined ? o.metadata.name : `${o.metadata.namespace}/${o.metadata.name}`
}
