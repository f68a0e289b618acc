import { Counter, Gauge } from 'prom-client'
import type { Registry } from 'prom-client'
import { KeyedLimiter, TokenBucket } from '../defence/token-bucket.ts'
import type { BucketRate } from '../defence/token-bucket.ts'
import { CodedError } from '../util/coded-error.ts'
import { MAX_SHARD_INTAKE_PER_MINUTE, MAX_SHARD_INTAKE_SECONDS } from './storage-signals-contract.ts'
import type { ShardIntakeStatus, ShardIntakeWindow } from './storage-signals-contract.ts'

/**
 * The community-shard intake window (scenario B.5). Third parties may hand a node shards of lost
 * content (`PUT /v1/content/<cid>/shards/<index>`), each kept only if it verifies against the
 * ContentID. Every shard costs a spool file and hash work, so intake is closed unless an operator
 * opened a window, which expires by itself and is rate limited per client IP and in total. A
 * restart closes it (the runbook opens it again if the incident is still on).
 */

export type IntakeRefusalCode = 'SHARD_INTAKE_CLOSED' | 'SHARD_INTAKE_RATE_LIMITED'

export type IntakeVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: IntakeRefusalCode; readonly retryAfterMs?: number; readonly message: string }

export class ShardIntakeError extends CodedError<'INVALID_SHARD_INTAKE'> {}

const MAX_REASON = 200
/** Rejection reasons are stable codes; anything else is counted under this one. */
const CODE = /^[A-Z][A-Z0-9_]{1,40}$/

function invalid(message: string): ShardIntakeError {
  return new ShardIntakeError('INVALID_SHARD_INTAKE', message)
}

function positiveInt(v: unknown, name: string, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > max)
    throw invalid(`${name} must be an integer in [1, ${max}]`)
  return v
}

/** Validates an open request: exactly one of expiresAtMs / ttlSeconds, in the future, ≤ 7 days. */
export function parseShardIntakeOpen(body: unknown, nowMs: number): ShardIntakeWindow {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('body must be {ttlSeconds | expiresAtMs, perIpPerMinute, totalPerMinute, reason?}')
  const b = body as Record<string, unknown>
  const unknownKey = Object.keys(b).find(
    (k) => !['expiresAtMs', 'ttlSeconds', 'perIpPerMinute', 'totalPerMinute', 'reason'].includes(k),
  )
  if (unknownKey !== undefined) throw invalid(`unknown field ${unknownKey.slice(0, 40)}`)
  if ((b.expiresAtMs === undefined) === (b.ttlSeconds === undefined))
    throw invalid('give exactly one of expiresAtMs and ttlSeconds')
  let expiresAtMs: number
  if (b.ttlSeconds !== undefined)
    expiresAtMs = nowMs + positiveInt(b.ttlSeconds, 'ttlSeconds', MAX_SHARD_INTAKE_SECONDS) * 1000
  else {
    if (typeof b.expiresAtMs !== 'number' || !Number.isSafeInteger(b.expiresAtMs))
      throw invalid('expiresAtMs must be an integer (ms since epoch)')
    expiresAtMs = b.expiresAtMs
    if (expiresAtMs <= nowMs) throw invalid(`expiresAtMs ${expiresAtMs} is not in the future`)
    if (expiresAtMs > nowMs + MAX_SHARD_INTAKE_SECONDS * 1000)
      throw invalid(`a window may last at most ${MAX_SHARD_INTAKE_SECONDS} s`)
  }
  const perIpPerMinute = positiveInt(b.perIpPerMinute, 'perIpPerMinute', MAX_SHARD_INTAKE_PER_MINUTE)
  const totalPerMinute = positiveInt(b.totalPerMinute, 'totalPerMinute', MAX_SHARD_INTAKE_PER_MINUTE)
  if (b.reason !== undefined && (typeof b.reason !== 'string' || b.reason.length > MAX_REASON))
    throw invalid(`reason must be a string of at most ${MAX_REASON} characters`)
  return {
    openedAtMs: nowMs,
    expiresAtMs,
    perIpPerMinute,
    totalPerMinute,
    ...(typeof b.reason === 'string' ? { reason: b.reason } : {}),
  }
}

