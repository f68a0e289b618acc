// Backoff, restart decisions and probe bookkeeping.
import { describe, expect, it } from 'vitest'
import { backoffUntil, INITIAL_BACKOFF_MS, MAX_BACKOFF_MS, nextBackoff, type Backoff } from './backoff.ts'
import { initialProbeState, probeTiming, recordProbe } from './probe.ts'
import { backoffMessage, decideStart, goDuration } from './restart.ts'
import type { Termination } from './status.ts'

const term = (exitCode: number, finishedAt: number): Termination => ({
  exitCode,
  reason: exitCode === 0 ? 'Completed' : 'Error',
  startedAt: finishedAt - 1000,
  finishedAt,
  containerID: 'x',
})

describe('CrashLoopBackOff', () => {
  it('restarts at once after the first crash, then waits 10 s, 20 s, 40 s … capped at 5 min', () => {
    let b: Backoff | undefined
    let t = 1_000_000
    const delays: number[] = []
    for (let i = 0; i < 9; i++) {
      // the container crashes right after starting
      const finished = t + 1000
      const until = backoffUntil(b, finished, finished)
      const startAt = until ?? finished
      delays.push(startAt - finished)
      b = nextBackoff(b, startAt)
      t = startAt
    }
    expect(delays).toEqual([0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000])
  })

  it('forgets the backoff after a container ran for more than 10 minutes', () => {
    const b = { delayMs: MAX_BACKOFF_MS, lastUpdate: 0 }
    expect(backoffUntil(b, 2 * MAX_BACKOFF_MS + 1, 2 * MAX_BACKOFF_MS + 1)).toBeUndefined()
    expect(nextBackoff(b, 2 * MAX_BACKOFF_MS + 1).delayMs).toBe(INITIAL_BACKOFF_MS)
    expect(backoffUntil(b, 1000, 1000)).toBe(1000 + MAX_BACKOFF_MS)
  })

  it('formats the kubelet message', () => {
    expect(goDuration(10_000)).toBe('10s')
    expect(goDuration(300_000)).toBe('5m0s')
    expect(goDuration(80_000)).toBe('1m20s')
    expect(backoffMessage(20_000, 'app', { namespace: 'ns', name: 'p', uid: 'u' })).toBe(
      'back-off 20s restarting failed container=app pod=p_ns(u)',
    )
  })
})

describe('decideStart', () => {
  const now = 100_000
  it('starts a container that never ran', () => {
    expect(decideStart('Never', false, undefined, undefined, now)).toEqual({ action: 'start' })
  })
  it.each([
    ['Always', 0, 'start'],
    ['Always', 1, 'start'],
    ['OnFailure', 0, 'done'],
    ['OnFailure', 2, 'start'],
    ['Never', 0, 'done'],
    ['Never', 2, 'done'],
  ] as const)('app container, policy %s, exit %i → %s', (policy, code, action) => {
    expect(decideStart(policy, false, term(code, now - 1), undefined, now).action).toBe(action)
  })
  it.each([
    ['Always', 0, 'done'],
    ['Always', 1, 'start'],
    ['OnFailure', 1, 'start'],
    ['Never', 1, 'done'],
  ] as const)('init container, policy %s, exit %i → %s', (policy, code, action) => {
    expect(decideStart(policy, true, term(code, now - 1), undefined, now).action).toBe(action)
  })
  it('waits out the backoff', () => {
    const b = { delayMs: 20_000, lastUpdate: now - 5000 }
    expect(decideStart('Always', false, term(1, now - 1000), b, now)).toEqual({
      action: 'wait',
      until: now - 1000 + 20_000,
    })
    expect(decideStart('Always', false, term(1, now - 30_000), b, now)).toEqual({ action: 'start' })
  })
})

describe('probes', () => {
  it('uses the API defaults', () => {
    expect(probeTiming({})).toEqual({
      initialDelayMs: 0,
      periodMs: 10_000,
      timeoutMs: 1000,
      successThreshold: 1,
      failureThreshold: 3,
    })
    expect(
      probeTiming({
        initialDelaySeconds: 2,
        periodSeconds: 1,
        timeoutSeconds: 3,
        successThreshold: 2,
        failureThreshold: 1,
      }),
    ).toEqual({
      initialDelayMs: 2000,
      periodMs: 1000,
      timeoutMs: 3000,
      successThreshold: 2,
      failureThreshold: 1,
    })
  })

  it('starts readiness as failure, liveness as success, startup as unknown', () => {
    expect(initialProbeState('readiness').result).toBe(false)
    expect(initialProbeState('liveness').result).toBe(true)
    expect(initialProbeState('startup').result).toBeUndefined()
  })

  it('flips only after the thresholds', () => {
    const t = { successThreshold: 2, failureThreshold: 3 }
    let s = initialProbeState('readiness')
    s = recordProbe(s, true, t)
    expect(s.result).toBe(false)
    s = recordProbe(s, true, t)
    expect(s.result).toBe(true)
    s = recordProbe(s, false, t)
    s = recordProbe(s, false, t)
    expect(s.result).toBe(true)
    s = recordProbe(s, true, t) // resets the failure run
    s = recordProbe(s, false, t)
    s = recordProbe(s, false, t)
    expect(s.result).toBe(true)
    s = recordProbe(s, false, t)
    expect(s.result).toBe(false)
  })
})
