/**
 * A NodeAdmin for unit tests: statuses and answers are set by the test, every call is recorded.
 * (Acceptance tests talk to real nodes; this only stands in inside unit tests.)
 */
import { AdminApiError } from '@echonet/node/admin'
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
import type { AccountView, NodeAdmin, NodeEndpoint, RestartResult, SubmitVerdict } from './node-admin.ts'

export type FakeCall =
  | { readonly op: 'status'; readonly ip: string }
  | {
      readonly op: 'restartPlan'
      readonly ip: string
      readonly witnesses: readonly string[]
      readonly expiresAtMs: number
    }
  | { readonly op: 'restart'; readonly ip: string; readonly record: Uint8Array }
  | { readonly op: 'restartPreview'; readonly ip: string; readonly edits: readonly StateEditInput[] }
  | { readonly op: 'storageRepair'; readonly ip: string }
  | { readonly op: 'setRepairPriorities'; readonly ip: string; readonly priorities: readonly RepairPriority[] }
  | { readonly op: 'dhtRebootstrap'; readonly ip: string; readonly seeds: readonly DhtPeerInfo[] }
  | { readonly op: 'account'; readonly ip: string; readonly did: string }
  | { readonly op: 'submitEvents'; readonly ip: string; readonly events: readonly Uint8Array[] }
  | { readonly op: 'defences'; readonly ip: string }
  | { readonly op: 'block'; readonly ip: string; readonly entries: readonly BlocklistRequestEntry[] }
  | { readonly op: 'unblock'; readonly ip: string; readonly entries: readonly { kind: BlocklistKind; value: string }[] }
  | {
      readonly op: 'setLimits'
      readonly ip: string
      readonly limits: Partial<RateLimits>
      readonly expiresAtMs: number
    }
  | { readonly op: 'clearLimits'; readonly ip: string }

export class FakeNodeAdmin implements NodeAdmin {
  readonly calls: FakeCall[] = []
  /** Status by pod IP; an IP without one is unreachable. */
  readonly statuses = new Map<string, AdminStatus>()
  plan: (ip: string, witnesses: readonly string[], expiresAtMs: number) => RestartManifest = () => {
    throw new AdminApiError(500, 'INTERNAL', 'no plan configured')
  }
  preview: (ip: string, edits: readonly StateEditInput[]) => RestartPreview = () => {
    throw new AdminApiError(500, 'INTERNAL', 'no preview configured')
  }
  readonly accounts = new Map<string, AccountView>()
  restartAnswer: (ip: string, record: Uint8Array) => RestartResult = () => ({
    epoch: 1,
    manifestHash: 'ab'.repeat(32),
    adopted: true,
  })

  status(n: NodeEndpoint): Promise<AdminStatus> {
    this.calls.push({ op: 'status', ip: n.ip })
    const s = this.statuses.get(n.ip)
    return s === undefined
      ? Promise.reject(new AdminApiError(0, 'UNREACHABLE', `${n.ip}: connection refused`))
      : Promise.resolve(s)
  }

  restartPlan(n: NodeEndpoint, witnesses: readonly string[], expiresAtMs: number): Promise<RestartManifest> {
    this.calls.push({ op: 'restartPlan', ip: n.ip, witnesses, expiresAtMs })
    return new Promise((resolve) => {
      resolve(this.plan(n.ip, witnesses, expiresAtMs))
    })
  }

  restart(n: NodeEndpoint, record: Uint8Array): Promise<RestartResult> {
    this.calls.push({ op: 'restart', ip: n.ip, record })
    return new Promise((resolve) => {
      resolve(this.restartAnswer(n.ip, record))
    })
  }

  restartPreview(n: NodeEndpoint, edits: readonly StateEditInput[]): Promise<RestartPreview> {
    this.calls.push({ op: 'restartPreview', ip: n.ip, edits })
    return new Promise((resolve) => {
      resolve(this.preview(n.ip, edits))
    })
  }

  setRepairPriorities(n: NodeEndpoint, priorities: readonly RepairPriority[]): Promise<void> {
    this.calls.push({ op: 'setRepairPriorities', ip: n.ip, priorities })
    return Promise.resolve()
  }

  storageRepair(n: NodeEndpoint): Promise<RepairRunResult> {
    this.calls.push({ op: 'storageRepair', ip: n.ip })
    return Promise.resolve({ scanned: 0, underReplicated: 0, repaired: 0, failed: 0 })
  }

  dhtRebootstrap(n: NodeEndpoint, seeds: readonly DhtPeerInfo[]): Promise<DhtRebootstrapResult> {
    this.calls.push({ op: 'dhtRebootstrap', ip: n.ip, seeds })
    return Promise.resolve({ dialled: seeds.length, routingTableSize: seeds.length, reprovided: 0 })
  }

  account(ip: string, did: string): Promise<AccountView | undefined> {
    this.calls.push({ op: 'account', ip, did })
    return Promise.resolve(this.accounts.get(did))
  }

  submitEvents(ip: string, events: readonly Uint8Array[]): Promise<SubmitVerdict[]> {
    this.calls.push({ op: 'submitEvents', ip, events })
    return Promise.resolve(events.map((_, i) => ({ id: String(i), ok: true })))
  }

  /** Defences by pod IP as the nodes would report them (counts set by the test). */
  readonly defenceViews = new Map<string, DefencesView>()

  #reachable(ip: string): Promise<void> {
    return this.statuses.has(ip)
      ? Promise.resolve()
      : Promise.reject(new AdminApiError(0, 'UNREACHABLE', `${ip}: connection refused`))
  }

  async defences(n: NodeEndpoint): Promise<DefencesView> {
    this.calls.push({ op: 'defences', ip: n.ip })
    await this.#reachable(n.ip)
    const v = this.defenceViews.get(n.ip)
    if (v === undefined) throw new AdminApiError(500, 'INTERNAL', 'no defences view configured')
    return v
  }

  async block(n: NodeEndpoint, entries: readonly BlocklistRequestEntry[]): Promise<void> {
    this.calls.push({ op: 'block', ip: n.ip, entries })
    await this.#reachable(n.ip)
  }

  async unblock(n: NodeEndpoint, entries: readonly { kind: BlocklistKind; value: string }[]): Promise<number> {
    this.calls.push({ op: 'unblock', ip: n.ip, entries })
    await this.#reachable(n.ip)
    return entries.length
  }

  async setLimits(n: NodeEndpoint, limits: Partial<RateLimits>, expiresAtMs: number): Promise<void> {
    this.calls.push({ op: 'setLimits', ip: n.ip, limits, expiresAtMs })
    await this.#reachable(n.ip)
  }

  async clearLimits(n: NodeEndpoint): Promise<void> {
    this.calls.push({ op: 'clearLimits', ip: n.ip })
    await this.#reachable(n.ip)
  }
}
