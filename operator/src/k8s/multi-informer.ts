/**
 * One kind watched in several namespaces (the chart's `watchNamespaces`, where RBAC is granted
 * per namespace and a cluster-wide watch would be forbidden): an InformerSupervisor per namespace
 * behind one cache interface. With no namespaces it is one cluster-wide informer.
 */
import type { KubeObject } from './client.ts'
import { InformerSupervisor } from './informer.ts'
import type { InformerHandlers, InformerOptions } from './informer.ts'

/** Read access to a cache of one kind (what reconcilers need). */
export interface ObjectCache<T> {
  get(name: string, namespace?: string): T | undefined
  list(namespace?: string): T[]
}

export class MultiInformer<T extends KubeObject> implements ObjectCache<T> {
  readonly #parts: InformerSupervisor<T>[]

  constructor(opts: Omit<InformerOptions, 'namespace'>, namespaces: readonly string[]) {
    this.#parts =
      namespaces.length === 0
        ? [new InformerSupervisor<T>(opts)]
        : namespaces.map((namespace) => new InformerSupervisor<T>({ ...opts, namespace }))
  }

  addHandler(h: InformerHandlers<T>): void {
    for (const p of this.#parts) p.addHandler(h)
  }

  get(name: string, namespace?: string): T | undefined {
    for (const p of this.#parts) {
      const o = p.get(name, namespace)
      if (o !== undefined) return o
    }
    return undefined
  }

  list(namespace?: string): T[] {
    return this.#parts.flatMap((p) => p.list(namespace))
  }

  start(): void {
    for (const p of this.#parts) p.start()
  }

  async stop(): Promise<void> {
    await Promise.all(this.#parts.map((p) => p.stop()))
  }

  hasSynced(): boolean {
    return this.#parts.every((p) => p.hasSynced())
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.#parts.map((p) => p.waitForSync()))
  }
}
