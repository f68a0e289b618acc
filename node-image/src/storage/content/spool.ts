import { createHash } from 'node:crypto'
import { open, rm } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { ReedSolomon } from '../erasure/index.ts'
import { ContentError } from './errors.ts'
import { readExactly as readFully, writeAll, writevAll } from '../../util/fs.ts'
import type { ContentManifest } from './manifest.ts'

/**
 * Retrieval and repair with bounded memory: shards are downloaded to files in a work directory
 * (hashed on the way; a shard that does not match the manifest is deleted and skipped), missing
 * shards are rebuilt stripe by stripe from any k verified ones, and the body is read back from the
 * data shard files. Memory is (k + m) × STRIPE bytes whatever the content size.
 */

/** A shard's bytes as a stream, or undefined if this source does not have it; may throw. */
export type ShardStreamSource = (index: number) => Promise<AsyncIterable<Uint8Array> | undefined>

const STRIPE = 1024 * 1024

export function shardFile(dir: string, index: number): string {
  return join(dir, `shard-${index}`)
}

/** Downloads one shard to `dir`, verified; false (and no file) if it is absent or does not verify. */
export async function spoolShard(
  manifest: ContentManifest,
  index: number,
  source: ShardStreamSource,
  dir: string,
  onBadShard?: (index: number, reason: unknown) => void,
): Promise<boolean> {
  const path = shardFile(dir, index)
  let fh: FileHandle | undefined
  try {
    const chunks = await source(index)
    if (chunks === undefined) return false
    fh = await open(path, 'w', 0o600)
    const hasher = createHash('sha256')
    let length = 0
    // Network pieces (~64 KiB, never reused by the transport) are written ~1 MiB per call.
    let batch: Uint8Array[] = []
    let batched = 0
    for await (const c of chunks) {
      length += c.length
      if (length > manifest.shardSize) throw new ContentError('SHARD_MISMATCH', `shard ${index} is too long`)
      hasher.update(c)
      batch.push(c)
      batched += c.length
      if (batched >= STRIPE) {
        await writevAll(fh, batch, batched)
        batch = []
        batched = 0
      }
    }
    if (batched > 0) await writevAll(fh, batch, batched)
    if (length !== manifest.shardSize || hasher.digest('hex') !== manifest.shards[index]?.hash) {
      throw new ContentError('SHARD_MISMATCH', `shard ${index} does not match the manifest`)
    }
    await fh.close()
    return true
  } catch (err) {
    await fh?.close().catch(() => undefined)
    await rm(path, { force: true })
    onBadShard?.(index, err)
    return false
  }
}

/**
 * Spools verified shards into `dir` until k are there, trying `order` (default: data shards first,
 * then parity), `concurrency` at a time. Returns the indexes held; TOO_FEW_SHARDS if fewer than k.
 */
export async function gatherShardFiles(
  manifest: ContentManifest,
  source: ShardStreamSource,
  dir: string,
  opts: { order?: readonly number[]; concurrency?: number; onBadShard?: (i: number, r: unknown) => void } = {},
): Promise<number[]> {
  const order = opts.order ?? manifest.shards.map((_, i) => i)
  const held: number[] = []
  let next = 0
  const concurrency = Math.max(1, opts.concurrency ?? manifest.k)
  while (held.length < manifest.k && next < order.length) {
    const batch = order.slice(next, next + Math.min(concurrency, manifest.k - held.length))
    next += batch.length
    const ok = await Promise.all(batch.map((i) => spoolShard(manifest, i, source, dir, opts.onBadShard)))
    batch.forEach((i, j) => {
      if (ok[j] === true) held.push(i)
    })
  }
  if (held.length < manifest.k) {
    throw new ContentError('TOO_FEW_SHARDS', `only ${held.length} of the needed ${manifest.k} shards verified`)
  }
  return held.sort((a, b) => a - b)
}

