/**
 * Rate limiters for the work queue, after client-go's `workqueue` package: per-item exponential
 * backoff combined (max of) with a global token bucket, as in `DefaultControllerRateLimiter`.
 */
import type { Clock } from './clock.ts'
import { realClock } from './clock.ts'

export interface RateLimiter<T> {
  /** How long to wait (ms) before `item` may be processed again; counts as one more failure. */
  when(item: T): number
  /** Stop tracking `item` (it succeeded). */
  forget(item: T): void
  /** How many times `item` has been rate limited since it was last forgotten. */
  numRequeues(item: T): number
}

/** `baseMs * 2^failures`, capped at `maxMs` (client-go `ItemExponentialFailureRateLimiter`). */
export class ItemExponentialFailureRateLimiter<T> implements RateLimiter<T> {
  readonly #failures = new Map<T, number>()
  readonly #baseMs: number
  readonly #maxMs: number

  constructor(baseMs: number, maxMs: number) {
    this.#baseMs = baseMs
    this.#maxMs = maxMs
  }

  when(item: T): number {
    const exp = this.#failures.get(item) ?? 0
    this.#failures.set(item, exp + 1)
    const backoff = this.#baseMs * 2 ** exp
    return Number.isFinite(backoff) ? Math.min(backoff, this.#maxMs) : this.#maxMs
  }

  forget(item: T): void {
    this.#failures.delete(item)
  }

  numRequeues(item: T): number {
    return this.#failures.get(item) ?? 0
  }
}

/**
 * A global token bucket (`qps` refill, `burst` capacity) with reservation semantics like Go's
 * `rate.Limiter.Reserve().Delay()`: every call takes a token, possibly going into debt, and the
 * delay is how long until that token exists. Per-item state: none.
 */
export class BucketRateLimiter<T> implements RateLimiter<T> {
  readonly #qps: number
  readonly #burst: number
  readonly #clock: Clock
  #tokens: number
  #last: number

  constructor(qps: number, burst: number, clock: Clock = realClock) {
    this.#qps = qps
    this.#burst = burst
    this.#clock = clock
    this.#tokens = burst
    this.#last = clock.now()
  }

  when(_item: T): number {
    const now = this.#clock.now()
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#qps)
    this.#last = now
    this.#tokens -= 1
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#qps) * 1000
  }

  forget(_item: T): void {
    // global limiter: nothing per item
  }

  numRequeues(_item: T): number {
    return 0
  }
}

/** The worst (longest) delay of several limiters (client-go `MaxOfRateLimiter`). */
export class MaxOfRateLimiter<T> implements RateLimiter<T> {
  readonly #limiters: readonly RateLimiter<T>[]

  constructor(...limiters: RateLimiter<T>[]) {
    this.#limiters = limiters
  }

  when(item: T): number {
    let max = 0
    for (const l of this.#limiters) max = Math.max(max, l.when(item))
    return max
  }

  forget(item: T): void {
    for (const l of this.#limiters) l.forget(item)
  }

  numRequeues(item: T): number {
    let max = 0
    for (const l of this.#limiters) max = Math.max(max, l.numRequeues(item))
    return max
  }
}

/** client-go `DefaultControllerRateLimiter`: 5 ms → 1000 s per item, 10 qps / burst 100 overall. */
export function defaultControllerRateLimiter<T>(clock: Clock = realClock): RateLimiter<T> {
  return new MaxOfRateLimiter<T>(
    new ItemExponentialFailureRateLimiter<T>(5, 1_000_000),
    new BucketRateLimiter<T>(10, 100, clock),
  )
}
