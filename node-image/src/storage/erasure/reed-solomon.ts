/**
 * Systematic Reed-Solomon erasure coding over GF(2^8) (polynomial 0x11d): k data shards and
 * m parity shards, any k of the k + m recover the rest (DESIGN §4 "DDS").
 *
 * The encoding matrix is the (k + m) × k Vandermonde matrix made systematic (matrix.ts), so data
 * shards are stored unchanged and parity bytes are identical to Backblaze's / rust
 * reed-solomon-erasure's for the same k, m. Decoding builds E[targets] · E[sources]^-1 for the
 * erasure pattern and caches it (LRU), since repair decodes many stripes with the same pattern.
 *
 * The byte work runs in the native kernel (native-kernel.ts: GFNI or AVX2, on the caller's buffers)
 * where it was built, else in a WebAssembly SIMD kernel (wasm-module.ts) where the engine supports
 * it, else in a plain scalar kernel; all produce identical bytes.
 */
import { Buffer } from 'node:buffer'
import { ErasureError } from './errors.ts'
import type { GfKernel } from './kernel.ts'
import { Lru } from './lru.ts'
import { encodingMatrix, invert, multiply, selectRows, type Matrix } from './matrix.ts'
import { sharedNativeKernel } from './native-kernel.ts'
import { scalarKernel } from './scalar-kernel.ts'
import { sharedWasmKernel } from './wasm-kernel.ts'

/** GF(2^8) has 256 distinct evaluation points, so at most 256 shards per stripe. */
export const MAX_TOTAL_SHARDS = 256

export type ErasureBackend = 'native' | 'wasm-simd' | 'scalar'

export interface ReedSolomonOptions {
  /** 'auto' (default): native if built and the CPU has a path for it, else WebAssembly SIMD, else scalar. */
  readonly backend?: ErasureBackend | 'auto'
  /** Decoding matrices kept for reuse, one per erasure pattern (default 64). */
  readonly decodeCacheSize?: number
  /** Advanced: run on this kernel instead (benchmarks, tests). Overrides `backend`. */
  readonly kernel?: GfKernel
}

export interface ReconstructOptions {
  /**
   * Which entries of `shards` hold valid data. Without it, a shard is present iff it is defined.
   * With it, an entry that is defined but marked absent is a buffer to overwrite (its length must
   * be the shard size), which lets repair loops reuse their buffers.
   */
  readonly present?: readonly boolean[]
  /** Rebuild only missing data shards (retrieval); missing parity shards stay undefined. */
  readonly dataOnly?: boolean
}

/** Bytes per shard per verify step: the recomputed parity for one step is all verify allocates. */
const VERIFY_BLOCK = 64 * 1024

function isValidK(k: number): boolean {
  return Number.isInteger(k) && k >= 1 && k < MAX_TOTAL_SHARDS
}

function pickKernel(options: ReedSolomonOptions): GfKernel {
  if (options.kernel !== undefined) return options.kernel
  const want = options.backend ?? 'auto'
  if (want === 'scalar') return scalarKernel
  if (want === 'native' || want === 'auto') {
    const native = sharedNativeKernel()
    if (native !== undefined) return native
    if (want === 'native')
      throw new ErasureError('BACKEND_UNAVAILABLE', 'the native erasure kernel is not built or not supported here')
  }
  const wasm = sharedWasmKernel()
  if (wasm !== undefined) return wasm
  if (want === 'wasm-simd') {
    throw new ErasureError('BACKEND_UNAVAILABLE', 'this JavaScript engine cannot compile the WebAssembly SIMD kernel')
  }
  return scalarKernel
}

export class ReedSolomon {
  /** k */
  readonly dataShards: number
  /** m */
  readonly parityShards: number
  /** k + m */
  readonly totalShards: number
  readonly backend: ErasureBackend
  readonly #kernel: GfKernel
  /** (k + m) × k, top k rows the identity. */
  readonly #encoding: Matrix
  /** The bottom m rows of #encoding. */
  readonly #parity: Matrix
  readonly #decodeCache: Lru<string, Matrix>

