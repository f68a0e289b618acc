/**
 * The reference kernel: plain table lookups, one byte at a time. It is the fallback where
 * WebAssembly SIMD is unavailable and the oracle the SIMD kernel is tested against, so it stays
 * obviously correct rather than clever.
 */
import { GF_MUL } from './gf256.ts'
import type { GfKernel } from './kernel.ts'
import type { Matrix } from './matrix.ts'

/** Bytes per output chunk: keeps the output chunk in L1 while every input streams past it. */
const CHUNK = 16 * 1024

export const scalarKernel: GfKernel = {
  name: 'scalar',
  apply(m: Matrix, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[]): void {
    const len = outputs[0]?.length ?? 0
    for (let start = 0; start < len; start += CHUNK) {
      const end = Math.min(len, start + CHUNK)
      for (let r = 0; r < m.rows; r++) {
        const out = outputs[r]!
        out.fill(0, start, end)
        for (let c = 0; c < m.cols; c++) {
          const coef = m.data[r * m.cols + c]!
          if (coef === 0) continue
          const inp = inputs[c]!
          if (coef === 1) {
            for (let i = start; i < end; i++) out[i]! ^= inp[i]!
          } else {
            const row = coef << 8
            for (let i = start; i < end; i++) out[i]! ^= GF_MUL[row | inp[i]!]!
          }
        }
      }
    }
  },
}
