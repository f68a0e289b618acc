import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { Matrix } from './matrix.ts'
import { scalarKernel } from './scalar-kernel.ts'
import { diffShards, materialize } from './test-bytes.ts'
import { WasmKernel, sharedWasmKernel } from './wasm-kernel.ts'
import { kernelModuleBytes } from './wasm-module.ts'

// Several shapes of the SIMD kernel: every output-group size, both step widths, both swizzles, and
// a tiny working set so that even short shards cross block boundaries.
const kernels = [
  new WasmKernel(),
  new WasmKernel({ maxOutputs: 1, vectors: 1, relaxed: false, workingSet: 4096 }),
  new WasmKernel({ maxOutputs: 3, vectors: 2, relaxed: true, workingSet: 4096 }),
  new WasmKernel({ maxOutputs: 4, vectors: 1, relaxed: true, workingSet: 8192 }),
  new WasmKernel({ maxOutputs: 6, vectors: 2, relaxed: false }),
]

function run(kernel: typeof scalarKernel, m: Matrix, inputs: readonly Uint8Array[], len: number): Uint8Array[] {
  // Garbage in the outputs must be overwritten, not accumulated into.
  const outputs = Array.from({ length: m.rows }, () => new Uint8Array(len).fill(0xa5))
  kernel.apply(m, inputs, outputs)
  return outputs
}

const shape = fc.record({
  rows: fc.integer({ min: 1, max: 9 }),
  cols: fc.integer({ min: 1, max: 24 }),
  len: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 12_000 })),
  offset: fc.integer({ min: 0, max: 15 }), // misaligned views of a larger buffer
  seed: fc.integer(),
})

describe('WebAssembly SIMD kernel', () => {
  it('compiles on this engine (Node 24 has SIMD and relaxed SIMD)', () => {
    const k = sharedWasmKernel()
    expect(k).toBeDefined()
    expect(k?.relaxed).toBe(true)
  })

  it('emits a deterministic module', () => {
    const opts = { maxOutputs: 4, vectors: 2, relaxed: true }
    expect(kernelModuleBytes(opts)).toEqual(kernelModuleBytes(opts))
    expect(Array.from(kernelModuleBytes(opts).subarray(0, 8))).toEqual([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])
  })

  it('produces the same bytes as the scalar reference kernel', () => {
    fc.assert(
      fc.property(shape, fc.integer({ min: 0, max: kernels.length - 1 }), (s, which) => {
        const { m, inputs } = materialize(s)
        const want = run(scalarKernel, m, inputs, s.len)
        expect(diffShards(run(kernels[which]!, m, inputs, s.len), want)).toBeUndefined()
      }),
      { numRuns: 300 },
    )
  })

  it('handles the widest stripes: 255 inputs, and a matrix reused after other matrices', () => {
    const wide = materialize({ rows: 1, cols: 255, len: 777, offset: 3, seed: 42 })
    const tall = materialize({ rows: 128, cols: 128, len: 64, offset: 0, seed: 7 })
    for (const kernel of kernels) {
      const w1 = run(kernel, wide.m, wide.inputs, 777)
      expect(diffShards(w1, run(scalarKernel, wide.m, wide.inputs, 777))).toBeUndefined()
      expect(
        diffShards(run(kernel, tall.m, tall.inputs, 64), run(scalarKernel, tall.m, tall.inputs, 64)),
      ).toBeUndefined()
      expect(diffShards(run(kernel, wide.m, wide.inputs, 777), w1)).toBeUndefined() // tables reloaded correctly
    }
  })

  it('streams shards larger than its working set (memory stays small)', () => {
    const big = materialize({ rows: 2, cols: 4, len: 1_000_003, offset: 1, seed: 99 })
    expect(
      diffShards(run(kernels[0]!, big.m, big.inputs, 1_000_003), run(scalarKernel, big.m, big.inputs, 1_000_003)),
    ).toBeUndefined()
  })
})
