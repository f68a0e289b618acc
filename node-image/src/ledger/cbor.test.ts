import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DecodeError } from '../crypto/encoding.ts'
import { decodeValue, encodeValue } from './cbor.ts'

// Values in the ledger's data model: safe integers, strings (incl. non-ASCII keys), bytes,
// booleans, null, arrays and plain objects, nested.
const ledgerValue = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.maxSafeInteger().filter((n) => !Object.is(n, -0)),
    fc.integer(),
    fc.string(),
    fc.uint8Array({ maxLength: 40 }),
    fc.boolean(),
    fc.constant(null),
  ),
  node: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 5 }),
    fc.dictionary(fc.string({ minLength: 1 }), tie('node'), { maxKeys: 6 }),
  ),
})).node

describe('fast state-value encoder', () => {
  it('produces exactly the bytes of @ipld/dag-cbor (random nested values)', () => {
    fc.assert(
      fc.property(ledgerValue, (v) => {
        expect(Buffer.from(encodeValue(v)).equals(Buffer.from(dagCbor.encode(v)))).toBe(true)
      }),
      { numRuns: 300 },
    )
  })

  it('covers every integer width and the map key order (length first, then bytes)', () => {
    for (const n of [
      0,
      23,
      24,
      255,
      256,
      65_535,
      65_536,
      2 ** 32 - 1,
      2 ** 32,
      Number.MAX_SAFE_INTEGER,
      -1,
      -25,
      -(2 ** 40),
    ]) {
      expect(encodeValue(n)).toEqual(dagCbor.encode(n))
    }
    const v = { bb: 1, a: 2, ab: 3, é: 4, zzz: 5 }
    expect(encodeValue(v)).toEqual(dagCbor.encode(v))
  })

  it('refuses what the ledger never stores: floats, undefined, class instances', () => {
    expect(() => encodeValue(1.5)).toThrow()
    expect(() => encodeValue({ a: undefined })).toThrow()
    expect(() => encodeValue(new Date())).toThrow()
    expect(() => encodeValue(2n)).toThrow()
  })

  it('decodeValue accepts only canonical encodings', () => {
    expect(decodeValue(encodeValue({ b: 1, a: [2] }))).toEqual({ b: 1, a: [2] })
    // {"b":1,"a":2} with keys out of canonical order.
    const unsorted = new Uint8Array([0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02])
    expect(() => decodeValue(unsorted)).toThrow(DecodeError)
    // 1 encoded in two bytes instead of one.
    expect(() => decodeValue(new Uint8Array([0x18, 0x01]))).toThrow(DecodeError)
    // A float.
    expect(() => decodeValue(dagCbor.encode(1.5))).toThrow(DecodeError)
  })
})
