import { describe, expect, it } from 'vitest'
import { RECOVERED_POLL_MS, requeueAfter } from './requeue.ts'

describe('declaration requeue', () => {
  it('finished declarations are not polled; a quiet Recovered one slowly; a running one as its runbook asks', () => {
    expect(requeueAfter('Resolved', 0, false)).toBeUndefined()
    expect(requeueAfter('Failed', 0, true)).toBeUndefined()
    // Was 50 ms forever: a Recovered declaration cost ~20 reconciles a second.
    expect(requeueAfter('Recovered', 0, false)).toBe(RECOVERED_POLL_MS)
    expect(requeueAfter('Recovered', 0, true)).toBe(50)
    expect(requeueAfter('Recovered', 2_000, false)).toBe(2_000)
    expect(requeueAfter('Executing', 0, false)).toBe(50)
    expect(requeueAfter('Executing', 2_000, false)).toBe(2_000)
  })
})
