/**
 * A controller: N workers take keys (`namespace/name`) from a rate-limited work queue and call
 * `reconcile(key)`, level-based like controller-runtime. An error re-queues the key with backoff;
 * `requeueAfterMs` re-queues it after a delay (and resets backoff); success forgets the key.
 * A key is never reconciled by two workers at once (the queue guarantees it).
 */
import type { Registry } from 'prom-client'
import type { Clock } from './clock.ts'
import { realClock } from './clock.ts'
import { controllerMetrics, defaultRegistry } from './metrics.ts'
import type { ControllerMetrics } from './metrics.ts'
import type { RateLimiter } from './ratelimit.ts'
import { RateLimitingQueue } from './workqueue.ts'
import { isTerminal } from './errors.ts'

export interface ReconcileResult {
  /** Reconcile again after this many ms (e.g. polling something that is not watched). */
  requeueAfterMs?: number
  /** Reconcile again with backoff, without counting as an error. */
  requeue?: boolean
}

/**
 * `signal` aborts when the controller stops (shutdown or lost leadership): long effects (HTTP calls
 * to nodes) should pass it on, so that a replica that lost the Lease stops acting at once.
 */
export type Reconciler = (key: string, signal: AbortSignal) => Promise<ReconcileResult | undefined>

export type ReconcileOutcome = 'success' | 'error' | 'terminal_error' | 'requeue' | 'requeue_after'

export interface ControllerOptions {
  /** The `controller` label of the metrics and the work queue's `name`. */
  name: string
  reconcile: Reconciler
  /** Workers (controller-runtime `MaxConcurrentReconciles`), default 1. */
  concurrency?: number
  clock?: Clock
  rateLimiter?: RateLimiter<string>
  registry?: Registry
  /** Called on a reconcile error (e.g. to log it). */
  onError?: (key: string, err: unknown) => void
}

/** `namespace/name`, or `name` for cluster-scoped objects (client-go `MetaNamespaceKeyFunc`). */
export function objectKey(meta: { namespace?: string; name?: string }): string {
  return meta.namespace !== undefined && meta.namespace !== ''
    ? `${meta.namespace}/${meta.name ?? ''}`
    : (meta.name ?? '')
}

/** Inverse of `objectKey`. */
export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/')
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) }
}

export class Controller {
  readonly name: string
  readonly queue: RateLimitingQueue<string>
  readonly #reconcile: Reconciler
  readonly #concurrency: number
  readonly #clock: Clock
  readonly #metrics: ControllerMetrics
  readonly #onError: ((key: string, err: unknown) => void) | undefined
  #workers: Promise<void>[] = []
  #started = false
  readonly #abort = new AbortController()

  constructor(opts: ControllerOptions) {
    this.name = opts.name
    this.#reconcile = opts.reconcile
    this.#concurrency = Math.max(1, opts.concurrency ?? 1)
    this.#clock = opts.clock ?? realClock
    const registry = opts.registry ?? defaultRegistry
    this.#metrics = controllerMetrics(registry)
    this.#onError = opts.onError
    this.queue = new RateLimitingQueue<string>({
      name: opts.name,
      clock: this.#clock,
      registry,
      ...(opts.rateLimiter !== undefined ? { rateLimiter: opts.rateLimiter } : {}),
    })
    this.#metrics.maxConcurrent.set({ controller: this.name }, this.#concurrency)
    this.#metrics.activeWorkers.set({ controller: this.name }, 0)
    for (const result of ['success', 'error', 'terminal_error', 'requeue', 'requeue_after'] as const)
      this.#metrics.reconcileTotal.inc({ controller: this.name, result }, 0)
    this.#metrics.reconcileErrors.inc({ controller: this.name }, 0)
  }

  /** Queues a key for reconciliation (handlers call this on add/update/delete). */
  enqueue(key: string): void {
    this.queue.add(key)
  }

  /** Starts the workers (idempotent). Keys enqueued before `start` are processed then. */
  start(): void {
    if (this.#started) return
    this.#started = true
    for (let i = 0; i < this.#concurrency; i++) this.#workers.push(this.#worker())
  }

  /**
   * Stops taking work and waits for in-flight reconciles to finish, at most `deadlineMs`.
   * Returns true when all workers finished in time.
   */
  async stop(deadlineMs = 30_000): Promise<boolean> {
    this.queue.shutDown()
    this.#abort.abort(new Error(`controller ${this.name} stopped`))
    const all = Promise.all(this.#workers).then(() => true)
    if (!Number.isFinite(deadlineMs)) return all
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), deadlineMs)
    })
    try {
      return await Promise.race([all, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  async #worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get()
      if (key === undefined) return
      this.#metrics.activeWorkers.inc({ controller: this.name })
      try {
        await this.#process(key)
      } finally {
        this.#metrics.activeWorkers.dec({ controller: this.name })
        this.queue.done(key)
      }
    }
  }

  async #process(key: string): Promise<void> {
    const started = this.#clock.now()
    let outcome: ReconcileOutcome
    try {
      const result = await this.#reconcile(key, this.#abort.signal)
      if (result?.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        this.queue.forget(key)
        this.queue.addAfter(key, result.requeueAfterMs)
        outcome = 'requeue_after'
      } else if (result?.requeue === true) {
        this.queue.addRateLimited(key)
        outcome = 'requeue'
      } else {
        this.queue.forget(key)
        outcome = 'success'
      }
    } catch (err) {
      if (isTerminal(err)) {
        // Retrying cannot help; the object's next change enqueues it again.
        this.queue.forget(key)
        outcome = 'terminal_error'
      } else {
        this.queue.addRateLimited(key)
        outcome = 'error'
      }
      this.#metrics.reconcileErrors.inc({ controller: this.name })
      this.#onError?.(key, err)
    }
    this.#metrics.reconcileTotal.inc({ controller: this.name, result: outcome })
    this.#metrics.reconcileTime.observe({ controller: this.name }, (this.#clock.now() - started) / 1000)
  }
}
