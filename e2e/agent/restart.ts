// Whether a container that is not running should be started now, later, or never (pure).
import { backoffUntil, type Backoff } from './backoff.ts'
import type { Termination } from './status.ts'

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never'

export type StartDecision = { action: 'start' } | { action: 'wait'; until: number } | { action: 'done' }

export function decideStart(
  policy: RestartPolicy,
  init: boolean,
  last: Termination | undefined,
  backoff: Backoff | undefined,
  now: number,
): StartDecision {
  if (last === undefined) return { action: 'start' }
  const succeeded = last.exitCode === 0
  if (init) {
    // Init containers run to completion once; a failure is retried unless the policy is Never.
    if (succeeded || policy === 'Never') return { action: 'done' }
  } else if (policy === 'Never' || (policy === 'OnFailure' && succeeded)) {
    return { action: 'done' }
  }
  const until = backoffUntil(backoff, last.finishedAt, now)
  return until === undefined ? { action: 'start' } : { action: 'wait', until }
}

/** The kubelet's CrashLoopBackOff message. */
export function backoffMessage(
  delayMs: number,
  container: string,
  pod: { namespace: string; name: string; uid: string },
): string {
  return `back-off ${goDuration(delayMs)} restarting failed container=${container} pod=${pod.name}_${pod.namespace}(${pod.uid})`
}

/** Go's time.Duration format for whole seconds: 10s, 1m20s, 5m0s. */
export function goDuration(ms: number): string {
  const s = Math.round(ms / 1000)
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`
}