  constructor(k: number, m: number, options: ReedSolomonOptions = {}) {
    if (!isValidK(k) || !Number.isInteger(m) || m < 1 || k + m > MAX_TOTAL_SHARDS) {
      throw new ErasureError(
        'INVALID_PARAMETERS',
        `need integers k >= 1, m >= 1, k + m <= ${MAX_TOTAL_SHARDS}; got k=${String(k)}, m=${String(m)}`,
      )
    }
    const cacheSize = options.decodeCacheSize ?? 64
    if (!Number.isInteger(cacheSize) || cacheSize < 1) {
      throw new ErasureError('INVALID_PARAMETERS', `decodeCacheSize must be a positive integer, got ${cacheSize}`)
    }
    this.dataShards = k
    this.parityShards = m
    this.totalShards = k + m
    this.#kernel = pickKernel(options)
    this.backend = this.#kernel.name
    this.#encoding = encodingMatrix(k, m)
    this.#parity = selectRows(
      this.#encoding,
      Array.from({ length: m }, (_, i) => k + i),
    )
    this.#decodeCache = new Lru(cacheSize)
  }

  /** Number of erasure patterns whose decoding matrix is cached. */
  get cachedDecodeMatrices(): number {
    return this.#decodeCache.size
  }

  /** A copy of the (k + m) × k encoding matrix, row-major (for inspection and tests). */
  encodingMatrix(): Uint8Array {
    return new Uint8Array(this.#encoding.data)
  }

  /** The m parity shards of k equal-length data shards (newly allocated). */
  encode(data: readonly Uint8Array[]): Uint8Array[] {
    const size = this.#checkShards(data, this.dataShards, 'data shards')
    const parity = Array.from({ length: this.parityShards }, () => new Uint8Array(size))
    this.#kernel.apply(this.#parity, data, parity)
    return parity
  }

  /** Like encode, into caller-owned buffers (same length as the data shards, not aliasing them). */
  encodeInto(data: readonly Uint8Array[], parity: readonly Uint8Array[]): void {
    const size = this.#checkShards(data, this.dataShards, 'data shards')
    this.#checkShards(parity, this.parityShards, 'parity shards', size)
    this.#kernel.apply(this.#parity, data, parity)
  }

  /**
   * Fills every missing shard (data and parity) from any k present ones, in place in `shards`, and
   * returns `shards` as a complete array. Present shards are trusted: check them against their
   * hashes first (a corrupt input yields corrupt outputs, not an error).
   */
  reconstruct(shards: (Uint8Array | undefined)[], options: ReconstructOptions = {}): Uint8Array[] {
    this.#reconstruct(shards, options.present, options.dataOnly === true)
    if (options.dataOnly === true) return shards.slice(0, this.dataShards) as Uint8Array[]
    return shards as Uint8Array[]
  }

  /** Fills only missing data shards (what a reader needs) and returns the k data shards. */
  reconstructData(shards: (Uint8Array | undefined)[], options: { present?: readonly boolean[] } = {}): Uint8Array[] {
    return this.reconstruct(shards, { ...options, dataOnly: true })
  }

  /** True iff the parity shards are exactly the encoding of the data shards. */
  verify(shards: readonly Uint8Array[]): boolean {
    const size = this.#checkShards(shards, this.totalShards, 'shards')
    const k = this.dataShards
    const step = Math.min(VERIFY_BLOCK, size)
    const scratch = Array.from({ length: this.parityShards }, () => new Uint8Array(step))
    for (let pos = 0; pos < size; pos += step) {
      const end = Math.min(size, pos + step)
      const data = shards.slice(0, k).map((s) => s.subarray(pos, end))
      const computed = end - pos === step ? scratch : scratch.map((s) => s.subarray(0, end - pos))
      this.#kernel.apply(this.#parity, data, computed)
      for (let j = 0; j < this.parityShards; j++) {
        const given = shards[k + j]!.subarray(pos, end)
        if (Buffer.compare(computed[j]!, given) !== 0) return false
      }
    }
    return true
  }

  #reconstruct(shards: (Uint8Array | undefined)[], present: readonly boolean[] | undefined, dataOnly: boolean): void {
    const n = this.totalShards
    const k = this.dataShards
    if (shards.length !== n) {
      throw new ErasureError('SHARD_COUNT_MISMATCH', `expected ${n} shard slots, got ${shards.length}`)
    }
    if (present !== undefined && present.length !== n) {
      throw new ErasureError('SHARD_COUNT_MISMATCH', `expected ${n} present flags, got ${present.length}`)
    }
    const sources: number[] = []
    const targets: number[] = []
    let size = -1
    let presentCount = 0
    for (let i = 0; i < n; i++) {
      const s = shards[i]
      if (s !== undefined && (present?.[i] ?? true)) {
        presentCount++
        if (size === -1) size = s.length
        else if (s.length !== size) {
          throw new ErasureError(
            'SHARD_SIZE_MISMATCH',
            `shard ${i} has ${s.length} bytes, shard ${sources[0]!} ${size}`,
          )
        }
        if (sources.length < k) sources.push(i)
      } else if (!dataOnly || i < k) {
        targets.push(i)
      }
    }
    if (presentCount < k) {
      throw new ErasureError('TOO_FEW_SHARDS', `need ${k} of ${n} shards, have ${presentCount}`)
    }
    if (targets.length === 0) return
    // Check every caller-supplied buffer before touching anything: no partial writes on error.
    for (const t of targets) {
      const buf = shards[t]
      if (buf !== undefined && buf.length !== size) {
        throw new ErasureError(
          'SHARD_SIZE_MISMATCH',
          `buffer for shard ${t} has ${buf.length} bytes, shards have ${size}`,
        )
      }
    }
    const outputs = targets.map((t) => shards[t] ?? new Uint8Array(size))
    this.#kernel.apply(
      this.#decodeMatrix(sources, targets),
      sources.map((i) => shards[i]!),
      outputs,
    )
    targets.forEach((t, j) => (shards[t] = outputs[j]))
  }

  /** E[targets] · E[sources]^-1: rebuilds the target shards from the source shards. */
  #decodeMatrix(sources: readonly number[], targets: readonly number[]): Matrix {
    const key = `${sources.join(',')}>${targets.join(',')}`
    let m = this.#decodeCache.get(key)
    if (m === undefined) {
      m = multiply(selectRows(this.#encoding, targets), invert(selectRows(this.#encoding, sources)))
      this.#decodeCache.set(key, m)
    }
    return m
  }

  /** Checks count and equal lengths; returns the common length. */
  #checkShards(shards: readonly Uint8Array[], count: number, what: string, size?: number): number {
    if (shards.length !== count) {
      throw new ErasureError('SHARD_COUNT_MISMATCH', `expected ${count} ${what}, got ${shards.length}`)
    }
    const want = size ?? shards[0]!.length
    shards.forEach((s, i) => {
      if (s.length !== want) {
        throw new ErasureError('SHARD_SIZE_MISMATCH', `${what}: shard ${i} has ${s.length} bytes, expected ${want}`)
      }
    })
    return want
  }
}

