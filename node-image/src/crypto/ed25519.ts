import { createPrivateKey, createPublicKey, randomBytes, sign as nodeSign } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import * as noble from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import { loadNativeEd25519 } from './ed25519-native.ts'
import type { NativeEd25519 } from './ed25519-native.ts'

// Signing uses node:crypto (OpenSSL, ~30k signatures/s here); verification the native ZIP-215
// verifier (see verify). ed25519.test.ts proves all of them agree on RFC 8032 vectors.
noble.hashes.sha512 = sha512

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export const PUBLIC_KEY_LENGTH = 32
export const SEED_LENGTH = 32
export const SIGNATURE_LENGTH = 64

export interface Ed25519KeyPair {
  /** 32-byte RFC 8032 secret seed. */
  readonly seed: Uint8Array
  readonly publicKey: Uint8Array
}

function privateKeyObject(seed: Uint8Array): KeyObject {
  if (seed.length !== SEED_LENGTH) throw new TypeError(`ed25519 seed must be ${SEED_LENGTH} bytes`)
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
}

export function keyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  const spki = createPublicKey(privateKeyObject(seed)).export({ format: 'der', type: 'spki' })
  return { seed: new Uint8Array(seed), publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)) }
}

export function generateKeyPair(): Ed25519KeyPair {
  return keyPairFromSeed(new Uint8Array(randomBytes(SEED_LENGTH)))
}

/** A signer keeps its KeyObject so signing does not re-parse the key each time. */
export class Signer {
  readonly publicKey: Uint8Array
  readonly #key: KeyObject
  constructor(pair: Ed25519KeyPair) {
    this.publicKey = pair.publicKey
    this.#key = privateKeyObject(pair.seed)
  }
  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(nodeSign(null, message, this.#key))
  }
}

/** One signature to check. */
export interface SignatureCheck {
  readonly publicKey: Uint8Array
  readonly message: Uint8Array
  readonly signature: Uint8Array
}

export interface Verifier {
  /** 'native-zip215' (the Rust addon) or 'noble-zip215' (the JavaScript fallback). */
  readonly backend: 'native-zip215' | 'noble-zip215'
  /** One signature; any malformed input is simply "not valid", never a throw. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
  /** Many signatures at once (one batch equation when all are good): a verdict per item. */
  verifyBatch(checks: readonly SignatureCheck[]): boolean[]
}

function wellFormed(c: SignatureCheck): boolean {
  return c.publicKey.length === PUBLIC_KEY_LENGTH && c.signature.length === SIGNATURE_LENGTH
}

function nobleVerify(c: SignatureCheck): boolean {
  try {
    return noble.verify(c.signature, c.message, c.publicKey, { zip215: true })
  } catch {
    return false
  }
}

function pack(checks: readonly SignatureCheck[], ok: readonly boolean[]): Uint8Array {
  let size = 0
  for (const [i, c] of checks.entries()) if (ok[i]) size += 100 + c.message.length
  const packed = new Uint8Array(size)
  const view = new DataView(packed.buffer)
  let at = 0
  for (const [i, c] of checks.entries()) {
    if (!ok[i]) continue
    packed.set(c.publicKey, at)
    packed.set(c.signature, at + PUBLIC_KEY_LENGTH)
    view.setUint32(at + 96, c.message.length, true)
    packed.set(c.message, at + 100)
    at += 100 + c.message.length
  }
  return packed
}

/**
 * Both verifiers apply the ZIP-215 rules, so every node accepts exactly the same signatures
 * whether it checks them alone or in a batch, with or without the addon (ADR 0006). The native
 * one is ~3x faster than node:crypto alone and ~5x in batches; the fallback ~10x slower.
 */
export function createVerifier(native: NativeEd25519 | undefined): Verifier {
  if (!native) {
    return {
      backend: 'noble-zip215',
      verify: (publicKey, message, signature) => {
        const c = { publicKey, message, signature }
        return wellFormed(c) && nobleVerify(c)
      },
      verifyBatch: (checks) => checks.map((c) => wellFormed(c) && nobleVerify(c)),
    }
  }
  return {
    backend: 'native-zip215',
    verify: (publicKey, message, signature) =>
      wellFormed({ publicKey, message, signature }) && native.verify(publicKey, message, signature),
    verifyBatch: (checks) => {
      const ok = checks.map(wellFormed)
      const verdicts = native.verifyPacked(pack(checks, ok))
      let j = 0
      return ok.map((good) => good && verdicts[j++] === 1)
    },
  }
}

const verifier = createVerifier(loadNativeEd25519())

/** The verifier this process runs (logged at node start). */
export const ED25519_BACKEND = verifier.backend

/** Verifies an Ed25519 signature (ZIP-215); any malformed input is simply "not valid", never a throw. */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return verifier.verify(publicKey, message, signature)
}

/** Verifies many signatures at once (one batch equation when all are good): a verdict per item. */
export function verifyBatch(checks: readonly SignatureCheck[]): boolean[] {
  return verifier.verifyBatch(checks)
}

export function sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(nodeSign(null, message, privateKeyObject(seed)))
}
