import { describe, expect, it } from 'vitest'
import { getCondition, isConditionTrue, removeCondition, setCondition, toK8sTime } from './conditions.ts'
import type { Condition } from './types.ts'

const t0 = new Date('2025-01-02T03:04:05.678Z')
const t1 = new Date('2025-01-02T03:05:00.000Z')

describe('setCondition', () => {
  it('adds a new condition with lastTransitionTime = now (second precision) and observedGeneration', () => {
    const out = setCondition(
      undefined,
      { type: 'Ready', status: 'False', reason: 'Creating', message: 'pods starting' },
      1,
      t0,
    )
    expect(out).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'Creating',
        message: 'pods starting',
        lastTransitionTime: '2025-01-02T03:04:05Z',
        observedGeneration: 1,
      },
    ])
  })

  it('keeps lastTransitionTime when the status is unchanged, but updates reason, message and generation', () => {
    const a = setCondition([], { type: 'Ready', status: 'False', reason: 'Creating', message: 'a' }, 1, t0)
    const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'WaitingForQuorum', message: 'b' }, 2, t1)
    expect(b[0]).toMatchObject({
      reason: 'WaitingForQuorum',
      message: 'b',
      observedGeneration: 2,
      lastTransitionTime: toK8sTime(t0),
    })
  })

  it('moves lastTransitionTime when the status changes', () => {
    const a = setCondition([], { type: 'Ready', status: 'False', reason: 'Creating', message: '' }, 1, t0)
    const b = setCondition(a, { type: 'Ready', status: 'True', reason: 'Ready', message: '' }, 1, t1)
    expect(b[0]!.lastTransitionTime).toBe('2025-01-02T03:05:00Z')
  })

  it('is pure: never mutates its input, returns the same array when nothing changes', () => {
    const a = setCondition([], { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' }, 3, t0)
    const frozen = Object.freeze(a.map((c) => Object.freeze({ ...c }))) as Condition[]
    const same = setCondition(frozen, { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' }, 3, t1)
    expect(same).toBe(frozen)
    const changed = setCondition(frozen, { type: 'Ready', status: 'False', reason: 'Lost', message: 'x' }, 3, t1)
    expect(changed).not.toBe(frozen)
    expect(frozen[0]!.status).toBe('True')
  })

  it('keeps the order of other conditions and replaces in place', () => {
    let cs = setCondition([], { type: 'Ready', status: 'True', reason: 'Ready', message: '' }, 1, t0)
    cs = setCondition(cs, { type: 'QuorumAvailable', status: 'True', reason: 'Quorum', message: '' }, 1, t0)
    cs = setCondition(cs, { type: 'Ready', status: 'False', reason: 'QuorumLost', message: '' }, 1, t1)
    expect(cs.map((c) => c.type)).toEqual(['Ready', 'QuorumAvailable'])
  })

  it('omits observedGeneration when no generation is known', () => {
    const cs = setCondition([], { type: 'Ready', status: 'Unknown', reason: 'Starting', message: '' }, undefined, t0)
    expect(cs[0]).not.toHaveProperty('observedGeneration')
  })

  it('refuses a reason the API server would refuse and truncates long messages', () => {
    expect(() => setCondition([], { type: 'Ready', status: 'True', reason: 'not ok', message: '' }, 1, t0)).toThrow(
      /CamelCase/,
    )
    const long = setCondition([], { type: 'Ready', status: 'True', reason: 'Ok', message: 'x'.repeat(40_000) }, 1, t0)
    expect(long[0]!.message.length).toBe(32_768)
  })
})

describe('getCondition / isConditionTrue / removeCondition', () => {
  const cs = setCondition([], { type: 'Ready', status: 'True', reason: 'Ready', message: '' }, 2, t0)
  it('finds and evaluates conditions, treating a stale generation as not true', () => {
    expect(getCondition(cs, 'Ready')?.status).toBe('True')
    expect(getCondition(cs, 'Degraded')).toBeUndefined()
    expect(isConditionTrue(cs, 'Ready')).toBe(true)
    expect(isConditionTrue(cs, 'Ready', 2)).toBe(true)
    expect(isConditionTrue(cs, 'Ready', 3)).toBe(false)
    expect(isConditionTrue(cs, 'Degraded')).toBe(false)
    expect(isConditionTrue(undefined, 'Ready')).toBe(false)
  })
  it('removes by type, returning the same array when absent', () => {
    expect(removeCondition(cs, 'Ready')).toEqual([])
    expect(removeCondition(cs, 'Degraded')).toBe(cs)
  })
})