/**
 * Splits a body into k equal data shards of ceil(size / k) bytes, zero-padding the end. Shards that
 * lie wholly inside `body` are views of it (no copy): do not modify `body` while they are in use.
 * An empty body gives k empty shards.
 */
export function splitBody(body: Uint8Array, k: number): { shards: Uint8Array[]; shardSize: number } {
  if (!isValidK(k)) {
    throw new ErasureError('INVALID_PARAMETERS', `k must be an integer in [1, ${MAX_TOTAL_SHARDS - 1}], got ${k}`)
  }
  const shardSize = Math.ceil(body.length / k)
  const shards = Array.from({ length: k }, (_, i) => {
    const start = i * shardSize
    if (start + shardSize <= body.length) return body.subarray(start, start + shardSize)
    const padded = new Uint8Array(shardSize)
    if (start < body.length) padded.set(body.subarray(start))
    return padded
  })
  return { shards, shardSize }
}

/** The first `size` bytes of the concatenated data shards (a new buffer): the inverse of splitBody. */
export function joinBody(dataShards: readonly Uint8Array[], size: number): Uint8Array {
  const shardSize = dataShards[0]?.length ?? 0
  dataShards.forEach((s, i) => {
    if (s.length !== shardSize) {
      throw new ErasureError('SHARD_SIZE_MISMATCH', `data shard ${i} has ${s.length} bytes, expected ${shardSize}`)
    }
  })
  const capacity = shardSize * dataShards.length
  if (!Number.isSafeInteger(size) || size < 0 || size > capacity) {
    throw new ErasureError('INVALID_SIZE', `body size ${size} does not fit ${dataShards.length} shards of ${shardSize}`)
  }
  const body = new Uint8Array(size)
  for (let i = 0, at = 0; at < size; i++, at += shardSize) {
    body.set(dataShards[i]!.subarray(0, Math.min(shardSize, size - at)), at)
  }
  return body
}
