import { describe, expect, it } from 'vitest'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { sha256, toHex } from './hash.ts'

describe('sha256 (node:crypto) against FIPS 180-4 vectors and @noble/hashes', () => {
  const enc = new TextEncoder()
  it('matches the NIST vectors', () => {
    expect(toHex(sha256(enc.encode('')))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(toHex(sha256(enc.encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(toHex(sha256(enc.encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    )
  })
  it('agrees with @noble/hashes on random input, including split updates', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.nat(4096), (data, cut) => {
        const at = Math.min(cut, data.length)
        expect(toHex(sha256(data.subarray(0, at), data.subarray(at)))).toBe(toHex(nobleSha256(data)))
      }),
    )
  })
})
