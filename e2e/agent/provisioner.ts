// A minimal local volume provisioner, following the external-provisioner protocol:
// - a Pending claim without a volume, whose storageClassName is `local-agent` or unset (and
//   without a selector), gets a PersistentVolume `pvc-<claim uid>` with a hostPath directory under
//   the agent's state dir, pre-bound to the claim (claimRef); kube-controller-manager's PV binder
//   completes the binding;
// - reclaim policy Delete: when the claim is deleted the binder marks the PV Released and, since
//   the PV carries `pv.kubernetes.io/provisioned-by`, leaves deletion to us: the agent removes the
//   directory and deletes the PV.
// The directory thus outlives pods (they only reference the claim) and goes with the claim.
// Claims with storageClassName "" (explicitly "no class") are left alone, as Kubernetes defines.
import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from './log.ts'
import { isConflict, isNotFound, type KubeClient } from './kube/client.ts'
import type { PersistentVolume, PersistentVolumeClaim } from './kube/types.ts'
import type { Layout } from './paths.ts'

export const STORAGE_CLASS = 'local-agent'
export const PROVISIONER = 'echonet.io/local-agent'
const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by'

export function pvNameFor(claim: PersistentVolumeClaim): string {
  return `pvc-${claim.metadata.uid}`
}

/** Whether the agent should provision a volume for this claim (pure). */
export function wantsProvisioning(claim: PersistentVolumeClaim): boolean {
  const cls = claim.spec.storageClassName
  return (
    claim.metadata.deletionTimestamp === undefined &&
    (claim.status?.phase ?? 'Pending') === 'Pending' &&
    (claim.spec.volumeName ?? '') === '' &&
    claim.spec.selector === undefined &&
    claim.spec.dataSource === undefined &&
    (cls === undefined || cls === STORAGE_CLASS)
  )
}

/** The PersistentVolume for a claim (pure). */
export function volumeFor(claim: PersistentVolumeClaim, dir: string): PersistentVolume {
  const cls = claim.spec.storageClassName
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name: pvNameFor(claim),
      uid: '',
      labels: { 'echonet.io/local-agent': 'true' },
      annotations: { [PROVISIONED_BY]: PROVISIONER },
    },
    spec: {
      capacity: { storage: claim.spec.resources?.requests?.storage ?? '1Gi' },
      accessModes: claim.spec.accessModes ?? ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      volumeMode: claim.spec.volumeMode ?? 'Filesystem',
      ...(cls === undefined ? {} : { storageClassName: cls }),
      hostPath: { path: dir, type: 'DirectoryOrCreate' },
      claimRef: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        namespace: claim.metadata.namespace,
        name: claim.metadata.name,
        uid: claim.metadata.uid,
      },
    },
  }
}

/** Whether a PV is one of ours, released, and to be deleted with its directory (pure). */
export function shouldReclaim(pv: PersistentVolume): boolean {
  return (
    pv.metadata.annotations?.[PROVISIONED_BY] === PROVISIONER &&
    pv.spec.persistentVolumeReclaimPolicy === 'Delete' &&
    pv.status?.phase === 'Released' &&
    pv.metadata.deletionTimestamp === undefined
  )
}

export class LocalProvisioner {
  readonly #client: KubeClient
  readonly #layout: Layout
  readonly #log: Logger
  readonly #inFlight = new Set<string>()

  constructor(client: KubeClient, layout: Layout, log: Logger) {
    this.#client = client
    this.#layout = layout
    this.#log = log.child({ component: 'provisioner' })
  }

  /** Creates the `local-agent` StorageClass if it does not exist (not as default class). */
  async ensureStorageClass(): Promise<void> {
    const path = `/apis/storage.k8s.io/v1/storageclasses/${STORAGE_CLASS}`
    if ((await this.#client.getOptional(path)) !== undefined) return
    try {
      await this.#client.request('POST', '/apis/storage.k8s.io/v1/storageclasses', {
        body: {
          apiVersion: 'storage.k8s.io/v1',
          kind: 'StorageClass',
          metadata: { name: STORAGE_CLASS, labels: { 'echonet.io/local-agent': 'true' } },
          provisioner: PROVISIONER,
          reclaimPolicy: 'Delete',
          volumeBindingMode: 'Immediate',
        },
      })
      this.#log.info('created StorageClass', { name: STORAGE_CLASS })
    } catch (err) {
      if (!isConflict(err)) throw err
    }
  }

  onClaim(claim: PersistentVolumeClaim): void {
    if (!wantsProvisioning(claim)) return
    const name = pvNameFor(claim)
    if (this.#inFlight.has(name)) return
    this.#inFlight.add(name)
    this.#provision(claim)
      .catch((err: unknown) => {
        this.#log.warn('provisioning failed', {
          claim: `${claim.metadata.namespace ?? ''}/${claim.metadata.name}`,
          err,
        })
      })
      .finally(() => this.#inFlight.delete(name))
  }

  async #provision(claim: PersistentVolumeClaim): Promise<void> {
    const name = pvNameFor(claim)
    const dir = this.#layout.pvDir(name)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    try {
      await this.#client.request('POST', '/api/v1/persistentvolumes', { body: volumeFor(claim, dir) })
      this.#log.info('provisioned volume', {
        claim: `${claim.metadata.namespace ?? ''}/${claim.metadata.name}`,
        pv: name,
        dir,
      })
    } catch (err) {
      if (!isConflict(err)) throw err // exists: provisioned already (by us or another agent)
    }
  }

  onVolume(pv: PersistentVolume): void {
    if (!shouldReclaim(pv)) return
    const name = pv.metadata.name
    if (this.#inFlight.has(name)) return
    this.#inFlight.add(name)
    this.#reclaim(pv)
      .catch((err: unknown) => {
        this.#log.warn('reclaiming volume failed', { pv: name, err })
      })
      .finally(() => this.#inFlight.delete(name))
  }

  async #reclaim(pv: PersistentVolume): Promise<void> {
    const dir = pv.spec.hostPath?.path
    // Only ever delete a directory laid out by an agent: <state>/volumes/<pv name>.
    if (
      dir !== undefined &&
      path.basename(dir) === pv.metadata.name &&
      path.basename(path.dirname(dir)) === 'volumes'
    ) {
      await rm(dir, { recursive: true, force: true })
    }
    try {
      await this.#client.request('DELETE', `/api/v1/persistentvolumes/${pv.metadata.name}`, {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: pv.metadata.uid } },
      })
      this.#log.info('deleted released volume', { pv: pv.metadata.name, dir })
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err
    }
  }
}
