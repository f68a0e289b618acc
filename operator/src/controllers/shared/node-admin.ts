/**
 * What controllers and runbooks ask of the nodes, over the nodes' admin API (bearer token) and
 * their public API. One interface so that every caller shares one client, one timeout policy and
 * one error type (AdminApiError with an AdminErrorCode), and unit tests use a fake.
 */
import { AdminApiError, AdminClient } from '@echonet/node/admin'
import type {
  AdminStatus,
  BlocklistKind,
  BlocklistRequestEntry,
  DefencesView,
  DhtPeerInfo,
  DhtRebootstrapResult,
  RateLimits,
  RepairPriority,
  RepairRunResult,
  RestartPreview,
  StateEditInput,
} from '@echonet/node/admin'
import type { RestartManifest } from '@echonet/node/governance'
import { ADMIN_PORT, API_PORT } from './ports.ts'

/** Where one node's APIs are: its pod IP, and the network's admin token. */
export interface NodeEndpoint {
  readonly ip: string
  readonly token: string
}

export interface RestartResult {
  readonly epoch: number
  readonly manifestHash: string
  /** False when the node had adopted this manifest already (handing it again is harmless). */
  readonly adopted: boolean
}

export interface NodeAdmin {
  status(n: NodeEndpoint, signal?: AbortSignal): Promise<AdminStatus>
  /** The unsigned manifest to restart from this node's finalized block with exactly `witnesses`. */
  restartPlan(n: NodeEndpoint, witnesses: readonly string[], expiresAtMs: number): Promise<RestartManifest>
  /** Hands a signed restart record (DAG-CBOR); the node verifies it and waits for supermajority. */
  restart(n: NodeEndpoint, record: Uint8Array): Promise<RestartResult>
  /** A hard fork's edits computed on the node's finalized block: resulting root, witness set. */
  restartPreview(n: NodeEndpoint, edits: readonly StateEditInput[]): Promise<RestartPreview>
  storageRepair(n: NodeEndpoint): Promise<RepairRunResult>
  /** ContentIDs an SSN repairs first (higher priority first among the same margin). */
  setRepairPriorities(n: NodeEndpoint, priorities: readonly RepairPriority[]): Promise<void>
  dhtRebootstrap(n: NodeEndpoint, seeds: readonly DhtPeerInfo[]): Promise<DhtRebootstrapResult>
  /** Public API: an account's balance and last nonce (undefined when it has none). */
  account(ip: string, did: string): Promise<AccountView | undefined>
  /** Public API: submit signed events; the per-event verdicts. */
  submitEvents(ip: string, events: readonly Uint8Array[]): Promise<SubmitVerdict[]>
  /** Scenario D: the node's defences, and changes to them (persisted by the node). */
  defences(n: NodeEndpoint): Promise<DefencesView>
  block(n: NodeEndpoint, entries: readonly BlocklistRequestEntry[]): Promise<void>
  unblock(n: NodeEndpoint, entries: readonly { kind: BlocklistKind; value: string }[]): Promise<number>
  setLimits(n: NodeEndpoint, limits: Partial<RateLimits>, expiresAtMs: number, reason?: string): Promise<void>
  clearLimits(n: NodeEndpoint): Promise<void>
}

export interface AccountView {
  readonly did: string
  readonly balance: number
  readonly nonce: number
}

export interface SubmitVerdict {
  readonly id: string
  readonly ok: boolean
  readonly code?: string
}

/** Timeouts per call kind: status is polled often and must be quick; a restart may wait for sync. */
export interface NodeAdminTimeouts {
  readonly statusMs: number
  readonly restartMs: number
  readonly repairMs: number
}

export const DEFAULT_NODE_ADMIN_TIMEOUTS: NodeAdminTimeouts = { statusMs: 3_000, restartMs: 30_000, repairMs: 600_000 }

export function adminUrl(ip: string): string {
  return `http://${ip}:${ADMIN_PORT}`
}

export function publicUrl(ip: string): string {
  return `http://${ip}:${API_PORT}`
}

/** The real thing: HTTP to the pod IPs. */
export class HttpNodeAdmin implements NodeAdmin {
  readonly #t: NodeAdminTimeouts

