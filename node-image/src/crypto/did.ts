import { base58btc } from 'multiformats/bases/base58'
import { PUBLIC_KEY_LENGTH } from './ed25519.ts'

/** A `did:key` for an Ed25519 public key (W3C did:key method, multicodec ed25519-pub 0xed). */
export type Did = `did:key:z${string}`

const ED25519_PUB_MULTICODEC = new Uint8Array([0xed, 0x01])

export class InvalidDidError extends Error {
  readonly code = 'INVALID_DID'
  constructor(message: string) {
    super(message)
    this.name = 'InvalidDidError'
  }
}

export function didFromPublicKey(publicKey: Uint8Array): Did {
  if (publicKey.length !== PUBLIC_KEY_LENGTH) throw new InvalidDidError('ed25519 public key must be 32 bytes')
  const bytes = new Uint8Array(2 + PUBLIC_KEY_LENGTH)
  bytes.set(ED25519_PUB_MULTICODEC, 0)
  bytes.set(publicKey, 2)
  return `did:key:${base58btc.encode(bytes)}` as Did
}

const cache = new Map<string, Uint8Array>()

/** Parses a did:key into its Ed25519 public key; throws InvalidDidError on anything else. */
export function publicKeyFromDid(did: string): Uint8Array {
  const hit = cache.get(did)
  if (hit !== undefined) return hit
  if (typeof did !== 'string' || !did.startsWith('did:key:z') || did.length > 64) {
    throw new InvalidDidError('expected a did:key with base58btc multibase')
  }
  let bytes: Uint8Array
  try {
    bytes = base58btc.decode(did.slice('did:key:'.length))
  } catch {
    throw new InvalidDidError('did:key is not valid base58btc')
  }
  if (bytes.length !== 2 + PUBLIC_KEY_LENGTH || bytes[0] !== 0xed || bytes[1] !== 0x01) {
    throw new InvalidDidError('did:key is not an ed25519-pub key')
  }
  const pub = bytes.slice(2)
  if (cache.size > 100_000) cache.clear()
  cache.set(did, pub)
  return pub
}

export function isDid(value: unknown): value is Did {
  if (typeof value !== 'string') return false
  try {
    publicKeyFromDid(value)
    return true
  } catch {
    return false
  }
}
