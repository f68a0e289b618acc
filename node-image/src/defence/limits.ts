import { isObj } from '../util/guards.ts'
import type { BucketRate } from './token-bucket.ts'
import { DefenceError } from './errors.ts'

/**
 * The node's limits (DESIGN §4 "Attack defenses"): on by default, sized so that honest use never
 * meets them (the consensus benchmark's 4,000 events/s over 256 senders, a repair at full speed,
 * a dozen loopback nodes dialling from one address), and all configurable — at start
 * (ECHONET_RATE_LIMITS) and while running (admin API, with an expiry).
 */
export interface RateLimits {
  /** Public API requests per client IP (IPv6: per /64). */
  readonly httpPerIp: BucketRate
  /** Events submitted per client IP on the public API (a batch takes one token per event). */
  readonly eventsPerIp: BucketRate
  /** Events admitted per creator DID, from clients and from gossip alike. */
  readonly eventsPerDid: BucketRate
  /** Consensus-protocol frames per peer (votes, proposals, event batches). */
  readonly framesPerPeer: BucketRate
  /** Block-sync requests per peer. */
  readonly syncPerPeer: BucketRate
  /** Shard-protocol requests (store, fetch, challenge) per peer. */
  readonly shardPerPeer: BucketRate
  /** Publishes per creator DID (a publish takes one token whatever its size). */
  readonly publishesPerDid: BucketRate
  /** Bytes published per creator DID, in MiB (a publish takes its size rounded up to a MiB). */
  readonly publishMiBPerDid: BucketRate
  /** Uploads (publish, community shard) in progress at once per client IP. */
  readonly uploadsPerIp: number
  /** Open inbound libp2p connections per remote IP. */
  readonly connectionsPerIp: number
}

export const DEFAULT_LIMITS: RateLimits = {
  httpPerIp: { ratePerSec: 200, burst: 1_000 },
  eventsPerIp: { ratePerSec: 5_000, burst: 20_000 },
  eventsPerDid: { ratePerSec: 100, burst: 1_000 },
  framesPerPeer: { ratePerSec: 2_000, burst: 4_000 },
  syncPerPeer: { ratePerSec: 20, burst: 100 },
  shardPerPeer: { ratePerSec: 500, burst: 2_000 },
  // 100 publishes at once, then one a second; two largest bodies (4 GiB) at once, then 4 MiB/s.
  publishesPerDid: { ratePerSec: 1, burst: 100 },
  publishMiBPerDid: { ratePerSec: 4, burst: 8_192 },
  uploadsPerIp: 4,
  connectionsPerIp: 128,
}

const BIG = 1_000_000_000
/** What "defences off" means (for side-by-side benchmarks only). */
export const NO_LIMITS: RateLimits = {
  httpPerIp: { ratePerSec: BIG, burst: BIG },
  eventsPerIp: { ratePerSec: BIG, burst: BIG },
  eventsPerDid: { ratePerSec: BIG, burst: BIG },
  framesPerPeer: { ratePerSec: BIG, burst: BIG },
  syncPerPeer: { ratePerSec: BIG, burst: BIG },
  shardPerPeer: { ratePerSec: BIG, burst: BIG },
  publishesPerDid: { ratePerSec: BIG, burst: BIG },
  publishMiBPerDid: { ratePerSec: BIG, burst: BIG },
  uploadsPerIp: BIG,
  connectionsPerIp: BIG,
}

const BUCKETS = [
  'httpPerIp',
  'eventsPerIp',
  'eventsPerDid',
  'framesPerPeer',
  'syncPerPeer',
  'shardPerPeer',
  'publishesPerDid',
  'publishMiBPerDid',
] as const
const COUNTS = ['uploadsPerIp', 'connectionsPerIp'] as const
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

function bucket(name: string, v: unknown): BucketRate {
  const ok = (x: unknown, min: number): x is number =>
    typeof x === 'number' && Number.isFinite(x) && x >= min && x <= BIG
  if (!isObj(v) || !ok(v.ratePerSec, 0) || !ok(v.burst, 1) || !Number.isInteger(v.burst))
    throw new DefenceError(
      'INVALID_LIMITS',
      `${name} must be {"ratePerSec": number >= 0, "burst": integer >= 1} (at most ${BIG})`,
    )
  return { ratePerSec: v.ratePerSec, burst: v.burst }
}

/**
 * Limits from untrusted JSON: any subset of RateLimits' fields; unknown fields are refused (a typo
 * must not silently leave a limit unchanged).
 */
export function parseLimits(v: unknown): Partial<RateLimits> {
  if (!isObj(v)) throw new DefenceError('INVALID_LIMITS', 'limits must be an object')
  const out: Partial<Mutable<RateLimits>> = {}
  for (const [key, value] of Object.entries(v)) {
    if ((BUCKETS as readonly string[]).includes(key)) {
      out[key as (typeof BUCKETS)[number]] = bucket(key, value)
    } else if ((COUNTS as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > BIG)
        throw new DefenceError('INVALID_LIMITS', `${key} must be an integer >= 1`)
      out[key as (typeof COUNTS)[number]] = value
    } else {
      throw new DefenceError('INVALID_LIMITS', `unknown limit ${key} (known: ${[...BUCKETS, ...COUNTS].join(', ')})`)
    }
  }
  return out
}

/**
 * The start-time limits: ECHONET_DEFENCES=off switches them off (benchmarks); ECHONET_RATE_LIMITS
 * (JSON, a subset of RateLimits) overrides the defaults.
 */
export function limitsFromEnv(env: NodeJS.ProcessEnv): RateLimits {
  if (env.ECHONET_DEFENCES === 'off') return NO_LIMITS
  const text = env.ECHONET_RATE_LIMITS
  if (text === undefined || text.trim() === '') return DEFAULT_LIMITS
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new DefenceError('INVALID_LIMITS', 'ECHONET_RATE_LIMITS is not JSON')
  }
  return { ...DEFAULT_LIMITS, ...parseLimits(json) }
}
