/**
 * Host side of the WebAssembly SIMD kernel (see wasm-module.ts for the kernel itself).
 *
 * Shards live in JS memory, so each call streams them through one WebAssembly.Memory in blocks:
 * copy a block of every input in, run the kernel for every output group, copy the output block
 * out. The block size keeps the whole working set ((inputs + outputs) × block) near L2 size, so the
 * copies hit cache and the memory never grows past a few hundred KiB however large the shards.
 *
 * Memory layout (all offsets 64-byte aligned):
 *   [0, T)            split-nibble tables of the current matrix, per output group
 *   [T, T + k·B)      input block, input c at T + c·B
 *   [.., + rows·B)    output block, row r at T + k·B + r·B
 */
import { GF_NIBBLE_TABLES } from './gf256.ts'
import type { GfKernel } from './kernel.ts'
import type { Matrix } from './matrix.ts'
import { kernelModuleBytes, type MulFunction } from './wasm-module.ts'

export interface WasmKernelOptions {
  /** Output rows per pass over the inputs (registers hold 2 × vectors × this many accumulators). */
  readonly maxOutputs?: number
  /** 16-byte vectors per input per step. */
  readonly vectors?: number
  /** Target bytes of input + output block resident at once. */
  readonly workingSet?: number
  /** Use relaxed_swizzle if the engine has relaxed SIMD ('auto'), or force one. */
  readonly relaxed?: boolean | 'auto'
}

const PAGE = 65536

// The slice of the WebAssembly JS API used here, typed locally: the project's lib settings (ES2024,
// @types/node) carry no WebAssembly declarations.
interface WasmMemory {
  readonly buffer: ArrayBuffer
  grow(deltaPages: number): number
}
interface WasmInstance {
  readonly exports: Record<string, unknown>
}
interface WasmApi {
  readonly Module: new (bytes: Uint8Array<ArrayBuffer>) => object
  readonly Instance: new (module: object, imports: Record<string, never>) => WasmInstance
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a
}

/** Compiles and instantiates synchronously (the module is ~2 KB); throws if the engine lacks SIMD. */
function compile(opts: { maxOutputs: number; vectors: number; relaxed: boolean }): WasmInstance {
  const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly
  if (api === undefined) throw new Error('this JavaScript engine has no WebAssembly')
  return new api.Instance(new api.Module(kernelModuleBytes(opts)), {})
}

export class WasmKernel implements GfKernel {
  readonly name = 'wasm-simd'
  readonly relaxed: boolean
  readonly maxOutputs: number
  readonly vectors: number
  readonly #workingSet: number
  readonly #step: number
  readonly #memory: WasmMemory
  readonly #mul: MulFunction[]
  #mem: Uint8Array
  /** Table blobs per matrix (laid out as the kernel reads them), built once per matrix object. */
  readonly #tables = new WeakMap<Matrix, Uint8Array>()
  /** The matrix whose tables are currently at offset 0 of the memory. */
  #loaded: Matrix | undefined

  /** Throws (a WebAssembly.CompileError) if the engine lacks SIMD; see `sharedWasmKernel`. */
  constructor(options: WasmKernelOptions = {}) {
    this.maxOutputs = options.maxOutputs ?? 4
    this.vectors = options.vectors ?? 2
    this.#workingSet = options.workingSet ?? 256 * 1024
    this.#step = 16 * this.vectors
    const want = options.relaxed ?? 'auto'
    let instance: WasmInstance
    if (want === 'auto') {
      try {
        instance = compile({ maxOutputs: this.maxOutputs, vectors: this.vectors, relaxed: true })
        this.relaxed = true
      } catch {
        instance = compile({ maxOutputs: this.maxOutputs, vectors: this.vectors, relaxed: false })
        this.relaxed = false
      }
    } else {
      instance = compile({ maxOutputs: this.maxOutputs, vectors: this.vectors, relaxed: want })
      this.relaxed = want
    }
    this.#memory = instance.exports.memory as WasmMemory
    this.#mul = Array.from({ length: this.maxOutputs }, (_, g) => instance.exports[`mul${g + 1}`] as MulFunction)
    this.#mem = new Uint8Array(this.#memory.buffer)
  }

  /** Bytes per input per block for a matrix of this shape and shards of this length. */
  blockSize(rows: number, cols: number, len: number): number {
    const target = Math.floor(this.#workingSet / (rows + cols) / 256) * 256
    return Math.max(1024, Math.min(target, align(len, 64)))
  }

  apply(m: Matrix, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[]): void {
    const len = outputs[0]?.length ?? 0
    if (len === 0 || m.rows === 0) return
    const { rows, cols } = m
    const block = this.blockSize(rows, cols, len)
    const tablesEnd = align(rows * cols * 32, 64)
    const inBase = tablesEnd
    const outBase = inBase + cols * block
    this.#ensure(outBase + rows * block)
    this.#load(m)
    const mem = this.#mem
    const G = this.maxOutputs
    for (let pos = 0; pos < len; pos += block) {
      const n = Math.min(block, len - pos)
      const padded = align(n, this.#step)
      for (let c = 0; c < cols; c++) mem.set(inputs[c]!.subarray(pos, pos + n), inBase + c * block)
      for (let r0 = 0; r0 < rows; r0 += G) {
        const g = Math.min(G, rows - r0)
        this.#mul[g - 1]!(r0 * cols * 32, inBase, block, cols, outBase + r0 * block, block, padded)
      }
      for (let r = 0; r < rows; r++) {
        const at = outBase + r * block
        outputs[r]!.set(mem.subarray(at, at + n), pos)
      }
    }
  }

  #ensure(bytes: number): void {
    const have = this.#memory.buffer.byteLength
    if (bytes <= have) return
    this.#memory.grow(Math.ceil((bytes - have) / PAGE))
    this.#mem = new Uint8Array(this.#memory.buffer) // growing detaches the old buffer
  }

  /** Put the matrix's tables at offset 0 unless they are already there. */
  #load(m: Matrix): void {
    if (this.#loaded === m) return
    let blob = this.#tables.get(m)
    if (blob === undefined) {
      blob = this.#buildTables(m)
      this.#tables.set(m, blob)
    }
    this.#mem.set(blob, 0)
    this.#loaded = m
  }

  /** Group g (rows r0 .. r0+size) at r0·cols·32; within it, [input c][output o] → 32 bytes. */
  #buildTables(m: Matrix): Uint8Array {
    const { rows, cols } = m
    const blob = new Uint8Array(rows * cols * 32)
    for (let r0 = 0; r0 < rows; r0 += this.maxOutputs) {
      const size = Math.min(this.maxOutputs, rows - r0)
      for (let c = 0; c < cols; c++) {
        for (let o = 0; o < size; o++) {
          const coef = m.data[(r0 + o) * cols + c]!
          blob.set(GF_NIBBLE_TABLES.subarray(coef * 32, coef * 32 + 32), (r0 * cols + c * size + o) * 32)
        }
      }
    }
    return blob
  }
}

let shared: WasmKernel | null | undefined

/** The process-wide SIMD kernel, or undefined if this engine cannot compile it. */
export function sharedWasmKernel(): WasmKernel | undefined {
  if (shared === undefined) {
    try {
      shared = new WasmKernel()
    } catch {
      shared = null
    }
  }
  return shared ?? undefined
}
