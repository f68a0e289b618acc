// What each pod volume holds (pure): the files of Secret, ConfigMap, downward-API and projected
// volumes, or where the data lives (emptyDir, PVC, hostPath).
import type { ConfigMap, KeyToPath, Pod, Secret, Volume } from './kube/types.ts'
import { fieldRefValue, resourceFieldValue, type EnvSources, type PodRuntimeInfo } from './env.ts'

export interface FileContent {
  content: Buffer
  mode: number
}

export type VolumePlan =
  | { kind: 'emptyDir' }
  | { kind: 'files'; files: Map<string, FileContent> }
  | { kind: 'pvc'; claimName: string }
  | { kind: 'hostPath'; path: string }
  | { kind: 'error'; message: string }

export interface TokenKey {
  audience: string
  expirationSeconds: number
}

export interface VolumeSources extends EnvSources {
  /** A service-account token for the pod, fetched beforehand (see tokenKeys). */
  token(key: TokenKey): string | undefined
}

/** Default of the ServiceAccount admission plugin's kube-api-access volume. */
export const DEFAULT_TOKEN_SECONDS = 3607

/**
 * Secret material is owner-only on the host: processes of one user share the filesystem, so the
 * group/other bits of the requested mode (0644 by default) would expose it to other users.
 */
export function secretFileMode(mode: number): number {
  const owner = mode & 0o700
  return owner === 0 ? 0o400 : owner
}

function safeRelPath(p: string): boolean {
  return p !== '' && !p.startsWith('/') && !p.split('/').includes('..')
}

type Projected = { ok: true; files: [string, FileContent][] } | { ok: false; message: string }

function keyFiles(
  kind: 'secret' | 'configmap',
  name: string,
  data: Record<string, Buffer> | undefined,
  items: KeyToPath[] | undefined,
  optional: boolean,
  defaultMode: number,
): Projected {
  if (data === undefined) {
    return optional ? { ok: true, files: [] } : { ok: false, message: `${kind} "${name}" not found` }
  }
  const modeOf = (m: number): number => (kind === 'secret' ? secretFileMode(m) : m)
  const files: [string, FileContent][] = []
  if (items === undefined || items.length === 0) {
    for (const [k, v] of Object.entries(data)) files.push([k, { content: v, mode: modeOf(defaultMode) }])
    return { ok: true, files }
  }
  for (const it of items) {
    const v = data[it.key]
    if (v === undefined) {
      if (optional) continue
      return { ok: false, message: `configuration of ${kind} "${name}" references non-existent key ${it.key}` }
    }
    files.push([it.path, { content: v, mode: modeOf(it.mode ?? defaultMode) }])
  }
  return { ok: true, files }
}

function secretBytes(s: Secret | undefined): Record<string, Buffer> | undefined {
  if (s === undefined) return undefined
  const out: Record<string, Buffer> = {}
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64')
  return out
}

function configMapBytes(c: ConfigMap | undefined): Record<string, Buffer> | undefined {
  if (c === undefined) return undefined
  const out: Record<string, Buffer> = {}
  for (const [k, v] of Object.entries(c.binaryData ?? {})) out[k] = Buffer.from(v, 'base64')
  for (const [k, v] of Object.entries(c.data ?? {})) out[k] = Buffer.from(v, 'utf8')
  return out
}

function downwardFiles(
  items: {
    path: string
    mode?: number
    fieldRef?: { fieldPath: string }
    resourceFieldRef?: { resource: string; containerName?: string; divisor?: string }
  }[],
  defaultMode: number,
  pod: Pod,
  rt: PodRuntimeInfo,
): Projected {
  const files: [string, FileContent][] = []
  for (const it of items) {
    let r: { value: string } | { error: string }
    if (it.fieldRef !== undefined) r = fieldRefValue(it.fieldRef, pod, rt)
    else if (it.resourceFieldRef !== undefined) {
      const ref = it.resourceFieldRef
      r = resourceFieldValue(
        ref,
        pod.spec.containers.find((c) => c.name === ref.containerName),
        rt.nodeAllocatable,
      )
    } else r = { error: 'no fieldRef or resourceFieldRef' }
    if ('error' in r) return { ok: false, message: `downwardAPI ${it.path}: ${r.error}` }
    files.push([it.path, { content: Buffer.from(r.value, 'utf8'), mode: it.mode ?? defaultMode }])
  }
  return { ok: true, files }
}

function toPlan(results: Projected[]): VolumePlan {
  const files = new Map<string, FileContent>()
  for (const r of results) {
    if (!r.ok) return { kind: 'error', message: r.message }
    for (const [p, f] of r.files) {
      if (!safeRelPath(p)) return { kind: 'error', message: `invalid path ${JSON.stringify(p)}` }
      files.set(p, f)
    }
  }
  return { kind: 'files', files }
}

