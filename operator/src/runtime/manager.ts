/**
 * The manager (controller-runtime's `Manager`): starts the caches (informers) at once, campaigns
 * for leadership, and starts the controllers once it leads and the caches are synced. It serves
 * `/metrics` (prom-client), `/healthz` and `/readyz`. Shutdown is graceful: stop taking work,
 * let in-flight reconciles finish within a deadline, stop the caches, release the Lease (so a
 * successor takes over at once instead of after the lease duration), close the HTTP server.
 * Losing leadership while running stops the controllers and calls `onLeadershipLost` (the
 * process should exit, as controller-runtime's does, so it never acts on a stale view).
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import { LeaderElector } from '../k8s/lease.ts'
import type { LeaderElectorOptions } from '../k8s/lease.ts'
import { defaultRegistry } from './metrics.ts'

/** Something with workers (a Controller). */
export interface Runnable {
  readonly name: string
  start(): void
  /** Stops; true when in-flight work finished within the deadline. */
  stop(deadlineMs: number): Promise<boolean>
}

/** A cache (an InformerSupervisor). */
export interface Cache {
  start(): void
  stop(): Promise<void>
  hasSynced(): boolean
  waitForSync(): Promise<void>
}

export type LeaderElectionOptions = Omit<LeaderElectorOptions, 'onStartedLeading' | 'onStoppedLeading'>

export interface ManagerOptions {
  controllers?: Runnable[]
  caches?: Cache[]
  /** Without it the manager leads at once (single replica, tests). */
  leaderElection?: LeaderElectionOptions
  registry?: Registry
  /** HTTP port for /metrics, /healthz, /readyz (0 = any; undefined = no server). */
  port?: number
  /** A second port for /healthz and /readyz only (probes apart from scraping), as controller-runtime's. */
  healthPort?: number
  host?: string
  /** How long `stop` waits for in-flight reconciles (default 30 s). */
  gracefulShutdownMs?: number
  /** Leadership was lost while running (not through `stop`). */
  onLeadershipLost?: () => void
  /** Extra readiness checks (name → ok). */
  readyChecks?: Record<string, () => boolean>
  log?: (msg: string, fields?: Record<string, unknown>) => void
}

export type ManagerState = 'new' | 'running' | 'stopping' | 'stopped'

export class Manager {
  readonly #o: ManagerOptions
  readonly #controllers: Runnable[]
  readonly #caches: Cache[]
  readonly #registry: Registry
  #elector: LeaderElector | undefined
  #servers: http.Server[] = []
  #state: ManagerState = 'new'
  #leading = false
  #controllersStarted = false
  #leadingSince: Promise<void> | undefined
  #resolveLeading: (() => void) | undefined

  constructor(opts: ManagerOptions) {
    this.#o = opts
    this.#controllers = opts.controllers ?? []
    this.#caches = opts.caches ?? []
    this.#registry = opts.registry ?? defaultRegistry
    this.#leadingSince = new Promise((resolve) => (this.#resolveLeading = resolve))
  }

  get state(): ManagerState {
    return this.#state
  }

  isLeader(): boolean {
    return this.#leading
  }

  /** Resolves when this manager leads and its controllers are started. */
  waitForLeadership(): Promise<void> {
    return this.#leadingSince ?? Promise.resolve()
  }

  /** The HTTP server's address, once listening. */
  get address(): AddressInfo | undefined {
    const a = this.#servers[0]?.address()
    return a !== null && typeof a === 'object' ? a : undefined
  }

