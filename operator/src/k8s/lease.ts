/**
 * Leader election on a `coordination.k8s.io/v1` Lease, after client-go's `leaderelection`:
 *
 * - a candidate acquires the Lease when it is free (no holder) or expired, i.e. its record has
 *   not changed for `leaseDuration` as observed by this candidate's own clock (no cross-node
 *   clock comparison);
 * - the leader renews every `retryPeriod`; when it could not renew for `renewDeadline` it steps
 *   down (`onStoppedLeading`) before the Lease can expire for others;
 * - every write is an update with the read `resourceVersion` (optimistic concurrency), so two
 *   candidates can never both win a round;
 * - `stop()` releases the Lease (holder cleared) so a successor does not wait for expiry.
 *
 * Timings default to controller-runtime's: 15 s / 10 s / 2 s.
 */
import { setTimeout as delay } from 'node:timers/promises'
import type { K8sClient } from './client.ts'
import { isAlreadyExists, isConflict, isNotFound } from './client.ts'

export interface LeaderElectorOptions {
  client: K8sClient
  namespace: string
  /** Lease name. */
  name: string
  /** This candidate (e.g. the pod name + a random suffix). */
  identity: string
  leaseDurationMs?: number
  renewDeadlineMs?: number
  retryPeriodMs?: number
  /** Called when this candidate becomes leader; `signal` aborts when leadership is lost. */
  onStartedLeading?: (signal: AbortSignal) => void
  /** Called when this candidate stops leading (lost the Lease, or stopped). */
  onStoppedLeading?: () => void
  /** Called when the observed leader changes (including to this candidate). */
  onNewLeader?: (identity: string) => void
  /** A failed round (for logging). */
  onError?: (err: unknown) => void
}

const LEASES = '/apis/coordination.k8s.io/v1'

/** A Lease as JSON on the wire (times are MicroTime strings). */
export interface LeaseSpec {
  holderIdentity?: string
  leaseDurationSeconds?: number
  acquireTime?: string
  renewTime?: string
  leaseTransitions?: number
}

export interface Lease {
  apiVersion: 'coordination.k8s.io/v1'
  kind: 'Lease'
  metadata: { name: string; namespace: string; resourceVersion?: string } & Record<string, unknown>
  spec?: LeaseSpec
}

