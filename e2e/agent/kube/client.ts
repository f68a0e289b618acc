// A small JSON REST client for the Kubernetes API: requests and watch streams over node:https.
//
// @kubernetes/client-node is used only to load the kubeconfig (client certificates, tokens,
// exec plugins) and to supply spec types; its generated API classes turn timestamps into `Date`
// objects in lists but not in watch events, and the agent needs uniform raw JSON.
import https from 'node:https'
import { KubeConfig } from '@kubernetes/client-node'
import type { WatchEvent } from './types.ts'

export class ApiError extends Error {
  readonly code: number
  readonly reason: string

  constructor(code: number, reason: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.reason = reason
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.code === 404
}

export function isConflict(err: unknown): boolean {
  return err instanceof ApiError && err.code === 409
}

export type Query = Record<string, string | number | boolean | undefined>

export interface RequestOptions {
  query?: Query
  body?: unknown
  contentType?: string
  timeoutMs?: number
}

export const MERGE_PATCH = 'application/merge-patch+json'
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json'

function withQuery(path: string, query: Query | undefined): string {
  if (query === undefined) return path
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v))
  const qs = params.toString()
  return qs === '' ? path : `${path}?${qs}`
}

interface StatusBody {
  kind?: string
  reason?: string
  message?: string
  code?: number
}

function parseError(code: number, text: string, method: string, path: string): ApiError {
  let body: StatusBody = {}
  try {
    body = JSON.parse(text) as StatusBody
  } catch {
    // not JSON: keep the text as the message
  }
  const message = body.message ?? text.slice(0, 300)
  return new ApiError(code, body.reason ?? '', `${method} ${path}: ${code} ${message}`)
}

export class KubeClient {
  readonly host: string
  readonly port: number
  readonly caData: Buffer | undefined
  readonly #kc: KubeConfig
  readonly #agent: https.Agent
  readonly #userAgent: string

  private constructor(kc: KubeConfig, base: https.RequestOptions, userAgent: string) {
    const cluster = kc.getCurrentCluster()
    if (cluster === null) throw new Error('kubeconfig has no current cluster')
    const url = new URL(cluster.server)
    this.host = url.hostname
    this.port = url.port === '' ? 443 : Number(url.port)
    this.caData = base.ca === undefined ? undefined : Buffer.from(base.ca as Buffer | string)
    this.#kc = kc
    this.#userAgent = userAgent
    this.#agent = new https.Agent({
      keepAlive: true,
      maxSockets: 16,
      ca: base.ca,
      cert: base.cert,
      key: base.key,
      rejectUnauthorized: base.rejectUnauthorized,
      servername: base.servername,
    })
  }

  /** Loads a kubeconfig file (or the default chain: $KUBECONFIG, ~/.kube/config, in-cluster). */
  static async load(kubeconfig: string | undefined, userAgent = 'echonet-local-agent'): Promise<KubeClient> {
    const kc = new KubeConfig()
    if (kubeconfig === undefined) kc.loadFromDefault()
    else kc.loadFromFile(kubeconfig)
    const base: https.RequestOptions = { headers: {} }
    await kc.applyToHTTPSOptions(base)
    return new KubeClient(kc, base, userAgent)
  }

  close(): void {
    this.#agent.destroy()
  }

  async #options(method: string, path: string, headers: Record<string, string>): Promise<https.RequestOptions> {
    // Re-applied per request: token and exec-plugin credentials may rotate.
    const o: https.RequestOptions = { headers: {} }
    await this.#kc.applyToHTTPSOptions(o)
    return {
      host: this.host,
      port: this.port,
      method,
      path,
      agent: this.#agent,
      auth: o.auth,
      headers: { ...(o.headers as Record<string, string>), 'user-agent': this.#userAgent, ...headers },
    }
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const fullPath = withQuery(path, opts.query)
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body)
    const headers: Record<string, string> = { accept: 'application/json' }
    if (payload !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json'
      headers['content-length'] = String(Buffer.byteLength(payload))
    }
    const options = await this.#options(method, fullPath, headers)
    return new Promise<T>((resolve, reject) => {
      const req = https.request(options, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          const code = res.statusCode ?? 0
          if (code < 200 || code > 299) {
            reject(parseError(code, text, method, fullPath))
            return
          }
          try {
            resolve((text === '' ? {} : JSON.parse(text)) as T)
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)))
          }
        })
      })
      req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${fullPath}: timed out`)))
      req.on('error', reject)
      req.end(payload)
    })
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query })
  }

  /** GET that yields undefined for 404. */
  async getOptional<T>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path)
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  /**
   * Streams watch events of `path` until the server closes the stream (resolves), the signal
   * aborts (resolves) or the connection fails (rejects). ERROR events are passed on as they are.
   */
  async watch<T>(path: string, query: Query, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const fullPath = withQuery(path, { ...query, watch: true })
    const options = await this.#options('GET', fullPath, { accept: 'application/json' })
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        resolve()
        return
      }
      const req = https.request({ ...options, signal }, (res) => {
        const code = res.statusCode ?? 0
        if (code < 200 || code > 299) {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            reject(parseError(code, Buffer.concat(chunks).toString('utf8'), 'WATCH', fullPath))
          })
          return
        }
        let buf = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          buf += chunk
          let nl = buf.indexOf('\n')
          while (nl >= 0) {
            const line = buf.slice(0, nl).trim()
            buf = buf.slice(nl + 1)
            if (line !== '') {
              try {
                onEvent(JSON.parse(line) as WatchEvent<T>)
              } catch (err) {
                req.destroy(err instanceof Error ? err : new Error(String(err)))
                return
              }
            }
            nl = buf.indexOf('\n')
          }
        })
        res.on('end', () => {
          resolve()
        })
        res.on('error', (err) => {
          if (signal.aborted) resolve()
          else reject(err)
        })
      })
      // No data at all for this long (not even bookmarks) means a dead connection.
      req.setTimeout(15 * 60_000, () => req.destroy(new Error(`watch ${path}: idle timeout`)))
      req.on('error', (err) => {
        if (signal.aborted) resolve()
        else reject(err)
      })
      req.end()
    })
  }
}
