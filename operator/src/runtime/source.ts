/**
 * Wiring informers to controllers (controller-runtime's `Watches` + event handlers): every
 * add/update/delete of a watched object enqueues a key. `forObject` enqueues the object itself
 * (`EnqueueRequestForObject`), `forOwner` the owner of kind `ownerKind` named in its controller
 * ownerReference (`EnqueueRequestForOwner`, e.g. a Pod → its WitnessPool).
 */
import type { InformerHandlers, KubeObject } from '../k8s/index.ts'
import { objectKey } from './controller.ts'

export interface HandlerTarget {
  enqueue(key: string): void
}

export interface HandlerSource<T> {
  addHandler(h: InformerHandlers<T>): void
}

/** Maps an object to the keys to reconcile. */
export type KeyMapper<T> = (obj: T) => string[]

export function forObject(obj: KubeObject): string[] {
  return obj.metadata?.name === undefined ? [] : [objectKey(obj.metadata)]
}

export function forOwner<T extends KubeObject>(ownerKind: string, ownerApiVersion?: string): KeyMapper<T> {
  return (obj) => {
    const ref = obj.metadata?.ownerReferences?.find(
      (r) =>
        r.controller === true &&
        r.kind === ownerKind &&
        (ownerApiVersion === undefined || r.apiVersion === ownerApiVersion),
    )
    return ref === undefined ? [] : [objectKey({ namespace: obj.metadata?.namespace, name: ref.name })]
  }
}

/**
 * Enqueues into `target` the keys `map` gives for each event (on update, for both the old and
 * the new object, so a changed owner or label reaches both). `predicate` filters updates, e.g.
 * skip resyncs or status-only changes (controller-runtime's `GenerationChangedPredicate`).
 */
export function watch<T extends KubeObject>(
  source: HandlerSource<T>,
  target: HandlerTarget,
  map: KeyMapper<T> = forObject,
  predicate?: { update?: (oldObj: T, newObj: T) => boolean },
): void {
  const enqueue = (obj: T): void => {
    for (const k of map(obj)) target.enqueue(k)
  }
  source.addHandler({
    add: enqueue,
    update: (oldObj, newObj) => {
      if (predicate?.update !== undefined && !predicate.update(oldObj, newObj)) return
      enqueue(oldObj)
      enqueue(newObj)
    },
    delete: enqueue,
  })
}

/** Update predicate: only when `metadata.generation` changed (spec changes for CRs with status). */
export function generationChanged<T extends KubeObject>(oldObj: T, newObj: T): boolean {
  return oldObj.metadata?.generation !== newObj.metadata?.generation
}

/** Update predicate: only when `resourceVersion` changed (drops resync re-deliveries). */
export function resourceVersionChanged<T extends KubeObject>(oldObj: T, newObj: T): boolean {
  return oldObj.metadata?.resourceVersion !== newObj.metadata?.resourceVersion
}
