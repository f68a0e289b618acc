/**
 * The node's admin API contract, exported as `@echonet/node/admin` for the operator. The admin
 * API listens on its own port and requires `Authorization: Bearer <token>` (the token comes from
 * a Kubernetes Secret). This module has no node internals: types, paths, and a small client.
 */

import type { EmergencySummary } from './emergency-contract.ts'
export type * from './emergency-contract.ts'
import { STORAGE_SIGNALS_ERROR_CODES, storageSignalsPaths } from './storage-signals-contract.ts'
import type {
  DhtHealthStatus,
  RepairPriorityEntry,
  RepairPriorityList,
  ShardIntakeOpenRequest,
  ShardIntakeStatus,
  ContentPublishCounts,
} from './storage-signals-contract.ts'
export type * from './storage-signals-contract.ts'
export {
  MAX_SHARD_INTAKE_PER_MINUTE,
  MAX_SHARD_INTAKE_SECONDS,
  REPAIR_CLASSES,
  STORAGE_SIGNALS_ERROR_CODES,
  storageSignalsPaths,
} from './storage-signals-contract.ts'

export const ADMIN_API_VERSION = 'v1'

export type NodeRole = 'witness' | 'standby' | 'ssn' | 'seed'

/**
 * `running`: blocks are being finalized; `halted`: no block final for the halt window (or waiting
 * for supermajority on a restart manifest), state preserved, submissions queued then refused;
 * `syncing`: catching up with peers.
 */
export type NodeMode = 'running' | 'halted' | 'syncing'

/**
 * `QUORUM_LOST`: too little committee power heard from; `NOT_FINALIZING`: enough power online but
 * no block final (a bug, or a partition the node cannot see); `RESTART_WAIT`: waiting for > 2/3
 * of a restart manifest's new set; `RESTART_REFUSED`: this node refused an authorized restart
 * manifest for its finalized block (e.g. a hard fork whose resulting state root it does not reach)
 * and signs nothing more in the old epoch — people decide; `COUNCIL_HALT`: the council halted the
 * ledger (blocks still finalize, carrying governance events only); `UPGRADE_REQUIRED`: an upgrade
 * reached its flag height and this node's build is not the one it names (it stops before that
 * block); `COUNCIL_STOP`: the council stopped the chain before a height (a hard fork follows).
 */
/**
 * A witness or standby that saw no block final for this long reports `halted` (DESIGN §4), and the
 * operator treats a network whose finalized height did not move for this long as halted. Generous,
 * so that a slow but live committee (a loaded machine) never looks halted.
 */
export const HALT_WINDOW_MS = 10_000

export const HALT_CODES = [
  'QUORUM_LOST',
  'NOT_FINALIZING',
  'RESTART_WAIT',
  'RESTART_REFUSED',
  'COUNCIL_HALT',
  'UPGRADE_REQUIRED',
  'COUNCIL_STOP',
] as const
export type HaltCode = (typeof HALT_CODES)[number]

export interface CommitteeMemberStatus {
  readonly did: string
  readonly power: number
  /**
   * This node received a message over the member's own authenticated connection (its PeerId
   * derives from the same key as its DID) within the liveness window. Relayed messages never
   * count, so the union of every node's view is still evidence only the member can produce.
   */
  readonly online: boolean
}

export interface CommitteeStatus {
  readonly totalPower: number
  /** Power needed for finality: the smallest power p with 3p > 2·total. */
  readonly powerNeeded: number
  readonly powerOnline: number
  readonly members: readonly CommitteeMemberStatus[]
}

/** A node that adopted a restart manifest and waits for > 2/3 of the new set to be ready on it. */
export interface RestartWaitInfo {
  readonly epoch: number
  readonly height: number
  readonly blockHash: string
  readonly manifestHash: string
  /** DIDs of the new set that signed RestartReady for this manifest. */
  readonly ready: readonly string[]
  readonly readyPower: number
  readonly totalPower: number
  readonly sinceMs: number
}

