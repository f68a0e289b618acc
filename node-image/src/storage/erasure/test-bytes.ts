import { matrix, type Matrix } from './matrix.ts'

/**
 * Test helper: where two lists of shards first differ, as a short message (undefined if equal).
 * `expect(diffShards(a, b)).toBeUndefined()` fails fast with a readable message, where `toEqual` on
 * megabyte arrays would spend minutes formatting a diff (and fast-check shrinking multiplies that).
 */
export function diffShards(
  actual: readonly (Uint8Array | undefined)[],
  expected: readonly (Uint8Array | undefined)[],
): string | undefined {
  if (actual.length !== expected.length) return `${actual.length} shards, expected ${expected.length}`
  for (let s = 0; s < expected.length; s++) {
    const a = actual[s]
    const e = expected[s]
    if (a === undefined || e === undefined) {
      if (a !== e) return `shard ${s}: ${a === undefined ? 'missing' : 'present'}, expected the opposite`
      continue
    }
    if (a.length !== e.length) return `shard ${s}: ${a.length} bytes, expected ${e.length}`
    for (let i = 0; i < e.length; i++) {
      if (a[i] !== e[i]) return `shard ${s} byte ${i}: ${a[i]!}, expected ${e[i]!}`
    }
  }
  return undefined
}

/** A random coefficient matrix and input shards (misaligned views) from a small seed. */
export function materialize(s: { rows: number; cols: number; len: number; offset: number; seed: number }): {
  m: Matrix
  inputs: Uint8Array[]
} {
  // Cheap deterministic bytes from the seed (fast-check shrinks the seed, not megabytes of arrays).
  let x = s.seed | 1
  const next = (): number => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x & 0xff
  }
  const data = new Uint8Array(s.rows * s.cols)
  // Bias towards 0 and 1, which kernels are tempted to special-case.
  for (let i = 0; i < data.length; i++) data[i] = next() < 32 ? next() & 1 : next()
  const inputs = Array.from({ length: s.cols }, () => {
    const backing = new Uint8Array(s.len + s.offset)
    for (let i = 0; i < backing.length; i++) backing[i] = next()
    return backing.subarray(s.offset)
  })
  return { m: matrix(s.rows, s.cols, data), inputs }
}
