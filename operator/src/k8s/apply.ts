/**
 * Server-side apply (DESIGN §6): the operator states the fields it owns under field manager
 * `echonet-operator` and the API server merges; applying unchanged content is a no-op (no write,
 * resourceVersion unchanged). Status goes only through the `/status` subresource.
 */
import { FIELD_MANAGER } from '../api/v1alpha1/labels.ts'
import type { K8sClient, KubeObject } from './client.ts'
import { ident } from './client.ts'

export const APPLY_PATCH = 'application/apply-patch+yaml'
export const MERGE_PATCH = 'application/merge-patch+json'

export interface ApplyOptions {
  fieldManager?: string
  /** Take over fields owned by other managers (default true, as controllers do). */
  force?: boolean
  dryRun?: boolean
}

/** The object as an apply configuration: no managedFields, and no status for the main resource. */
function applyBody(obj: KubeObject, keepStatus: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = { ...(obj as Record<string, unknown>) }
  if (!keepStatus) delete body.status
  if (obj.metadata !== undefined) {
    const meta: Record<string, unknown> = { ...(obj.metadata as unknown as Record<string, unknown>) }
    delete meta.managedFields
    body.metadata = meta
  }
  return body
}

function query(opts: ApplyOptions): Record<string, string | boolean | undefined> {
  return {
    fieldManager: opts.fieldManager ?? FIELD_MANAGER,
    force: opts.force ?? true,
    dryRun: opts.dryRun === true ? 'All' : undefined,
  }
}

/** Server-side applies `obj` (any kind; found through discovery) and returns the result. */
export async function apply<T extends KubeObject>(client: K8sClient, obj: T, opts: ApplyOptions = {}): Promise<T> {
  const { apiVersion, kind, name, namespace } = ident(obj)
  if (name === '') throw new Error(`apply ${kind}: metadata.name is required`)
  const path = await client.path(apiVersion, kind, namespace, name)
  return client.request<T>('PATCH', path, {
    body: applyBody(obj, false),
    contentType: APPLY_PATCH,
    query: query(opts),
  })
}

export interface PatchStatusOptions extends ApplyOptions {
  /** `apply` (default): server-side apply of the status fields given; `merge`: a JSON merge patch. */
  mode?: 'apply' | 'merge'
}

/**
 * Writes `status` of the object named by `obj` through the `/status` subresource. With `apply`,
 * the fields given are owned by the field manager (fields it owned before and omits now are
 * removed); with `merge`, `status` is merge-patched.
 */
export async function patchStatus<T extends KubeObject>(
  client: K8sClient,
  obj: KubeObject,
  status: unknown,
  opts: PatchStatusOptions = {},
): Promise<T> {
  const { apiVersion, kind, name, namespace } = ident(obj)
  const path = await client.path(apiVersion, kind, namespace, name, 'status')
  if (opts.mode === 'merge') {
    return client.request<T>('PATCH', path, {
      body: { status },
      contentType: MERGE_PATCH,
      query: { dryRun: opts.dryRun === true ? 'All' : undefined },
    })
  }
  return client.request<T>('PATCH', path, {
    body: { apiVersion, kind, metadata: { name, ...(namespace !== undefined ? { namespace } : {}) }, status },
    contentType: APPLY_PATCH,
    query: query(opts),
  })
}