export interface AdminStatus {
  readonly did: string
  readonly peerId: string
  readonly role: NodeRole
  readonly chainId: string
  readonly epoch: number
  readonly mode: NodeMode
  readonly haltReason?: string
  /** Why, as a stable code (with mode `halted`). */
  readonly haltCode?: HaltCode
  readonly version: string
  /** Digest of the node's program (build-info.ts), the form an upgrade plan names. */
  readonly binaryDigest?: string
  readonly finalizedHeight: number
  readonly finalizedHash: string
  readonly stateRoot: string
  /** Highest block this node holds with a valid commit certificate (≥ finalizedHeight while syncing). */
  readonly highestCertifiedHeight: number
  readonly highestCertifiedHash: string
  readonly highestCertifiedStateRoot: string
  readonly lastBlockTimeMs: number
  readonly consensus: { readonly height: number; readonly round: number; readonly step: string }
  readonly committee: CommitteeStatus
  readonly mempool: { readonly size: number; readonly bytes: number }
  readonly peers: { readonly connected: number; readonly known: number }
  /** DDS view of this node (additive; nodes before DDS omit it). */
  readonly storage?: StorageStatus
  /** Present while waiting for supermajority on a restart manifest. */
  readonly restart?: RestartWaitInfo
  /** The ledger's governance as this node holds it (what the operator checks signatures against). */
  readonly governance?: GovernanceView
  /** This node's own registration on the ledger (stake role, balance). */
  readonly self?: SelfRegistration
  /** DHT health measured by this node: routing table, seeds reachable, canary lookups. */
  readonly dhtHealth?: DhtHealthStatus
  /** Community-shard intake window and its accepted/rejected counts. */
  readonly shardIntake?: ShardIntakeStatus
  /** Publishes this node carried out, and the creator re-uploads among them matched by bodyHash. */
  readonly content?: ContentPublishCounts
}

export interface GovernanceView {
  readonly council: { readonly members: readonly string[]; readonly threshold: number }
  /** Registered, unsuspended standby witnesses. */
  readonly standbys: readonly string[]
  /** The committee size parameter (top witnesses by stake). */
  readonly committeeSize: number
  /** The fee one event pays now. */
  readonly eventFee: number
  /** Temporary parameter overrides in force (scenario D emergency parameters), with their expiry. */
  readonly paramOverrides?: readonly { name: string; value: number; expiresAtMs: number; setAtHeight: number }[]
  /** The council's emergency records in force (the public `/v1/emergency` adds their signatures). */
  readonly emergency?: EmergencySummary
}

export interface SelfRegistration {
  /** Absent when the DID has no bonded stake. */
  readonly role?: 'witness' | 'standby' | 'ssn'
  readonly bonded: number
  readonly balance: number
  readonly nonce: number
}

/** An SSN's storage and repair state (`GET /admin/v1/storage`). Non-SSNs report holdsShards false. */
export interface StorageStatus {
  readonly holdsShards: boolean
  readonly shards: number
  readonly bytes: number
  /** Registered content with fewer than k + m healthy shards, as of this node's last scan. */
  readonly underReplicated: number
  readonly repairQueue: number
  /** Shard bytes this node rebuilt and placed since it started. */
  readonly repairedBytes: number
  readonly lastScanAtMs: number
  readonly priorities: readonly RepairPriority[]
  /**
   * Corrupt shards (and manifests) found by scrub or on read and quarantined on this node's volume
   * since it was created; the bytes were never served. Absent from nodes before this field.
   */
  readonly quarantined?: number
}

export interface RepairPriority {
  readonly cid: string
  /** Higher is repaired first among content with the same margin; 0 clears. */
  readonly priority: number
}

export interface RepairRunResult {
  /** Registered content looked at. */
  readonly scanned: number
  readonly underReplicated: number
  /** Content this node repaired in the run (the ones it leads). */
  readonly repaired: number
  readonly failed: number
}

