import { createPrivateKey, createPublicKey, randomBytes, sign as nodeSign, verify as nodeVerify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'

// node:crypto verifies Ed25519 ~12x faster than @noble/ed25519 here (DESIGN §3), so the hot paths
// use it; ed25519.test.ts proves both agree on RFC 8032 vectors.

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

function publicKeyObject(pub: Uint8Array): KeyObject {
  if (pub.length !== PUBLIC_KEY_LENGTH) throw new TypeError(`ed25519 public key must be ${PUBLIC_KEY_LENGTH} bytes`)
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' })
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

// Parsing a public key costs about as much as a verification, and the same senders and witnesses
// sign again and again, so parsed keys are cached (bounded: insertion-order eviction).
const KEY_CACHE_LIMIT = 65_536
const keyCache = new Map<string, KeyObject>()

function cachedPublicKey(pub: Uint8Array): KeyObject {
  const id = Buffer.from(pub).toString('base64')
  let key = keyCache.get(id)
  if (key === undefined) {
    key = publicKeyObject(pub)
    if (keyCache.size >= KEY_CACHE_LIMIT) {
      const oldest = keyCache.keys().next()
      if (oldest.done !== true) keyCache.delete(oldest.value)
    }
    keyCache.set(id, key)
  }
  return key
}

/** Verifies an Ed25519 signature; any malformed input is simply "not valid", never a throw. */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_LENGTH || signature.length !== SIGNATURE_LENGTH) return false
  try {
    return nodeVerify(null, message, cachedPublicKey(publicKey), signature)
  } catch {
    return false
  }
}

export function sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(nodeSign(null, message, privateKeyObject(seed)))
}
