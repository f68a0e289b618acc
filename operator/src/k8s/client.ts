/**
 * Kubernetes API access: kubeconfig loading and a small JSON REST client over `node:https` with
 * the kubeconfig's credentials. This directory is the only place that imports
 * `@kubernetes/client-node` (DESIGN §2); the rest of the operator sees plain JSON objects.
 */
import { existsSync, readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { join } from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'
import type { ObjectMeta } from '../api/v1alpha1/meta.ts'

/**
 * Any Kubernetes object as plain JSON. (client-node's own types are classes with `Date` fields,
 * which do not describe what is on the wire; the operator uses these.)
 */
export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata?: ObjectMeta
}

export interface KubeList<T> {
  apiVersion?: string
  kind?: string
  metadata?: { resourceVersion?: string; continue?: string }
  items: T[]
}

/** Standard service-account mount of a pod. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

export interface LoadKubeConfigOptions {
  /** Explicit kubeconfig file (wins over everything). */
  kubeconfig?: string
  env?: NodeJS.ProcessEnv
  /** Directory probed for the in-cluster service account (default: the standard mount). */
  serviceAccountDir?: string
}

/**
 * Loads credentials: an explicit file, else `$KUBECONFIG`, else in-cluster from `$ECHONET_SA_DIR`
 * (a directory with `token`, `ca.crt`, `namespace`, as the local node agent provides) or the
 * standard service-account mount, else `~/.kube/config`.
 */
export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KubeConfig {
  const env = opts.env ?? process.env
  const kc = new KubeConfig()
  const file = opts.kubeconfig ?? (env.KUBECONFIG !== undefined && env.KUBECONFIG !== '' ? env.KUBECONFIG : undefined)
  if (file !== undefined) {
    kc.loadFromFile(file)
    return kc
  }
  const saDir =
    env.ECHONET_SA_DIR !== undefined && env.ECHONET_SA_DIR !== ''
      ? env.ECHONET_SA_DIR
      : (opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR)
  if (existsSync(join(saDir, 'token'))) {
    loadInCluster(kc, saDir, env)
    return kc
  }
  kc.loadFromDefault()
  return kc
}

