import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { GF_EXP, GF_NIBBLE_TABLES, gfDiv, gfInv, gfMul, gfPow } from './gf256.ts'
import { encodingMatrix, identity, invert, matrix, multiply, selectRows, vandermonde } from './matrix.ts'

/** Carry-less "Russian peasant" multiplication reduced by 0x11d: no tables, independent of gf256.ts. */
function naiveMul(a: number, b: number): number {
  let p = 0
  while (b !== 0) {
    if (b & 1) p ^= a
    a <<= 1
    if (a & 0x100) a ^= 0x11d
    b >>= 1
  }
  return p
}

const byte = fc.integer({ min: 0, max: 255 })
const nonZero = fc.integer({ min: 1, max: 255 })

function combinations(n: number, r: number): number[][] {
  if (r === 0) return [[]]
  if (n < r) return []
  return [...combinations(n - 1, r - 1).map((c) => [...c, n - 1]), ...combinations(n - 1, r)]
}

describe('GF(2^8) with polynomial 0x11d', () => {
  it('multiplication tables agree with naive polynomial arithmetic on all 65,536 pairs', () => {
    for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) expect(gfMul(a, b)).toBe(naiveMul(a, b))
  })

  it('2 generates the multiplicative group (order 255)', () => {
    const seen = new Set(Array.from(GF_EXP.subarray(0, 255)))
    expect(seen.size).toBe(255)
    expect(seen.has(0)).toBe(false)
    expect(GF_EXP[8]).toBe(0x1d) // x^8 = x^4 + x^3 + x^2 + 1
  })

  it('every non-zero element has an inverse; 0 has none', () => {
    for (let a = 1; a < 256; a++) {
      expect(gfMul(a, gfInv(a))).toBe(1)
      expect(gfDiv(a, a)).toBe(1)
    }
    expect(() => gfInv(0)).toThrow(RangeError)
  })

  it('satisfies the field axioms', () => {
    fc.assert(
      fc.property(byte, byte, byte, (a, b, c) => {
        expect(gfMul(a, b)).toBe(gfMul(b, a))
        expect(gfMul(gfMul(a, b), c)).toBe(gfMul(a, gfMul(b, c)))
        expect(gfMul(a, b ^ c)).toBe(gfMul(a, b) ^ gfMul(a, c))
        expect(gfMul(a, 1)).toBe(a)
        expect(gfMul(a, 0)).toBe(0)
        expect(a ^ a).toBe(0) // every element is its own additive inverse
      }),
      { numRuns: 2000 },
    )
    fc.assert(
      fc.property(byte, nonZero, (a, b) => {
        expect(gfMul(gfDiv(a, b), b)).toBe(a)
      }),
    )
  })

  it('gfPow is repeated multiplication, with 0^0 = 1', () => {
    fc.assert(
      fc.property(byte, fc.integer({ min: 0, max: 600 }), (a, n) => {
        let p = 1
        for (let i = 0; i < n; i++) p = naiveMul(p, a)
        expect(gfPow(a, n)).toBe(p)
      }),
    )
    expect(gfPow(0, 0)).toBe(1)
  })

  it('split-nibble tables: c·b = LO_c[b & 15] ^ HI_c[b >> 4] for all c, b', () => {
    for (let c = 0; c < 256; c++) {
      for (let b = 0; b < 256; b++) {
        const lo = GF_NIBBLE_TABLES[c * 32 + (b & 15)]!
        const hi = GF_NIBBLE_TABLES[c * 32 + 16 + (b >> 4)]!
        expect(lo ^ hi).toBe(naiveMul(c, b))
      }
    }
  })
})

describe('matrices over GF(2^8)', () => {
  it('invert(M) · M = I for random invertible M, and singular matrices are rejected', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 12 })
          .chain((n) => fc.tuple(fc.constant(n), fc.uint8Array({ minLength: n * n, maxLength: n * n }))),
        ([n, data]) => {
          const m = matrix(n, n, data)
          let inv
          try {
            inv = invert(m)
          } catch {
            return // singular: fine, checked below with a known one
          }
          expect(multiply(inv, m).data).toEqual(identity(n).data)
          expect(multiply(m, inv).data).toEqual(identity(n).data)
        },
      ),
    )
    expect(() => invert(matrix(2, 2, Uint8Array.of(1, 2, 1, 2)))).toThrow(/singular/)
  })

  it('the encoding matrix is systematic and every k×k submatrix is invertible (exhaustive, small k+m)', () => {
    for (const [k, m] of [
      [1, 1],
      [2, 2],
      [4, 2],
      [5, 3],
      [6, 4],
      [3, 6],
    ] as const) {
      const e = encodingMatrix(k, m)
      expect(selectRows(e, [...Array(k).keys()]).data).toEqual(identity(k).data)
      for (const rows of combinations(k + m, k)) expect(() => invert(selectRows(e, rows))).not.toThrow()
    }
  })

  it('every k×k submatrix is invertible (sampled, large k+m up to 256)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 192 }),
        fc.infiniteStream(fc.double({ min: 0, max: 1, noNaN: true })),
        (k, m, rand) => {
          const e = encodingMatrix(k, m)
          const rows = [...Array(k + m).keys()]
          const it = rand[Symbol.iterator]()
          for (let i = rows.length - 1; i > 0; i--) {
            const j = Math.floor(it.next().value * (i + 1)) % (i + 1)
            ;[rows[i], rows[j]] = [rows[j]!, rows[i]!]
          }
          expect(() => invert(selectRows(e, rows.slice(0, k)))).not.toThrow()
        },
      ),
      { numRuns: 15 },
    )
  })

  it('vandermonde rows are powers of the row index', () => {
    const v = vandermonde(5, 4)
    for (let r = 0; r < 5; r++) for (let c = 0; c < 4; c++) expect(v.data[r * 4 + c]).toBe(gfPow(r, c))
    expect(() => vandermonde(257, 1)).toThrow(RangeError)
  })
})
