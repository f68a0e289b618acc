import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { placeShards, rebalance } from './placement.ts'

const ssnList = (n: number, salt = 0) => Array.from({ length: n }, (_, i) => `did:key:zSSN${salt}-${i}`)
const cidArb = fc.string({ minLength: 1, maxLength: 20 }).map((s) => `bafy${s}`)

function counts(placement: readonly string[]): Map<string, number> {
  const c = new Map<string, number>()
  for (const s of placement) c.set(s, (c.get(s) ?? 0) + 1)
  return c
}

describe('placeShards (rendezvous hashing)', () => {
  it('is deterministic and independent of SSN order', () => {
    const ssns = ssnList(10)
    const a = placeShards('bafyx', 6, ssns)
    expect(placeShards('bafyx', 6, [...ssns].reverse())).toEqual(a)
    expect(a).toHaveLength(6)
    expect(placeShards('bafyy', 6, ssns)).not.toEqual(a)
  })

  it('distinct SSNs when there are at least as many SSNs as shards; even spread otherwise', () => {
    fc.assert(
      fc.property(cidArb, fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 20 }), (cid, n, count) => {
        const p = placeShards(cid, n, ssnList(count))
        const c = counts(p)
        if (count >= n) expect(c.size).toBe(n)
        else {
          expect(c.size).toBe(count)
          const loads = [...c.values()]
          expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(1)
        }
      }),
      { numRuns: 200 },
    )
  })

  it('removing an SSN that holds none of the shards, or adding one that wins none, moves nothing', () => {
    fc.assert(
      fc.property(
        cidArb,
        fc.integer({ min: 2, max: 8 }),
        fc.integer({ min: 0, max: 10 }),
        fc.nat(),
        (cid, n, extra, pick) => {
          const ssns = ssnList(n + extra)
          const before = placeShards(cid, n, ssns)
          const unused = ssns.filter((s) => !before.includes(s))
          if (unused.length > 0) {
            const gone = unused[pick % unused.length]!
            expect(
              placeShards(
                cid,
                n,
                ssns.filter((s) => s !== gone),
              ),
            ).toEqual(before)
          }
          const added = [...ssns, 'did:key:zNEW']
          const after = placeShards(cid, n, added)
          if (!after.includes('did:key:zNEW')) expect(after).toEqual(before)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('rebalance after removing any SSN moves only the shards that were on it, and stays distinct', () => {
    fc.assert(
      fc.property(
        cidArb,
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 6 }),
        fc.nat(),
        (cid, n, extra, pick) => {
          const ssns = ssnList(n + extra + 1)
          const before = placeShards(cid, n, ssns)
          const gone = ssns[pick % ssns.length]!
          const remaining = ssns.filter((s) => s !== gone)
          const after = rebalance(cid, before, remaining)
          after.forEach((s, i) => {
            if (before[i] !== gone) expect(s).toBe(before[i])
            else expect(s).not.toBe(gone)
          })
          expect(new Set(after).size).toBe(n) // still distinct: n + extra >= n SSNs remain
          expect(rebalance(cid, after, remaining)).toEqual(after) // nothing to do
        },
      ),
      { numRuns: 300 },
    )
  })

  it('pure re-placement after removing a holder moves few other shards (measured)', () => {
    let others = 0
    let trials = 0
    for (let t = 0; t < 200; t++) {
      const ssns = ssnList(20, t)
      const before = placeShards(`bafy${t}`, 6, ssns)
      const gone = before[t % 6]!
      const after = placeShards(
        `bafy${t}`,
        6,
        ssns.filter((s) => s !== gone),
      )
      after.forEach((s, i) => {
        if (before[i] !== gone && s !== before[i]) others++
      })
      trials++
    }
    expect(others / trials).toBeLessThan(0.5)
  })

  it('rejects bad arguments', () => {
    expect(() => placeShards('bafyx', 2, [])).toThrow(RangeError)
    expect(() => placeShards('bafyx', 257, ['a'])).toThrow(RangeError)
    expect(placeShards('bafyx', 0, [])).toEqual([])
  })
})
