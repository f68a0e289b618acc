/**
 * Token buckets (DESIGN §4 "Attack defenses"): a key may spend `burst` at once and then `ratePerSec`
 * per second. Pure arithmetic on a caller's clock, so tests and the node agree on what a verdict is.
 */

export interface BucketRate {
  /** Sustained tokens per second; 0 refuses everything once the burst is spent. */
  readonly ratePerSec: number
  /** Most tokens held at once (what a quiet key may spend in one go). */
  readonly burst: number
}

/** A refusal says how long until the request would have fitted (for `Retry-After`). */
export type TakeResult = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number }

export class TokenBucket {
  #tokens: number
  #at: number

  constructor(rate: BucketRate, nowMs: number) {
    this.#tokens = rate.burst
    this.#at = nowMs
  }

  /** Refills to `nowMs`, then takes `n` tokens if there are that many. */
  take(rate: BucketRate, n: number, nowMs: number): TakeResult {
    this.#refill(rate, nowMs)
    if (this.#tokens >= n) {
      this.#tokens -= n
      return { ok: true }
    }
    if (rate.ratePerSec <= 0 || n > rate.burst) return { ok: false, retryAfterMs: 60_000 }
    return { ok: false, retryAfterMs: Math.ceil(((n - this.#tokens) / rate.ratePerSec) * 1000) }
  }

  /** True when the bucket is full again: forgetting it changes nothing. */
  full(rate: BucketRate, nowMs: number): boolean {
    this.#refill(rate, nowMs)
    return this.#tokens >= rate.burst
  }

  #refill(rate: BucketRate, nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.#at)
    this.#at = Math.max(this.#at, nowMs)
    this.#tokens = Math.min(rate.burst, this.#tokens + (elapsed / 1000) * rate.ratePerSec)
  }
}

/**
 * One bucket per key (IP, peer, DID), at most `maxKeys` of them: when full, buckets that have
 * refilled are dropped first (they hold no state worth keeping), then the least recently used. An
 * attacker rotating keys therefore costs memory bounded by `maxKeys`, and cannot evict a busy key's
 * debt faster than it could spend a fresh burst anyway.
 */
export class KeyedLimiter {
  readonly #buckets = new Map<string, TokenBucket>()
  readonly #maxKeys: number
  #rate: BucketRate

  constructor(rate: BucketRate, maxKeys = 65_536) {
    this.#rate = rate
    this.#maxKeys = maxKeys
  }

  get rate(): BucketRate {
    return this.#rate
  }

  /** New limits apply at once; buckets keep their tokens (capped at the new burst on refill). */
  setRate(rate: BucketRate): void {
    this.#rate = rate
  }

  get size(): number {
    return this.#buckets.size
  }

  take(key: string, n: number, nowMs: number): TakeResult {
    let b = this.#buckets.get(key)
    if (b === undefined) {
      if (this.#buckets.size >= this.#maxKeys) this.#evict(nowMs)
      b = new TokenBucket(this.#rate, nowMs)
    } else {
      this.#buckets.delete(key)
    }
    // Re-inserted: Map order is least recently used first.
    this.#buckets.set(key, b)
    return b.take(this.#rate, n, nowMs)
  }

  #evict(nowMs: number): void {
    for (const [k, b] of this.#buckets) {
      if (b.full(this.#rate, nowMs)) this.#buckets.delete(k)
      if (this.#buckets.size < this.#maxKeys * 0.9) return
    }
    while (this.#buckets.size >= this.#maxKeys) {
      const oldest = this.#buckets.keys().next()
      if (oldest.done === true) return
      this.#buckets.delete(oldest.value)
    }
  }
}
