// Container environment, as the kubelet builds it (pure): service variables first, then
// `envFrom` sources in order, then `env` entries in order with `$(VAR)` expansion against what
// is defined so far; `$(VAR)` in command and args is expanded against the final environment.
import type { ConfigMap, Container, ObjectFieldSelector, Pod, ResourceFieldSelector, Secret } from './kube/types.ts'
import { parseQuantity } from './quantity.ts'

/** What the environment may refer to, already fetched. `undefined` = object does not exist. */
export interface EnvSources {
  secret(name: string): Secret | undefined
  configMap(name: string): ConfigMap | undefined
}

export interface PodRuntimeInfo {
  podIP: string
  hostIP: string
  nodeName: string
  /** For resourceFieldRef without a container limit (the kubelet uses node allocatable). */
  nodeAllocatable: Record<string, string>
}

export type EnvResult =
  | { ok: true; env: Record<string, string>; warnings: string[] }
  | { ok: false; reason: 'CreateContainerConfigError'; message: string }

const operator = '$'

/** Kubernetes `$(VAR)` expansion (k8s.io/kubernetes/third_party/forked/golang/expansion). */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = ''
  let checkpoint = 0
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] === operator && cursor + 1 < input.length) {
      out += input.slice(checkpoint, cursor)
      const rest = input.slice(cursor + 1)
      let advance = 1
      if (rest[0] === operator) {
        out += operator
      } else if (rest[0] === '(') {
        const close = rest.indexOf(')')
        if (close > 0) {
          const name = rest.slice(1, close)
          out += lookup(name) ?? `$(${name})`
          advance = close + 1
        } else {
          out += '$('
        }
      } else {
        out += operator + rest[0]!
      }
      cursor += advance
      checkpoint = cursor + 1
    }
  }
  return out + input.slice(checkpoint)
}

/** Since Kubernetes 1.32 any printable ASCII except '=' (RelaxedEnvironmentVariableValidation). */
export function isEnvVarName(name: string): boolean {
  return /^[\x20-\x3c\x3e-\x7e]+$/.test(name)
}

export function decodeSecretValue(b64: string): string {
  return Buffer.from(b64, 'base64').toString('utf8')
}

function secretData(s: Secret): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = decodeSecretValue(v)
  return out
}

function configMapData(c: ConfigMap): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(c.binaryData ?? {})) out[k] = decodeSecretValue(v)
  for (const [k, v] of Object.entries(c.data ?? {})) out[k] = v
  return out
}

/** `metadata.labels['a']` → ['labels', 'a']. */
function subscripted(path: string): [string, string] | undefined {
  const m = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path)
  return m === null ? undefined : [m[1]!, m[2]!]
}

/** Value of a downward-API field path, or an error message. */
export function fieldRefValue(
  ref: ObjectFieldSelector,
  pod: Pod,
  rt: Pick<PodRuntimeInfo, 'podIP' | 'hostIP' | 'nodeName'>,
): { value: string } | { error: string } {
  const p = ref.fieldPath
  const md = pod.metadata
  const sub = subscripted(p)
  if (sub !== undefined) {
    const map = sub[0] === 'labels' ? md.labels : md.annotations
    return { value: map?.[sub[1]] ?? '' }
  }
  switch (p) {
    case 'metadata.name':
      return { value: md.name }
    case 'metadata.namespace':
      return { value: md.namespace ?? 'default' }
    case 'metadata.uid':
      return { value: md.uid }
    case 'metadata.labels':
      return { value: formatMap(md.labels) }
    case 'metadata.annotations':
      return { value: formatMap(md.annotations) }
    case 'spec.nodeName':
      return { value: pod.spec.nodeName ?? rt.nodeName }
    case 'spec.serviceAccountName':
      return { value: pod.spec.serviceAccountName ?? '' }
    case 'status.hostIP':
    case 'status.hostIPs':
      return { value: rt.hostIP }
    case 'status.podIP':
    case 'status.podIPs':
      return { value: rt.podIP }
    default:
      return { error: `unsupported fieldPath ${JSON.stringify(p)}` }
  }
}

/** Downward-API file format for label/annotation maps: `key="value"` lines, sorted. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join('\n')
}

/** Value of a resourceFieldRef (limits/requests cpu, memory, ephemeral-storage) with divisor. */
export function resourceFieldValue(
  ref: ResourceFieldSelector,
  container: Container | undefined,
  nodeAllocatable: Record<string, string>,
): { value: string } | { error: string } {
  if (container === undefined) return { error: `container ${JSON.stringify(ref.containerName)} not found` }
  const [kind, resource] = ref.resource.split('.', 2) as [string, string | undefined]
  if ((kind !== 'limits' && kind !== 'requests') || resource === undefined) {
    return { error: `unsupported resource ${JSON.stringify(ref.resource)}` }
  }
  const specified =
    container.resources?.[kind]?.[resource] ?? (kind === 'requests' ? undefined : nodeAllocatable[resource])
  const raw = specified ?? (kind === 'requests' ? '0' : undefined)
  if (raw === undefined) return { error: `no value for ${ref.resource}` }
  try {
    const divisor = parseQuantity(ref.divisor ?? '1')
    return { value: String(Math.ceil(parseQuantity(raw) / divisor)) }
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) }
  }
}