export interface CheckpointInfo {
  readonly height: number
  readonly blockHash: string
  readonly stateRoot: string
  readonly createdAtMs: number
  readonly bytes: number
}

export interface DhtPeerInfo {
  readonly peerId: string
  readonly addrs: readonly string[]
}

export interface DhtStatus {
  readonly mode: 'client' | 'server'
  readonly routingTableSize: number
  readonly providedCount: number
  readonly seeds: readonly DhtPeerInfo[]
  /** The ledger's dhtRefreshSeconds in force, periodic refreshes done, and the last one's time. */
  readonly refreshSeconds?: number
  readonly refreshes?: number
  readonly lastRefreshMs?: number
  /** Seeds reachable and canary lookups (nodes before scenario B omit it). */
  readonly health?: DhtHealthStatus
}

export interface DhtRebootstrapResult {
  /** New seeds this node could connect to. */
  readonly dialled: number
  readonly routingTableSize: number
  /** Provided CIDs announced again. */
  readonly reprovided: number
}

export interface DhtProvideResult {
  readonly cid: string
  readonly announced: boolean
  readonly error?: string
}

/** The answer to handing a node a restart record. */
export interface RestartAdoption {
  readonly epoch: number
  readonly manifestHash: string
  /** False when the node had adopted this manifest already (handing it again is harmless). */
  readonly adopted: boolean
  /** Adopted now: this node's state root right after adopting (edits, new epoch and witness set). */
  readonly stateRoot?: string
  /** Adopted now, with state edits: the root the edits gave here (the node refuses any other). */
  readonly resultingStateRoot?: string
}

/** A JSON value: how people write a state edit's new value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

/**
 * A hard-fork state edit as people write it (YAML or JSON). `value` is the new state value as
 * JSON — integers, strings, booleans, null, lists, objects: the ledger's data model but bytes;
 * `valueCbor` is its canonical DAG-CBOR in base64, for any value (what a manifest carries).
 */
export type StateEditInput =
  | { readonly op: 'put'; readonly key: string; readonly value: JsonValue }
  | { readonly op: 'put'; readonly key: string; readonly valueCbor: string }
  | { readonly op: 'delete'; readonly key: string }

/** An edit as the node normalized it, with what the key holds now, for people to review. */
export interface StateEditView {
  readonly op: 'put' | 'delete'
  readonly key: string
  /** put: the canonical DAG-CBOR of the new value, base64 — exactly what the manifest carries. */
  readonly valueCbor?: string
  /** put: the new value as JSON (bytes as {"/": {"bytes": base64}}, DAG-JSON's form). */
  readonly value?: JsonValue
  /** The value the key holds now, as JSON; absent when it holds none. */
  readonly before?: JsonValue
}

/** `POST /admin/v1/restart/preview`: a hard fork from this node's finalized block, computed only. */
export interface RestartPreview {
  readonly chainId: string
  /** The node's epoch now (the manifest starts epoch + 1). */
  readonly epoch: number
  /** The finalized block the fork restarts from: height, hash and state root. */
  readonly height: number
  readonly blockHash: string
  readonly stateRoot: string
  /** The state root once the edits are applied: the manifest's resultingStateRoot. */
  readonly resultingStateRoot: string
  /** The new witness set with powers computed after the edits (what the manifest must list). */
  readonly witnesses: readonly { readonly did: string; readonly power: number }[]
  readonly edits: readonly StateEditView[]
}

export interface AdminErrorBody {
  readonly error: { readonly code: string; readonly message: string }
}