  /** Starts the HTTP server and caches, then campaigns. Resolves once the server listens. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new Error(`manager already ${this.#state}`)
    this.#state = 'running'
    if (this.#o.port !== undefined) await this.#listen(this.#o.port, this.#o.host ?? '0.0.0.0', true)
    if (this.#o.healthPort !== undefined) await this.#listen(this.#o.healthPort, this.#o.host ?? '0.0.0.0', false)
    for (const c of this.#caches) c.start()
    if (this.#o.leaderElection === undefined) {
      this.#onStartedLeading()
      return
    }
    this.#elector = new LeaderElector({
      ...this.#o.leaderElection,
      onStartedLeading: () => this.#onStartedLeading(),
      onStoppedLeading: () => this.#onStoppedLeading(),
    })
    this.#elector.run()
  }

  /** Graceful shutdown; true when in-flight reconciles finished within the deadline. */
  async stop(): Promise<boolean> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return true
    this.#state = 'stopping'
    const deadline = this.#o.gracefulShutdownMs ?? 30_000
    const ok = await this.#stopControllers(deadline)
    if (this.#elector !== undefined) await this.#elector.stop({ release: true })
    this.#leading = false
    await Promise.all(this.#caches.map((c) => c.stop()))
    await this.#close()
    this.#state = 'stopped'
    this.#o.log?.('manager stopped', { graceful: ok })
    return ok
  }

  /** SIGTERM / SIGINT → `stop`, then `exit(code)`. Returns a function removing the handlers. */
  installSignalHandlers(exit: (code: number) => void = (code) => process.exit(code)): () => void {
    const handler = (signal: NodeJS.Signals): void => {
      this.#o.log?.('signal received, shutting down', { signal })
      void this.stop().then((ok) => exit(ok ? 0 : 1))
    }
    process.once('SIGTERM', handler)
    process.once('SIGINT', handler)
    return () => {
      process.off('SIGTERM', handler)
      process.off('SIGINT', handler)
    }
  }

  ready(): { ok: boolean; checks: Record<string, boolean> } {
    const checks: Record<string, boolean> = {
      running: this.#state === 'running',
      caches: this.#caches.every((c) => c.hasSynced()),
    }
    for (const [name, check] of Object.entries(this.#o.readyChecks ?? {})) checks[name] = check()
    return { ok: Object.values(checks).every(Boolean), checks }
  }

  #onStartedLeading(): void {
    if (this.#state !== 'running') return
    this.#leading = true
    this.#o.log?.('leading', { identity: this.#o.leaderElection?.identity })
    void Promise.all(this.#caches.map((c) => c.waitForSync())).then(() => {
      if (!this.#leading || this.#state !== 'running' || this.#controllersStarted) return
      this.#controllersStarted = true
      for (const c of this.#controllers) c.start()
      this.#resolveLeading?.()
    })
  }

  #onStoppedLeading(): void {
    const wasLeading = this.#leading
    this.#leading = false
    if (this.#state !== 'running' || !wasLeading) return
    this.#o.log?.('leadership lost', { identity: this.#o.leaderElection?.identity })
    // controllers cannot be restarted (their queues are shut down): stop campaigning too
    void this.#elector?.stop({ release: false })
    void this.#stopControllers(this.#o.gracefulShutdownMs ?? 30_000).then(() => this.#o.onLeadershipLost?.())
  }

  async #stopControllers(deadlineMs: number): Promise<boolean> {
    const results = await Promise.all(this.#controllers.map((c) => c.stop(deadlineMs)))
    return results.every(Boolean)
  }

  #listen(port: number, host: string, metrics: boolean): Promise<void> {
    const server = http.createServer((req, res) => {
      void this.#handle(req, res, metrics)
    })
    this.#servers.push(server)
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse, metrics: boolean): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405).end()
        return
      }
      if (path === '/metrics' && metrics) {
        const body = await this.#registry.metrics()
        res.writeHead(200, { 'Content-Type': this.#registry.contentType }).end(body)
      } else if (path === '/healthz' || path === '/livez') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok')
      } else if (path === '/readyz') {
        const r = this.ready()
        const lines = Object.entries(r.checks).map(([k, v]) => `[${v ? '+' : '-'}]${k} ${v ? 'ok' : 'failed'}`)
        res.writeHead(r.ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(lines.join('\n') + '\n')
      } else {
        res.writeHead(404).end()
      }
    } catch (err) {
      res.writeHead(500).end(String(err))
    }
  }

  async #close(): Promise<void> {
    await Promise.all(
      this.#servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve())
            server.closeAllConnections()
          }),
      ),
    )
    this.#servers = []
  }
}