/** Variables a kubelet adds for the `kubernetes` Service, pointing at the real apiserver. */
export function kubernetesServiceEnv(host: string, port: number): Record<string, string> {
  return {
    KUBERNETES_SERVICE_HOST: host,
    KUBERNETES_SERVICE_PORT: String(port),
    KUBERNETES_SERVICE_PORT_HTTPS: String(port),
    KUBERNETES_PORT: `tcp://${host}:${port}`,
    [`KUBERNETES_PORT_${port}_TCP`]: `tcp://${host}:${port}`,
    [`KUBERNETES_PORT_${port}_TCP_PROTO`]: 'tcp',
    [`KUBERNETES_PORT_${port}_TCP_PORT`]: String(port),
    [`KUBERNETES_PORT_${port}_TCP_ADDR`]: host,
  }
}

const fail = (message: string): EnvResult => ({ ok: false, reason: 'CreateContainerConfigError', message })

export function resolveEnv(
  container: Container,
  pod: Pod,
  rt: PodRuntimeInfo,
  sources: EnvSources,
  serviceEnv: Record<string, string>,
): EnvResult {
  const ns = pod.metadata.namespace ?? 'default'
  const env: Record<string, string> = {}
  const warnings: string[] = []

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? ''
    let data: Record<string, string>
    if (from.configMapRef !== undefined) {
      const cm = sources.configMap(from.configMapRef.name ?? '')
      if (cm === undefined) {
        if (from.configMapRef.optional === true) continue
        return fail(`configmap "${from.configMapRef.name ?? ''}" not found`)
      }
      data = configMapData(cm)
    } else if (from.secretRef !== undefined) {
      const s = sources.secret(from.secretRef.name ?? '')
      if (s === undefined) {
        if (from.secretRef.optional === true) continue
        return fail(`secret "${from.secretRef.name ?? ''}" not found`)
      }
      data = secretData(s)
    } else {
      continue
    }
    const invalid: string[] = []
    for (const [k, v] of Object.entries(data)) {
      const key = prefix + k
      if (!isEnvVarName(key)) invalid.push(key)
      else env[key] = v
    }
    if (invalid.length > 0)
      warnings.push(`keys [${invalid.sort().join(', ')}] are not valid environment variable names`)
  }

  const lookup = (name: string): string | undefined => env[name] ?? serviceEnv[name]
  for (const v of container.env ?? []) {
    if (v.value !== undefined && v.value !== '') {
      env[v.name] = expand(v.value, lookup)
      continue
    }
    const from = v.valueFrom
    if (from === undefined) {
      env[v.name] = ''
      continue
    }
    if (from.fieldRef !== undefined) {
      const r = fieldRefValue(from.fieldRef, pod, rt)
      if ('error' in r) return fail(`env ${v.name}: ${r.error}`)
      env[v.name] = r.value
    } else if (from.resourceFieldRef !== undefined) {
      const name = from.resourceFieldRef.containerName ?? container.name
      const target = name === container.name ? container : pod.spec.containers.find((c) => c.name === name)
      const r = resourceFieldValue(from.resourceFieldRef, target, rt.nodeAllocatable)
      if ('error' in r) return fail(`env ${v.name}: ${r.error}`)
      env[v.name] = r.value
    } else if (from.configMapKeyRef !== undefined) {
      const ref = from.configMapKeyRef
      const cm = sources.configMap(ref.name ?? '')
      const value = cm === undefined ? undefined : configMapData(cm)[ref.key]
      if (value === undefined) {
        if (ref.optional === true) continue
        return fail(
          cm === undefined
            ? `configmap "${ref.name ?? ''}" not found`
            : `couldn't find key ${ref.key} in ConfigMap ${ns}/${ref.name ?? ''}`,
        )
      }
      env[v.name] = value
    } else if (from.secretKeyRef !== undefined) {
      const ref = from.secretKeyRef
      const s = sources.secret(ref.name ?? '')
      const value = s === undefined ? undefined : secretData(s)[ref.key]
      if (value === undefined) {
        if (ref.optional === true) continue
        return fail(
          s === undefined
            ? `secret "${ref.name ?? ''}" not found`
            : `couldn't find key ${ref.key} in Secret ${ns}/${ref.name ?? ''}`,
        )
      }
      env[v.name] = value
    } else {
      return fail(`env ${v.name}: unsupported valueFrom`)
    }
  }

  return { ok: true, env: { ...serviceEnv, ...env }, warnings }
}

/** Names of the Secrets and ConfigMaps a container's environment refers to. */
export function envReferences(container: Container): { secrets: string[]; configMaps: string[] } {
  const secrets = new Set<string>()
  const configMaps = new Set<string>()
  for (const f of container.envFrom ?? []) {
    if (f.secretRef?.name !== undefined) secrets.add(f.secretRef.name)
    if (f.configMapRef?.name !== undefined) configMaps.add(f.configMapRef.name)
  }
  for (const v of container.env ?? []) {
    if (v.valueFrom?.secretKeyRef?.name !== undefined) secrets.add(v.valueFrom.secretKeyRef.name)
    if (v.valueFrom?.configMapKeyRef?.name !== undefined) configMaps.add(v.valueFrom.configMapKeyRef.name)
  }
  return { secrets: [...secrets], configMaps: [...configMaps] }
}
