import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { toHex } from '../../crypto/hash.ts'
import { ReedSolomon } from '../erasure/index.ts'
import type { ShardDescriptor } from './manifest.ts'
import { leafHash, rootOfLeaves, segmentLeaves } from './merkle.ts'
import { readExactly as readFully, writevAll } from '../../util/fs.ts'

/**
 * Publishing a streamed body with bounded memory, in three passes over a spool file and no shard
 * files:
 *
 *  1. spoolBody: the body goes to a temp file as it arrives (hashed on the way). The bodyHash and
 *     the size (hence shardSize) are only known after the last byte, and data shard i is the byte
 *     range [i·shardSize, (i+1)·shardSize) of the body, so it has to land somewhere first. No
 *     fsync: the file is scratch, gone with the request if the node dies, and what a publish
 *     promises is that the SSNs fsynced their shards before acknowledging them.
 *  2. describeSpool: stripe by stripe (chunks of C bytes at the same offset of every shard), the
 *     data chunks are read, the parity chunks computed, and every shard is hashed with its Merkle
 *     leaves: that gives the shard descriptors, hence the manifest and ContentID, which placement
 *     (rendezvous on the ContentID) and the SSNs' checks need before any shard moves. Its (k + m)·C
 *     buffers are reused for every stripe.
 *  3. spoolStripes: the same stripes again, each in fresh buffers, for the uploads to stream out
 *     as they are produced (encode and upload pipelined). Re-encoding costs less than writing
 *     shard files and reading them back (RS is ~0.05 ns per byte on the native kernel).
 */

export interface SpooledBody {
  readonly path: string
  readonly size: number
  readonly bodyHash: string
}

/** Bytes gathered per write call while spooling (request bodies arrive in ~64 KiB pieces). */
const WRITE_BATCH_BYTES = 1024 * 1024

/**
 * Writes `source` to a new file at `path`, hashing it. The pieces are held (not copied) until
 * their batch is written, so the source must not reuse a buffer after yielding it (Node's request
 * streams and the shard protocol do not).
 */
export async function spoolBody(source: AsyncIterable<Uint8Array>, path: string): Promise<SpooledBody> {
  const fh = await open(path, 'wx', 0o600)
  try {
    const hasher = createHash('sha256')
    let size = 0
    let batch: Uint8Array[] = []
    let batched = 0
    for await (const piece of source) {
      hasher.update(piece)
      size += piece.length
      batch.push(piece)
      batched += piece.length
      if (batched >= WRITE_BATCH_BYTES) {
        await writevAll(fh, batch, batched)
        batch = []
        batched = 0
      }
    }
    if (batched > 0) await writevAll(fh, batch, batched)
    return { path, size, bodyHash: hasher.digest('hex') }
  } finally {
    await fh.close()
  }
}

/** Shard size of a body of `size` bytes cut into k data shards. */
function shardSizeOf(size: number, k: number): number {
  return Math.ceil(size / k)
}

/**
 * The stripes of a spooled body: for each offset, `buffers(len)` gives k views of length `len`,
 * which are filled with data shard i's bytes there (zero past the body's end) and yielded.
 */
async function* dataStripes(
  body: SpooledBody,
  k: number,
  chunk: number,
  buffers: (len: number) => Uint8Array[],
): AsyncGenerator<Uint8Array[]> {
  const shardSize = shardSizeOf(body.size, k)
  const fh = await open(body.path, 'r')
  try {
    for (let offset = 0; offset < shardSize; offset += chunk) {
      const len = Math.min(chunk, shardSize - offset)
      const views = buffers(len)
      await Promise.all(
        views.map(async (view, i) => {
          const start = i * shardSize + offset
          const have = Math.max(0, Math.min(len, body.size - start))
          view.fill(0, have)
          if (have > 0) await readExactly(fh, view.subarray(0, have), start)
        }),
      )
      yield views
    }
  } finally {
    await fh.close()
  }
}

/** Pass 2: the k + m shard descriptors (hash and Merkle root) of a spooled body. */
export async function describeSpool(
  body: SpooledBody,
  k: number,
  m: number,
  segmentSize: number,
  chunk: number,
): Promise<ShardDescriptor[]> {
  const total = k + m
  const rs = new ReedSolomon(k, m)
  const pool = Array.from({ length: total }, () => new Uint8Array(chunk))
  const hashers: Hash[] = pool.map(() => createHash('sha256'))
  const leaves: Uint8Array[][] = pool.map(() => [])
  for await (const data of dataStripes(body, k, chunk, (len) => pool.slice(0, k).map((b) => b.subarray(0, len)))) {
    const len = data[0]!.length
    const views = [...data, ...pool.slice(k).map((b) => b.subarray(0, len))]
    rs.encodeInto(data, views.slice(k))
    for (let s = 0; s < total; s++) {
      hashers[s]!.update(views[s]!)
      for (const leaf of segmentLeaves(views[s]!, segmentSize)) leaves[s]!.push(leaf)
    }
  }
  return hashers.map((h, s) => ({
    hash: h.digest('hex'),
    root: toHex(rootOfLeaves(leaves[s]!.length > 0 ? leaves[s]! : [leafHash(new Uint8Array())])),
  }))
}

/**
 * Pass 3: the stripes again, as arrays of k + m chunks in fresh buffers (the consumer may hand
 * them to the network, which keeps references). Only the chunks of shards in `want` are yielded
 * (others are undefined), so a retry of a few shards costs their share only.
 */
export async function* spoolStripes(
  body: SpooledBody,
  k: number,
  m: number,
  chunk: number,
  want: ReadonlySet<number>,
): AsyncGenerator<(Uint8Array | undefined)[]> {
  const rs = new ReedSolomon(k, m)
  const needParity = [...want].some((i) => i >= k)
  // Data chunks nobody sends are only encoding inputs: those buffers are reused.
  const scratch = Array.from({ length: k }, (_, i) => (want.has(i) ? undefined : new Uint8Array(chunk)))
  const fresh = (len: number): Uint8Array[] =>
    Array.from({ length: k }, (_, i) => scratch[i]?.subarray(0, len) ?? new Uint8Array(len))
  for await (const data of dataStripes(body, k, chunk, fresh)) {
    const out: (Uint8Array | undefined)[] = data.map((d, i) => (want.has(i) ? d : undefined))
    if (needParity) {
      const parity = Array.from({ length: m }, () => new Uint8Array(data[0]!.length))
      rs.encodeInto(data, parity)
      parity.forEach((p, j) => out.push(want.has(k + j) ? p : undefined))
    } else {
      for (let j = 0; j < m; j++) out.push(undefined)
    }
    yield out
  }
}

function readExactly(fh: FileHandle, into: Uint8Array, position: number): Promise<void> {
  return readFully(fh, into, position, () => new Error('spool file ended early'))
}
