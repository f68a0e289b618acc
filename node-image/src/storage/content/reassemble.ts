import { createHash } from 'node:crypto'
import { sha256, toHex } from '../../crypto/hash.ts'
import { ReedSolomon } from '../erasure/index.ts'
import { ContentError } from './errors.ts'
import type { ContentManifest } from './manifest.ts'

/**
 * Retrieval: any k shards that verify against the manifest → the body.
 *
 * `fetch(index)` may return undefined (not available) or throw (peer error): either way that
 * shard is skipped. Fetched bytes are checked against the manifest's shard hash and length, and a
 * shard that fails is skipped too (and reported through `onBadShard`), so a lying peer costs a
 * retry, never a wrong body. Data shards are tried first (no decoding needed when all k arrive),
 * then parity, `concurrency` at a time.
 *
 * The body is streamed out shard by shard while being hashed; BODY_MISMATCH is thrown after the
 * last chunk if it does not match bodyHash (only possible if the creator signed an inconsistent
 * manifest, since every shard was verified). Consumers must treat the bytes as unverified until the
 * iteration completes without error. Memory: the k chosen shards (whole-shard fetches).
 */

export type ShardFetch = (index: number) => Promise<Uint8Array | undefined>

export interface ReassembleOptions {
  /** Shard fetches in flight at once (default k). */
  readonly concurrency?: number
  /** Called for each fetched shard that did not verify (or whose fetch threw). */
  readonly onBadShard?: (index: number, reason: unknown) => void
  /** Size of the chunks yielded (default 64 KiB). */
  readonly chunkSize?: number
}

/** Fetches and verifies shards until k are in hand; TOO_FEW_SHARDS if that is impossible. */
export async function gatherShards(
  manifest: ContentManifest,
  fetch: ShardFetch,
  options: ReassembleOptions = {},
): Promise<(Uint8Array | undefined)[]> {
  const { k, shards: descriptors, shardSize } = manifest
  const got: (Uint8Array | undefined)[] = descriptors.map(() => undefined)
  let have = 0
  let next = 0
  const concurrency = Math.max(1, options.concurrency ?? k)
  while (have < k && next < descriptors.length) {
    const batch: number[] = []
    while (batch.length < Math.min(concurrency, k - have) && next < descriptors.length) batch.push(next++)
    await Promise.all(
      batch.map(async (index) => {
        let bytes: Uint8Array | undefined
        try {
          bytes = await fetch(index)
        } catch (err) {
          options.onBadShard?.(index, err)
          return
        }
        if (bytes === undefined) return
        if (bytes.length !== shardSize || toHex(sha256(bytes)) !== descriptors[index]!.hash) {
          options.onBadShard?.(index, new ContentError('SHARD_MISMATCH', `shard ${index} does not verify`))
          return
        }
        if (have < k) {
          got[index] = bytes
          have++
        }
      }),
    )
  }
  if (have < k) {
    throw new ContentError('TOO_FEW_SHARDS', `only ${have} of the needed ${k} shards verified`)
  }
  return got
}

/** Streams the body out of any k verified shards; BODY_MISMATCH at the end if it is not the body. */
export async function* reassemble(
  manifest: ContentManifest,
  fetch: ShardFetch,
  options: ReassembleOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const { k, m, size, shardSize, bodyHash } = manifest
  const chunkSize = options.chunkSize ?? 64 * 1024
  const got = await gatherShards(manifest, fetch, options)
  const data =
    shardSize === 0
      ? []
      : got.slice(0, k).every((s) => s !== undefined)
        ? (got.slice(0, k) as Uint8Array[])
        : new ReedSolomon(k, m).reconstructData(got)
  const hasher = createHash('sha256')
  let remaining = size
  for (const shard of data) {
    for (let at = 0; at < shard.length && remaining > 0; at += chunkSize) {
      const piece = shard.subarray(at, at + Math.min(chunkSize, remaining))
      remaining -= piece.length
      hasher.update(piece)
      yield piece
    }
  }
  if (hasher.digest('hex') !== bodyHash) {
    throw new ContentError('BODY_MISMATCH', 'reassembled body does not match the manifest’s bodyHash')
  }
}

/** The whole body in one buffer (small content). */
export async function reassembleToBuffer(
  manifest: ContentManifest,
  fetch: ShardFetch,
  options: ReassembleOptions = {},
): Promise<Uint8Array> {
  const out = new Uint8Array(manifest.size)
  let at = 0
  for await (const piece of reassemble(manifest, fetch, options)) {
    out.set(piece, at)
    at += piece.length
  }
  return out
}
