/**
 * Admin contract of the storage-incident signals (scenario B): DHT health measured by the node
 * itself, the persisted repair priority list of an SSN, and the community-shard intake window.
 * Types, paths and codes only; `admin-contract.ts` re-exports them and its AdminClient calls them.
 */

/** DHT health as this node sees it (GET /admin/v1/status `dhtHealth`, GET /admin/v1/dht `health`). */
export interface DhtHealthStatus {
  /** kad-dht routing-table size now. */
  readonly routingTableSize: number
  /** Seeds named by the peer list or the last re-bootstrap. */
  readonly seedsConfigured: number
  /** Seeds this node holds an open connection to now. */
  readonly seedsConnected: number
  /** Seeds connected at the last check, or that answered a dial made by it. */
  readonly seedsReachable: number
  readonly canary: DhtCanaryStatus
}

/**
 * The canary: every node provides one well-known record per network (a CID derived from the
 * chain id) and looks it up through the DHT; a lookup succeeds when it finds a provider other
 * than this node. Counts are since the node started.
 */
export interface DhtCanaryStatus {
  readonly cid: string
  readonly intervalMs: number
  readonly successes: number
  readonly failures: number
  /** Failures since the last success (0 after a success). */
  readonly consecutiveFailures: number
  /** 0 until the first success / failure / check. */
  readonly lastSuccessMs: number
  readonly lastFailureMs: number
  readonly lastCheckMs: number
  /** Providers other than this node found by the last lookup. */
  readonly lastProviders: number
  /** DHT servers that accepted this node's canary record at the last check. */
  readonly lastProvideAccepted: number
  /** Why the last lookup failed (stable code: NO_PROVIDERS or LOOKUP_FAILED). */
  readonly lastErrorCode?: DhtCanaryErrorCode
  readonly lastError?: string
}

export type DhtCanaryErrorCode = 'NO_PROVIDERS' | 'LOOKUP_FAILED'

/**
 * Repair classes, repaired in this order among content at the same margin (healthy − k: content
 * closer to loss always goes first): critical metadata, then high-demand, then recent content, then
 * everything else (whose order is the node's own: demand seen, then newest registration).
 */
export const REPAIR_CLASSES = ['critical', 'high-demand', 'recent'] as const
export type RepairClass = (typeof REPAIR_CLASSES)[number]

export interface RepairPriorityEntry {
  readonly cid: string
  readonly class: RepairClass
}

/** An SSN's repair priority list as persisted (`<data>/repair-priorities.json`). */
export interface RepairPriorityList {
  readonly entries: readonly RepairPriorityEntry[]
  /** Bumped by every accepted change (a PUT, or a numeric priority set). */
  readonly revision: number
  readonly updatedAtMs: number
}

export const MAX_REPAIR_PRIORITY_ENTRIES = 10_000

/** PUT body of the shard-intake window: an expiry (absolute or TTL) and per-minute limits. */
export interface ShardIntakeOpenRequest {
  readonly expiresAtMs?: number
  readonly ttlSeconds?: number
  /** Shards one client IP may submit per minute (burst = the same number). */
  readonly perIpPerMinute: number
  /** Shards all clients together may submit per minute. */
  readonly totalPerMinute: number
  readonly reason?: string
}

export interface ShardIntakeWindow {
  readonly openedAtMs: number
  readonly expiresAtMs: number
  readonly perIpPerMinute: number
  readonly totalPerMinute: number
  readonly reason?: string
}

/** Community-shard intake on this node's public API (PUT /v1/content/<cid>/shards/<index>). */
export interface ShardIntakeStatus {
  /** False by default, after a DELETE, and once the window expires. */
  readonly open: boolean
  /** The window in force (absent while closed). */
  readonly window?: ShardIntakeWindow
  /** Shards that verified and were stored, since the node started. */
  readonly accepted: number
  /** Refused submissions by stable code (SHARD_INTAKE_CLOSED, SHARD_INTAKE_RATE_LIMITED, SHARD_MISMATCH, ...). */
  readonly rejected: Readonly<Record<string, number>>
}

export const MAX_SHARD_INTAKE_SECONDS = 7 * 24 * 3600
export const MAX_SHARD_INTAKE_PER_MINUTE = 100_000

export const storageSignalsPaths = {
  /** GET: the list; PUT {entries: [{cid, class}]}: replace it (persisted before the answer). */
  repairPriorities: '/admin/v1/storage/repair-priorities',
  /** GET: status; PUT ShardIntakeOpenRequest: open (replaces a window in force); DELETE: close. */
  shardIntake: '/admin/v1/storage/shard-intake',
} as const

/** Codes these routes answer with (besides MALFORMED_JSON, PAYLOAD_TOO_LARGE, UNAUTHORIZED). */
export const STORAGE_SIGNALS_ERROR_CODES = [
  /** Repair priority body: not {entries: [...]}, a bad CID, an unknown class, a CID twice, too many. */
  'INVALID_REPAIR_PRIORITIES',
  /** Only SSNs repair; other roles refuse to hold a priority list (409). */
  'NOT_A_STORAGE_NODE',
  /** Shard-intake window body: no or past expiry, too long, limits not positive integers. */
  'INVALID_SHARD_INTAKE',
  /** Public API: no window open (403). */
  'SHARD_INTAKE_CLOSED',
  /** Public API: over the window's per-IP or total rate (429 with Retry-After). */
  'SHARD_INTAKE_RATE_LIMITED',
] as const
export type StorageSignalsErrorCode = (typeof STORAGE_SIGNALS_ERROR_CODES)[number]
