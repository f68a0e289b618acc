import { describe, expect, it } from 'vitest'
import { planReplacements, stuckTerminating } from './replacement.ts'
import type { NodeHealth } from './replacement.ts'

const healthy = (i: number): NodeHealth => ({
  node: `ssn-${i}`,
  podName: `n-ssn-${i}`,
  pvcName: `n-ssn-${i}-data`,
  podExists: true,
  ready: true,
  crashLooping: false,
  volumeLost: false,
  volumeCorrupt: false,
})
const six = (): NodeHealth[] => [0, 1, 2, 3, 4, 5].map(healthy)
const policy = { budget: 1, notReadyThresholdMs: 60_000 }

describe('SSN replacement within the erasure budget', () => {
  it('replaces nothing when all SSNs are healthy', () => {
    expect(planReplacements(six(), 0, policy)).toEqual({ replace: [], deferred: [] })
  })

  it('replaces a crash-looping SSN, and one not ready past the threshold — not before', () => {
    const s = six()
    s[2] = { ...s[2]!, ready: false, crashLooping: true }
    expect(planReplacements(s, 0, policy).replace.map((r) => [r.node, r.reason])).toEqual([['ssn-2', 'CrashLoop']])
    const t = six()
    t[3] = { ...t[3]!, ready: false, notReadySinceMs: 0 }
    expect(planReplacements(t, 59_999, policy).replace).toEqual([])
    expect(planReplacements(t, 60_000, policy).replace.map((r) => r.reason)).toEqual(['NotReady'])
  })

  it('replaces at most `budget` failed SSNs at once and defers the rest', () => {
    const s = six()
    s[1] = { ...s[1]!, ready: false, crashLooping: true }
    s[4] = { ...s[4]!, ready: false, crashLooping: true }
    const plan = planReplacements(s, 0, policy)
    expect(plan.replace.map((r) => r.node)).toEqual(['ssn-1'])
    expect(plan.deferred.map((r) => r.node)).toEqual(['ssn-4'])
  })

  it('counts a replacement still starting against the budget', () => {
    const s = six()
    s[0] = { ...s[0]!, podExists: false, ready: false } // being re-created
    s[5] = { ...s[5]!, ready: false, crashLooping: true }
    expect(planReplacements(s, 0, policy)).toMatchObject({ replace: [], deferred: [{ node: 'ssn-5' }] })
  })

  it('always replaces a lost volume: its shards are gone already', () => {
    const s = six()
    s[0] = { ...s[0]!, podExists: false, ready: false }
    s[3] = { ...s[3]!, volumeLost: true }
    expect(planReplacements(s, 0, policy).replace.map((r) => [r.node, r.reason])).toEqual([['ssn-3', 'VolumeLost']])
  })
})

describe('pods whose deletion no machine confirms', () => {
  const end = '2026-12-06T10:00:00Z'
  const t = Date.parse(end)
  it('are force-deleted once past their grace period by `afterMs`, and only if not ready', () => {
    expect(stuckTerminating({ deletionTimestamp: end, ready: false }, t + 59_999, 60_000)).toBe(false)
    expect(stuckTerminating({ deletionTimestamp: end, ready: false }, t + 60_000, 60_000)).toBe(true)
    // Still ready: a process shutting down gracefully, confirmed by its kubelet soon.
    expect(stuckTerminating({ deletionTimestamp: end, ready: true }, t + 600_000, 60_000)).toBe(false)
    expect(stuckTerminating({ ready: false }, t + 600_000, 60_000)).toBe(false)
    expect(stuckTerminating({ deletionTimestamp: 'garbage', ready: false }, t + 600_000, 60_000)).toBe(false)
  })
})

describe('DHT seed replacement', () => {
  it('replaces every failed seed at once when the budget is the seed count (a seed holds nothing unique)', () => {
    const seed = (i: number): NodeHealth => ({
      ...healthy(i),
      node: `seed-${i}`,
      podName: `n-seed-${i}`,
      pvcName: `n-seed-${i}-data`,
    })
    const seeds = [seed(0), seed(1)].map((s) => ({ ...s, ready: false, notReadySinceMs: 0 }))
    const plan = planReplacements(seeds, 300_000, { budget: seeds.length, notReadyThresholdMs: 300_000 })
    expect(plan.replace.map((r) => [r.node, r.reason])).toEqual([
      ['seed-0', 'NotReady'],
      ['seed-1', 'NotReady'],
    ])
    expect(plan.deferred).toEqual([])
  })
})