/**
 * Rebuilds shards `targets` into `dir` from k of the spooled shards `held`, stripe by stripe, and
 * checks each rebuilt shard against the manifest (a creator who signed inconsistent hashes gets
 * BODY_MISMATCH rather than a silently different shard).
 */
export async function rebuildShardFiles(
  manifest: ContentManifest,
  held: readonly number[],
  targets: readonly number[],
  dir: string,
): Promise<void> {
  const todo = targets.filter((t) => !held.includes(t))
  if (todo.length === 0) return
  const { k, m, shardSize } = manifest
  const sources = held.slice(0, k)
  if (sources.length < k)
    throw new ContentError('TOO_FEW_SHARDS', `need ${k} shards to rebuild, have ${sources.length}`)
  const ins = await Promise.all(sources.map((i) => open(shardFile(dir, i), 'r')))
  const outs: FileHandle[] = []
  try {
    for (const t of todo) outs.push(await open(shardFile(dir, t), 'w', 0o600))
    const hashers = todo.map(() => createHash('sha256'))
    const rs = new ReedSolomon(k, m)
    const buffers = Array.from({ length: k + m }, () => new Uint8Array(Math.min(STRIPE, Math.max(1, shardSize))))
    const present = Array.from({ length: k + m }, (_, i) => sources.includes(i))
    for (let offset = 0; offset < shardSize; offset += STRIPE) {
      const len = Math.min(STRIPE, shardSize - offset)
      const views = buffers.map((b) => b.subarray(0, len))
      await Promise.all(sources.map((s, j) => readExactly(ins[j]!, views[s]!, offset)))
      rs.reconstruct(views, { present })
      for (const [j, t] of todo.entries()) {
        hashers[j]!.update(views[t]!)
        await writeAll(outs[j]!, views[t]!)
      }
    }
    for (const [j, t] of todo.entries()) {
      if (hashers[j]!.digest('hex') !== manifest.shards[t]!.hash) {
        throw new ContentError('BODY_MISMATCH', `rebuilt shard ${t} does not match the manifest`)
      }
    }
  } finally {
    await Promise.allSettled([...ins, ...outs].map((fh) => fh.close()))
  }
}

/**
 * The body read back from the data shard files in `dir`. The body hash is checked in a first pass,
 * so nothing is yielded unless the whole body is the one the manifest names.
 */
export async function bodyFromShardFiles(manifest: ContentManifest, dir: string): Promise<AsyncIterable<Uint8Array>> {
  /** The body in pieces: into `reuse` (the hashing pass) or fresh buffers the consumer may keep. */
  const pieces = async function* (reuse?: Uint8Array): AsyncGenerator<Uint8Array> {
    let remaining = manifest.size
    for (let i = 0; i < manifest.k && remaining > 0; i++) {
      const fh = await open(shardFile(dir, i), 'r')
      try {
        for (let at = 0; at < manifest.shardSize && remaining > 0;) {
          const n = Math.min(STRIPE, manifest.shardSize - at, remaining)
          const buf = reuse ? reuse.subarray(0, n) : new Uint8Array(n)
          await readExactly(fh, buf, at)
          at += buf.length
          remaining -= buf.length
          yield buf
        }
      } finally {
        await fh.close()
      }
    }
  }
  const hasher = createHash('sha256')
  for await (const p of pieces(new Uint8Array(Math.min(STRIPE, Math.max(1, manifest.shardSize))))) hasher.update(p)
  if (hasher.digest('hex') !== manifest.bodyHash) {
    throw new ContentError('BODY_MISMATCH', 'reassembled body does not match the manifest’s bodyHash')
  }
  return pieces()
}

/** A spooled shard must be as long as the manifest says. */
function readExactly(fh: FileHandle, into: Uint8Array, position: number): Promise<void> {
  return readFully(fh, into, position, () => new ContentError('TOO_FEW_SHARDS', 'a spooled shard ended early'))
}