  constructor(timeouts: Partial<NodeAdminTimeouts> = {}) {
    this.#t = { ...DEFAULT_NODE_ADMIN_TIMEOUTS, ...timeouts }
  }

  #client(n: NodeEndpoint, timeoutMs: number): AdminClient {
    return new AdminClient(adminUrl(n.ip), n.token, { timeoutMs })
  }

  status(n: NodeEndpoint): Promise<AdminStatus> {
    return this.#client(n, this.#t.statusMs).status()
  }

  restartPlan(n: NodeEndpoint, witnesses: readonly string[], expiresAtMs: number): Promise<RestartManifest> {
    return this.#client(n, this.#t.restartMs).restartPlan<RestartManifest>(witnesses, expiresAtMs)
  }

  restart(n: NodeEndpoint, record: Uint8Array): Promise<RestartResult> {
    return this.#client(n, this.#t.restartMs).restart(record)
  }

  restartPreview(n: NodeEndpoint, edits: readonly StateEditInput[]): Promise<RestartPreview> {
    return this.#client(n, this.#t.restartMs).restartPreview(edits)
  }

  storageRepair(n: NodeEndpoint): Promise<RepairRunResult> {
    return this.#client(n, this.#t.repairMs).storageRepair()
  }

  dhtRebootstrap(n: NodeEndpoint, seeds: readonly DhtPeerInfo[]): Promise<DhtRebootstrapResult> {
    return this.#client(n, this.#t.restartMs).dhtRebootstrap(seeds)
  }

  async setRepairPriorities(n: NodeEndpoint, priorities: readonly RepairPriority[]): Promise<void> {
    const c = this.#client(n, this.#t.statusMs)
    for (const p of priorities) await c.setRepairPriority(p.cid, p.priority)
  }

  defences(n: NodeEndpoint): Promise<DefencesView> {
    return this.#client(n, this.#t.statusMs).defences()
  }

  async block(n: NodeEndpoint, entries: readonly BlocklistRequestEntry[]): Promise<void> {
    await this.#client(n, this.#t.restartMs).block(entries)
  }

  async unblock(n: NodeEndpoint, entries: readonly { kind: BlocklistKind; value: string }[]): Promise<number> {
    return (await this.#client(n, this.#t.restartMs).unblock(entries)).removed
  }

  async setLimits(n: NodeEndpoint, limits: Partial<RateLimits>, expiresAtMs: number, reason?: string): Promise<void> {
    await this.#client(n, this.#t.restartMs).setLimits(limits, expiresAtMs, reason)
  }

  async clearLimits(n: NodeEndpoint): Promise<void> {
    await this.#client(n, this.#t.restartMs).clearLimits()
  }

  async account(ip: string, did: string): Promise<AccountView | undefined> {
    if (!/^did:key:z[1-9A-HJ-NP-Za-km-z]{1,60}$/.test(did))
      throw new AdminApiError(0, 'MALFORMED_REQUEST', `not a did:key: ${did}`)
    const res = await publicFetch(`${publicUrl(ip)}/v1/accounts/${did}`, this.#t.statusMs)
    if (res.status === 404) return undefined
    return (await publicJson(res)) as AccountView
  }

  async submitEvents(ip: string, events: readonly Uint8Array[]): Promise<SubmitVerdict[]> {
    const res = await publicFetch(`${publicUrl(ip)}/v1/events`, this.#t.restartMs, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events: events.map((e) => Buffer.from(e).toString('base64')) }),
    })
    return ((await publicJson(res)) as { results: SubmitVerdict[] }).results
  }
}

async function publicFetch(url: string, timeoutMs: number, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    throw new AdminApiError(0, 'UNREACHABLE', `${url}: ${(err as Error).message}`)
  }
}

/** The body of a public API answer; 2xx, or a 400 carrying per-event verdicts. */
async function publicJson(res: Response): Promise<unknown> {
  const text = await res.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new AdminApiError(res.status, 'BAD_RESPONSE', 'public API answer is not JSON')
  }
  const e = (body as { error?: { code?: string; message?: string } }).error
  if (!res.ok && e !== undefined)
    throw new AdminApiError(res.status, e.code ?? 'HTTP_ERROR', e.message ?? `HTTP ${res.status}`)
  return body
}
