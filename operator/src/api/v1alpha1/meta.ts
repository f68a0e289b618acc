/**
 * The parts of Kubernetes ObjectMeta that the operator reads or writes. Declared here so that
 * `api/v1alpha1` does not import `@kubernetes/client-node` (only `k8s/` does, DESIGN §2); the
 * shapes match `V1ObjectMeta`/`V1OwnerReference` on the wire (JSON).
 */
export interface OwnerReference {
  apiVersion: string
  kind: string
  name: string
  uid: string
  controller?: boolean
  blockOwnerDeletion?: boolean
}

export interface ObjectMeta {
  name?: string
  generateName?: string
  namespace?: string
  uid?: string
  resourceVersion?: string
  generation?: number
  creationTimestamp?: string
  deletionTimestamp?: string
  deletionGracePeriodSeconds?: number
  labels?: Record<string, string>
  annotations?: Record<string, string>
  finalizers?: string[]
  ownerReferences?: OwnerReference[]
  managedFields?: unknown[]
}
