import { describe, expect, it } from 'vitest'
import * as noble from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { keyPairFromSeed, sign, verify } from './ed25519.ts'
import { fromHex, toHex } from './hash.ts'

noble.hashes.sha512 = sha512

// RFC 8032 §7.1 test vectors (TEST 1, 2, 3 and TEST 1024's head is covered by the random property).
const VECTORS = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pub: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    msg: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pub: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    msg: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pub: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    msg: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
]

describe('ed25519 (node:crypto) against RFC 8032 and @noble/ed25519', () => {
  for (const [i, v] of VECTORS.entries()) {
    it(`RFC 8032 TEST ${i + 1}: both implementations derive the key, sign and verify identically`, async () => {
      const seed = fromHex(v.seed)
      const msg = fromHex(v.msg)
      expect(toHex(keyPairFromSeed(seed).publicKey)).toBe(v.pub)
      expect(toHex(await noble.getPublicKeyAsync(seed))).toBe(v.pub)
      expect(toHex(sign(seed, msg))).toBe(v.sig)
      expect(toHex(await noble.signAsync(msg, seed))).toBe(v.sig)
      expect(verify(fromHex(v.pub), msg, fromHex(v.sig))).toBe(true)
      expect(await noble.verifyAsync(fromHex(v.sig), msg, fromHex(v.pub))).toBe(true)
    })
  }

  it('agree on random keys and messages, and both reject a flipped bit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 256 }),
        fc.nat(511),
        async (seed, msg, bit) => {
          const pub = keyPairFromSeed(seed).publicKey
          const sig = sign(seed, msg)
          expect(toHex(sig)).toBe(toHex(await noble.signAsync(msg, seed)))
          expect(verify(pub, msg, sig)).toBe(true)
          const bad = new Uint8Array(sig)
          bad[bit >> 3]! ^= 1 << (bit & 7)
          expect(verify(pub, msg, bad)).toBe(false)
          expect(await noble.verifyAsync(bad, msg, pub)).toBe(false)
        },
      ),
      { numRuns: 50 },
    )
  })

  it('treats malformed keys and signatures as invalid instead of throwing', () => {
    expect(verify(new Uint8Array(31), new Uint8Array(), new Uint8Array(64))).toBe(false)
    expect(verify(new Uint8Array(32).fill(0xff), new Uint8Array(), new Uint8Array(64))).toBe(false)
    expect(verify(fromHex(VECTORS[0]!.pub), new Uint8Array(), new Uint8Array(63))).toBe(false)
  })
})
