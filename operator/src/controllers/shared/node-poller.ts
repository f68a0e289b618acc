/**
 * Observing nodes (DESIGN §6): a reconcile never waits on a node. The poller asks every tracked
 * node for its admin status on its own schedule — bounded concurrency, a timeout per node — and
 * caches the answers with their age; reconciles and runbook steps read the cache. When what it
 * sees changes in a way that matters (a mode, an epoch, who is online, finality stalling or
 * resuming), it calls `onChange(key)` so the owner enqueues the network.
 *
 * It also keeps the one observer-side fact status needs: when the highest finalized height last
 * moved, on the operator's own clock, so that "halted" never depends on a node's word alone.
 */
import type { AdminStatus } from '@echonet/node/admin'
import { HALT_WINDOW_MS } from '@echonet/node/admin'
import type { NodeRoleLabel } from '../../api/v1alpha1/labels.ts'
import type { NodeAdmin } from './node-admin.ts'

export interface PollTarget {
  readonly node: string
  readonly role: NodeRoleLabel
  /** The pod's IP, once it has one. */
  readonly ip?: string
  /** The pod exists and is Ready. */
  readonly ready: boolean
}

export interface NodeObservation {
  readonly node: string
  readonly role: NodeRoleLabel
  readonly ready: boolean
  /** The node's admin status, when it answered the last poll. */
  readonly status?: AdminStatus
  /** Why the admin status is missing (unreachable, error code), when it is. */
  readonly error?: string
  /** Poller clock of the answer (or of the failure). */
  readonly atMs?: number
}

export interface FinalityProgress {
  /** Highest finalized height a witness or standby reported. */
  readonly height: number
  /** Epoch of that report. */
  readonly epoch: number
  /** Poller clock when that height (or epoch) was first seen. */
  readonly sinceMs: number
  /** Newest block time any node reported (the proposer's clock). */
  readonly lastBlockTimeMs: number
}

export interface NodePollerOptions {
  readonly admin: NodeAdmin
  readonly intervalMs: number
  /** Status requests in flight at once, over all networks. */
  readonly concurrency?: number
  readonly now?: () => number
  readonly onChange: (key: string) => void
}

interface Tracked {
  targets: readonly PollTarget[]
  token: string | undefined
  results: Map<string, { status?: AdminStatus; error?: string; atMs: number }>
  progress: FinalityProgress | undefined
  signature: string
  /** The poll round under way, which a second caller joins instead of starting another. */
  polling: Promise<void> | undefined
}

/**
 * How long the network has not finalized, judged by the observer: the finalized height has not
 * moved on the poller's clock AND the newest block is that old by the nodes' clocks (the smaller
 * of the two, so neither a fresh operator nor a skewed node clock makes a live network look halted).
 */
export function stalledMs(p: FinalityProgress | undefined, now: number): number {
  if (p === undefined) return 0
  return Math.max(0, Math.min(now - p.sinceMs, now - p.lastBlockTimeMs))
}

export function notFinalizing(p: FinalityProgress | undefined, now: number): boolean {
  return stalledMs(p, now) >= HALT_WINDOW_MS
}

export class NodePoller {
  /** Runs under the manager like a controller: only the leader polls. */
  readonly name = 'node-poller'
  readonly #o: NodePollerOptions
  readonly #tracked = new Map<string, Tracked>()
  #inFlight = 0
  readonly #waiters: (() => void)[] = []
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  constructor(opts: NodePollerOptions) {
    this.#o = opts
  }

  #now(): number {
    return (this.#o.now ?? Date.now)()
  }

