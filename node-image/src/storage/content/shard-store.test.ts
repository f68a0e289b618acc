import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { encodeContent } from './encoder.ts'
import { ContentError } from './errors.ts'
import type { ContentErrorCode } from './errors.ts'
import { encodeManifest } from './manifest.ts'
import { nodeStoreFs, ShardStore } from './shard-store.ts'
import type { StoreFs } from './shard-store.ts'
import { opts, pseudoRandomBytes } from './testkit.ts'

async function code(p: Promise<unknown>): Promise<ContentErrorCode | undefined> {
  try {
    await p
  } catch (err) {
    if (err instanceof ContentError) return err.code
    throw err
  }
  return undefined
}

async function* chunks(bytes: Uint8Array, size = 100): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) {
    await Promise.resolve()
    yield bytes.subarray(at, at + size)
  }
}

/** Every file under dir, relative paths, sorted. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort()
}

let root: string
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'echonet-shards-'))
})
afterEach(async () => {
  await rm(root, { recursive: true, force: true })
})

const content = encodeContent(pseudoRandomBytes(3000, 11), opts(4, 2, 64))
const { cid, manifest, shards } = content

describe('ShardStore', () => {
  it('stores manifests and shards, serves verified bytes, lists, stats and deletes', async () => {
    const store = await ShardStore.open(root)
    expect(await store.putManifest(manifest)).toBe(cid)
    expect(await store.putManifest(manifest)).toBe(cid) // idempotent
    for (const i of [0, 2, 5]) await store.put(cid, i, shards[i]!)
    expect(await store.get(cid, 2)).toEqual(shards[2])
    expect(await store.get(cid, 1)).toBeUndefined()
    expect(await store.has(cid, 5)).toBe(true)
    expect(await store.has(cid, 1)).toBe(false)
    expect(await store.list(cid)).toEqual([0, 2, 5])
    expect(await store.list()).toEqual([0, 2, 5].map((index) => ({ cid, index })))
    expect(await store.stats()).toEqual({ manifests: 1, shards: 3, bytes: 3 * manifest.shardSize, quarantined: 0 })

    // a fresh instance (no cache) reads the manifest back from disk
    const again = await ShardStore.open(root)
    expect(await again.getManifest(cid)).toEqual(manifest)
    expect(await again.get(cid, 0)).toEqual(shards[0])

    await store.delete(cid, 0)
    expect(await store.list(cid)).toEqual([2, 5])
    await store.delete(cid)
    expect(await store.list()).toEqual([])
    expect(await store.getManifest(cid)).toBeUndefined()
    expect(await tree(root)).toEqual([])
  })

  it('put: SHARD_MISMATCH for wrong bytes (nothing written); UNKNOWN_CONTENT, INVALID_SHARD_INDEX, INVALID_CONTENT_ID', async () => {
    const store = await ShardStore.open(root)
    expect(await code(store.put(cid, 0, shards[0]!))).toBe('UNKNOWN_CONTENT')
    await store.putManifest(manifest)
    expect(await code(store.put(cid, 0, shards[1]!))).toBe('SHARD_MISMATCH') // another shard's bytes
    expect(await code(store.put(cid, 0, shards[0]!.subarray(1)))).toBe('SHARD_MISMATCH') // short
    const flipped = new Uint8Array(shards[0]!)
    flipped[7]! ^= 0x40
    expect(await code(store.put(cid, 0, flipped))).toBe('SHARD_MISMATCH')
    expect(await code(store.put(cid, 6, shards[0]!))).toBe('INVALID_SHARD_INDEX')
    expect(await code(store.put(cid, -1, shards[0]!))).toBe('INVALID_SHARD_INDEX')
    expect(await code(store.put(cid, 0.5, shards[0]!))).toBe('INVALID_SHARD_INDEX')
    expect(await code(store.put('../etc', 0, shards[0]!))).toBe('INVALID_CONTENT_ID')
    expect(await tree(root)).toEqual([`manifests/${cid}`])
  })

  it('putManifest rejects invalid and forged manifests (INVALID_MANIFEST, BAD_SIGNATURE)', async () => {
    const store = await ShardStore.open(root)
    expect(await code(store.putManifest({ ...manifest, k: 3 }))).toBe('INVALID_MANIFEST')
    expect(await code(store.putManifest({ ...manifest, createdAtMs: 1 }))).toBe('BAD_SIGNATURE')
    expect(await tree(root)).toEqual([])
  })

  it('get re-hashes: a corrupted shard is quarantined, never served (SHARD_CORRUPT)', async () => {
    const store = await ShardStore.open(root)
    await store.putManifest(manifest)
    await store.put(cid, 3, shards[3]!)
    const path = join(root, 'shards', cid, '3')
    const bytes = await readFile(path)
    bytes[100]! ^= 1 // bit rot
    await writeFile(path, bytes)
    expect(await code(store.get(cid, 3))).toBe('SHARD_CORRUPT')
    expect(await store.has(cid, 3)).toBe(false)
    expect(await store.get(cid, 3)).toBeUndefined()
    const files = await tree(root)
    expect(files.filter((f) => f.startsWith('quarantine/'))).toHaveLength(1)
    expect(files.filter((f) => f.startsWith('shards/'))).toEqual([])
    // The volume's count of what was quarantined, as the SSN's status reports it.
    expect((await store.stats()).quarantined).toBe(1)
    // truncation is corruption too
    await store.put(cid, 3, shards[3]!)
    await writeFile(path, shards[3]!.subarray(0, 10))
    expect(await code(store.get(cid, 3))).toBe('SHARD_CORRUPT')
    // and the good shard can be stored again (repair)
    await store.put(cid, 3, shards[3]!)
    expect(await store.get(cid, 3)).toEqual(shards[3])
  })

  it('readVerified reads a shard once: intact bytes stream out whole, rot is caught at the end with the last chunk held back', async () => {
    const store = await ShardStore.open(root)
    await store.putManifest(manifest)
    await store.put(cid, 3, shards[3]!)
    const collect = async (chunkSize: number): Promise<{ bytes: number[]; code?: ContentErrorCode }> => {
      const got = await store.readVerified(cid, 3, chunkSize)
      const bytes: number[] = []
      try {
        for await (const c of got!.chunks) bytes.push(...c)
      } catch (err) {
        if (err instanceof ContentError) return { bytes, code: err.code }
        throw err
      }
      return { bytes }
    }
    const whole = await collect(64)
    expect(whole.code).toBeUndefined()
    expect(Uint8Array.from(whole.bytes)).toEqual(shards[3])
    const path = join(root, 'shards', cid, '3')
    const bytes = await readFile(path)
    bytes[bytes.length - 1]! ^= 1 // rot in the very last byte
    await writeFile(path, bytes)
    const rotten = await collect(64)
    expect(rotten.code).toBe('SHARD_CORRUPT')
    expect(rotten.bytes.length).toBeLessThan(shards[3]!.length) // never delivered whole
    expect(await store.has(cid, 3)).toBe(false)
    expect((await tree(root)).filter((f) => f.startsWith('quarantine/'))).toHaveLength(1)
    // A wrong size is caught before anything is read.
    await store.put(cid, 3, shards[3]!)
    await writeFile(path, shards[3]!.subarray(1))
    expect(await code(store.readVerified(cid, 3))).toBe('SHARD_CORRUPT')
  })

  it('a corrupted manifest on disk is quarantined (MANIFEST_CORRUPT)', async () => {
    await (await ShardStore.open(root)).putManifest(manifest)
    const path = join(root, 'manifests', cid)
    const bytes = await readFile(path)
    bytes[bytes.length - 1]! ^= 1 // inside the signature
    await writeFile(path, bytes)
    const store = await ShardStore.open(root)
    expect(await code(store.getManifest(cid))).toBe('MANIFEST_CORRUPT')
    expect(await store.getManifest(cid)).toBeUndefined()
    expect((await tree(root)).filter((f) => f.startsWith('manifests/'))).toEqual([])
  })

  it('putStream stores a matching stream; short, long, wrong or failing streams leave nothing', async () => {
    const store = await ShardStore.open(root)
    await store.putManifest(manifest)
    const before = await tree(root)
    const shard = shards[4]!
    const tried: [string, AsyncIterable<Uint8Array>, ContentErrorCode | 'Error'][] = [
      ['ends early (truncated upload)', chunks(shard.subarray(0, shard.length - 1)), 'SHARD_MISMATCH'],
      ['too long', chunks(new Uint8Array(Buffer.concat([shard, Uint8Array.of(0)]))), 'SHARD_MISMATCH'],
      ['right length, wrong bytes', chunks(shards[0]!), 'SHARD_MISMATCH'],
      [
        'connection drops mid-way',
        (async function* () {
          yield shard.subarray(0, 200)
          await Promise.resolve()
          throw new Error('connection reset')
        })(),
        'Error',
      ],
    ]
    for (const [what, source, want] of tried) {
      let got: string | undefined
      try {
        await store.putStream(cid, 4, source)
      } catch (err) {
        got = err instanceof ContentError ? err.code : 'Error'
      }
      expect([what, got]).toEqual([what, want])
      expect([what, await tree(root)]).toEqual([what, before])
    }
    await store.putStream(cid, 4, chunks(shard, 77))
    expect(await store.get(cid, 4)).toEqual(shard)
  })

  it('a full disk is DISK_FULL and leaves nothing partial (injected ENOSPC)', async () => {
    let budget = 0
    const fullFs: StoreFs = {
      async openForWrite(path) {
        const real = await nodeStoreFs.openForWrite(path)
        return {
          async write(bytes) {
            const fits = Math.min(bytes.length, budget)
            budget -= fits
            await real.write(bytes.subarray(0, fits)) // a partial write really happens
            if (fits < bytes.length)
              throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
          },
          sync: () => real.sync(),
          close: () => real.close(),
        }
      },
    }
    const store = await ShardStore.open(root, { fs: fullFs })
    budget = 10
    expect(await code(store.putManifest(manifest))).toBe('DISK_FULL')
    expect(await tree(root)).toEqual([])
    budget = 1 << 20
    await store.putManifest(manifest)
    budget = 100
    expect(await code(store.put(cid, 1, shards[1]!))).toBe('DISK_FULL')
    budget = 100
    expect(await code(store.putStream(cid, 1, chunks(shards[1]!)))).toBe('DISK_FULL')
    expect(await tree(root)).toEqual([`manifests/${cid}`])
  })

  it('leftover temp files from a crash are discarded on open', async () => {
    const store = await ShardStore.open(root)
    await store.putManifest(manifest)
    await writeFile(join(root, 'tmp', 'half-written'), encodeManifest(manifest).subarray(0, 10))
    await ShardStore.open(root)
    expect(await tree(root)).toEqual([`manifests/${cid}`])
  })
})