export function planVolume(v: Volume, pod: Pod, rt: PodRuntimeInfo, src: VolumeSources): VolumePlan {
  if (v.emptyDir !== undefined) return { kind: 'emptyDir' }
  if (v.persistentVolumeClaim !== undefined) return { kind: 'pvc', claimName: v.persistentVolumeClaim.claimName }
  if (v.hostPath !== undefined) return { kind: 'hostPath', path: v.hostPath.path }
  if (v.secret !== undefined) {
    const s = v.secret
    const name = s.secretName ?? ''
    return toPlan([
      keyFiles('secret', name, secretBytes(src.secret(name)), s.items, s.optional === true, s.defaultMode ?? 0o644),
    ])
  }
  if (v.configMap !== undefined) {
    const c = v.configMap
    const name = c.name ?? ''
    return toPlan([
      keyFiles(
        'configmap',
        name,
        configMapBytes(src.configMap(name)),
        c.items,
        c.optional === true,
        c.defaultMode ?? 0o644,
      ),
    ])
  }
  if (v.downwardAPI !== undefined) {
    return toPlan([downwardFiles(v.downwardAPI.items ?? [], v.downwardAPI.defaultMode ?? 0o644, pod, rt)])
  }
  if (v.projected !== undefined) {
    const defaultMode = v.projected.defaultMode ?? 0o644
    const results: Projected[] = []
    for (const p of v.projected.sources ?? []) {
      if (p.secret !== undefined) {
        const name = p.secret.name ?? ''
        results.push(
          keyFiles(
            'secret',
            name,
            secretBytes(src.secret(name)),
            p.secret.items,
            p.secret.optional === true,
            defaultMode,
          ),
        )
      } else if (p.configMap !== undefined) {
        const name = p.configMap.name ?? ''
        results.push(
          keyFiles(
            'configmap',
            name,
            configMapBytes(src.configMap(name)),
            p.configMap.items,
            p.configMap.optional === true,
            defaultMode,
          ),
        )
      } else if (p.downwardAPI !== undefined) {
        results.push(downwardFiles(p.downwardAPI.items ?? [], defaultMode, pod, rt))
      } else if (p.serviceAccountToken !== undefined) {
        const key = tokenKeyOf(p.serviceAccountToken)
        const token = src.token(key)
        results.push(
          token === undefined
            ? { ok: false, message: 'service account token not available yet' }
            : {
                ok: true,
                files: [
                  [p.serviceAccountToken.path, { content: Buffer.from(token), mode: secretFileMode(defaultMode) }],
                ],
              },
        )
      } else {
        results.push({ ok: false, message: 'unsupported projected volume source (clusterTrustBundle/podCertificate)' })
      }
    }
    return toPlan(results)
  }
  const kind = Object.keys(v).find((k) => k !== 'name') ?? 'unknown'
  return { kind: 'error', message: `volume type ${kind} is not supported by the local agent` }
}

export function tokenKeyOf(p: { audience?: string; expirationSeconds?: number }): TokenKey {
  return { audience: p.audience ?? '', expirationSeconds: p.expirationSeconds ?? DEFAULT_TOKEN_SECONDS }
}

export function tokenKeyString(k: TokenKey): string {
  return `${k.audience}|${k.expirationSeconds}`
}

/** Service-account tokens the pod's projected volumes need. */
export function tokenKeys(pod: Pod): TokenKey[] {
  const out = new Map<string, TokenKey>()
  for (const v of pod.spec.volumes ?? []) {
    for (const s of v.projected?.sources ?? []) {
      if (s.serviceAccountToken !== undefined) {
        const k = tokenKeyOf(s.serviceAccountToken)
        out.set(tokenKeyString(k), k)
      }
    }
  }
  return [...out.values()]
}

/** Secrets and ConfigMaps the pod's volumes refer to (to refresh them when those change). */
export function volumeReferences(pod: Pod): { secrets: string[]; configMaps: string[] } {
  const secrets = new Set<string>()
  const configMaps = new Set<string>()
  for (const v of pod.spec.volumes ?? []) {
    if (v.secret?.secretName !== undefined) secrets.add(v.secret.secretName)
    if (v.configMap?.name !== undefined) configMaps.add(v.configMap.name)
    for (const s of v.projected?.sources ?? []) {
      if (s.secret?.name !== undefined) secrets.add(s.secret.name)
      if (s.configMap?.name !== undefined) configMaps.add(s.configMap.name)
    }
  }
  return { secrets: [...secrets], configMaps: [...configMaps] }
}
