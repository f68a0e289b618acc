/**
 * When a declaration is looked at again. A runbook asks for its next poll; a finished one
 * (Resolved, Failed) is not polled at all, and a Recovered one only slowly: nothing moves there
 * but people resolving it (a watch event wakes the reconcile anyway) or a window lapsing.
 */
export const RECOVERED_POLL_MS = 30_000
const MIN_POLL_MS = 50

export function requeueAfter(phase: string, requestedMs: number, hadEffects: boolean): number | undefined {
  if (phase === 'Resolved' || phase === 'Failed') return undefined
  if (phase === 'Recovered' && !hadEffects) return Math.max(RECOVERED_POLL_MS, requestedMs)
  return Math.max(MIN_POLL_MS, requestedMs)
}
