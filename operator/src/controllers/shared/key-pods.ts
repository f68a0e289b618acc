/**
 * The "one running pod per witness key" rule (DESIGN §6), pure. A witness key must never sign from
 * two pods: the operator creates a pod for a key only when no pod object for that key exists any
 * more — not running, not terminating. (The node's durable signing record is a further guard;
 * this rule is the first one.) Shared by every controller that creates or replaces node pods.
 */
/** What the operator sees of one pod holding (or having held) a witness key. */
export interface ObservedKeyPod {
  readonly name: string
  /** Set once deletion started: the pod may still run (graceful termination) and still sign. */
  readonly deletionTimestamp?: string
  readonly phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown'
  /** The pod's `echonet.io/spec-hash` annotation. */
  readonly specHash?: string
}

export type KeyPodAction =
  | { readonly action: 'create'; readonly name: string }
  | { readonly action: 'keep'; readonly name: string }
  | { readonly action: 'wait'; readonly reason: string }
  | {
      readonly action: 'delete'
      readonly names: readonly string[]
      readonly reason: string
      /**
       * `outdated`: the one live pod runs an older template — a replacement the caller may hold
       * back to roll it out within the network's budgets (network/rollout.ts); the others are
       * acted on at once.
       */
      readonly cause: 'duplicate' | 'misnamed' | 'finished' | 'outdated'
    }

/**
 * Decides what to do with the pods of one witness key, given every pod object that carries it
 * (including terminating ones). The rule: create only when no pod object exists; while an old pod
 * is terminating, wait (it may still sign until its process is gone); replace a pod by deleting
 * it first and creating the new one on a later reconcile.
 *
 * - no pod at all → create `desiredName`
 * - only terminating pods → wait
 * - more than one live pod (should never happen; a race or a manual copy) → delete all of them
 *   except the one named `desiredName` (or, if none is, except the first by name)
 * - one live pod with another name, a stale spec hash, or finished (Succeeded/Failed) → delete it
 * - one live pod with a terminating one beside it → keep the live one, nothing to add
 * - otherwise → keep
 */
export function keyPodAction(
  desiredName: string,
  observed: readonly ObservedKeyPod[],
  desiredSpecHash?: string,
): KeyPodAction {
  const live = observed.filter((p) => p.deletionTimestamp === undefined).sort((a, b) => cmp(a.name, b.name))
  const terminating = observed.filter((p) => p.deletionTimestamp !== undefined)
  if (live.length === 0) {
    if (terminating.length > 0) {
      return {
        action: 'wait',
        reason: `pod ${terminating
          .map((p) => p.name)
          .sort()
          .join(', ')} of this key is still terminating`,
      }
    }
    return { action: 'create', name: desiredName }
  }
  if (live.length > 1) {
    const keep = live.find((p) => p.name === desiredName) ?? live[0]!
    return {
      action: 'delete',
      names: live.filter((p) => p !== keep).map((p) => p.name),
      reason: `${live.length} live pods hold one witness key; keeping ${keep.name}`,
      cause: 'duplicate',
    }
  }
  const pod = live[0]!
  if (pod.name !== desiredName) {
    return {
      action: 'delete',
      names: [pod.name],
      reason: `pod ${pod.name} is not the desired pod ${desiredName}`,
      cause: 'misnamed',
    }
  }
  if (pod.phase === 'Succeeded' || pod.phase === 'Failed') {
    return {
      action: 'delete',
      names: [pod.name],
      reason: `pod ${pod.name} has finished (${pod.phase})`,
      cause: 'finished',
    }
  }
  if (desiredSpecHash !== undefined && pod.specHash !== desiredSpecHash) {
    return { action: 'delete', names: [pod.name], reason: `pod ${pod.name} has an outdated spec`, cause: 'outdated' }
  }
  return { action: 'keep', name: pod.name }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
