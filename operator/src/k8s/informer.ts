/**
 * An informer supervisor. `@kubernetes/client-node`'s informer (`ListWatch`, what `makeInformer`
 * builds) lists, then watches from the list's resourceVersion and re-watches when the server ends
 * a watch, but on an error (connection reset, 5xx, a failed list) it just stops. This wrapper:
 *
 * - keeps its own cache (get / list by namespace) that survives restarts;
 * - emits add / update(old, new) / delete to handlers;
 * - restarts a failed informer with exponential backoff (a fresh list, then a watch) and
 *   reconciles the cache with the new list, emitting deletes for objects gone meanwhile;
 * - relists periodically (resync): every cached object is delivered again as an update, so
 *   level-based controllers re-reconcile everything (client-go's resync period);
 * - `hasSynced()` is true once the first list is in the cache.
 */
import { ListWatch, Watch } from '@kubernetes/client-node'
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node'
import type { K8sClient, KubeObject } from './client.ts'

export interface InformerHandlers<T> {
  add?: (obj: T) => void
  update?: (oldObj: T, newObj: T) => void
  delete?: (obj: T) => void
}

export interface InformerOptions {
  client: K8sClient
  apiVersion: string
  kind: string
  /** Only this namespace (default: all namespaces). */
  namespace?: string
  labelSelector?: string
  fieldSelector?: string
  /** Relist period (ms); 0 disables. Default 10 min. */
  resyncPeriodMs?: number
  /** Restart backoff after an error: initial and maximum delay (ms). Default 500 ms → 30 s. */
  backoffInitialMs?: number
  backoffMaxMs?: number
  /** Called for each informer error (for logging); the supervisor restarts regardless. */
  onError?: (err: unknown) => void
  /** Builds the Watch used by each informer generation (tests inject one they can break). */
  watchFactory?: (kc: KubeConfig) => Watch
}

export interface InformerStats {
  /** Informer generations started (1 + restarts + resyncs). */
  starts: number
  /** Restarts after an error. */
  errors: number
  /** Periodic relists. */
  resyncs: number
}

function cacheKey(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`
}

export class InformerSupervisor<T extends KubeObject> {
  readonly #o: InformerOptions
  readonly #handlers: InformerHandlers<T>[] = []
  readonly #cache = new Map<string, T>()
  #inner: ListWatch<KubernetesObject> | undefined
  #gen = 0
  #synced = false
  #stopped = true
  #attempt = 0
  #restartTimer: NodeJS.Timeout | undefined
  #resyncTimer: NodeJS.Timeout | undefined
  #syncWaiters: (() => void)[] = []
  readonly stats: InformerStats = { starts: 0, errors: 0, resyncs: 0 }

  constructor(opts: InformerOptions) {
    this.#o = opts
  }

  addHandler(h: InformerHandlers<T>): void {
    this.#handlers.push(h)
  }

  hasSynced(): boolean {
    return this.#synced
  }

  /** Resolves once the first list is in the cache. */
  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve()
    return new Promise((resolve) => this.#syncWaiters.push(resolve))
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#cache.get(`${namespace ?? ''}/${name}`)
  }

  list(namespace?: string): T[] {
    const all = [...this.#cache.values()]
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace)
  }

  /** Starts listing and watching; returns at once (use `waitForSync`). */
  start(): void {
    if (!this.#stopped) return
    this.#stopped = false
    void this.#run()
    const period = this.#o.resyncPeriodMs ?? 600_000
    if (period > 0) {
      this.#resyncTimer = setInterval(() => {
        this.stats.resyncs++
        this.relist()
      }, period)
      this.#resyncTimer.unref()
    }
  }

  /** Throws away the current watch and lists again (what resync does). */
  relist(): void {
    if (this.#stopped) return
    clearTimeout(this.#restartTimer)
    void this.#run()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#gen++
    clearTimeout(this.#restartTimer)
    clearInterval(this.#resyncTimer)
    const inner = this.#inner
    this.#inner = undefined
    await inner?.stop()
  }

  async #run(): Promise<void> {
    const gen = ++this.#gen
    const old = this.#inner
    this.#inner = undefined
    await old?.stop()
    if (gen !== this.#gen) return
    const { client, apiVersion, kind, namespace, labelSelector, fieldSelector } = this.#o
    let failed = false
    const hasFailed = (): boolean => failed
    const fail = (err: unknown): void => {
      if (gen !== this.#gen || failed) return
      failed = true
      this.#failed(err)
    }
    try {
      const path = await client.path(apiVersion, kind, namespace)
      if (gen !== this.#gen) return
      const watch = this.#o.watchFactory?.(client.kubeConfig) ?? new Watch(client.kubeConfig)
      // client-node types objects as classes; on the wire (and here) they are plain JSON
      const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> =>
        (await client.list<T>(apiVersion, kind, namespace, {
          labelSelector,
          fieldSelector,
        })) as unknown as KubernetesListObject<KubernetesObject>
      const lw = new ListWatch<KubernetesObject>(path, watch, listFn, false, labelSelector, fieldSelector)
      lw.on('add', (o) => {
        if (gen === this.#gen) this.#upsert(o as T)
      })
      lw.on('update', (o) => {
        if (gen === this.#gen) this.#upsert(o as T)
      })
      lw.on('delete', (o) => {
        if (gen === this.#gen) this.#remove(o as T)
      })
      lw.on('error', fail)
      this.#inner = lw
      this.stats.starts++
      await lw.start()
      if (gen !== this.#gen || hasFailed()) return
      // The list is in lw's cache and the watch runs: drop what the list no longer has.
      const present = new Set(lw.list().map((o) => cacheKey(o as KubeObject)))
      for (const [k, o] of this.#cache) if (!present.has(k)) this.#remove(o)
      this.#attempt = 0
      if (!this.#synced) {
        this.#synced = true
        const waiters = this.#syncWaiters
        this.#syncWaiters = []
        for (const w of waiters) w()
      }
    } catch (err) {
      fail(err)
    }
  }

  #failed(err: unknown): void {
    this.stats.errors++
    this.#o.onError?.(err)
    if (this.#stopped) return
    const initial = this.#o.backoffInitialMs ?? 500
    const max = this.#o.backoffMaxMs ?? 30_000
    const delay = Math.min(max, initial * 2 ** this.#attempt) * (0.8 + Math.random() * 0.4)
    this.#attempt++
    clearTimeout(this.#restartTimer)
    this.#restartTimer = setTimeout(() => void this.#run(), delay)
    this.#restartTimer.unref()
  }

  #upsert(obj: T): void {
    const k = cacheKey(obj)
    const old = this.#cache.get(k)
    this.#cache.set(k, obj)
    for (const h of this.#handlers) {
      if (old === undefined) h.add?.(obj)
      else h.update?.(old, obj)
    }
  }

  #remove(obj: T): void {
    const k = cacheKey(obj)
    const cached = this.#cache.get(k)
    if (cached === undefined) return
    this.#cache.delete(k)
    for (const h of this.#handlers) h.delete?.(obj)
  }
}