export const adminPaths = {
  status: '/admin/v1/status',
  checkpoints: '/admin/v1/checkpoints',
  dht: '/admin/v1/dht',
  dhtRebootstrap: '/admin/v1/dht/rebootstrap',
  dhtProvide: '/admin/v1/dht/provide',
  /** Followed by `/<cid>`. */
  dhtProviders: '/admin/v1/dht/providers',
  storage: '/admin/v1/storage',
  storageRepair: '/admin/v1/storage/repair',
  storageRepairPriority: '/admin/v1/storage/repair-priority',
  /** POST JSON {witnesses: DID[], expiresAtMs}: the unsigned manifest to restart from this node's block. */
  restartPlan: '/admin/v1/restart/plan',
  /** POST application/cbor {manifest, authorization}: adopt a signed restart manifest. */
  restart: '/admin/v1/restart',
  /**
   * POST JSON {edits: StateEditInput[], witnesses?: DID[]}: a hard fork's resulting state root
   * and witness set from this node's finalized block (RestartPreview); changes nothing.
   */
  restartPreview: '/admin/v1/restart/preview',
  /** GET: limits in force, the override and its expiry, the blocklist (DefencesView). */
  defences: '/admin/v1/defences',
  /** POST {entries: [{kind, value, expiresAtMs | ttlSeconds, reason?}]}: block (persisted). */
  blocklist: '/admin/v1/blocklist',
  /** POST {entries: [{kind, value}]}: unblock. */
  blocklistRemove: '/admin/v1/blocklist/remove',
  /** PUT {limits: Partial<RateLimits>, expiresAtMs | ttlSeconds, reason?}: override; DELETE lifts it. */
  limits: '/admin/v1/limits',
  ...storageSignalsPaths,
} as const

/**
 * Codes the admin API answers with (and the client adds for transport failures), so that callers
 * (the operator's runbooks) branch on a closed list. Ledger and governance refusals of a restart
 * manifest reach the caller with the ledger's own codes (e.g. COUNCIL_THRESHOLD_NOT_MET).
 */
export const ADMIN_ERROR_CODES = [
  // transport and framing (client side)
  'UNREACHABLE',
  'BAD_RESPONSE',
  'HTTP_ERROR',
  // request
  'UNAUTHORIZED',
  'NOT_FOUND',
  'MALFORMED_REQUEST',
  'MALFORMED_JSON',
  'MALFORMED_BODY',
  'PAYLOAD_TOO_LARGE',
  'REQUEST_TIMEOUT',
  'INTERNAL',
  'NOT_STARTED',
  'BAD_CID',
  'INVALID_PLAN',
  // coordinated restart (ADR 0007)
  'INVALID_RESTART_RECORD',
  'WRONG_CHAIN',
  'RESTART_EPOCH_GAP',
  'RESTART_STALE',
  'RESTART_NOT_AT_HEIGHT',
  'RESTART_BELOW_FINAL',
  'RESTART_MISMATCH',
  'ENGINE_STOPPED',
  // hard-fork state edits the ledger cannot apply (preview, or a manifest's)
  'INVALID_STATE_EDIT',
  // authorization of a manifest (governance)
  'INVALID_PAYLOAD',
  'EXPIRED',
  'BAD_SIGNATURE',
  'COUNCIL_THRESHOLD_NOT_MET',
  'POLICY_VIOLATION',
  // defences (DESIGN §4 "Attack defenses")
  'RATE_LIMITED',
  'BLOCKED',
  'INVALID_BLOCKLIST_ENTRY',
  'BLOCKLIST_FULL',
  'INVALID_LIMITS',
  'DEFENCES_UNREADABLE',
  'METHOD_NOT_ALLOWED',
  // storage incident signals (storage-signals-contract.ts)
  ...STORAGE_SIGNALS_ERROR_CODES,
] as const
export type AdminErrorCode = (typeof ADMIN_ERROR_CODES)[number]

export function isAdminErrorCode(code: string): code is AdminErrorCode {
  return (ADMIN_ERROR_CODES as readonly string[]).includes(code)
}

export class AdminApiError extends Error {
  /** One of ADMIN_ERROR_CODES, or a module's own code passed through (e.g. a ledger refusal). */
  readonly code: AdminErrorCode | (string & {})
  readonly status: number
  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = 'AdminApiError'
    this.status = status
    this.code = code
  }
}

