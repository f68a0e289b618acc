/**
 * A rate-limited work queue with client-go semantics (`k8s.io/client-go/util/workqueue`):
 *
 * - dedup: an item added any number of times before a worker takes it is processed once;
 * - an item is never processed by two workers at once: re-added while processing, it is queued
 *   again only when `done(item)` is called;
 * - `addAfter` delays (an item waiting with an earlier ready time keeps it);
 * - `addRateLimited` delays by the rate limiter (per-item exponential backoff + global bucket),
 *   `forget` resets the item's backoff;
 * - `shutDown` makes `get` return `undefined` once the queue is empty and ignores new adds;
 *   `shutDownWithDrain` also waits for items being processed to be `done`.
 *
 * Items are compared with `Map` key semantics, so use strings (e.g. `namespace/name`).
 */
import type { Registry } from 'prom-client'
import type { Clock, Timer } from './clock.ts'
import { realClock } from './clock.ts'
import { defaultRegistry, workqueueMetrics } from './metrics.ts'
import type { InFlightSource, WorkqueueMetrics } from './metrics.ts'
import type { RateLimiter } from './ratelimit.ts'
import { defaultControllerRateLimiter } from './ratelimit.ts'

export interface WorkQueueOptions<T> {
  /** The `name` label of the queue's metrics. */
  name: string
  clock?: Clock
  rateLimiter?: RateLimiter<T>
  /** Registry for the workqueue_* metrics (default: the operator's registry). */
  registry?: Registry
}

interface Waiting {
  readyAt: number
  timer: Timer
}

export class RateLimitingQueue<T> implements InFlightSource {
  readonly name: string
  readonly #clock: Clock
  readonly #limiter: RateLimiter<T>
  readonly #metrics: WorkqueueMetrics
  /** FIFO of items ready to be processed (each also in #dirty). */
  #queue: T[] = []
  /** Items that need processing (queued, or re-added while processing). */
  readonly #dirty = new Set<T>()
  /** Items handed out by `get` and not yet `done`, with the time they were handed out. */
  readonly #processing = new Map<T, number>()
  /** Time each dirty item was added (for queue_duration). */
  readonly #addedAt = new Map<T, number>()
  readonly #waiting = new Map<T, Waiting>()
  #getters: ((item: T | undefined) => void)[] = []
  #drainers: (() => void)[] = []
  #shuttingDown = false

  constructor(opts: WorkQueueOptions<T>) {
    this.name = opts.name
    this.#clock = opts.clock ?? realClock
    this.#limiter = opts.rateLimiter ?? defaultControllerRateLimiter<T>(this.#clock)
    this.#metrics = workqueueMetrics(opts.registry ?? defaultRegistry)
    this.#metrics.sources.add(this)
    this.#metrics.depth.set({ name: this.name }, 0)
  }

  /** Items waiting to be handed out (not counting delayed or in-process ones). */
  len(): number {
    return this.#queue.length
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown
  }

  /** Marks `item` as needing processing. */
  add(item: T): void {
    if (this.#shuttingDown) return
    if (this.#dirty.has(item)) return
    this.#metrics.adds.inc({ name: this.name })
    this.#dirty.add(item)
    this.#addedAt.set(item, this.#clock.now())
    if (this.#processing.has(item)) return
    this.#push(item)
  }

  /** Adds `item` after `delayMs` (immediately when ≤ 0). */
  addAfter(item: T, delayMs: number): void {
    if (this.#shuttingDown) return
    if (delayMs <= 0) {
      this.add(item)
      return
    }
    const readyAt = this.#clock.now() + delayMs
    const existing = this.#waiting.get(item)
    if (existing !== undefined) {
      if (existing.readyAt <= readyAt) return
      this.#clock.clearTimeout(existing.timer)
    }
    const timer = this.#clock.setTimeout(() => {
      this.#waiting.delete(item)
      this.add(item)
    }, delayMs)
    this.#waiting.set(item, { readyAt, timer })
  }

  /** Adds `item` once the rate limiter allows it (one more failure for its backoff). */
  addRateLimited(item: T): void {
    if (this.#shuttingDown) return
    this.#metrics.retries.inc({ name: this.name })
    this.addAfter(item, this.#limiter.when(item))
  }

  /** Resets `item`'s backoff (call after it was processed successfully). */
  forget(item: T): void {
    this.#limiter.forget(item)
  }

  numRequeues(item: T): number {
    return this.#limiter.numRequeues(item)
  }

  /**
   * The next item to process; waits until there is one. `undefined` means the queue was shut
   * down (and is empty): the worker should exit. Every item returned must be passed to `done`.
   */
  get(): Promise<T | undefined> {
    const item = this.#take()
    if (item !== undefined || this.#shuttingDown) return Promise.resolve(item)
    return new Promise((resolve) => this.#getters.push(resolve))
  }

  /** Marks `item` as processed; if it was re-added meanwhile, it is queued again. */
  done(item: T): void {
    const started = this.#processing.get(item)
    if (started === undefined) return
    this.#metrics.workDuration.observe({ name: this.name }, (this.#clock.now() - started) / 1000)
    this.#processing.delete(item)
    if (this.#dirty.has(item)) this.#push(item)
    else if (this.#processing.size === 0) this.#notifyDrained()
  }

  /** Stops accepting items; waiting `get` calls return `undefined` once nothing is queued. */
  shutDown(): void {
    if (this.#shuttingDown) return
    this.#shuttingDown = true
    for (const w of this.#waiting.values()) this.#clock.clearTimeout(w.timer)
    this.#waiting.clear()
    if (this.#queue.length === 0) {
      const getters = this.#getters
      this.#getters = []
      for (const g of getters) g(undefined)
    }
    this.#metrics.sources.delete(this)
    if (this.#processing.size === 0) this.#notifyDrained()
  }

  /** `shutDown`, then waits until no item is being processed. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown()
    if (this.#processing.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#drainers.push(resolve))
  }

  inFlight(): { unfinishedSeconds: number; longestSeconds: number } {
    const now = this.#clock.now()
    let unfinished = 0
    let longest = 0
    for (const started of this.#processing.values()) {
      const s = (now - started) / 1000
      unfinished += s
      longest = Math.max(longest, s)
    }
    return { unfinishedSeconds: unfinished, longestSeconds: longest }
  }

  #push(item: T): void {
    const getter = this.#getters.shift()
    if (getter !== undefined) {
      this.#queue.push(item)
      getter(this.#take())
      return
    }
    this.#queue.push(item)
    this.#metrics.depth.set({ name: this.name }, this.#queue.length)
  }

  #take(): T | undefined {
    if (this.#queue.length === 0) return undefined
    const item = this.#queue.shift()!
    const now = this.#clock.now()
    const added = this.#addedAt.get(item)
    if (added !== undefined) this.#metrics.queueDuration.observe({ name: this.name }, (now - added) / 1000)
    this.#addedAt.delete(item)
    this.#dirty.delete(item)
    this.#processing.set(item, now)
    this.#metrics.depth.set({ name: this.name }, this.#queue.length)
    return item
  }

  #notifyDrained(): void {
    if (!this.#shuttingDown) return
    const drainers = this.#drainers
    this.#drainers = []
    for (const d of drainers) d()
  }
}
