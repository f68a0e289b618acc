import { describe, expect, it } from 'vitest'
import * as noble from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { createPublicKey, verify as nodeVerify } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { createVerifier, ED25519_BACKEND, keyPairFromSeed, sign, verify } from './ed25519.ts'
import type { SignatureCheck } from './ed25519.ts'
import { loadNativeEd25519 } from './ed25519-native.ts'
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

// The native addon is built by `make setup` (scripts/build-native.sh); these tests need it.
const native = loadNativeEd25519()
const fallback = createVerifier(undefined)
const fast = createVerifier(native)

function check(seed: Uint8Array, msg: Uint8Array): SignatureCheck {
  return { publicKey: keyPairFromSeed(seed).publicKey, message: msg, signature: sign(seed, msg) }
}

/** OpenSSL's cofactorless RFC 8032 check, to show where it and ZIP-215 part ways. */
function opensslVerify(c: SignatureCheck): boolean {
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), c.publicKey])
  return nodeVerify(null, c.message, createPublicKey({ key: spki, format: 'der', type: 'spki' }), c.signature)
}

// A point of order 8 (from the ZIP-215 / "Taming the many EdDSAs" test set). With R = identity
// and S = 0, the cofactored equation [8]([S]B - R - [k]A) = 0 holds for every message.
const ORDER_8_POINT = fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a')
const IDENTITY_R_ZERO_S = fromHex(`01${'00'.repeat(31)}${'00'.repeat(32)}`)
// The group order L, little-endian: S + L is the classic malleated signature.
const L = (1n << 252n) + 27742317777372353535851937790883648493n

function addL(sig: Uint8Array): Uint8Array {
  let s = 0n
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!)
  s += L
  const out = new Uint8Array(sig)
  for (let i = 32; i < 64; i++) {
    out[i] = Number(s & 0xffn)
    s >>= 8n
  }
  return out
}

describe('ZIP-215 verification: native addon and @noble/ed25519 fallback accept exactly the same signatures', () => {
  it('the native verifier was built and is the one nodes use', () => {
    expect(native).toBeDefined()
    expect(ED25519_BACKEND).toBe('native-zip215')
    expect(fallback.backend).toBe('noble-zip215')
  })

  it('RFC 8032 vectors verify under both, and a changed message fails under both', () => {
    for (const v of VECTORS) {
      const c = { publicKey: fromHex(v.pub), message: fromHex(v.msg), signature: fromHex(v.sig) }
      for (const ver of [fast, fallback]) {
        expect(ver.verify(c.publicKey, c.message, c.signature)).toBe(true)
        expect(ver.verifyBatch([c])).toEqual([true])
        expect(ver.verify(c.publicKey, new Uint8Array([...c.message, 1]), c.signature)).toBe(false)
      }
    }
  })

  it('small-order key with R = identity and S = 0: both accept (cofactored rule), for every message', () => {
    const tried = ['', '00', '72', 'af82', 'deadbeef', '01020304050607'].map(fromHex)
    let opensslRejected = 0
    for (const message of tried) {
      const c = { publicKey: ORDER_8_POINT, message, signature: IDENTITY_R_ZERO_S }
      expect(fast.verify(c.publicKey, message, c.signature)).toBe(true)
      expect(fallback.verify(c.publicKey, message, c.signature)).toBe(true)
      expect(fast.verifyBatch([c])).toEqual([true])
      if (!opensslVerify(c)) opensslRejected++
    }
    // The cofactorless check accepts only when 8 divides the challenge: why events never use it.
    expect(opensslRejected).toBeGreaterThan(0)
  })

  it('a malleated signature (S + L) is rejected by both, alone and in a batch', () => {
    const c = check(new Uint8Array(32).fill(9), fromHex('c0ffee'))
    const m = { ...c, signature: addL(c.signature) }
    for (const ver of [fast, fallback]) {
      expect(ver.verify(m.publicKey, m.message, m.signature)).toBe(false)
      expect(ver.verifyBatch([c, m, c])).toEqual([true, false, true])
    }
  })

  it('a batch names exactly its bad items (forged, wrong key, truncated, garbage key), property-checked', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            seed: fc.uint8Array({ minLength: 32, maxLength: 32 }),
            msg: fc.uint8Array({ maxLength: 300 }),
            fault: fc.constantFrom('none', 'none', 'none', 'flip', 'other-key', 'short-sig', 'garbage-key', 'long-key'),
            bit: fc.nat(511),
          }),
          { maxLength: 24 },
        ),
        (items) => {
          const checks = items.map(({ seed, msg, fault, bit }): SignatureCheck => {
            const c = check(seed, msg)
            switch (fault) {
              case 'flip': {
                const sig = new Uint8Array(c.signature)
                sig[bit >> 3]! ^= 1 << (bit & 7)
                return { ...c, signature: sig }
              }
              case 'other-key':
                return { ...c, publicKey: keyPairFromSeed(new Uint8Array(32).fill(seed[0]! ^ 1)).publicKey }
              case 'short-sig':
                return { ...c, signature: c.signature.subarray(0, 63) }
              case 'garbage-key':
                return { ...c, publicKey: new Uint8Array(32).fill(0xff) }
              case 'long-key':
                return { ...c, publicKey: new Uint8Array([...c.publicKey, 0]) }
              default:
                return c
            }
          })
          const alone = checks.map((c) => fallback.verify(c.publicKey, c.message, c.signature))
          expect(fast.verifyBatch(checks)).toEqual(alone)
          expect(fallback.verifyBatch(checks)).toEqual(alone)
          expect(checks.map((c) => fast.verify(c.publicKey, c.message, c.signature))).toEqual(alone)
          for (const [i, it] of items.entries()) if (it.fault === 'none') expect(alone[i]).toBe(true)
        },
      ),
      { numRuns: 40 },
    )
  })

  it('an addon path that is not the addon is a clear error with a stable code', () => {
    const path = `${process.env.TMPDIR ?? '/tmp'}/echonet-not-an-addon-${process.pid}.node`
    writeFileSync(path, 'not a shared object')
    expect(() => loadNativeEd25519(path)).toThrow(expect.objectContaining({ code: 'ED25519_ADDON_UNLOADABLE' }))
  })
})
