import { describe, expect, it } from 'vitest'
import { Annotations } from '../../api/v1alpha1/labels.ts'
import type { EchoNetNetworkStatus } from '../../api/v1alpha1/types.ts'
import { appliedUpToDate, mergePatchFrom, withAppliedHash } from '../objects.ts'
import type { KubeObject } from '../objects.ts'
import { nodeKeysFromSecrets } from './secrets.ts'
import { statusWriteNeeded } from './status.ts'

const cm = (v: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'x', namespace: 'n', labels: { a: 'b' }, ownerReferences: [] },
  data: { k: v },
})

describe('applied-hash: unchanged objects are not applied again', () => {
  it('equal desired objects get equal hashes, different ones different hashes', () => {
    const a = withAppliedHash(cm('1'))
    expect(withAppliedHash(cm('1')).metadata.annotations?.[Annotations.appliedHash]).toBe(
      a.metadata.annotations?.[Annotations.appliedHash],
    )
    expect(withAppliedHash(cm('2')).metadata.annotations?.[Annotations.appliedHash]).not.toBe(
      a.metadata.annotations?.[Annotations.appliedHash],
    )
    // Hashing twice does not change the hash (the annotation is not part of what is hashed).
    expect(withAppliedHash(a)).toEqual(a)
  })

  it('up to date only when the cached object carries the same hash and is not being deleted', () => {
    const a = withAppliedHash(cm('1'))
    expect(appliedUpToDate(a, undefined)).toBe(false)
    expect(appliedUpToDate(a, { metadata: { annotations: { ...a.metadata.annotations } } })).toBe(true)
    expect(appliedUpToDate(a, { metadata: { annotations: {} } })).toBe(false)
    expect(
      appliedUpToDate(a, { metadata: { annotations: { ...a.metadata.annotations }, deletionTimestamp: 'now' } }),
    ).toBe(false)
  })
})

describe('status writes (ADR 0005)', () => {
  const s: EchoNetNetworkStatus = { finalizedHeight: 10, certifiedHeight: 10, ssnsReady: 6, observedGeneration: 1 }
  it('no write when nothing changed', () => {
    expect(statusWriteNeeded(s, { ...s }, 0, 1_000, 300_000)).toBe(false)
  })
  it('heights alone are written only after the refresh interval', () => {
    const next = { ...s, finalizedHeight: 20, certifiedHeight: 20 }
    expect(statusWriteNeeded(s, next, 0, 299_999, 300_000)).toBe(false)
    expect(statusWriteNeeded(s, next, 0, 300_000, 300_000)).toBe(true)
    expect(statusWriteNeeded(s, next, undefined, 1, 300_000)).toBe(true)
  })
  it('anything else is written at once', () => {
    expect(statusWriteNeeded(s, { ...s, finalizedHeight: 20, ssnsReady: 5 }, 0, 1, 300_000)).toBe(true)
  })
})

describe('node keys from Secrets', () => {
  it('reads DID and PeerId from the annotations, skipping Secrets being deleted or without them', () => {
    const keys = nodeKeysFromSecrets([
      {
        metadata: {
          labels: { 'echonet.io/node': 'ssn-0' },
          annotations: { [Annotations.did]: 'did:key:z1', [Annotations.peerId]: 'p1' },
        },
      },
      { metadata: { labels: { 'echonet.io/node': 'ssn-1' }, annotations: { [Annotations.did]: 'did:key:z2' } } },
      {
        metadata: {
          labels: { 'echonet.io/node': 'ssn-2' },
          annotations: { [Annotations.did]: 'did:key:z3', [Annotations.peerId]: 'p3' },
          deletionTimestamp: '2026-01-01T00:00:00Z',
        },
      },
    ])
    expect([...keys]).toEqual([['ssn-0', { did: 'did:key:z1', peerId: 'p1' }]])
  })
})

describe('mergePatchFrom: status fields that went away are removed, not kept', () => {
  it('sends null for dropped fields at any depth, the rest as is', () => {
    const prev = { a: 1, rollout: { updated: 1, total: 4, waitingFor: 'x' }, list: ['p'], keep: { b: 2 } }
    expect(mergePatchFrom(prev, { a: 2, rollout: { updated: 4, total: 4 }, keep: { b: 2 } })).toEqual({
      a: 2,
      rollout: { updated: 4, total: 4, waitingFor: null },
      list: null,
      keep: { b: 2 },
    })
    expect(mergePatchFrom(prev, { a: 1, list: ['q'], keep: { b: 2 } })).toMatchObject({ rollout: null, list: ['q'] })
    expect(mergePatchFrom(undefined, { a: 1 })).toEqual({ a: 1 })
  })
})
