/** Test helpers for storage/content tests. */
import { NodeIdentity } from '../../crypto/identity.ts'

export const creator = NodeIdentity.fromSeed(new Uint8Array(32).fill(7))
export const other = NodeIdentity.fromSeed(new Uint8Array(32).fill(9))

/** Deterministic pseudo-random bytes (xorshift32), fast enough for MiBs. */
export function pseudoRandomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

export function opts(k: number, m: number, segmentSize = 64) {
  return { k, m, segmentSize, signer: creator.signer, creator: creator.did, createdAtMs: 1_700_000_000_000 }
}

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of it) parts.push(p)
  return new Uint8Array(Buffer.concat(parts))
}
