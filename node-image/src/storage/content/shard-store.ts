import { createHash } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { sha256, toHex } from '../../crypto/hash.ts'
import { fsyncDir } from '../../util/fs.ts'
import { ContentError } from './errors.ts'
import { contentId, decodeManifest, encodeManifest, parseContentId, validateManifest } from './manifest.ts'
import type { ContentManifest } from './manifest.ts'

/**
 * Content-addressed shard store on local disk (an SSN's holdings, DESIGN §4 "DDS").
 *
 *   <root>/manifests/<cid>          encoded signed manifest (the ContentID's block)
 *   <root>/shards/<cid>/<index>     shard bytes
 *   <root>/quarantine/…             corrupt files moved aside for inspection (never served)
 *   <root>/tmp/                     temp files (same filesystem, so rename is atomic); emptied on open
 *
 * Invariants: a shard is written only after its bytes match the manifest's shard hash and length
 * (so a manifest must be stored first); every write goes temp → fsync → rename → fsync dir, so a
 * crash or failure leaves either nothing or the whole file; every read re-hashes, and a mismatch
 * quarantines the file and throws SHARD_CORRUPT instead of serving the bytes.
 */

/** What the store needs for writing; injectable so tests can simulate a full disk. */
export interface WritableFile {
  write(bytes: Uint8Array): Promise<void>
  /** Several buffers in one call (one syscall where the platform allows); optional. */
  writev?(chunks: readonly Uint8Array[]): Promise<void>
  sync(): Promise<void>
  close(): Promise<void>
}

export interface StoreFs {
  /** Create a new file (exclusive) for writing. */
  openForWrite(path: string): Promise<WritableFile>
}

export const nodeStoreFs: StoreFs = {
  async openForWrite(path) {
    const fh = await open(path, 'wx', 0o644)
    return {
      async write(bytes) {
        for (let at = 0; at < bytes.length;) {
          const { bytesWritten } = await fh.write(bytes, at, bytes.length - at)
          at += bytesWritten
        }
      },
      async writev(chunks) {
        const total = chunks.reduce((n, c) => n + c.length, 0)
        let done = (await fh.writev(chunks as Uint8Array[])).bytesWritten
        // A short write (rare on regular files) continues buffer by buffer from where it stopped.
        for (let i = 0, start = 0; done < total && i < chunks.length; start += chunks[i]!.length, i++) {
          const c = chunks[i]!
          const end = start + c.length
          if (done >= end) continue
          for (let at = done - start; at < c.length;) {
            const { bytesWritten } = await fh.write(c, at, c.length - at)
            at += bytesWritten
            done += bytesWritten
          }
        }
      },
      sync: () => fh.sync(),
      close: () => fh.close(),
    }
  },
}

export interface ShardStoreOptions {
  readonly fs?: StoreFs
  /** Manifests kept decoded in memory (default 1024). */
  readonly manifestCacheSize?: number
}

export interface ShardStoreStats {
  readonly manifests: number
  readonly shards: number
  readonly bytes: number
  /** Corrupt shards and manifests moved to quarantine/ on this volume (kept for inspection). */
  readonly quarantined: number
}

export interface ShardRef {
  readonly cid: string
  readonly index: number
}

/** Bytes gathered per write call when storing a stream. */
const WRITE_BATCH_BYTES = 1024 * 1024

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined
}

function isDiskFull(err: unknown): boolean {
  const code = errCode(err)
  return code === 'ENOSPC' || code === 'EDQUOT'
}

export class ShardStore {
  readonly root: string
  readonly #fs: StoreFs
  readonly #cache = new Map<string, ContentManifest>()
  readonly #cacheSize: number
  #tmpSeq = 0

  private constructor(root: string, options: ShardStoreOptions) {
    this.root = root
    this.#fs = options.fs ?? nodeStoreFs
    this.#cacheSize = options.manifestCacheSize ?? 1024
  }

  /** Opens (creating if needed) a store at `root` and discards temp files left by a crash. */
  static async open(root: string, options: ShardStoreOptions = {}): Promise<ShardStore> {
    const store = new ShardStore(root, options)
    await rm(store.#dir('tmp'), { recursive: true, force: true })
    for (const d of ['manifests', 'shards', 'quarantine', 'tmp']) await mkdir(store.#dir(d), { recursive: true })
    return store
  }

  #dir(name: string): string {
    return join(this.root, name)
  }

  #manifestPath(cid: string): string {
    return join(this.root, 'manifests', cid)
  }

