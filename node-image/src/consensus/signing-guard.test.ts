import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { guard } from './signing-guard.ts'
import type { SigningRecord, SignSlot, SignStep } from './signing-guard.ts'

const slot = fc.record({
  epoch: fc.nat(3),
  height: fc.nat(5),
  round: fc.nat(3),
  step: fc.constantFrom<SignStep>('proposal', 'prevote', 'precommit'),
  blockHash: fc.constantFrom('A', 'B', null),
})

describe('signing guard', () => {
  it('property: applying the guard to any sequence of requests never yields two different signed values for one slot', () => {
    fc.assert(
      fc.property(fc.array(slot, { maxLength: 60 }), (requests) => {
        let record: SigningRecord | undefined
        const signed = new Map<string, string | null>()
        for (const r of requests) {
          const d = guard(record, r)
          if (d.kind === 'sign') {
            const key = `${r.epoch}/${r.height}/${r.round}/${r.step}`
            if (signed.has(key)) expect(signed.get(key)).toBe(r.blockHash)
            signed.set(key, r.blockHash)
            record = { ...r, sig: new Uint8Array([1]), lock: null }
          }
        }
      }),
    )
  })

  it('re-sends the stored signature for the identical request (a restart re-broadcasts, never re-signs)', () => {
    const rec: SigningRecord = {
      epoch: 0,
      height: 5,
      round: 1,
      step: 'precommit',
      blockHash: 'A',
      sig: new Uint8Array([9]),
      lock: { round: 1, blockHash: 'A' },
    }
    const same: SignSlot = { epoch: 0, height: 5, round: 1, step: 'precommit', blockHash: 'A' }
    expect(guard(rec, same)).toEqual({ kind: 'resend', sig: new Uint8Array([9]) })
    expect(guard(rec, { ...same, blockHash: 'B' }).kind).toBe('refuse')
    expect(guard(rec, { ...same, step: 'prevote' }).kind).toBe('refuse')
    expect(guard(rec, { ...same, round: 2, step: 'prevote' }).kind).toBe('sign')
    // A new epoch (coordinated restart) starts a fresh order even at a lower height.
    expect(guard(rec, { epoch: 1, height: 3, round: 0, step: 'prevote', blockHash: 'C' }).kind).toBe('sign')
  })
})
