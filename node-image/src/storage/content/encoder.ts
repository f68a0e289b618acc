import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { didFromPublicKey } from '../../crypto/did.ts'
import type { Did } from '../../crypto/did.ts'
import type { Signer } from '../../crypto/ed25519.ts'
import { sha256, toHex } from '../../crypto/hash.ts'
import { ReedSolomon, splitBody } from '../erasure/index.ts'
import { ContentError } from './errors.ts'
import {
  contentId,
  DEFAULT_SEGMENT_SIZE,
  isPowerOfTwo,
  MAX_SEGMENT_SIZE,
  MAX_TOTAL_SHARDS,
  MIN_SEGMENT_SIZE,
  signManifest,
} from './manifest.ts'
import type { ContentManifest, ShardDescriptor } from './manifest.ts'
import { leafHash, rootOfLeaves, segmentLeaves, shardRoot } from './merkle.ts'

/**
 * Publishing: body → k data + m parity shards + signed manifest.
 *
 * Two entry points with one layout:
 *  - a Uint8Array body is encoded in memory (small content; shards returned as buffers);
 *  - an AsyncIterable body is encoded with bounded memory, to files. The bodyHash (and the size,
 *    hence shardSize) are only known after the last byte, and data shard i is the byte range
 *    [i·shardSize, (i+1)·shardSize) of the body, so the stream is first spooled to a temp file
 *    (hashed on the way, fsynced). The file is then encoded stripe by stripe: for each offset o
 *    of a chunk of C bytes (C = max(segmentSize, 64 KiB), a multiple of segmentSize), read bytes
 *    [i·shardSize + o, +C) for each data shard i (zero past the end of the body), compute the m
 *    parity chunks (RS works per byte position), and append each of the k + m chunks to its shard
 *    file while hashing it and its segments. Working buffers are (k + m)·C bytes whatever the body
 *    size; besides them only the segment leaf hashes are kept (32 bytes per segment per shard,
 *    e.g. 6 × 4096 × 32 B = 768 KiB for a 1 GiB body at 4+2 with 64 KiB segments). Shard files
 *    are fsynced before returning; the spool file is deleted.
 */

export interface EncodeOptions {
  readonly k: number
  readonly m: number
  /** Power of two in [64 B, 16 MiB]; default 64 KiB. */
  readonly segmentSize?: number
  readonly signer: Signer
  /** Must be the signer's DID. */
  readonly creator: Did
  /** Default Date.now(). */
  readonly createdAtMs?: number
}

export interface StreamEncodeOptions extends EncodeOptions {
  /** Directory under which a fresh work directory is created; default os.tmpdir(). */
  readonly tmpDir?: string
  /** Stripe chunk in bytes (rounded up to a multiple of segmentSize); default 64 KiB. */
  readonly chunkSize?: number
}

export interface EncodedContent {
  readonly cid: string
  readonly manifest: ContentManifest
  /** k + m shards, index order. */
  readonly shards: Uint8Array[]
}

export interface EncodedContentFiles {
  readonly cid: string
  readonly manifest: ContentManifest
  /** k + m shard files, index order, inside `dir`. */
  readonly shardPaths: string[]
  /** The work directory; the caller owns it and removes it with cleanup() once shards are stored. */
  readonly dir: string
  /** Bytes of working buffers the stripe encoder allocated ((k + m) × chunk), for tests/metrics. */
  readonly workingBufferBytes: number
  cleanup(): Promise<void>
}

const DEFAULT_CHUNK = 64 * 1024

function checkOptions(o: EncodeOptions): number {
  const { k, m } = o
  const segmentSize = o.segmentSize ?? DEFAULT_SEGMENT_SIZE
  if (!Number.isInteger(k) || !Number.isInteger(m) || k < 1 || m < 1 || k + m > MAX_TOTAL_SHARDS) {
    throw new ContentError('INVALID_PARAMETERS', `need integers k >= 1, m >= 1, k + m <= 256; got k=${k} m=${m}`)
  }
  if (!isPowerOfTwo(segmentSize) || segmentSize < MIN_SEGMENT_SIZE || segmentSize > MAX_SEGMENT_SIZE) {
    throw new ContentError('INVALID_PARAMETERS', `segmentSize must be a power of two in [64, 16 MiB]`)
  }
  if (didFromPublicKey(o.signer.publicKey) !== o.creator) {
    throw new ContentError('INVALID_PARAMETERS', 'creator is not the signer’s DID')
  }
  return segmentSize
}

function finish(
  o: EncodeOptions,
  segmentSize: number,
  bodyHash: string,
  size: number,
  shards: ShardDescriptor[],
): { cid: string; manifest: ContentManifest } {
  const manifest = signManifest(
    {
      version: 1,
      bodyHash,
      size,
      k: o.k,
      m: o.m,
      shardSize: Math.ceil(size / o.k),
      segmentSize,
      shards,
      creator: o.creator,
      createdAtMs: o.createdAtMs ?? Date.now(),
    },
    o.signer,
  )
  return { cid: contentId(manifest), manifest }
}

