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
