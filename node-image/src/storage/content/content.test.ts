import { createReadStream } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { sha256, toHex } from '../../crypto/hash.ts'
import { encodeContent } from './encoder.ts'
import { ContentError } from './errors.ts'
import type { ContentErrorCode } from './errors.ts'
import { contentId, signManifest, unsignedPart, validateManifest } from './manifest.ts'
import { reassemble, reassembleToBuffer } from './reassemble.ts'
import { ShardStore } from './shard-store.ts'
import { collect, creator, opts, other, pseudoRandomBytes } from './testkit.ts'

async function code(p: Promise<unknown> | (() => unknown)): Promise<ContentErrorCode | undefined> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (err) {
    if (err instanceof ContentError) return err.code
    throw err
  }
  return undefined
}

async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) {
    await Promise.resolve()
    yield bytes.subarray(at, at + size)
  }
}

let work: string
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'echonet-content-'))
})
afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

describe('encode → reassemble', () => {
  it('round trips random bodies for random small k, m from any k shards (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.infiniteStream(fc.boolean()),
        async (k, m, size, coin) => {
          const body = pseudoRandomBytes(size, size + k * 7 + m)
          const { cid, manifest, shards } = encodeContent(body, opts(k, m, 64))
          expect(validateManifest(manifest)).toBe(manifest)
          expect(contentId(manifest)).toBe(cid)
          expect(manifest.bodyHash).toBe(toHex(sha256(body)))
          expect(shards).toHaveLength(k + m)
          // lose up to m shards at random
          const it = coin[Symbol.iterator]()
          const lost = new Set<number>()
          for (let i = 0; i < k + m && lost.size < m; i++) if (it.next().value === true) lost.add(i)
          const got = await reassembleToBuffer(manifest, (i) => Promise.resolve(lost.has(i) ? undefined : shards[i]))
          expect(toHex(got)).toBe(toHex(body))
        },
      ),
      { numRuns: 60 },
    )
  })

  it('the streaming encoder produces the same manifest and shards as the in-memory one', async () => {
    const body = pseudoRandomBytes(10_000, 5)
    const mem = encodeContent(body, opts(3, 2, 128))
    const files = await encodeContent(chunked(body, 333), { ...opts(3, 2, 128), tmpDir: work, chunkSize: 256 })
    expect(files.cid).toBe(mem.cid)
    expect(files.manifest).toEqual(mem.manifest)
    for (let i = 0; i < 5; i++) expect(new Uint8Array(await readFile(files.shardPaths[i]!))).toEqual(mem.shards[i])
    await files.cleanup()
    // an empty stream works too
    const empty = await encodeContent(chunked(new Uint8Array(), 1), { ...opts(2, 1, 64), tmpDir: work })
    expect(empty.cid).toBe(encodeContent(new Uint8Array(), opts(2, 1, 64)).cid)
    await empty.cleanup()
  })

  it('a 3 MiB streamed body: bounded working buffers, stored, and reassembled from parity', async () => {
    const size = 3 * 1024 * 1024 + 12_345
    const body = pseudoRandomBytes(size, 99)
    const k = 4
    const m = 2
    const encoded = await encodeContent(chunked(body, 64 * 1024), {
      ...opts(k, m, 64 * 1024),
      tmpDir: work,
    })
    // (k + m) × 64 KiB, independent of the body size; the spool file is gone
    expect(encoded.workingBufferBytes).toBe((k + m) * 64 * 1024)
    expect((await readdir(encoded.dir)).sort()).toEqual([0, 1, 2, 3, 4, 5].map((i) => `shard-${i}`))
    const store = await ShardStore.open(join(work, 'store'))
    const cid = await store.putManifest(encoded.manifest)
    for (let i = 0; i < k + m; i++) await store.putStream(cid, i, createReadStream(encoded.shardPaths[i]!))
    await encoded.cleanup()
    expect((await store.stats()).bytes).toBe((k + m) * Math.ceil(size / k))
    // two data shards gone: decode from parity
    const got = await collect(reassemble(encoded.manifest, async (i) => (i < 2 ? undefined : store.get(cid, i))))
    expect(got.length).toBe(size)
    expect(toHex(sha256(got))).toBe(toHex(sha256(body)))
  })

  it('INVALID_PARAMETERS for bad k, m, segment size or a creator that is not the signer', async () => {
    const body = new Uint8Array(10)
    const tried = [
      { ...opts(0, 1) },
      { ...opts(1, 0) },
      { ...opts(200, 57) },
      { ...opts(2, 1), segmentSize: 100 },
      { ...opts(2, 1), segmentSize: 32 },
      { ...opts(2, 1), creator: other.did },
    ]
    for (const o of tried) expect(await code(() => encodeContent(body, o))).toBe('INVALID_PARAMETERS')
    expect(await code(encodeContent(chunked(body, 3), { ...opts(0, 1), tmpDir: work }))).toBe('INVALID_PARAMETERS')
  })

  it('a failing source stream leaves no work directory behind', async () => {
    const dir = await mkdtemp(join(work, 'fail-'))
    const source = (async function* () {
      yield new Uint8Array(100)
      await Promise.resolve()
      throw new Error('source failed')
    })()
    await expect(encodeContent(source, { ...opts(2, 1), tmpDir: dir })).rejects.toThrow('source failed')
    expect(await readdir(dir)).toEqual([])
  })
})

describe('reassemble errors', () => {
  const body = pseudoRandomBytes(2000, 8)
  const { manifest, shards } = encodeContent(body, opts(3, 2, 64))

  it('skips shards that do not verify or whose fetch throws, and uses others', async () => {
    const bad: number[] = []
    const got = await reassembleToBuffer(
      manifest,
      (i) => {
        if (i === 0) return Promise.resolve(new Uint8Array(shards[0]!.length)) // lying peer
        if (i === 1) return Promise.reject(new Error('peer unreachable'))
        return Promise.resolve(shards[i])
      },
      { onBadShard: (i) => bad.push(i) },
    )
    expect(got).toEqual(body)
    expect(bad.sort()).toEqual([0, 1])
  })

  it('TOO_FEW_SHARDS when fewer than k verify', async () => {
    const fetch = (i: number) => Promise.resolve(i < 3 ? undefined : shards[i])
    expect(await code(reassembleToBuffer(manifest, fetch))).toBe('TOO_FEW_SHARDS')
    const corrupt = (i: number) =>
      Promise.resolve(i === 4 ? new Uint8Array(shards[4]!.length) : i < 2 ? shards[i] : undefined)
    expect(await code(reassembleToBuffer(manifest, corrupt))).toBe('TOO_FEW_SHARDS')
  })

  it('BODY_MISMATCH when the shards verify but the signed bodyHash is not the body', async () => {
    const lying = signManifest({ ...unsignedPart(manifest), bodyHash: toHex(sha256(Uint8Array.of(1))) }, creator.signer)
    expect(validateManifest(lying)).toBe(lying)
    expect(await code(reassembleToBuffer(lying, (i) => Promise.resolve(shards[i])))).toBe('BODY_MISMATCH')
  })
})