const perMinute = (n: number): BucketRate => ({ ratePerSec: n / 60, burst: n })

export class ShardIntake {
  readonly #now: () => number
  #window: ShardIntakeWindow | undefined
  #perIp = new KeyedLimiter(perMinute(1), 16_384)
  #total = new TokenBucket(perMinute(1), 0)
  #accepted = 0
  readonly #rejected = new Map<string, number>()
  readonly #counter: Counter | undefined

  constructor(opts: { registry?: Registry; now?: () => number } = {}) {
    this.#now = opts.now ?? Date.now
    if (opts.registry !== undefined) this.#counter = this.#register(opts.registry)
  }

  /** Opens (or replaces) the window; fresh rate buckets, counters kept. */
  open(w: ShardIntakeWindow): ShardIntakeStatus {
    this.#window = w
    this.#perIp = new KeyedLimiter(perMinute(w.perIpPerMinute), 16_384)
    this.#total = new TokenBucket(perMinute(w.totalPerMinute), this.#now())
    return this.status()
  }

  close(): ShardIntakeStatus {
    this.#window = undefined
    return this.status()
  }

  #inForce(): ShardIntakeWindow | undefined {
    if (this.#window !== undefined && this.#now() >= this.#window.expiresAtMs) this.#window = undefined
    return this.#window
  }

  /** Before the body is read: closed or over rate is refused (and counted) here. */
  admit(ip: string | undefined): IntakeVerdict {
    const w = this.#inForce()
    if (w === undefined) return this.#refuse('SHARD_INTAKE_CLOSED', 'community-shard intake is closed on this node')
    const now = this.#now()
    const byIp = this.#perIp.take(ip ?? 'unknown', 1, now)
    if (!byIp.ok)
      return this.#refuse(
        'SHARD_INTAKE_RATE_LIMITED',
        `over ${w.perIpPerMinute} shards per minute from this address`,
        byIp.retryAfterMs,
      )
    const total = this.#total.take(perMinute(w.totalPerMinute), 1, now)
    if (!total.ok)
      return this.#refuse(
        'SHARD_INTAKE_RATE_LIMITED',
        `over ${w.totalPerMinute} shards per minute in total`,
        total.retryAfterMs,
      )
    return { ok: true }
  }

  #refuse(code: IntakeRefusalCode, message: string, retryAfterMs?: number): IntakeVerdict {
    this.rejected(code)
    return { ok: false, code, message, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }
  }

  accepted(): void {
    this.#accepted++
    this.#counter?.inc({ result: 'accepted', reason: '' })
  }

  /** A refusal by stable code (the content layer's, e.g. SHARD_MISMATCH, or this module's). */
  rejected(code: string): void {
    const reason = CODE.test(code) ? code : 'OTHER'
    this.#rejected.set(reason, (this.#rejected.get(reason) ?? 0) + 1)
    this.#counter?.inc({ result: 'rejected', reason })
  }

  status(): ShardIntakeStatus {
    const w = this.#inForce()
    return {
      open: w !== undefined,
      ...(w === undefined ? {} : { window: w }),
      accepted: this.#accepted,
      rejected: Object.fromEntries(this.#rejected),
    }
  }

  #register(registry: Registry): Counter {
    const status = (): ShardIntakeStatus => this.status()
    new Gauge({
      name: 'echonet_dds_shard_intake_open',
      help: 'Community-shard intake window open (1) or closed (0)',
      registers: [registry],
      collect() {
        this.set(status().open ? 1 : 0)
      },
    })
    new Gauge({
      name: 'echonet_dds_shard_intake_expires_timestamp_seconds',
      help: 'When the open community-shard intake window closes (0: closed)',
      registers: [registry],
      collect() {
        this.set((status().window?.expiresAtMs ?? 0) / 1000)
      },
    })
    return new Counter({
      name: 'echonet_dds_shard_intake_total',
      help: 'Community shards submitted to this node, by result and refusal code',
      labelNames: ['result', 'reason'],
      registers: [registry],
    })
  }
}
