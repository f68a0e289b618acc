import { describe, expect, it } from 'vitest'
import { planSsnReplacements } from './ssn-replacement.ts'
import type { SsnObservation } from './ssn-replacement.ts'

const healthy = (i: number): SsnObservation => ({
  node: `ssn-${i}`,
  podName: `n-ssn-${i}`,
  pvcName: `n-ssn-${i}-data`,
  podExists: true,
  ready: true,
  crashLooping: false,
  volumeLost: false,
  volumeCorrupt: false,
})
const six = (): SsnObservation[] => [0, 1, 2, 3, 4, 5].map(healthy)
const policy = { budget: 1, notReadyThresholdMs: 60_000 }

describe('SSN replacement within the erasure budget', () => {
  it('replaces nothing when all SSNs are healthy', () => {
    expect(planSsnReplacements(six(), 0, policy)).toEqual({ replace: [], deferred: [] })
  })

  it('replaces a crash-looping SSN, and one not ready past the threshold — not before', () => {
    const s = six()
    s[2] = { ...s[2]!, ready: false, crashLooping: true }
    expect(planSsnReplacements(s, 0, policy).replace.map((r) => [r.node, r.reason])).toEqual([['ssn-2', 'CrashLoop']])
    const t = six()
    t[3] = { ...t[3]!, ready: false, notReadySinceMs: 0 }
    expect(planSsnReplacements(t, 59_999, policy).replace).toEqual([])
    expect(planSsnReplacements(t, 60_000, policy).replace.map((r) => r.reason)).toEqual(['NotReady'])
  })

  it('replaces at most `budget` failed SSNs at once and defers the rest', () => {
    const s = six()
    s[1] = { ...s[1]!, ready: false, crashLooping: true }
    s[4] = { ...s[4]!, ready: false, crashLooping: true }
    const plan = planSsnReplacements(s, 0, policy)
    expect(plan.replace.map((r) => r.node)).toEqual(['ssn-1'])
    expect(plan.deferred.map((r) => r.node)).toEqual(['ssn-4'])
  })

  it('counts a replacement still starting against the budget', () => {
    const s = six()
    s[0] = { ...s[0]!, podExists: false, ready: false } // being re-created
    s[5] = { ...s[5]!, ready: false, crashLooping: true }
    expect(planSsnReplacements(s, 0, policy)).toMatchObject({ replace: [], deferred: [{ node: 'ssn-5' }] })
  })

  it('always replaces a lost volume: its shards are gone already', () => {
    const s = six()
    s[0] = { ...s[0]!, podExists: false, ready: false }
    s[3] = { ...s[3]!, volumeLost: true }
    expect(planSsnReplacements(s, 0, policy).replace.map((r) => [r.node, r.reason])).toEqual([['ssn-3', 'VolumeLost']])
  })
})
