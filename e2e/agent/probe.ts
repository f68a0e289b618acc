// Probe result bookkeeping (pure), as the kubelet's prober worker does it: a result flips only
// after `successThreshold` consecutive successes or `failureThreshold` consecutive failures.
// Initial results: readiness = failure (not ready until a probe passes), liveness = success,
// startup = unknown.
import type { Probe } from './kube/types.ts'

export type ProbeKind = 'readiness' | 'liveness' | 'startup'

export interface ProbeTiming {
  initialDelayMs: number
  periodMs: number
  timeoutMs: number
  successThreshold: number
  failureThreshold: number
}

export function probeTiming(p: Probe): ProbeTiming {
  return {
    initialDelayMs: (p.initialDelaySeconds ?? 0) * 1000,
    periodMs: Math.max(1, p.periodSeconds ?? 10) * 1000,
    timeoutMs: Math.max(1, p.timeoutSeconds ?? 1) * 1000,
    successThreshold: Math.max(1, p.successThreshold ?? 1),
    failureThreshold: Math.max(1, p.failureThreshold ?? 3),
  }
}

export interface ProbeState {
  /** undefined = unknown */
  result: boolean | undefined
  lastOutcome: boolean | undefined
  run: number
}

export function initialProbeState(kind: ProbeKind): ProbeState {
  return {
    result: kind === 'readiness' ? false : kind === 'liveness' ? true : undefined,
    lastOutcome: undefined,
    run: 0,
  }
}

export function recordProbe(
  s: ProbeState,
  ok: boolean,
  t: Pick<ProbeTiming, 'successThreshold' | 'failureThreshold'>,
): ProbeState {
  const run = s.lastOutcome === ok ? s.run + 1 : 1
  const threshold = ok ? t.successThreshold : t.failureThreshold
  return { result: run >= threshold ? ok : s.result, lastOutcome: ok, run }
}