  /** Starts polling every tracked network on the interval (idempotent). */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return
    this.#timer = setInterval(() => {
      for (const key of this.#tracked.keys()) void this.pollNow(key)
    }, this.#o.intervalMs)
  }

  stop(): Promise<boolean> {
    this.#stopped = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    return Promise.resolve(true)
  }

  /**
   * Sets what to poll for `key` (cheap; call it from every reconcile). A new network, or new pod
   * IPs, are polled at once rather than at the next interval.
   */
  track(key: string, targets: readonly PollTarget[], token: string | undefined): void {
    const t = this.#tracked.get(key)
    const ips = (ts: readonly PollTarget[]): string => ts.map((x) => `${x.node}=${x.ip ?? ''}`).join(',')
    if (t === undefined) {
      this.#tracked.set(key, {
        targets,
        token,
        results: new Map(),
        progress: undefined,
        signature: '',
        polling: undefined,
      })
      void this.pollNow(key)
      return
    }
    const changed = ips(t.targets) !== ips(targets) || t.token !== token
    t.targets = targets
    t.token = token
    if (changed) void this.pollNow(key)
  }

  untrack(key: string): void {
    this.#tracked.delete(key)
  }

  /** The latest observation of every tracked node (pod readiness as of the last `track`). */
  observations(key: string): NodeObservation[] {
    const t = this.#tracked.get(key)
    if (t === undefined) return []
    return t.targets.map((target) => {
      const r = t.results.get(target.node)
      const base = { node: target.node, role: target.role, ready: target.ready }
      if (target.ip === undefined || target.ip === '') return { ...base, error: 'no pod IP yet' }
      if (t.token === undefined) return { ...base, error: 'no admin token' }
      if (r === undefined) return { ...base, error: 'not polled yet' }
      return {
        ...base,
        atMs: r.atMs,
        ...(r.status !== undefined ? { status: r.status } : {}),
        ...(r.error !== undefined ? { error: r.error } : {}),
      }
    })
  }

  progress(key: string): FinalityProgress | undefined {
    return this.#tracked.get(key)?.progress
  }

  /** Polls every node of `key` now (or joins the round under way); resolves when all answered or timed out. */
  pollNow(key: string): Promise<void> {
    const t = this.#tracked.get(key)
    if (t === undefined || this.#stopped) return Promise.resolve()
    t.polling ??= this.#round(key, t).finally(() => {
      t.polling = undefined
    })
    return t.polling
  }

  async #round(key: string, t: Tracked): Promise<void> {
    const token = t.token
    await Promise.all(
      t.targets.map(async (target) => {
        if (target.ip === undefined || target.ip === '' || token === undefined) return
        const ip = target.ip
        await this.#slot()
        try {
          const status = await this.#o.admin.status({ ip, token })
          t.results.set(target.node, { status, atMs: this.#now() })
        } catch (e) {
          const err = e as { code?: unknown; message?: unknown }
          const code = typeof err.code === 'string' ? `${err.code}: ` : ''
          t.results.set(target.node, { error: `${code}${String(err.message)}`, atMs: this.#now() })
        } finally {
          this.#release()
        }
      }),
    )
    const wanted = new Set(t.targets.map((x) => x.node))
    for (const n of t.results.keys()) if (!wanted.has(n)) t.results.delete(n)
    t.progress = nextProgress(t.progress, this.observations(key), this.#now())
    const sig = signature(this.observations(key), notFinalizing(t.progress, this.#now()))
    if (sig !== t.signature) {
      t.signature = sig
      if (this.#tracked.has(key)) this.#o.onChange(key)
    }
  }

  async #slot(): Promise<void> {
    const limit = this.#o.concurrency ?? 16
    while (this.#inFlight >= limit) await new Promise<void>((r) => this.#waiters.push(r))
    this.#inFlight++
  }

  #release(): void {
    this.#inFlight--
    this.#waiters.shift()?.()
  }
}

/** Voters (witnesses and standbys) judge finality; SSNs and seeds may lag and prove nothing. */
function voterStatuses(obs: readonly NodeObservation[]): AdminStatus[] {
  return obs.flatMap((o) =>
    o.status !== undefined && (o.role === 'witness' || o.role === 'standby') ? [o.status] : [],
  )
}

/** Pure: the progress record after one poll round. */
export function nextProgress(
  prev: FinalityProgress | undefined,
  obs: readonly NodeObservation[],
  now: number,
): FinalityProgress | undefined {
  const voters = voterStatuses(obs)
  if (voters.length === 0) return prev
  let top = voters[0]!
  for (const s of voters) {
    if (s.epoch > top.epoch || (s.epoch === top.epoch && s.finalizedHeight > top.finalizedHeight)) top = s
  }
  const lastBlockTimeMs = Math.max(...voters.map((s) => s.lastBlockTimeMs), prev?.lastBlockTimeMs ?? 0)
  const moved =
    prev === undefined || top.epoch > prev.epoch || (top.epoch === prev.epoch && top.finalizedHeight > prev.height)
  if (moved) return { height: top.finalizedHeight, epoch: top.epoch, sinceMs: now, lastBlockTimeMs }
  return { ...prev, lastBlockTimeMs }
}

/** What must enqueue the owner when it changes; heights alone do not (they move every second). */
function signature(obs: readonly NodeObservation[], stalled: boolean): string {
  return JSON.stringify([
    stalled,
    obs.map((o) => [
      o.node,
      o.ready,
      o.error === undefined ? '' : 'error',
      o.status?.mode,
      o.status?.haltCode,
      o.status?.epoch,
      o.status?.committee.members
        .filter((m) => m.online)
        .map((m) => m.did)
        .sort(),
      o.status?.restart?.readyPower,
      o.status?.storage?.underReplicated,
    ]),
  ])
}
