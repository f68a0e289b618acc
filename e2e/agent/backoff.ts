// CrashLoopBackOff as the kubelet computes it (k8s.io/client-go/util/flowcontrol.Backoff with
// 10 s initial, 300 s max): the first restart after a crash is immediate; then a restart waits
// 10 s, 20 s, 40 s … 300 s after the container finished. A container that ran for more than
// 2 × max (10 min) since the last restart starts over at 10 s.

export const INITIAL_BACKOFF_MS = 10_000
export const MAX_BACKOFF_MS = 300_000

export interface Backoff {
  delayMs: number
  /** When the delay was last raised (a restart happened). */
  lastUpdate: number
}

function expired(b: Backoff, at: number, maxMs: number): boolean {
  return at - b.lastUpdate > 2 * maxMs
}

/** Earliest restart time for a container that finished at `finishedAt`, or undefined if now. */
export function backoffUntil(
  b: Backoff | undefined,
  finishedAt: number,
  now: number,
  maxMs = MAX_BACKOFF_MS,
): number | undefined {
  if (b === undefined || expired(b, finishedAt, maxMs)) return undefined
  const until = finishedAt + b.delayMs
  return now < until ? until : undefined
}

/** The backoff after a restart at `now`. */
export function nextBackoff(
  b: Backoff | undefined,
  now: number,
  initialMs = INITIAL_BACKOFF_MS,
  maxMs = MAX_BACKOFF_MS,
): Backoff {
  if (b === undefined || expired(b, now, maxMs)) return { delayMs: initialMs, lastUpdate: now }
  return { delayMs: Math.min(b.delayMs * 2, maxMs), lastUpdate: now }
}
