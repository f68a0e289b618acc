/**
 * An Event recorder for `events.k8s.io/v1` (DESIGN §6: Events for every action), after client-go's
 * `tools/events`: an event names the object it is about (`regarding`), a `reason` (why) and an
 * `action` (what was done), with a human `note`. A repeat of the same event (same object, type,
 * reason, action and note) within the series window does not create a new Event: it bumps the
 * existing one's `series.count` and `series.lastObservedTime`.
 */
import { hostname } from 'node:os'
import type { K8sClient, KubeObject } from './client.ts'
import { isNotFound } from './client.ts'
import { microTime } from './lease.ts'

export const REPORTING_CONTROLLER = 'echonet.io/operator'

export type EventType = 'Normal' | 'Warning'

export interface EventRecorderOptions {
  client: K8sClient
  reportingController?: string
  /** Default: `$POD_NAME`, else the host name. */
  reportingInstance?: string
  /** Repeats within this window join a series (default 6 min, as client-go). */
  seriesWindowMs?: number
  /** A failed write (the recorder never throws: events are best effort). */
  onError?: (err: unknown) => void
}

export interface RecordInput {
  regarding: KubeObject
  type?: EventType
  reason: string
  action: string
  note?: string
  related?: KubeObject
}

/** An `events.k8s.io/v1` Event as JSON on the wire. */
export interface K8sEvent {
  apiVersion: 'events.k8s.io/v1'
  kind: 'Event'
  metadata: { name: string; namespace: string; resourceVersion?: string }
  eventTime: string
  reportingController: string
  reportingInstance: string
  action: string
  reason: string
  type: EventType
  regarding: Record<string, string>
  related?: Record<string, string>
  note?: string
  series?: { count: number; lastObservedTime: string }
}

interface SeriesState {
  name: string
  namespace: string
  count: number
  lastMs: number
}

const MAX_NOTE = 1024

function ref(o: KubeObject): Record<string, string> {
  const r: Record<string, string> = {}
  if (o.apiVersion !== undefined) r.apiVersion = o.apiVersion
  if (o.kind !== undefined) r.kind = o.kind
  const m = o.metadata
  if (m?.name !== undefined) r.name = m.name
  if (m?.namespace !== undefined) r.namespace = m.namespace
  if (m?.uid !== undefined) r.uid = m.uid
  if (m?.resourceVersion !== undefined) r.resourceVersion = m.resourceVersion
  return r
}

export class EventRecorder {
  readonly reportingController: string
  readonly reportingInstance: string
  readonly #o: EventRecorderOptions
  readonly #windowMs: number
  readonly #series = new Map<string, SeriesState>()
  /** Per-key write chain, so repeats of one event are written in order. */
  readonly #chains = new Map<string, Promise<void>>()

  constructor(opts: EventRecorderOptions) {
    this.#o = opts
    this.reportingController = opts.reportingController ?? REPORTING_CONTROLLER
    this.reportingInstance = (opts.reportingInstance ?? process.env.POD_NAME ?? hostname()).slice(0, 128)
    this.#windowMs = opts.seriesWindowMs ?? 6 * 60_000
  }

  /** Records an event; resolves when it is written (or failed, reported to `onError`). */
  record(input: RecordInput): Promise<void> {
    const r = ref(input.regarding)
    const type = input.type ?? 'Normal'
    const note = (input.note ?? '').slice(0, MAX_NOTE)
    const key = JSON.stringify([
      r.apiVersion,
      r.kind,
      r.namespace,
      r.name,
      r.uid,
      type,
      input.reason,
      input.action,
      note,
    ])
    const prev = this.#chains.get(key) ?? Promise.resolve()
    const next = prev.then(() => this.#write(key, input, r, type, note))
    this.#chains.set(key, next)
    void next.then(() => {
      if (this.#chains.get(key) === next) this.#chains.delete(key)
    })
    return next
  }

  /** Shorthand for a Normal event. */
  normal(regarding: KubeObject, reason: string, action: string, note?: string): Promise<void> {
    return this.record({ regarding, reason, action, ...(note !== undefined ? { note } : {}) })
  }

  /** Shorthand for a Warning event. */
  warning(regarding: KubeObject, reason: string, action: string, note?: string): Promise<void> {
    return this.record({ regarding, type: 'Warning', reason, action, ...(note !== undefined ? { note } : {}) })
  }

  async #write(
    key: string,
    input: RecordInput,
    r: Record<string, string>,
    type: EventType,
    note: string,
  ): Promise<void> {
    const now = Date.now()
    const { client } = this.#o
    try {
      const s = this.#series.get(key)
      if (s !== undefined && now - s.lastMs < this.#windowMs) {
        const count = s.count + 1
        try {
          await client.request<K8sEvent>('PATCH', eventPath(s.namespace, s.name), {
            body: { series: { count, lastObservedTime: microTime(now) } },
            contentType: 'application/merge-patch+json',
          })
          s.count = count
          s.lastMs = now
          return
        } catch (err) {
          if (!isNotFound(err)) throw err
          // the Event expired (TTL) or was deleted: start a new one
        }
      }
      const namespace = r.namespace ?? 'default'
      const name = `${r.name ?? 'object'}.${(BigInt(now) * 1_000_000n + BigInt(Math.floor(Math.random() * 1e6))).toString(16)}`
      const event: K8sEvent = {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name, namespace },
        eventTime: microTime(now),
        reportingController: this.reportingController,
        reportingInstance: this.reportingInstance,
        action: input.action,
        reason: input.reason,
        type,
        regarding: r,
        ...(note !== '' ? { note } : {}),
        ...(input.related !== undefined ? { related: ref(input.related) } : {}),
      }
      await client.request('POST', eventPath(namespace), { body: event })
      this.#series.set(key, { name, namespace, count: 1, lastMs: now })
    } catch (err) {
      this.#o.onError?.(err)
    }
  }
}

function eventPath(namespace: string, name?: string): string {
  return `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events${name === undefined ? '' : `/${encodeURIComponent(name)}`}`
}
