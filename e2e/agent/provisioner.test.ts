import { describe, expect, it } from 'vitest'
import type { PersistentVolume, PersistentVolumeClaim } from './kube/types.ts'
import { PROVISIONER, shouldReclaim, volumeFor, wantsProvisioning } from './provisioner.ts'

const claim = (
  over: Partial<PersistentVolumeClaim['spec']> = {},
  phase?: 'Pending' | 'Bound',
): PersistentVolumeClaim => ({
  metadata: { name: 'data', namespace: 'ns', uid: 'c-uid' },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } }, ...over },
  ...(phase === undefined ? {} : { status: { phase } }),
})

describe('provisioner', () => {
  it('provisions pending claims without class or with class local-agent', () => {
    expect(wantsProvisioning(claim())).toBe(true)
    expect(wantsProvisioning(claim({ storageClassName: 'local-agent' }, 'Pending'))).toBe(true)
    expect(wantsProvisioning(claim({ storageClassName: '' }))).toBe(false)
    expect(wantsProvisioning(claim({ storageClassName: 'fast' }))).toBe(false)
    expect(wantsProvisioning(claim({}, 'Bound'))).toBe(false)
    expect(wantsProvisioning(claim({ volumeName: 'pv-1' }))).toBe(false)
    expect(wantsProvisioning(claim({ selector: { matchLabels: { a: 'b' } } }))).toBe(false)
  })

  it('builds a PV pre-bound to the claim', () => {
    const pv = volumeFor(claim({ storageClassName: 'local-agent' }), '/state/volumes/pvc-c-uid')
    expect(pv.metadata.name).toBe('pvc-c-uid')
    expect(pv.metadata.annotations).toEqual({ 'pv.kubernetes.io/provisioned-by': PROVISIONER })
    expect(pv.spec).toMatchObject({
      capacity: { storage: '5Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: 'local-agent',
      hostPath: { path: '/state/volumes/pvc-c-uid' },
      claimRef: { namespace: 'ns', name: 'data', uid: 'c-uid' },
    })
    expect('storageClassName' in volumeFor(claim(), '/x').spec).toBe(false)
  })

  it('reclaims only its own released volumes', () => {
    const pv = (over: Partial<PersistentVolume>): PersistentVolume => ({
      metadata: { name: 'pvc-1', uid: 'pv', annotations: { 'pv.kubernetes.io/provisioned-by': PROVISIONER } },
      spec: { persistentVolumeReclaimPolicy: 'Delete' },
      status: { phase: 'Released' },
      ...over,
    })
    expect(shouldReclaim(pv({}))).toBe(true)
    expect(shouldReclaim(pv({ status: { phase: 'Bound' } }))).toBe(false)
    expect(shouldReclaim(pv({ spec: { persistentVolumeReclaimPolicy: 'Retain' } }))).toBe(false)
    expect(shouldReclaim(pv({ metadata: { name: 'x', uid: 'y' } }))).toBe(false)
  })
})
