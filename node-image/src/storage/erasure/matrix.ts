/**
 * Dense matrices over GF(2^8), row-major in a Uint8Array. Small (at most 256 × 256) and only used
 * to build encoding and decoding matrices, so clarity wins over speed here; the per-byte work is in
 * the kernels.
 */
import { GF_MUL, gfInv, gfPow } from './gf256.ts'

export interface Matrix {
  readonly rows: number
  readonly cols: number
  /** rows × cols coefficients, row-major. */
  readonly data: Uint8Array
}

export function matrix(rows: number, cols: number, data?: Uint8Array): Matrix {
  if (data !== undefined && data.length !== rows * cols) throw new RangeError('matrix data has the wrong length')
  return { rows, cols, data: data ?? new Uint8Array(rows * cols) }
}

export function identity(n: number): Matrix {
  const m = matrix(n, n)
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1
  return m
}

export function get(m: Matrix, r: number, c: number): number {
  return m.data[r * m.cols + c]!
}

/** The rows of `m` listed in `rows`, in that order. */
export function selectRows(m: Matrix, rows: readonly number[]): Matrix {
  const out = matrix(rows.length, m.cols)
  rows.forEach((r, i) => {
    out.data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols)
  })
  return out
}

export function multiply(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) throw new RangeError(`cannot multiply ${a.rows}x${a.cols} by ${b.rows}x${b.cols}`)
  const out = matrix(a.rows, b.cols)
  for (let r = 0; r < a.rows; r++) {
    for (let i = 0; i < a.cols; i++) {
      const x = a.data[r * a.cols + i]!
      if (x === 0) continue
      const row = x << 8
      for (let c = 0; c < b.cols; c++) out.data[r * b.cols + c]! ^= GF_MUL[row | b.data[i * b.cols + c]!]!
    }
  }
  return out
}

/** The inverse of a square matrix by Gauss-Jordan elimination; throws if it is singular. */
export function invert(m: Matrix): Matrix {
  const n = m.rows
  if (m.cols !== n) throw new RangeError('only square matrices have inverses')
  const a = new Uint8Array(m.data) // working copy, reduced to the identity
  const inv = identity(n).data // receives the same row operations
  const swapRows = (buf: Uint8Array, r1: number, r2: number): void => {
    const tmp = buf.slice(r1 * n, (r1 + 1) * n)
    buf.copyWithin(r1 * n, r2 * n, (r2 + 1) * n)
    buf.set(tmp, r2 * n)
  }
  for (let col = 0; col < n; col++) {
    let pivot = col
    while (pivot < n && a[pivot * n + col] === 0) pivot++
    if (pivot === n) throw new RangeError('matrix is singular')
    if (pivot !== col) {
      swapRows(a, pivot, col)
      swapRows(inv, pivot, col)
    }
    // Scale the pivot row so the pivot is 1.
    const scale = gfInv(a[col * n + col]!) << 8
    for (let c = 0; c < n; c++) {
      a[col * n + c] = GF_MUL[scale | a[col * n + c]!]!
      inv[col * n + c] = GF_MUL[scale | inv[col * n + c]!]!
    }
    // Clear the column in every other row.
    for (let r = 0; r < n; r++) {
      const f = a[r * n + col]!
      if (r === col || f === 0) continue
      const fr = f << 8
      for (let c = 0; c < n; c++) {
        a[r * n + c]! ^= GF_MUL[fr | a[col * n + c]!]!
        inv[r * n + c]! ^= GF_MUL[fr | inv[col * n + c]!]!
      }
    }
  }
  return matrix(n, n, inv)
}

/** V[r][c] = r^c: any `cols` rows of it form a square Vandermonde matrix on distinct points. */
export function vandermonde(rows: number, cols: number): Matrix {
  if (rows > 256) throw new RangeError('GF(2^8) has only 256 distinct evaluation points')
  const m = matrix(rows, cols)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m.data[r * cols + c] = gfPow(r, c)
  return m
}

/**
 * The systematic (k + m) × k encoding matrix: V · (V_top)^-1 where V is the (k + m) × k
 * Vandermonde matrix. Its top k rows are the identity (data shards are stored as-is) and, because
 * every k × k submatrix of V is invertible and right-multiplying by an invertible matrix keeps it
 * so, every k × k submatrix of the result is invertible: any k shards decode. This is the same
 * construction as Backblaze's and rust reed-solomon-erasure's, so parity bytes match theirs.
 */
export function encodingMatrix(k: number, m: number): Matrix {
  const v = vandermonde(k + m, k)
  const top = selectRows(
    v,
    Array.from({ length: k }, (_, i) => i),
  )
  return multiply(v, invert(top))
}