/** Kubernetes MicroTime: RFC 3339 with 6 fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
}

export class LeaderElector {
  readonly identity: string
  readonly #o: LeaderElectorOptions
  readonly #leaseDurationMs: number
  readonly #renewDeadlineMs: number
  readonly #retryPeriodMs: number
  #leading = false
  #leadingAbort: AbortController | undefined
  #stop = new AbortController()
  #loop: Promise<void> | undefined
  #observedRecord = ''
  #observedTime = 0
  #observedHolder = ''
  #lastRenew = 0

  constructor(opts: LeaderElectorOptions) {
    this.#o = opts
    this.identity = opts.identity
    this.#leaseDurationMs = opts.leaseDurationMs ?? 15_000
    this.#renewDeadlineMs = opts.renewDeadlineMs ?? 10_000
    this.#retryPeriodMs = opts.retryPeriodMs ?? 2_000
    if (!(this.#leaseDurationMs > this.#renewDeadlineMs && this.#renewDeadlineMs > this.#retryPeriodMs))
      throw new Error('leader election needs leaseDuration > renewDeadline > retryPeriod')
  }

  isLeader(): boolean {
    return this.#leading
  }

  /** The holder this candidate last saw ('' when none). */
  get observedLeader(): string {
    return this.#observedHolder
  }

  /** Starts campaigning (idempotent). */
  run(): void {
    if (this.#loop !== undefined) return
    this.#stop = new AbortController()
    this.#loop = this.#campaign(this.#stop.signal)
  }

  /**
   * Stops campaigning / renewing. With `release` (default) a leader clears the Lease's holder so
   * another candidate takes over at its next retry; without it the Lease simply expires (what a
   * crashed leader looks like).
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.#stop.abort()
    await this.#loop
    this.#loop = undefined
    const wasLeading = this.#leading
    this.#stepDown()
    if (wasLeading && (opts.release ?? true)) {
      try {
        await this.#release()
      } catch (err) {
        this.#o.onError?.(err)
      }
    }
  }

  async #campaign(stop: AbortSignal): Promise<void> {
    const aborted = (): boolean => stop.aborted
    const leading = (): boolean => this.#leading
    while (!aborted()) {
      // acquire
      while (!aborted() && !leading()) {
        if (await this.#tryAcquireOrRenew()) {
          this.#lastRenew = Date.now()
          this.#leading = true
          this.#leadingAbort = new AbortController()
          this.#o.onStartedLeading?.(this.#leadingAbort.signal)
          break
        }
        // wake up right when the observed lease expires, if that is before the next retry
        const untilExpiry = this.#observedTime + this.#leaseDurationMs - Date.now() + 10
        const retry = this.#retryPeriodMs * (0.9 + Math.random() * 0.1)
        await sleep(untilExpiry > 0 ? Math.min(retry, untilExpiry) : retry, stop)
      }
      // renew until stopped or the renew deadline passes; then campaign again as a fresh candidate
      while (!aborted() && leading()) {
        await sleep(this.#retryPeriodMs, stop)
        if (aborted()) return
        if (await this.#tryAcquireOrRenew()) {
          this.#lastRenew = Date.now()
        } else if (Date.now() - this.#lastRenew >= this.#renewDeadlineMs || this.#observedHolder !== this.identity) {
          this.#stepDown()
        }
      }
    }
  }

  #stepDown(): void {
    if (!this.#leading) return
    this.#leading = false
    this.#leadingAbort?.abort()
    this.#leadingAbort = undefined
    this.#o.onStoppedLeading?.()
  }

  #path(name?: string): string {
    return `${LEASES}/namespaces/${encodeURIComponent(this.#o.namespace)}/leases${name === undefined ? '' : `/${encodeURIComponent(name)}`}`
  }

  #observe(lease: Lease): void {
    const s = lease.spec ?? {}
    const record = JSON.stringify([s.holderIdentity, s.renewTime, s.acquireTime, s.leaseTransitions])
    if (record !== this.#observedRecord) {
      this.#observedRecord = record
      this.#observedTime = Date.now()
    }
    const holder = s.holderIdentity ?? ''
    if (holder !== this.#observedHolder) {
      this.#observedHolder = holder
      if (holder !== '') this.#o.onNewLeader?.(holder)
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { client } = this.#o
    const signal = AbortSignal.timeout(this.#renewDeadlineMs)
    const now = Date.now()
    const durationSeconds = Math.round(this.#leaseDurationMs / 1000)
    try {
      let lease: Lease
      try {
        lease = await client.request<Lease>('GET', this.#path(this.#o.name), { signal })
      } catch (err) {
        if (!isNotFound(err)) throw err
        const created = await client.request<Lease>('POST', this.#path(), {
          signal,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.#o.name, namespace: this.#o.namespace },
            spec: {
              holderIdentity: this.identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: microTime(now),
              renewTime: microTime(now),
              leaseTransitions: 0,
            },
          },
        })
        this.#observe(created)
        return true
      }
      this.#observe(lease)
      const spec = lease.spec ?? {}
      const holder = spec.holderIdentity ?? ''
      const iHold = holder === this.identity
      if (!iHold && holder !== '' && this.#observedTime + this.#leaseDurationMs > Date.now()) return false
      const updated = await client.request<Lease>('PUT', this.#path(this.#o.name), {
        signal,
        body: {
          ...lease,
          spec: {
            ...spec,
            holderIdentity: this.identity,
            leaseDurationSeconds: durationSeconds,
            renewTime: microTime(now),
            ...(iHold ? {} : { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
          },
        },
      })
      this.#observe(updated)
      return true
    } catch (err) {
      if (!isConflict(err) && !isAlreadyExists(err)) this.#o.onError?.(err)
      return false
    }
  }

  async #release(): Promise<void> {
    const { client } = this.#o
    const lease = await client.request<Lease>('GET', this.#path(this.#o.name))
    if (lease.spec?.holderIdentity !== this.identity) return
    const now = Date.now()
    await client.request<Lease>('PUT', this.#path(this.#o.name), {
      body: {
        ...lease,
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(now) },
      },
    })
  }
}

/** Sleeps until `ms` pass or `signal` aborts, whichever comes first; never rejects. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined)
}
