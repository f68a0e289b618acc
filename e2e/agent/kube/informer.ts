// A supervised list+watch cache: lists, then watches from the list's resourceVersion; relists
// periodically and after any error (410 Gone, dropped connection, server restart) with backoff,
// and never stops on its own — unlike @kubernetes/client-node's informer, which can stop on
// some errors (DESIGN §6).
import { setTimeout as delay } from 'node:timers/promises'
import type { Logger } from '../log.ts'
import { ApiError, type KubeClient } from './client.ts'
import { objectKey, type KubeObject, type ObjectList, type WatchEvent } from './types.ts'

export interface InformerOptions {
  /** Collection path, e.g. `/api/v1/pods`. */
  path: string
  fieldSelector?: string
  labelSelector?: string
  /** Full relist period (a safety net for missed events). */
  relistIntervalMs?: number
}

export interface InformerHandlers<T> {
  upsert?: (obj: T, old: T | undefined) => void
  delete?: (obj: T) => void
}

/** Sleeps until `ms` pass or `signal` aborts, whichever comes first; never rejects. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined)
}

export class Informer<T extends KubeObject> {
  readonly cache = new Map<string, T>()
  readonly synced: Promise<void>
  readonly #client: KubeClient
  readonly #opts: InformerOptions
  readonly #handlers: InformerHandlers<T>
  readonly #log: Logger
  readonly #abort = new AbortController()
  #markSynced: () => void = () => undefined
  #running: Promise<void> | undefined

  constructor(client: KubeClient, opts: InformerOptions, handlers: InformerHandlers<T>, log: Logger) {
    this.#client = client
    this.#opts = opts
    this.#handlers = handlers
    this.#log = log
    this.synced = new Promise((resolve) => {
      this.#markSynced = resolve
    })
  }

  start(): void {
    this.#running ??= this.#run()
  }

  async stop(): Promise<void> {
    this.#abort.abort()
    await this.#running
  }

  #emitUpsert(obj: T, old: T | undefined): void {
    try {
      this.#handlers.upsert?.(obj, old)
    } catch (err) {
      this.#log.error('informer handler failed', { path: this.#opts.path, err })
    }
  }

  #emitDelete(obj: T): void {
    try {
      this.#handlers.delete?.(obj)
    } catch (err) {
      this.#log.error('informer handler failed', { path: this.#opts.path, err })
    }
  }

  async #list(): Promise<string> {
    const items: T[] = []
    let cont: string | undefined
    let rv = ''
    do {
      const page = await this.#client.get<ObjectList<T>>(this.#opts.path, {
        fieldSelector: this.#opts.fieldSelector,
        labelSelector: this.#opts.labelSelector,
        limit: 500,
        continue: cont,
      })
      items.push(...page.items)
      cont = page.metadata.continue === '' ? undefined : page.metadata.continue
      rv = page.metadata.resourceVersion ?? ''
    } while (cont !== undefined)
    const seen = new Set<string>()
    for (const item of items) {
      const key = objectKey(item)
      seen.add(key)
      const old = this.cache.get(key)
      this.cache.set(key, item)
      if (old?.metadata.resourceVersion !== item.metadata.resourceVersion) this.#emitUpsert(item, old)
    }
    for (const [key, old] of [...this.cache]) {
      if (!seen.has(key)) {
        this.cache.delete(key)
        this.#emitDelete(old)
      }
    }
    return rv
  }

  #apply(e: WatchEvent<T>): string | undefined {
    const obj = e.object
    switch (e.type) {
      case 'ADDED':
      case 'MODIFIED': {
        const key = objectKey(obj)
        const old = this.cache.get(key)
        this.cache.set(key, obj)
        this.#emitUpsert(obj, old)
        return obj.metadata.resourceVersion
      }
      case 'DELETED': {
        const key = objectKey(obj)
        this.cache.delete(key)
        this.#emitDelete(obj)
        return obj.metadata.resourceVersion
      }
      case 'BOOKMARK':
        return obj.metadata.resourceVersion
      case 'ERROR': {
        const status = obj as unknown as { code?: number; reason?: string; message?: string }
        throw new ApiError(status.code ?? 500, status.reason ?? '', `watch ${this.#opts.path}: ${status.message ?? ''}`)
      }
    }
  }

  #isStopped(): boolean {
    return this.#abort.signal.aborted
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal
    const relistMs = this.#opts.relistIntervalMs ?? 10 * 60_000
    let backoffMs = 1000
    while (!this.#isStopped()) {
      try {
        let rv = await this.#list()
        this.#markSynced()
        backoffMs = 1000
        const relistAt = Date.now() + relistMs * (0.9 + Math.random() * 0.2)
        while (!this.#isStopped() && Date.now() < relistAt) {
          const timeoutSeconds = Math.max(1, Math.min(300, Math.ceil((relistAt - Date.now()) / 1000)))
          await this.#client.watch<T>(
            this.#opts.path,
            {
              fieldSelector: this.#opts.fieldSelector,
              labelSelector: this.#opts.labelSelector,
              resourceVersion: rv,
              allowWatchBookmarks: true,
              timeoutSeconds,
            },
            (e) => {
              rv = this.#apply(e) ?? rv
            },
            signal,
          )
        }
      } catch (err) {
        if (this.#isStopped()) break
        const gone = err instanceof ApiError && err.code === 410
        if (!gone) this.#log.warn('list/watch failed; relisting', { path: this.#opts.path, err, backoffMs })
        await sleep(gone ? 0 : backoffMs, signal)
        if (!gone) backoffMs = Math.min(backoffMs * 2, 30_000)
      }
    }
  }
}
