import { describe, expect, it } from 'vitest'
import type { InformerHandlers, KubeObject } from '../k8s/index.ts'
import { forOwner, generationChanged, resourceVersionChanged, watch } from './source.ts'

class FakeSource<T> {
  readonly handlers: InformerHandlers<T>[] = []
  addHandler(h: InformerHandlers<T>): void {
    this.handlers.push(h)
  }
}

const obj = (name: string, extra: Partial<NonNullable<KubeObject['metadata']>> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'ns', resourceVersion: '1', generation: 1, ...extra },
})

describe('watch', () => {
  it('enqueues the object itself for add, update and delete', () => {
    const src = new FakeSource<KubeObject>()
    const keys: string[] = []
    watch(src, { enqueue: (k) => keys.push(k) })
    const h = src.handlers[0]!
    h.add?.(obj('a'))
    h.update?.(obj('a'), obj('a', { resourceVersion: '2' }))
    h.delete?.(obj('b'))
    expect(keys).toEqual(['ns/a', 'ns/a', 'ns/a', 'ns/b'])
  })

  it('maps owned objects to their controller owner and filters updates', () => {
    const src = new FakeSource<KubeObject>()
    const keys: string[] = []
    watch(src, { enqueue: (k) => keys.push(k) }, forOwner('WitnessPool', 'echonet.io/v1alpha1'), {
      update: resourceVersionChanged,
    })
    const owned = obj('pod-0', {
      ownerReferences: [
        { apiVersion: 'echonet.io/v1alpha1', kind: 'WitnessPool', name: 'pool', uid: 'u', controller: true },
      ],
    })
    const h = src.handlers[0]!
    h.add?.(owned)
    h.add?.(obj('orphan'))
    h.update?.(owned, owned) // resync: same resourceVersion, filtered
    expect(keys).toEqual(['ns/pool'])
    expect(generationChanged(obj('a'), obj('a', { generation: 2 }))).toBe(true)
    expect(generationChanged(obj('a'), obj('a', { resourceVersion: '9' }))).toBe(false)
  })
})
