import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { GfKernel } from './kernel.ts'
import type { Matrix } from './matrix.ts'
import { NativeKernel, nativePaths } from './native-kernel.ts'
import { ReedSolomon, splitBody } from './reed-solomon.ts'
import { scalarKernel } from './scalar-kernel.ts'
import { diffShards, materialize } from './test-bytes.ts'
import { WasmKernel } from './wasm-kernel.ts'

// The addon is built by node-image/native/erasure/build.sh (`make setup`); ECHONET_SKIP_NATIVE=1
// builds none on purpose, and then the codec must still work on the wasm kernel.
const paths = nativePaths()
const natives = paths.map((p) => new NativeKernel(p))
const wasm = new WasmKernel()

function run(kernel: GfKernel, m: Matrix, inputs: readonly Uint8Array[], len: number): Uint8Array[] {
  // Garbage in the outputs must be overwritten, not accumulated into.
  const outputs = Array.from({ length: m.rows }, () => new Uint8Array(len).fill(0xa5))
  kernel.apply(m, inputs, outputs)
  return outputs
}

describe('native kernel', () => {
  it('was built, and this CPU has a SIMD path for it', () => {
    if (process.env.ECHONET_SKIP_NATIVE === '1') {
      expect(new ReedSolomon(4, 2).backend).toBe('wasm-simd')
      return
    }
    expect(paths.length).toBeGreaterThan(0)
    expect(new ReedSolomon(4, 2).backend).toBe('native')
  })

  it('every path gives the same bytes as the scalar reference and the wasm kernel', () => {
    const shape = fc.record({
      rows: fc.integer({ min: 1, max: 20 }),
      cols: fc.integer({ min: 1, max: 24 }),
      len: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 20_000 })),
      offset: fc.integer({ min: 0, max: 63 }), // misaligned views of a larger buffer
      seed: fc.integer(),
    })
    fc.assert(
      fc.property(shape, (s) => {
        const { m, inputs } = materialize(s)
        const want = run(scalarKernel, m, inputs, s.len)
        expect(diffShards(run(wasm, m, inputs, s.len), want)).toBeUndefined()
        for (const k of natives) expect(diffShards(run(k, m, inputs, s.len), want)).toBeUndefined()
      }),
      { numRuns: 200 },
    )
  })

  it('encodes and decodes 4+2 and 10+4 (1 MiB + 3 bytes) byte-identically to the wasm kernel', () => {
    const body = materialize({ rows: 1, cols: 1, len: 1024 * 1024 + 3, offset: 5, seed: 77 }).inputs[0]!
    for (const [k, m] of [
      [4, 2],
      [10, 4],
    ] as const) {
      const { shards } = splitBody(body, k)
      const reference = new ReedSolomon(k, m, { kernel: wasm })
      const parity = reference.encode(shards)
      for (const kernel of natives) {
        const rs = new ReedSolomon(k, m, { kernel })
        expect(diffShards(rs.encode(shards), parity)).toBeUndefined()
        const stripe: (Uint8Array | undefined)[] = [...shards, ...parity]
        for (let i = 0; i < m; i++) stripe[i] = undefined // m data shards lost
        expect(diffShards(rs.reconstruct(stripe), [...shards, ...parity])).toBeUndefined()
      }
    }
  })

  it('writes shards of 4 MiB and more around the caches (streaming stores) with the same bytes', () => {
    // From 4 MiB per shard the AVX-512 path streams its outputs when they are 64-byte aligned:
    // fresh buffers (aligned as the allocator gives them) and a misaligned view of one.
    const len = 4 * 1024 * 1024 + 100
    for (const [rows, cols] of [
      [2, 4],
      [4, 10],
    ] as const) {
      const { m, inputs } = materialize({ rows, cols, len, offset: 0, seed: rows * 31 + cols })
      const want = run(wasm, m, inputs, len)
      for (const k of natives) {
        expect(diffShards(run(k, m, inputs, len), want)).toBeUndefined()
        const backing = Array.from({ length: rows }, () => new Uint8Array(len + 8))
        const views = backing.map((b) => b.subarray(8))
        k.apply(m, inputs, views)
        expect(diffShards(views, want)).toBeUndefined()
      }
    }
  })

  it('refuses shards of different lengths instead of reading past one', () => {
    for (const k of natives) {
      const m = materialize({ rows: 2, cols: 2, len: 8, offset: 0, seed: 1 }).m
      expect(() => {
        k.apply(m, [new Uint8Array(8), new Uint8Array(7)], [new Uint8Array(8), new Uint8Array(8)])
      }).toThrow(/length/)
    }
  })
})