import type { DefencesView } from '../defence/defences.ts'
import type { BlocklistEntry, BlocklistKind } from '../defence/blocklist.ts'
import type { RateLimits } from '../defence/limits.ts'

/** Minimal client; `fetchImpl` lets tests and the operator inject timeouts or agents. */
export class AdminClient {
  readonly #base: string
  readonly #token: string
  readonly #timeoutMs: number

  constructor(baseUrl: string, token: string, opts: { timeoutMs?: number } = {}) {
    this.#base = baseUrl.replace(/\/$/, '')
    this.#token = token
    this.#timeoutMs = opts.timeoutMs ?? 3_000
  }

  async #request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const bytes = body instanceof Uint8Array
    const init: RequestInit = {
      method,
      headers: {
        authorization: `Bearer ${this.#token}`,
        'content-type': bytes ? 'application/cbor' : 'application/json',
      },
      signal: AbortSignal.timeout(this.#timeoutMs),
    }
    if (body instanceof Uint8Array) init.body = body
    else if (body !== undefined) init.body = JSON.stringify(body)
    let res: Response
    try {
      res = await fetch(`${this.#base}${path}`, init)
    } catch (err) {
      throw new AdminApiError(0, 'UNREACHABLE', `${method} ${path}: ${(err as Error).message}`)
    }
    const text = await res.text()
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      throw new AdminApiError(res.status, 'BAD_RESPONSE', `${method} ${path}: response is not JSON`)
    }
    if (!res.ok) {
      const e = (parsed as Partial<AdminErrorBody> | undefined)?.error
      throw new AdminApiError(res.status, e?.code ?? 'HTTP_ERROR', e?.message ?? `HTTP ${res.status}`)
    }
    return parsed as T
  }

  status(): Promise<AdminStatus> {
    return this.#request('GET', adminPaths.status)
  }

  checkpoints(): Promise<{ checkpoints: CheckpointInfo[] }> {
    return this.#request('GET', adminPaths.checkpoints)
  }

  dht(): Promise<DhtStatus> {
    return this.#request('GET', adminPaths.dht)
  }

  /** Tell the node new DHT seeds: it dials them, refreshes its routing table and re-provides its CIDs. */
  dhtRebootstrap(seeds: readonly DhtPeerInfo[]): Promise<DhtRebootstrapResult> {
    return this.#request('POST', adminPaths.dhtRebootstrap, { seeds })
  }

  dhtProvide(cid: string): Promise<DhtProvideResult> {
    return this.#request('POST', adminPaths.dhtProvide, { cid })
  }

  dhtProviders(cid: string): Promise<{ providers: DhtPeerInfo[] }> {
    return this.#request('GET', `${adminPaths.dhtProviders}/${encodeURIComponent(cid)}`)
  }

  storage(): Promise<StorageStatus> {
    return this.#request('GET', adminPaths.storage)
  }

  /** Scan now and repair what this SSN leads; resolves when the run is over (use a long timeout). */
  storageRepair(): Promise<RepairRunResult> {
    return this.#request('POST', adminPaths.storageRepair, {})
  }

  /** Repair `cid` earlier than other content with the same margin (priority 0 clears). */
  setRepairPriority(cid: string, priority: number): Promise<RepairPriority> {
    return this.#request('POST', adminPaths.storageRepairPriority, { cid, priority })
  }

  /** The SSN's persisted repair priority list (NOT_A_STORAGE_NODE on other roles). */
  repairPriorities(): Promise<RepairPriorityList> {
    return this.#request('GET', adminPaths.repairPriorities)
  }

  /**
   * Replaces the SSN's repair priority list; persisted (atomic write + fsync) before the answer,
   * so it survives a restart. Malformed lists are refused whole with INVALID_REPAIR_PRIORITIES.
   */
  setRepairPriorities(entries: readonly RepairPriorityEntry[]): Promise<RepairPriorityList> {
    return this.#request('PUT', adminPaths.repairPriorities, { entries })
  }

  shardIntake(): Promise<ShardIntakeStatus> {
    return this.#request('GET', adminPaths.shardIntake)
  }

  /**
   * Opens (or replaces) the community-shard intake window until its expiry, rate limited per
   * client IP and in total per minute. Refused with INVALID_SHARD_INTAKE when malformed.
   */
  openShardIntake(req: ShardIntakeOpenRequest): Promise<ShardIntakeStatus> {
    return this.#request('PUT', adminPaths.shardIntake, req)
  }

  closeShardIntake(): Promise<ShardIntakeStatus> {
    return this.#request('DELETE', adminPaths.shardIntake)
  }

  /**
   * The unsigned restart manifest from this node's finalized block, with exactly `witnesses` as
   * the new set (powers from the node's ledger). Sign it with `@echonet/node/governance`.
   */
  restartPlan<M = unknown>(witnesses: readonly string[], expiresAtMs: number): Promise<M> {
    return this.#request('POST', adminPaths.restartPlan, { witnesses, expiresAtMs })
  }

  /**
   * Hands the node a signed restart record (DAG-CBOR {manifest, authorization}); it verifies the
   * authorization itself and waits for supermajority. May take up to ~15 s while the node syncs.
   */
  restart(record: Uint8Array): Promise<RestartAdoption> {
    return this.#request('POST', adminPaths.restart, record)
  }

  /**
   * What a hard fork with `edits` gives from this node's finalized block, changing nothing: the
   * resulting state root and the witness set (default: the current committee) with its powers
   * after the edits, to build the RestartManifest the council signs. Malformed edits are refused
   * with INVALID_PAYLOAD (shape) or INVALID_STATE_EDIT (a value or deletion the ledger refuses).
   */
  restartPreview(edits: readonly StateEditInput[], witnesses?: readonly string[]): Promise<RestartPreview> {
    return this.#request('POST', adminPaths.restartPreview, {
      edits,
      ...(witnesses === undefined ? {} : { witnesses }),
    })
  }

  /** Limits in force, the override, the blocklist, and what was throttled or refused. */
  defences(): Promise<DefencesView> {
    return this.#request('GET', adminPaths.defences)
  }

  /** Adds (or renews) blocklist entries; the node persists them before it answers. */
  block(entries: readonly BlocklistRequestEntry[]): Promise<{ added: BlocklistEntry[] }> {
    return this.#request('POST', adminPaths.blocklist, { entries })
  }

  unblock(entries: readonly { kind: BlocklistKind; value: string }[]): Promise<{ removed: number }> {
    return this.#request('POST', adminPaths.blocklistRemove, { entries })
  }

  /** Overrides limits until `expiresAtMs`; replaces any previous override. */
  setLimits(limits: Partial<RateLimits>, expiresAtMs: number, reason?: string): Promise<DefencesView> {
    return this.#request('PUT', adminPaths.limits, { limits, expiresAtMs, ...(reason === undefined ? {} : { reason }) })
  }

  clearLimits(): Promise<DefencesView> {
    return this.#request('DELETE', adminPaths.limits)
  }
}

/** A blocklist entry as the admin API takes it: an absolute expiry or a TTL. */
export interface BlocklistRequestEntry {
  readonly kind: BlocklistKind
  readonly value: string
  readonly expiresAtMs?: number
  readonly ttlSeconds?: number
  readonly reason?: string
}

/** Smallest power that is > 2/3 of total. */
export function powerNeededFor(totalPower: number): number {
  return Math.floor((2 * totalPower) / 3) + 1
}

// The defences' shapes (admin API bodies), from the module that enforces them.
export type { DefencesView, LimitsOverride, Surface } from '../defence/defences.ts'
export type { BlocklistEntry, BlocklistKind } from '../defence/blocklist.ts'
export type { RateLimits } from '../defence/limits.ts'
