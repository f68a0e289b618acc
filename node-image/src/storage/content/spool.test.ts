import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encodeContent } from './encoder.ts'
import { bodyFromShardFiles, gatherShardFiles, rebuildShardFiles, shardFile } from './spool.ts'
import { collect, opts, pseudoRandomBytes } from './testkit.ts'

let work: string
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'echonet-spool-'))
})
afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  await Promise.resolve()
  yield bytes
}

describe('spooled retrieval and repair', () => {
  it('rebuilds the body and any lost shard from k verified ones, skipping liars (property)', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 300 * 1024 }),
        fc.infiniteStream(fc.integer({ min: 0, max: 2 })),
        async (k, m, size, fate) => {
          const { manifest, shards } = encodeContent(pseudoRandomBytes(size, size + 1), opts(k, m, 1024))
          // each shard: 0 = served, 1 = missing, 2 = served with a flipped byte; at most m not served
          const it = fate[Symbol.iterator]()
          let bad = 0
          const fates = shards.map(() => {
            const next: IteratorResult<number> = it.next()
            const f = bad < m && next.done !== true ? next.value : 0
            if (f !== 0) bad++
            return f
          })
          const dir = join(work, `r${run++}`)
          await mkdir(dir)
          const held = await gatherShardFiles(
            manifest,
            (i) => {
              if (fates[i] === 1) return Promise.resolve(undefined)
              const s = shards[i]!.slice()
              if (fates[i] === 2 && s.length > 0) s[s.length >> 1] = (s[s.length >> 1] ?? 0) ^ 1
              return Promise.resolve(once(s))
            },
            dir,
          )
          expect(held.length).toBe(k)
          // a corrupted non-empty shard never makes it into the work dir
          for (const i of held) if (shards[i]!.length > 0) expect(fates[i]).not.toBe(2)
          const all = shards.map((_, i) => i)
          await rebuildShardFiles(manifest, held, all, dir)
          for (const i of all) expect(new Uint8Array(await readFile(shardFile(dir, i)))).toEqual(shards[i])
          const body = await collect(await bodyFromShardFiles(manifest, dir))
          expect(body).toEqual(pseudoRandomBytes(size, size + 1))
          await rm(dir, { recursive: true, force: true })
        },
      ),
      { numRuns: 12 },
    )
    expect(await readdir(work)).toEqual([])
  })

  it('gives TOO_FEW_SHARDS when fewer than k verify', async () => {
    const { manifest, shards } = encodeContent(pseudoRandomBytes(4000, 1), opts(3, 1))
    const dir = join(work, 'few')
    await mkdir(dir)
    const err = await gatherShardFiles(manifest, (i) => Promise.resolve(i < 2 ? once(shards[i]!) : undefined), dir)
      .then(() => undefined)
      .catch((e: unknown) => (e as { code?: string }).code)
    expect(err).toBe('TOO_FEW_SHARDS')
    await rm(dir, { recursive: true, force: true })
  })
})