export function encodeContent(body: Uint8Array, options: EncodeOptions): EncodedContent
export function encodeContent(
  body: AsyncIterable<Uint8Array>,
  options: StreamEncodeOptions,
): Promise<EncodedContentFiles>
export function encodeContent(
  body: Uint8Array | AsyncIterable<Uint8Array>,
  options: StreamEncodeOptions,
): EncodedContent | Promise<EncodedContentFiles> {
  return body instanceof Uint8Array ? encodeInMemory(body, options) : encodeStream(body, options)
}

function encodeInMemory(body: Uint8Array, o: EncodeOptions): EncodedContent {
  const segmentSize = checkOptions(o)
  const data = splitBody(body, o.k).shards.map((s) => s.slice())
  const shards = data.length > 0 && data[0]!.length > 0 ? [...data, ...new ReedSolomon(o.k, o.m).encode(data)] : []
  while (shards.length < o.k + o.m) shards.push(new Uint8Array())
  const descriptors = shards.map((s) => ({ hash: toHex(sha256(s)), root: toHex(shardRoot(s, segmentSize)) }))
  return { ...finish(o, segmentSize, toHex(sha256(body)), body.length, descriptors), shards }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    const { bytesWritten } = await fh.write(bytes, at, bytes.length - at)
    at += bytesWritten
  }
}

async function readExactly(fh: FileHandle, into: Uint8Array, position: number): Promise<void> {
  for (let at = 0; at < into.length;) {
    const { bytesRead } = await fh.read(into, at, into.length - at, position + at)
    if (bytesRead === 0) throw new Error('spool file ended early')
    at += bytesRead
  }
}

async function encodeStream(source: AsyncIterable<Uint8Array>, o: StreamEncodeOptions): Promise<EncodedContentFiles> {
  const segmentSize = checkOptions(o)
  const total = o.k + o.m
  const chunk = Math.ceil(Math.max(o.chunkSize ?? DEFAULT_CHUNK, segmentSize) / segmentSize) * segmentSize
  const dir = await mkdtemp(join(o.tmpDir ?? tmpdir(), 'echonet-encode-'))
  const cleanup = () => rm(dir, { recursive: true, force: true })
  const handles: FileHandle[] = []
  try {
    // 1. Spool, hashing and counting.
    const spoolPath = join(dir, 'body')
    const spool = await open(spoolPath, 'wx+', 0o600)
    handles.push(spool)
    const bodyHasher = createHash('sha256')
    let size = 0
    for await (const piece of source) {
      bodyHasher.update(piece)
      size += piece.length
      await writeAll(spool, piece)
    }
    await spool.sync()
    const bodyHash = bodyHasher.digest('hex')

    // 2. Stripe by stripe into k + m shard files.
    const shardSize = Math.ceil(size / o.k)
    const shardPaths = Array.from({ length: total }, (_, i) => join(dir, `shard-${i}`))
    const outs: FileHandle[] = []
    for (const p of shardPaths) {
      const fh = await open(p, 'wx', 0o600)
      handles.push(fh)
      outs.push(fh)
    }
    const hashers: Hash[] = shardPaths.map(() => createHash('sha256'))
    const leaves: Uint8Array[][] = shardPaths.map(() => [])
    const buffers = Array.from({ length: total }, () => new Uint8Array(chunk))
    const rs = new ReedSolomon(o.k, o.m)
    for (let offset = 0; offset < shardSize; offset += chunk) {
      const len = Math.min(chunk, shardSize - offset)
      const views = buffers.map((b) => b.subarray(0, len))
      for (let i = 0; i < o.k; i++) {
        const view = views[i]!
        const start = i * shardSize + offset
        const have = Math.max(0, Math.min(len, size - start))
        view.fill(0, have)
        if (have > 0) await readExactly(spool, view.subarray(0, have), start)
      }
      rs.encodeInto(views.slice(0, o.k), views.slice(o.k))
      for (let s = 0; s < total; s++) {
        const view = views[s]!
        hashers[s]!.update(view)
        leaves[s]!.push(...segmentLeaves(view, segmentSize))
        await writeAll(outs[s]!, view)
      }
    }
    const shards: ShardDescriptor[] = []
    for (let s = 0; s < total; s++) {
      await outs[s]!.sync()
      const shardLeaves = leaves[s]!.length > 0 ? leaves[s]! : [leafHash(new Uint8Array())]
      shards.push({ hash: hashers[s]!.digest('hex'), root: toHex(rootOfLeaves(shardLeaves)) })
    }
    for (const fh of handles.splice(0)) await fh.close()
    await rm(spoolPath, { force: true })
    return {
      ...finish(o, segmentSize, bodyHash, size, shards),
      shardPaths,
      dir,
      workingBufferBytes: total * chunk,
      cleanup,
    }
  } catch (err) {
    await Promise.allSettled(handles.map((fh) => fh.close()))
    await cleanup()
    throw err
  }
}