  #shardDir(cid: string): string {
    return join(this.root, 'shards', cid)
  }

  #shardPath(cid: string, index: number): string {
    return join(this.#shardDir(cid), String(index))
  }

  #tmpPath(): string {
    return join(this.root, 'tmp', `${process.pid}-${++this.#tmpSeq}-${Math.random().toString(36).slice(2)}`)
  }

  async #quarantine(path: string, name: string): Promise<void> {
    const dest = join(this.root, 'quarantine', `${name}.${Date.now()}-${Math.random().toString(36).slice(2, 8)}`)
    try {
      await rename(path, dest)
      await fsyncDir(join(this.root, 'quarantine'))
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err
    }
  }

  /**
   * Writes a temp file from `chunks`, lets `check` accept or reject it, then renames it into place.
   * On any failure the temp file is removed and nothing else changed; ENOSPC becomes DISK_FULL.
   */
  async #writeAtomic(
    dest: string,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    check: (hash: string, length: number) => void,
    onChunk?: (length: number) => void,
  ): Promise<void> {
    const tmp = this.#tmpPath()
    let file: WritableFile | undefined
    try {
      file = await this.#fs.openForWrite(tmp)
      const hasher = createHash('sha256')
      let length = 0
      // Pieces off the network are ~64 KiB: gather ~1 MiB of them per write call. The pieces are
      // the transport's own buffers (never reused), so holding them until the write is safe.
      let batch: Uint8Array[] = []
      let batched = 0
      const flush = async (f: WritableFile): Promise<void> => {
        if (batch.length === 1) await f.write(batch[0]!)
        else if (batch.length > 1) {
          if (f.writev) await f.writev(batch)
          else for (const b of batch) await f.write(b)
        }
        batch = []
        batched = 0
      }
      for await (const c of chunks) {
        length += c.length
        onChunk?.(length)
        hasher.update(c)
        batch.push(c)
        batched += c.length
        if (batched >= WRITE_BATCH_BYTES) await flush(file)
      }
      await flush(file)
      check(hasher.digest('hex'), length)
      await file.sync()
      const f = file
      file = undefined
      await f.close()
      const dir = join(dest, '..')
      await mkdir(dir, { recursive: true })
      await rename(tmp, dest)
      await fsyncDir(dir)
    } catch (err) {
      if (file !== undefined) await file.close().catch(() => undefined)
      await unlink(tmp).catch(() => undefined)
      if (isDiskFull(err)) throw new ContentError('DISK_FULL', `disk full while writing ${dest}`, { cause: err })
      throw err
    }
  }

  #remember(cid: string, m: ContentManifest): void {
    if (this.#cache.size >= this.#cacheSize) {
      const oldest = this.#cache.keys().next()
      if (oldest.done !== true) this.#cache.delete(oldest.value)
    }
    this.#cache.set(cid, m)
  }

  /** Validates and stores a manifest; returns its ContentID. Idempotent. */
  async putManifest(manifest: unknown): Promise<string> {
    const m = validateManifest(manifest)
    const bytes = encodeManifest(m)
    const cid = contentId(m)
    await this.#writeAtomic(this.#manifestPath(cid), [bytes], () => undefined)
    this.#remember(cid, m)
    return cid
  }

  /** The stored manifest, or undefined. A stored manifest that fails validation is quarantined (MANIFEST_CORRUPT). */
  async getManifest(cid: string): Promise<ContentManifest | undefined> {
    parseContentId(cid)
    const hit = this.#cache.get(cid)
    if (hit !== undefined) return hit
    let bytes: Uint8Array
    try {
      bytes = await readFile(this.#manifestPath(cid))
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined
      throw err
    }
    let m: ContentManifest
    try {
      m = decodeManifest(bytes, cid)
    } catch (err) {
      await this.#quarantine(this.#manifestPath(cid), `manifest-${cid}`)
      throw new ContentError('MANIFEST_CORRUPT', `stored manifest ${cid} is corrupt; quarantined`, { cause: err })
    }
    this.#remember(cid, m)
    return m
  }

  async #expect(cid: string, index: number): Promise<{ hash: string; size: number }> {
    const m = await this.getManifest(cid)
    if (m === undefined) throw new ContentError('UNKNOWN_CONTENT', `no manifest stored for ${cid}`)
    const shard = Number.isInteger(index) ? m.shards[index] : undefined
    if (shard === undefined) {
      throw new ContentError('INVALID_SHARD_INDEX', `shard index must be in [0, ${m.shards.length}), got ${index}`)
    }
    return { hash: shard.hash, size: m.shardSize }
  }

  /** Stores a shard after checking it against the manifest (SHARD_MISMATCH: nothing written). */
  async put(cid: string, index: number, bytes: Uint8Array): Promise<void> {
    const want = await this.#expect(cid, index)
    if (bytes.length !== want.size || toHex(sha256(bytes)) !== want.hash) {
      throw new ContentError('SHARD_MISMATCH', `bytes are not shard ${index} of ${cid}`)
    }
    await this.#writeAtomic(this.#shardPath(cid, index), [bytes], () => undefined)
  }

  /**
   * Streams a shard to a temp file while hashing; renamed into place only if the length and hash
   * match. A short, long or failing stream leaves nothing behind (SHARD_MISMATCH, or the stream's error).
   */
  async putStream(cid: string, index: number, source: AsyncIterable<Uint8Array>): Promise<void> {
    const want = await this.#expect(cid, index)
    const mismatch = () => new ContentError('SHARD_MISMATCH', `stream is not shard ${index} of ${cid}`)
    await this.#writeAtomic(
      this.#shardPath(cid, index),
      source,
      (hash, length) => {
        if (length !== want.size || hash !== want.hash) throw mismatch()
      },
      (length) => {
        if (length > want.size) throw mismatch()
      },
    )
  }

  /**
   * The shard's bytes, verified; undefined if not stored. A stored shard that no longer matches its
   * hash is moved to quarantine and SHARD_CORRUPT is thrown: corrupt bytes are never returned.
   */
  async get(cid: string, index: number): Promise<Uint8Array | undefined> {
    const want = await this.#expect(cid, index)
    const path = this.#shardPath(cid, index)
    let bytes: Uint8Array
    try {
      bytes = new Uint8Array(await readFile(path))
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined
      throw err
    }
    if (bytes.length !== want.size || toHex(sha256(bytes)) !== want.hash) {
      await this.#quarantine(path, `shard-${cid}-${index}`)
      throw new ContentError('SHARD_CORRUPT', `stored shard ${index} of ${cid} is corrupt; quarantined`)
    }
    return bytes
  }

  /**
   * Re-hashes a stored shard in `chunkSize` pieces (bounded memory): true if intact, false if not
   * stored; a mismatch quarantines the file and throws SHARD_CORRUPT.
   */
  async verify(cid: string, index: number, chunkSize = 1024 * 1024): Promise<boolean> {
    const want = await this.#expect(cid, index)
    const path = this.#shardPath(cid, index)
    let fh: FileHandle
    try {
      fh = await open(path, 'r')
    } catch (err) {
      if (errCode(err) === 'ENOENT') return false
      throw err
    }
    let ok: boolean
    try {
      const hasher = createHash('sha256')
      const buf = new Uint8Array(chunkSize)
      let length = 0
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, length)
        if (bytesRead === 0) break
        hasher.update(buf.subarray(0, bytesRead))
        length += bytesRead
      }
      ok = length === want.size && hasher.digest('hex') === want.hash
    } finally {
      await fh.close()
    }
    if (!ok) {
      await this.#quarantine(path, `shard-${cid}-${index}`)
      throw new ContentError('SHARD_CORRUPT', `stored shard ${index} of ${cid} is corrupt; quarantined`)
    }
    return true
  }

  /**
   * Streams a stored shard with bounded memory, reading it once: the bytes are hashed as they go
   * out and the last chunk is held back until the whole shard matched, so a corrupt shard is
   * never delivered whole. A wrong size is caught before anything is sent; a wrong hash when the
   * end is reached: either way the file is quarantined and SHARD_CORRUPT is thrown (for a wrong
   * hash, by the iteration). Undefined if not stored. Each chunk is a fresh buffer the consumer
   * may keep (it goes to the network, whose stack keeps references).
   */
  async readVerified(
    cid: string,
    index: number,
    chunkSize = 1024 * 1024,
  ): Promise<{ size: number; chunks: AsyncIterable<Uint8Array> } | undefined> {
    const want = await this.#expect(cid, index)
    const path = this.#shardPath(cid, index)
    let fh: FileHandle
    try {
      fh = await open(path, 'r')
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined
      throw err
    }
    const corrupt = async (): Promise<never> => {
      await this.#quarantine(path, `shard-${cid}-${index}`)
      throw new ContentError('SHARD_CORRUPT', `stored shard ${index} of ${cid} is corrupt; quarantined`)
    }
    try {
      if ((await fh.stat()).size !== want.size) {
        await fh.close()
        return await corrupt()
      }
    } catch (err) {
      await fh.close().catch(() => undefined)
      throw err
    }
    const size = want.size
    async function* chunks(): AsyncGenerator<Uint8Array> {
      const hasher = createHash('sha256')
      let held: Uint8Array | undefined
      try {
        for (let at = 0; at < size;) {
          const buf = new Uint8Array(Math.min(chunkSize, size - at))
          let got = 0
          while (got < buf.length) {
            const { bytesRead } = await fh.read(buf, got, buf.length - got, at + got)
            if (bytesRead === 0) break
            got += bytesRead
          }
          if (got < buf.length) break // shrank while read: the hash check below fails
          at += got
          hasher.update(buf)
          if (held) yield held
          held = buf
        }
      } finally {
        await fh.close()
      }
      if (hasher.digest('hex') !== want.hash) await corrupt()
      if (held) yield held
    }
    return { size, chunks: chunks() }
  }

  async has(cid: string, index: number): Promise<boolean> {
    parseContentId(cid)
    if (!Number.isInteger(index) || index < 0 || index > 255) return false
    try {
      return (await stat(this.#shardPath(cid, index))).isFile()
    } catch {
      return false
    }
  }

  /** Shard indexes held for `cid` (sorted), or every held shard when no cid is given. */
  async list(): Promise<ShardRef[]>
  async list(cid: string): Promise<number[]>
  async list(cid?: string): Promise<number[] | ShardRef[]> {
    const indexes = async (c: string): Promise<number[]> => {
      let names: string[]
      try {
        names = await readdir(this.#shardDir(c))
      } catch (err) {
        if (errCode(err) === 'ENOENT') return []
        throw err
      }
      return names
        .filter((n) => /^(?:0|[1-9]\d{0,2})$/.test(n))
        .map(Number)
        .sort((a, b) => a - b)
    }
    if (cid !== undefined) {
      parseContentId(cid)
      return indexes(cid)
    }
    const out: ShardRef[] = []
    for (const c of (await readdir(this.#dir('shards'))).sort()) {
      for (const index of await indexes(c)) out.push({ cid: c, index })
    }
    return out
  }

  /** ContentIDs whose manifest is stored. */
  async listManifests(): Promise<string[]> {
    return (await readdir(this.#dir('manifests'))).sort()
  }

  /** Deletes one shard, or (no index) every shard and the manifest of `cid`. */
  async delete(cid: string, index?: number): Promise<void> {
    parseContentId(cid)
    if (index !== undefined) {
      if (!Number.isInteger(index) || index < 0 || index > 255) {
        throw new ContentError('INVALID_SHARD_INDEX', `bad shard index ${index}`)
      }
      await rm(this.#shardPath(cid, index), { force: true })
      await fsyncDir(this.#shardDir(cid)).catch(() => undefined)
      return
    }
    await rm(this.#shardDir(cid), { recursive: true, force: true })
    await rm(this.#manifestPath(cid), { force: true })
    this.#cache.delete(cid)
    await fsyncDir(this.#dir('shards'))
    await fsyncDir(this.#dir('manifests'))
  }

  async stats(): Promise<ShardStoreStats> {
    let shards = 0
    let bytes = 0
    for (const { cid, index } of await this.list()) {
      try {
        bytes += (await stat(this.#shardPath(cid, index))).size
        shards++
      } catch {
        // deleted concurrently
      }
    }
    const quarantined = (await readdir(this.#dir('quarantine')).catch(() => [])).length
    return { manifests: (await this.listManifests()).length, shards, bytes, quarantined }
  }
}
