/**
 * Replacing failed storage nodes and DHT seeds (pure). A node whose pod keeps failing, or whose
 * volume is gone or corrupt, is replaced by a fresh pod and a fresh, empty volume: an SSN's repair
 * then puts shards back on it, a seed rebuilds its routing table from its peers. Replacing is
 * itself an unavailability: at most `budget` nodes of a role may be unavailable at once (failed
 * ones included). For SSNs the budget comes from the erasure margin, so that no body drops below
 * k shards because of the operator; a seed holds nothing that is not elsewhere.
 *
 * Witness keys are never replaced here: two processes with one key could sign twice, so their
 * pods follow the one-pod-per-key rule and a lost witness is re-keyed by a runbook (rekey.ts).
 */
export interface NodeHealth {
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

export interface ReplacementPolicy {
  /** Nodes of the role that may be unavailable at once (for SSNs ssnMaxUnavailable(m)). */
  readonly budget: number
  /** How long a pod may stay not ready before it is replaced. */
  readonly notReadyThresholdMs: number
}

export interface Replacement {
  readonly node: string
  readonly podName: string
  readonly pvcName: string
  /** CamelCase reason for the Event. */
  readonly reason: 'CrashLoop' | 'NotReady' | 'VolumeLost' | 'VolumeCorrupt'
  readonly message: string
}

export interface ReplacementPlan {
  readonly replace: Replacement[]
  /** Failed nodes not replaced now because the budget is used up. */
  readonly deferred: Replacement[]
}

function failure(o: NodeHealth, nowMs: number, policy: ReplacementPolicy): Replacement | undefined {
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
 * Which failed nodes (of one role) to replace now. Replacing wipes a volume, so for SSNs it spends
 * erasure margin: at most `budget` nodes are replaced or starting at once (nodes not ready for
 * other reasons, e.g. a pod created by an earlier replacement, count against it). A lost volume is
 * replaced regardless: its shards are gone already and the node can only come back empty.
 */
export function planReplacements(
  ssns: readonly NodeHealth[],
  nowMs: number,
  policy: ReplacementPolicy,
): ReplacementPlan {
  const sorted = [...ssns].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
  const failed = sorted.flatMap((o) => {
    const f = failure(o, nowMs, policy)
    return f === undefined ? [] : [f]
  })
  const failedNodes = new Set(failed.map((f) => f.node))
  const starting = sorted.filter((o) => (!o.ready || !o.podExists) && !failedNodes.has(o.node)).length
  let slots = policy.budget - starting
  const replace: Replacement[] = []
  const deferred: Replacement[] = []
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

/**
 * A seed or SSN pod whose deletion no kubelet confirms (its machine is gone or cut off): the pod
 * object stays Terminating for ever, so no replacement can start. Past its grace period plus
 * `afterMs`, and not ready, it is force-deleted. Safe for these roles only: a second process with
 * a seed's or an SSN's identity cannot sign a block (witness pods are never force-deleted here).
 */
export function stuckTerminating(
  pod: { readonly deletionTimestamp?: string; readonly ready: boolean },
  nowMs: number,
  afterMs: number,
): boolean {
  if (pod.deletionTimestamp === undefined || pod.ready) return false
  // deletionTimestamp is when the grace period ends (the API server adds it to the delete time).
  const end = Date.parse(pod.deletionTimestamp)
  return Number.isFinite(end) && nowMs - end >= afterMs
}
