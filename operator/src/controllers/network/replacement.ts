/**
 * SSN replacement (pure). A storage node whose pod keeps failing, or whose volume is gone or
 * corrupt, is replaced by a fresh pod and a fresh, empty volume; the network's repair then puts
 * shards back on it. Replacing is itself an unavailability: at most `budget` SSNs may be
 * unavailable at once (failed ones included), computed from the erasure margin so that no body
 * drops below k shards because of the operator.
 */
export interface SsnObservation {
  readonly node: string
  readonly podName: string
  readonly pvcName: string
  /** The pod object exists (and is not being deleted). */
  readonly podExists: boolean
  readonly ready: boolean
  /** When the pod was last seen turning not ready (or was created and never became ready), ms. */
  readonly notReadySinceMs?: number
  /** A container is waiting in CrashLoopBackOff. */
  readonly crashLooping: boolean
  /** The PVC is missing or being deleted (someone deleted it). */
  readonly volumeLost: boolean
  /** The node reports a corrupt store (admin status), e.g. checksum failures it cannot repair. */
  readonly volumeCorrupt: boolean
}

export interface SsnReplacementPolicy {
  /** SSNs that may be unavailable at once (ssnMaxUnavailable(m)). */
  readonly budget: number
  /** How long a pod may stay not ready before it is replaced. */
  readonly notReadyThresholdMs: number
}

export interface SsnReplacement {
  readonly node: string
  readonly podName: string
  readonly pvcName: string
  /** CamelCase reason for the Event. */
  readonly reason: 'CrashLoop' | 'NotReady' | 'VolumeLost' | 'VolumeCorrupt'
  readonly message: string
}

export interface SsnReplacementPlan {
  readonly replace: SsnReplacement[]
  /** Failed SSNs not replaced now because the budget is used up. */
  readonly deferred: SsnReplacement[]
}

function failure(o: SsnObservation, nowMs: number, policy: SsnReplacementPolicy): SsnReplacement | undefined {
  const base = { node: o.node, podName: o.podName, pvcName: o.pvcName }
  if (o.volumeLost) return { ...base, reason: 'VolumeLost', message: `volume ${o.pvcName} was deleted` }
  if (o.volumeCorrupt) return { ...base, reason: 'VolumeCorrupt', message: `${o.node} reports a corrupt volume` }
  if (!o.podExists || o.ready) return undefined
  if (o.crashLooping) return { ...base, reason: 'CrashLoop', message: `${o.podName} is in CrashLoopBackOff` }
  if (o.notReadySinceMs !== undefined && nowMs - o.notReadySinceMs >= policy.notReadyThresholdMs) {
    const s = Math.round((nowMs - o.notReadySinceMs) / 1000)
    return { ...base, reason: 'NotReady', message: `${o.podName} has not been ready for ${s}s` }
  }
  return undefined
}

/**
 * Which failed SSNs to replace now. Replacing wipes a volume, so it spends erasure margin: at most
 * `budget` SSNs are replaced or starting at once (SSNs not ready for other reasons, e.g. a pod
 * created by an earlier replacement, count against it). A lost volume is replaced regardless: its
 * shards are gone already and the node can only come back empty.
 */
export function planSsnReplacements(
  ssns: readonly SsnObservation[],
  nowMs: number,
  policy: SsnReplacementPolicy,
): SsnReplacementPlan {
  const sorted = [...ssns].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
  const failed = sorted.flatMap((o) => {
    const f = failure(o, nowMs, policy)
    return f === undefined ? [] : [f]
  })
  const failedNodes = new Set(failed.map((f) => f.node))
  const starting = sorted.filter((o) => (!o.ready || !o.podExists) && !failedNodes.has(o.node)).length
  let slots = policy.budget - starting
  const replace: SsnReplacement[] = []
  const deferred: SsnReplacement[] = []
  for (const f of failed) {
    if (f.reason === 'VolumeLost') {
      replace.push(f)
      slots--
    } else if (slots > 0) {
      replace.push(f)
      slots--
    } else {
      deferred.push(f)
    }
  }
  return { replace, deferred }
}
