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
import { writeAll } from '../../util/fs.ts'
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
import { shardRoot } from './merkle.ts'
import { describeSpool, spoolBody, spoolStripes } from './stripe-encoder.ts'
import type { SpooledBody } from './stripe-encoder.ts'

/**
 * Publishing: body → k data + m parity shards + signed manifest.
 *
 * Two entry points with one layout:
 *  - a Uint8Array body is encoded in memory (small content; shards returned as buffers);
 *  - an AsyncIterable body is encoded with bounded memory (stripe-encoder.ts): spooled to a temp
 *    file while hashed, then described stripe by stripe (shard hashes and Merkle roots → signed
 *    manifest), then its stripes are produced again for whoever moves the shards: to shard files
 *    here, straight to the SSNs in the node's publish (describeStream + spoolStripes). Working
 *    buffers are (k + m)·C bytes whatever the body size (C = max(segmentSize, 64 KiB) by default,
 *    a multiple of segmentSize); besides them only the segment leaf hashes are kept (32 bytes per
 *    segment per shard, e.g. 6 × 4096 × 32 B = 768 KiB for a 1 GiB body at 4+2 with 64 KiB
 *    segments).
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

/** Spool + describe (stripe-encoder.ts): the signed manifest of a streamed body, spooled in `dir`. */
export async function describeStream(
  source: AsyncIterable<Uint8Array>,
  o: StreamEncodeOptions,
  dir: string,
): Promise<{ cid: string; manifest: ContentManifest; spooled: SpooledBody; chunk: number }> {
  const segmentSize = checkOptions(o)
  const chunk = Math.ceil(Math.max(o.chunkSize ?? DEFAULT_CHUNK, segmentSize) / segmentSize) * segmentSize
  const spooled = await spoolBody(source, join(dir, 'body'))
  const shards = await describeSpool(spooled, o.k, o.m, segmentSize, chunk)
  return { ...finish(o, segmentSize, spooled.bodyHash, spooled.size, shards), spooled, chunk }
}

async function encodeStream(source: AsyncIterable<Uint8Array>, o: StreamEncodeOptions): Promise<EncodedContentFiles> {
  checkOptions(o)
  const total = o.k + o.m
  const dir = await mkdtemp(join(o.tmpDir ?? tmpdir(), 'echonet-encode-'))
  const cleanup = () => rm(dir, { recursive: true, force: true })
  const handles: FileHandle[] = []
  try {
    const { cid, manifest, spooled, chunk } = await describeStream(source, o, dir)
    // Shard files for callers that want them (the node's publish streams the stripes instead).
    // Scratch files like the spool: not fsynced; the stores they are copied into fsync.
    const shardPaths = Array.from({ length: total }, (_, i) => join(dir, `shard-${i}`))
    for (const p of shardPaths) handles.push(await open(p, 'wx', 0o600))
    const all = new Set(shardPaths.map((_, i) => i))
    for await (const stripe of spoolStripes(spooled, o.k, o.m, chunk, all)) {
      for (let s = 0; s < total; s++) await writeAll(handles[s]!, stripe[s]!)
    }
    for (const fh of handles.splice(0)) await fh.close()
    await rm(spooled.path, { force: true })
    return { cid, manifest, shardPaths, dir, workingBufferBytes: total * chunk, cleanup }
  } catch (err) {
    await Promise.allSettled(handles.map((fh) => fh.close()))
    await cleanup()
    throw err
  }
}
