/**
 * When a declaration is looked at again. A runbook asks for its next poll; a finished one
 * (Resolved, Failed) is not polled at all, and a Recovered one only slowly: nothing moves there
 * but people resolving it (a watch event wakes the reconcile anyway) or a window lapsing — unless
 * its runbook asks for a poll.
 */
export const RECOVERED_POLL_MS = 30_000
const MIN_POLL_MS = 50

export function requeueAfter(phase: string, requestedMs: number, hadEffects: boolean): number | undefined {
  if (phase === 'Resolved' || phase === 'Failed') return undefined
  // A runbook still at work in Recovered (WitnessLoss restores resilience there) asks for its polls.
  if (phase === 'Recovered' && !hadEffects && requestedMs === 0) return RECOVERED_POLL_MS
  return Math.max(MIN_POLL_MS, requestedMs)
}
