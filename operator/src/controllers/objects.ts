/**
 * Small structural types of the Kubernetes objects the controllers produce: plain JSON, ready for
 * server-side apply. Declared here so that controllers do not import `@kubernetes/client-node`
 * (only `k8s/` does, DESIGN §2); field names match the API's JSON on the wire.
 */
import { createHash } from 'node:crypto'
import { Annotations } from '../api/v1alpha1/labels.ts'
import type { EchoNetNetwork } from '../api/v1alpha1/types.ts'
import type { ObjectMeta, OwnerReference } from '../api/v1alpha1/meta.ts'

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = Record<string, JsonValue>

/** Metadata of an object the operator applies (always named, namespaced, labelled, owned). */
export interface DesiredMeta {
  name: string
  namespace?: string
  labels: Record<string, string>
  annotations?: Record<string, string>
  ownerReferences: OwnerReference[]
}

export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: DesiredMeta
  spec?: JsonObject
  data?: Record<string, string>
}

export interface ConfigMapObject extends KubeObject {
  apiVersion: 'v1'
  kind: 'ConfigMap'
  data: Record<string, string>
}

export interface PodObject extends KubeObject {
  apiVersion: 'v1'
  kind: 'Pod'
  spec: JsonObject
}

/** The owner reference that makes `network` the controller of an object (GC on deletion). */
export function controllerRef(network: EchoNetNetwork): OwnerReference {
  return {
    apiVersion: network.apiVersion,
    kind: network.kind,
    name: metaName(network.metadata),
    uid: network.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  }
}

export function metaName(meta: ObjectMeta): string {
  if (meta.name === undefined || meta.name === '') throw new Error('object has no metadata.name')
  return meta.name
}

/** JSON with object keys sorted at every level: byte-identical for equal inputs. */
export function stableJson(v: unknown, indent = 2): string {
  return JSON.stringify(sortKeys(v), null, indent) + '\n'
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(o).sort()) {
      if (o[k] !== undefined) out[k] = sortKeys(o[k])
    }
    return out
  }
  return v
}

/** `obj` with the `applied-hash` annotation: sha256 of its canonical JSON (without that annotation). */
export function withAppliedHash<T extends KubeObject>(obj: T): T {
  const { [Annotations.appliedHash]: _old, ...annotations } = obj.metadata.annotations ?? {}
  const bare = { ...obj, metadata: { ...obj.metadata, annotations } }
  const hash = createHash('sha256').update(stableJson(bare, 0)).digest('hex').slice(0, 32)
  return { ...obj, metadata: { ...obj.metadata, annotations: { ...annotations, [Annotations.appliedHash]: hash } } }
}

/**
 * True when `existing` (from the cache) was applied from exactly `desired` (as returned by
 * withAppliedHash) and is not being deleted: applying again would change nothing.
 */
export function appliedUpToDate(
  desired: KubeObject,
  existing: { metadata?: { annotations?: Record<string, string>; deletionTimestamp?: unknown } } | undefined,
): boolean {
  if (existing?.metadata === undefined || existing.metadata.deletionTimestamp !== undefined) return false
  const want = desired.metadata.annotations?.[Annotations.appliedHash]
  return want !== undefined && existing.metadata.annotations?.[Annotations.appliedHash] === want
}

/**
 * The JSON merge patch (RFC 7386) that turns `prev` into `next`. A merge patch keeps every field it
 * does not mention, so fields `next` no longer has are sent as null (e.g. status.rollout once a
 * rollout ends); objects are compared field by field, everything else is replaced.
 */
export function mergePatchFrom(prev: unknown, next: unknown): unknown {
  if (!isPlainObject(prev) || !isPlainObject(next)) return next
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(next)) {
    if (v !== undefined) out[k] = k in prev ? mergePatchFrom(prev[k], v) : v
  }
  for (const [k, v] of Object.entries(prev)) if (v !== undefined && next[k] === undefined) out[k] = null
  return out
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
