import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { DEFAULT_PARAMS } from '../../ledger/params.ts'
import { challengeInterval, draw } from './posr.ts'

describe('PoSR challenge plan', () => {
  it('draws are deterministic, in range and depend on the randomness and the label (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string(),
        fc.integer({ min: 1, max: 1000 }),
        (r, label, n) => {
          const x = draw(r, label, n)
          expect(x).toBe(draw(Uint8Array.from(r), label, n))
          expect(x).toBeGreaterThanOrEqual(0)
          expect(x).toBeLessThan(n)
        },
      ),
    )
    // Different SSNs get independent draws from one block (not all the same challenger).
    const r = new Uint8Array(32).fill(1)
    const picks = new Set(Array.from({ length: 50 }, (_, i) => draw(r, `challenger/ssn${i}`, 4)))
    expect(picks.size).toBeGreaterThan(1)
  })

  it('challenges every checkpointInterval / posrChallengeRate blocks; rate 0 turns PoSR off', () => {
    expect(challengeInterval({ ...DEFAULT_PARAMS, checkpointInterval: 100, posrChallengeRate: 1 })).toBe(100)
    expect(challengeInterval({ ...DEFAULT_PARAMS, checkpointInterval: 100, posrChallengeRate: 50 })).toBe(2)
    expect(challengeInterval({ ...DEFAULT_PARAMS, checkpointInterval: 10, posrChallengeRate: 1000 })).toBe(1)
    expect(challengeInterval({ ...DEFAULT_PARAMS, posrChallengeRate: 0 })).toBe(0)
  })
})