function loadInCluster(kc: KubeConfig, dir: string, env: NodeJS.ProcessEnv): void {
  const host = env.KUBERNETES_SERVICE_HOST
  const port = env.KUBERNETES_SERVICE_PORT ?? '443'
  if (host === undefined || host === '') throw new Error('in-cluster config: KUBERNETES_SERVICE_HOST is not set')
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`
  const nsFile = join(dir, 'namespace')
  kc.addAuthenticator(serviceAccountTokenAuth)
  kc.loadFromOptions({
    clusters: [{ name: 'inCluster', server, caFile: join(dir, 'ca.crt'), skipTLSVerify: false }],
    users: [{ name: 'inClusterUser', authProvider: { name: SA_TOKEN_PROVIDER, config: { path: join(dir, 'token') } } }],
    contexts: [
      {
        name: 'inClusterContext',
        cluster: 'inCluster',
        user: 'inClusterUser',
        ...(existsSync(nsFile) ? { namespace: readTrimmed(nsFile) } : {}),
      },
    ],
    currentContext: 'inClusterContext',
  })
}

const SA_TOKEN_PROVIDER = 'echonet-service-account-token'

/**
 * Bearer token from a file, read on every request (so projected-token rotation is picked up at
 * once) and trimmed (client-node's `tokenFile` provider keeps a trailing newline, which is not a
 * valid header value, and re-reads only every 60 s).
 */
const serviceAccountTokenAuth = {
  isAuthProvider: (user: { authProvider?: unknown }): boolean => providerOf(user)?.name === SA_TOKEN_PROVIDER,
  applyAuthentication: (user: { authProvider?: unknown }, opts: { headers?: unknown }): Promise<void> => {
    const path = providerOf(user)?.config?.path
    if (typeof path !== 'string') return Promise.reject(new Error('service-account token: no path'))
    const headers = (opts.headers ?? {}) as Record<string, string>
    headers.Authorization = `Bearer ${readTrimmed(path)}`
    opts.headers = headers
    return Promise.resolve()
  },
}

function providerOf(user: { authProvider?: unknown }): { name?: unknown; config?: { path?: unknown } } | undefined {
  const p = user.authProvider
  return typeof p === 'object' && p !== null ? p : undefined
}

function readTrimmed(file: string): string {
  return readFileSync(file, 'utf8').trim()
}

/** A non-2xx answer of the API server (`status` is the HTTP code, `reason` the Status reason). */
export class ApiError extends Error {
  readonly status: number
  readonly reason: string | undefined
  readonly body: unknown

  constructor(method: string, path: string, status: number, body: unknown) {
    const st = isStatus(body) ? body : undefined
    super(`${method} ${path}: ${status} ${st?.reason ?? ''} ${st?.message ?? ''}`.trim())
    this.name = 'ApiError'
    this.status = status
    this.reason = st?.reason
    this.body = body
  }
}

function isStatus(x: unknown): x is { kind: 'Status'; reason?: string; message?: string } {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'Status'
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.status === 404
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.status === 409
export const isAlreadyExists = (e: unknown): boolean =>
  e instanceof ApiError && e.status === 409 && e.reason === 'AlreadyExists'

export interface RequestOptions {
  body?: unknown
  /** Default `application/json` (for PATCH pass the patch type). */
  contentType?: string
  query?: Record<string, string | number | boolean | undefined>
  signal?: AbortSignal
  /** Request timeout (default 30 s), so a hung connection cannot stall a reconcile forever. */
  timeoutMs?: number
}

/** Where a kind lives in the API (from discovery). */
export interface ResourceInfo {
  apiVersion: string
  kind: string
  plural: string
  namespaced: boolean
}

/** A minimal JSON client for the API server, authenticated from a KubeConfig. */
export class K8sClient {
  readonly kubeConfig: KubeConfig
  readonly #resources = new Map<string, Promise<Map<string, ResourceInfo>>>()

  constructor(kubeConfig: KubeConfig = loadKubeConfig()) {
    this.kubeConfig = kubeConfig
  }

  /** The namespace of the current context (in-cluster: the pod's), or `default`. */
  get namespace(): string {
    const ctx = this.kubeConfig.getContextObject(this.kubeConfig.getCurrentContext())
    return ctx?.namespace ?? 'default'
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const cluster = this.kubeConfig.getCurrentCluster()
    if (cluster === null) throw new Error('kubeconfig has no current cluster')
    const url = new URL(cluster.server.replace(/\/$/, '') + path)
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body)
    const reqOpts: https.RequestOptions = {
      method,
      headers: {
        Accept: 'application/json',
        ...(payload !== undefined
          ? { 'Content-Type': opts.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(payload) }
          : {}),
      },
    }
    await this.kubeConfig.applyToHTTPSOptions(reqOpts)
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? 30_000)
    reqOpts.signal = opts.signal === undefined ? timeout : AbortSignal.any([opts.signal, timeout])
    const mod = url.protocol === 'http:' ? http : https
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = mod.request(url, reqOpts, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') })
        })
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(payload)
    })
    let parsed: unknown = undefined
    if (text !== '') {
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = text
      }
    }
    if (status < 200 || status >= 300) throw new ApiError(method, path, status, parsed)
    return parsed as T
  }

  /** Discovery: the resource of `kind` in `apiVersion` (cached per group version). */
  async resource(apiVersion: string, kind: string): Promise<ResourceInfo> {
    let p = this.#resources.get(apiVersion)
    if (p === undefined) {
      p = this.#discover(apiVersion)
      this.#resources.set(apiVersion, p)
      p.catch(() => this.#resources.delete(apiVersion))
    }
    const info = (await p).get(kind)
    if (info === undefined) {
      this.#resources.delete(apiVersion) // maybe a CRD installed later
      throw new Error(`no resource for kind ${kind} in ${apiVersion}`)
    }
    return info
  }

  async #discover(apiVersion: string): Promise<Map<string, ResourceInfo>> {
    const list = await this.request<{ resources: { name: string; kind: string; namespaced: boolean }[] }>(
      'GET',
      groupVersionPath(apiVersion),
    )
    const m = new Map<string, ResourceInfo>()
    for (const r of list.resources) {
      if (r.name.includes('/')) continue // subresources
      m.set(r.kind, { apiVersion, kind: r.kind, plural: r.name, namespaced: r.namespaced })
    }
    return m
  }

  /** The URL path of a collection (`name` undefined) or an object, optionally a subresource. */
  async path(
    apiVersion: string,
    kind: string,
    namespace?: string,
    name?: string,
    subresource?: string,
  ): Promise<string> {
    return resourcePath(await this.resource(apiVersion, kind), namespace, name, subresource)
  }

  async get<T extends KubeObject>(apiVersion: string, kind: string, name: string, namespace?: string): Promise<T> {
    return this.request<T>('GET', await this.path(apiVersion, kind, namespace, name))
  }

  /** `undefined` when not found. */
  async getOrUndefined<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    name: string,
    namespace?: string,
  ): Promise<T | undefined> {
    try {
      return await this.get<T>(apiVersion, kind, name, namespace)
    } catch (e) {
      if (isNotFound(e)) return undefined
      throw e
    }
  }

  async list<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    query?: { labelSelector?: string; fieldSelector?: string },
  ): Promise<KubeList<T>> {
    return this.request('GET', await this.path(apiVersion, kind, namespace), { query: { ...query } })
  }

  async create<T extends KubeObject>(obj: T): Promise<T> {
    const { apiVersion, kind, namespace } = ident(obj)
    return this.request<T>('POST', await this.path(apiVersion, kind, namespace), { body: obj })
  }

  async delete(apiVersion: string, kind: string, name: string, namespace?: string): Promise<void> {
    try {
      await this.request('DELETE', await this.path(apiVersion, kind, namespace, name))
    } catch (e) {
      if (!isNotFound(e)) throw e
    }
  }
}

export function groupVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`
}

export function resourcePath(r: ResourceInfo, namespace?: string, name?: string, subresource?: string): string {
  let p = groupVersionPath(r.apiVersion)
  if (r.namespaced && namespace !== undefined && namespace !== '') p += `/namespaces/${encodeURIComponent(namespace)}`
  p += `/${r.plural}`
  if (name !== undefined) p += `/${encodeURIComponent(name)}`
  if (subresource !== undefined) p += `/${subresource}`
  return p
}

/** apiVersion, kind, name and namespace of an object, or an error saying which is missing. */
export function ident(obj: KubeObject): { apiVersion: string; kind: string; name: string; namespace?: string } {
  const { apiVersion, kind } = obj
  const name = obj.metadata?.name
  if (apiVersion === undefined || kind === undefined) throw new Error('object needs apiVersion and kind')
  return {
    apiVersion,
    kind,
    name: name ?? '',
    ...(obj.metadata?.namespace !== undefined ? { namespace: obj.metadata.namespace } : {}),
  }
}
