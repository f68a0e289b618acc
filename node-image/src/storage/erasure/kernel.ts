import type { Matrix } from './matrix.ts'

/**
 * The per-byte work of the codec: multiply a coefficient matrix by a column of shards.
 *
 *   outputs[r][i] = XOR over c of  matrix[r][c] · inputs[c][i]     for every byte offset i
 *
 * `inputs.length === matrix.cols`, `outputs.length === matrix.rows`, and every input and output has
 * the same length (the caller checks; a kernel may assume it). Outputs are overwritten, not
 * accumulated into, and must not alias inputs.
 *
 * A kernel may cache per-matrix state keyed by the Matrix object, so callers should reuse matrix
 * objects (the codec caches them) and must never mutate one after passing it in.
 */
export interface GfKernel {
  readonly name: 'native' | 'wasm-simd' | 'scalar'
  apply(matrix: Matrix, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[]): void
}
