import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ErasureError, ReedSolomon, joinBody, splitBody, type ErasureErrorCode } from './index.ts'
import { diffShards } from './test-bytes.ts'

// --- An independent, deliberately naive encoder (no shared code with the implementation) ------

function naiveMul(a: number, b: number): number {
  let p = 0
  while (b !== 0) {
    if (b & 1) p ^= a
    a <<= 1
    if (a & 0x100) a ^= 0x11d
    b >>= 1
  }
  return p
}

function naivePow(a: number, n: number): number {
  let p = 1
  for (let i = 0; i < n; i++) p = naiveMul(p, a)
  return p
}

function naiveInverse(a: number): number {
  for (let x = 1; x < 256; x++) if (naiveMul(a, x) === 1) return x
  throw new Error('no inverse')
}

/** Parity rows of V · V_top^-1 with V[r][c] = r^c, by Gauss-Jordan on number[][]. */
function naiveParityRows(k: number, m: number): number[][] {
  const v = Array.from({ length: k + m }, (_, r) => Array.from({ length: k }, (_, c) => naivePow(r, c)))
  const a = v.slice(0, k).map((row) => [...row])
  const inv = Array.from({ length: k }, (_, r) => Array.from({ length: k }, (_, c): number => (r === c ? 1 : 0)))
  for (let col = 0; col < k; col++) {
    const p = a.findIndex((row, r) => r >= col && row[col] !== 0)
    ;[a[col], a[p]] = [a[p]!, a[col]!]
    ;[inv[col], inv[p]] = [inv[p]!, inv[col]!]
    const s = naiveInverse(a[col]![col]!)
    a[col] = a[col]!.map((x) => naiveMul(x, s))
    inv[col] = inv[col]!.map((x) => naiveMul(x, s))
    for (let r = 0; r < k; r++) {
      const f = a[r]![col]!
      if (r === col || f === 0) continue
      a[r] = a[r]!.map((x, c) => x ^ naiveMul(f, a[col]![c]!))
      inv[r] = inv[r]!.map((x, c) => x ^ naiveMul(f, inv[col]![c]!))
    }
  }
  return v
    .slice(k)
    .map((row) => Array.from({ length: k }, (_, c) => row.reduce((acc, x, i) => acc ^ naiveMul(x, inv[i]![c]!), 0)))
}

function naiveEncode(data: readonly Uint8Array[], m: number): Uint8Array[] {
  const rows = naiveParityRows(data.length, m)
  const len = data[0]!.length
  return rows.map((row) => {
    const out = new Uint8Array(len)
    for (let i = 0; i < len; i++) out[i] = row.reduce((acc, coef, c) => acc ^ naiveMul(coef, data[c]![i]!), 0)
    return out
  })
}

// --- helpers -----------------------------------------------------------------------------------

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

function expectCode(f: () => unknown, code: ErasureErrorCode): void {
  let caught: unknown
  try {
    f()
  } catch (err) {
    caught = err
  }
  expect(caught).toBeInstanceOf(ErasureError)
  expect((caught as ErasureError).code).toBe(code)
}

function randomShards(k: number, len: number, seed: number): Uint8Array[] {
  let x = seed | 1
  return Array.from({ length: k }, () =>
    Uint8Array.from({ length: len }, () => {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      return x & 0xff
    }),
  )
}

/** A random subset of [0, n) of exactly `count` elements, from a list of random keys. */
function pickErasures(n: number, count: number, keys: readonly number[]): number[] {
  const idx = [...Array(n).keys()]
  for (let i = n - 1; i > 0; i--) {
    const j = (keys[i % keys.length] ?? 0) % (i + 1)
    ;[idx[i], idx[j]] = [idx[j]!, idx[i]!]
  }
  return idx.slice(0, count)
}

// 'native' is the addon where it was built (native-kernel.test.ts checks that it was); otherwise the
// codec falls back to wasm and these runs repeat the wasm ones.
const backends = ['native', 'wasm-simd', 'scalar'] as const

// Mostly realistic stripes, sometimes very wide ones (k + m up to 256) with short shards.
const config = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.integer({ min: 1, max: 20 }), m: fc.integer({ min: 1, max: 8 }) }) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 2, max: 256 })
      .chain((n) => fc.integer({ min: 1, max: n - 1 }).map((k) => ({ k, m: n - k }))),
  },
)

// ReedSolomon construction (and its cached decode matrices) is reused across runs per (k, m, backend).
const codecs = new Map<string, ReedSolomon>()
function pick(b: (typeof backends)[number]): (typeof backends)[number] {
  return b === 'native' && process.env.ECHONET_SKIP_NATIVE === '1' ? 'wasm-simd' : b
}
function codec(k: number, m: number, backend: (typeof backends)[number]): ReedSolomon {
  const key = `${k}+${m}/${backend}`
  let rs = codecs.get(key)
  if (rs === undefined) codecs.set(key, (rs = new ReedSolomon(k, m, { backend: pick(backend) })))
  return rs
}

// --- tests -------------------------------------------------------------------------------------

describe('ReedSolomon known vectors', () => {
  // Data byte i = (29·i + 7) mod 256, shards cut in order. Parity produced by
  // @digitaldefiance/reed-solomon-erasure.wasm 1.0.2 (rust reed-solomon-erasure, same matrix
  // construction), an implementation that shares no code with ours.
  const vectors = [
    { k: 4, m: 2, size: 8, parity: ['1ca30919c8f8f3e1', 'd38b46c18d206114'] },
    { k: 10, m: 4, size: 4, parity: ['2c72c1ca', 'bc44dc25', 'f1492ef7', '0d14e5e5'] },
    { k: 3, m: 5, size: 6, parity: ['d17633e8852a', 'bb38aa961e53', '09ce04c44c8d', 'df9c7672b23f', '6d6ad820e0e1'] },
  ]
  for (const v of vectors) {
    it(`${v.k}+${v.m} matches the reference parity and the naive encoder`, () => {
      const body = Uint8Array.from({ length: v.k * v.size }, (_, i) => (i * 29 + 7) & 255)
      const { shards } = splitBody(body, v.k)
      for (const backend of backends) expect(codec(v.k, v.m, backend).encode(shards).map(hex)).toEqual(v.parity)
      expect(naiveEncode(shards, v.m).map(hex)).toEqual(v.parity)
    })
  }

  it('matches the naive encoder on random small stripes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer(),
        (k, m, len, seed) => {
          const data = randomShards(k, len, seed)
          expect(diffShards(codec(k, m, 'wasm-simd').encode(data), naiveEncode(data, m))).toBeUndefined()
        },
      ),
      { numRuns: 60 },
    )
  })
})

describe('ReedSolomon encode / reconstruct', () => {
  it('uses the native backend by default where it was built, else WebAssembly SIMD', () => {
    expect(new ReedSolomon(4, 2).backend).toBe(process.env.ECHONET_SKIP_NATIVE === '1' ? 'wasm-simd' : 'native')
    expect(new ReedSolomon(4, 2, { backend: 'wasm-simd' }).backend).toBe('wasm-simd')
    expect(new ReedSolomon(4, 2, { backend: 'scalar' }).backend).toBe('scalar')
  })

  it('reconstructs the original data and parity from any k shards (random k, m, sizes, erasures)', () => {
    fc.assert(
      fc.property(
        config,
        fc.integer({ min: 0, max: 300 }),
        fc.integer(),
        fc.array(fc.nat(), { minLength: 1, maxLength: 16 }),
        fc.nat(),
        fc.constantFrom(...backends),
        ({ k, m }, len0, seed, keys, lost0, backend) => {
          const len = k + m > 64 ? len0 % 48 : len0 // keep very wide stripes cheap
          const rs = codec(k, m, backend)
          const data = randomShards(k, len, seed)
          const parity = rs.encode(data)
          const original = [...data, ...parity]
          const lost = pickErasures(k + m, lost0 % (m + 1), keys)
          const shards: (Uint8Array | undefined)[] = original.map((s) => new Uint8Array(s))
          for (const i of lost) shards[i] = undefined
          const out = rs.reconstruct(shards)
          expect(out).toBe(shards) // filled in place
          expect(diffShards(out, original)).toBeUndefined()
          expect(rs.verify(out)).toBe(true)
        },
      ),
      { numRuns: 250 },
    )
  })

  it('native, SIMD and scalar backends produce identical parity', () => {
    fc.assert(
      fc.property(config, fc.integer({ min: 0, max: 2000 }), fc.integer(), ({ k, m }, len0, seed) => {
        const len = k + m > 64 ? len0 % 64 : len0
        const data = randomShards(k, len, seed)
        const want = codec(k, m, 'scalar').encode(data)
        expect(diffShards(codec(k, m, 'wasm-simd').encode(data), want)).toBeUndefined()
        expect(diffShards(codec(k, m, 'native').encode(data), want)).toBeUndefined()
      }),
      { numRuns: 80 },
    )
  })

  it('round-trips a multi-block body (1 MiB + 3 bytes, 4+2 and 10+4) losing any 2 shards', () => {
    const body = randomShards(1, 1024 * 1024 + 3, 12345)[0]!
    for (const [k, m] of [
      [4, 2],
      [10, 4],
    ] as const) {
      const rs = new ReedSolomon(k, m)
      const { shards, shardSize } = splitBody(body, k)
      const parity = rs.encode(shards)
      for (const lost of [
        [0, 1],
        [1, k],
        [k, k + 1],
        [0, k + m - 1],
      ]) {
        const stripe: (Uint8Array | undefined)[] = [...shards, ...parity]
        for (const i of lost) stripe[i] = undefined
        const data = rs.reconstructData(stripe)
        expect(data.every((s) => s.length === shardSize)).toBe(true)
        expect(hex(joinBody(data, body.length))).toBe(hex(body))
      }
    }
  })

  it('reconstructData rebuilds only data shards; parity slots stay empty', () => {
    const rs = codec(4, 2, 'wasm-simd')
    const data = randomShards(4, 100, 1)
    const parity = rs.encode(data)
    const stripe: (Uint8Array | undefined)[] = [undefined, data[1], data[2], data[3], parity[0], undefined]
    const out = rs.reconstructData(stripe)
    expect(diffShards(out, data)).toBeUndefined()
    expect(stripe[0]).toEqual(data[0])
    expect(stripe[5]).toBeUndefined()
  })

  it('with present flags, overwrites the caller’s buffers for absent shards', () => {
    const rs = codec(4, 2, 'wasm-simd')
    const data = randomShards(4, 64, 2)
    const parity = rs.encode(data)
    const buffers = [...data, ...parity].map((s) => new Uint8Array(s))
    const reused0 = buffers[0]!.fill(0xee)
    const reused5 = buffers[5]!.fill(0xee)
    rs.reconstruct(buffers, { present: [false, true, true, true, true, false] })
    expect(buffers[0]).toBe(reused0)
    expect(buffers[5]).toBe(reused5)
    expect(diffShards(buffers, [...data, ...parity])).toBeUndefined()
    expectCode(
      () =>
        rs.reconstruct([...buffers.slice(0, 5), new Uint8Array(3)], { present: [true, true, true, true, true, false] }),
      'SHARD_SIZE_MISMATCH',
    )
    expectCode(() => rs.reconstruct(buffers, { present: [true] }), 'SHARD_COUNT_MISMATCH')
    // A bad buffer for one target leaves every slot untouched (no partial writes).
    const partial: (Uint8Array | undefined)[] = [undefined, ...buffers.slice(1, 5), new Uint8Array(3)]
    expectCode(
      () => rs.reconstruct(partial, { present: [false, true, true, true, true, false] }),
      'SHARD_SIZE_MISMATCH',
    )
    expect(partial[0]).toBeUndefined()
  })

  it('encodeInto writes the same parity into caller buffers', () => {
    const rs = codec(5, 3, 'wasm-simd')
    const data = randomShards(5, 333, 3)
    const parity = Array.from({ length: 3 }, () => new Uint8Array(333).fill(1))
    rs.encodeInto(data, parity)
    expect(diffShards(parity, rs.encode(data))).toBeUndefined()
    expectCode(() => {
      rs.encodeInto(data, [new Uint8Array(333), new Uint8Array(333), new Uint8Array(332)])
    }, 'SHARD_SIZE_MISMATCH')
  })

  it('handles zero-length shards', () => {
    const rs = codec(3, 2, 'wasm-simd')
    const { shards, shardSize } = splitBody(new Uint8Array(0), 3)
    expect(shardSize).toBe(0)
    const parity = rs.encode(shards)
    expect(parity.map((p) => p.length)).toEqual([0, 0])
    expect(rs.reconstruct([undefined, shards[1], shards[2], parity[0], undefined]).map((s) => s.length)).toEqual([
      0, 0, 0, 0, 0,
    ])
  })

  it('caches decoding matrices per erasure pattern, least recently used first out', () => {
    const rs = new ReedSolomon(4, 2, { decodeCacheSize: 2 })
    const data = randomShards(4, 32, 4)
    const full = [...data, ...rs.encode(data)]
    const decode = (lost: number[]): void => {
      const s: (Uint8Array | undefined)[] = [...full]
      for (const i of lost) s[i] = undefined
      expect(diffShards(rs.reconstruct(s), full)).toBeUndefined()
    }
    expect(rs.cachedDecodeMatrices).toBe(0)
    decode([0, 1])
    decode([0, 1])
    expect(rs.cachedDecodeMatrices).toBe(1)
    decode([2, 5])
    decode([3])
    expect(rs.cachedDecodeMatrices).toBe(2)
    decode([0, 1]) // evicted earlier, rebuilt correctly
    expect(rs.cachedDecodeMatrices).toBe(2)
    expectCode(() => new ReedSolomon(4, 2, { decodeCacheSize: 0 }), 'INVALID_PARAMETERS')
  })
})

describe('ReedSolomon errors', () => {
  it('more than m erasures → TOO_FEW_SHARDS', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        fc.nat(),
        (k, m, keys, extra) => {
          const rs = codec(k, m, 'wasm-simd')
          const data = randomShards(k, 16, k * 31 + m)
          const shards: (Uint8Array | undefined)[] = [...data, ...rs.encode(data)]
          for (const i of pickErasures(k + m, m + 1 + (extra % k), keys)) shards[i] = undefined
          expectCode(() => rs.reconstruct(shards), 'TOO_FEW_SHARDS')
          expectCode(() => rs.reconstructData(shards), 'TOO_FEW_SHARDS')
        },
      ),
      { numRuns: 60 },
    )
  })

  it('shards of different sizes → SHARD_SIZE_MISMATCH', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 10 }),
        fc.integer({ min: 1, max: 4 }),
        fc.nat(),
        fc.integer({ min: 1, max: 5 }),
        (k, m, which, delta) => {
          const rs = codec(k, m, 'wasm-simd')
          const data = randomShards(k, 20, 5)
          const stripe: (Uint8Array | undefined)[] = [...data, ...rs.encode(data)]
          const bad = which % (k + m - 1) // the last slot is emptied below
          stripe[bad] = new Uint8Array(20 + delta)
          expectCode(() => rs.reconstruct([...stripe.slice(0, -1), undefined]), 'SHARD_SIZE_MISMATCH')
          expectCode(() => rs.verify(stripe as Uint8Array[]), 'SHARD_SIZE_MISMATCH')
          const d2 = [...data]
          d2[which % k] = new Uint8Array(20 + delta)
          expectCode(() => rs.encode(d2), 'SHARD_SIZE_MISMATCH')
        },
      ),
      { numRuns: 40 },
    )
  })

  it('invalid k / m → INVALID_PARAMETERS', () => {
    const bad: [number, number][] = [
      [0, 1],
      [1, 0],
      [0, 0],
      [-1, 2],
      [4, -2],
      [200, 57],
      [256, 1],
      [1, 256],
      [1.5, 2],
      [4, 2.5],
      [Number.NaN, 2],
      [4, Number.POSITIVE_INFINITY],
    ]
    for (const [k, m] of bad) expectCode(() => new ReedSolomon(k, m), 'INVALID_PARAMETERS')
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 600 }), fc.integer({ min: 1, max: 600 }), (a, b) => {
        const k = Math.max(1, a - b)
        const m = Math.max(1, 257 - k + (b % 5))
        expectCode(() => new ReedSolomon(k, m), 'INVALID_PARAMETERS')
      }),
      { numRuns: 50 },
    )
    expect(new ReedSolomon(1, 255).totalShards).toBe(256)
    expect(new ReedSolomon(255, 1).totalShards).toBe(256)
    expectCode(() => splitBody(new Uint8Array(4), 0), 'INVALID_PARAMETERS')
    expectCode(() => splitBody(new Uint8Array(4), 2.5), 'INVALID_PARAMETERS')
  })

  it('wrong number of shards → SHARD_COUNT_MISMATCH', () => {
    const rs = codec(4, 2, 'wasm-simd')
    const data = randomShards(4, 8, 6)
    expectCode(() => rs.encode(data.slice(1)), 'SHARD_COUNT_MISMATCH')
    expectCode(() => rs.reconstruct([...data, undefined]), 'SHARD_COUNT_MISMATCH')
    expectCode(() => rs.verify(data), 'SHARD_COUNT_MISMATCH')
  })
})

describe('ReedSolomon verify', () => {
  it('accepts a correct stripe and rejects any single corrupted byte', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 4 }),
        fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 65_530, max: 140_000 })),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (k, m, len, shard, at, flip) => {
          const rs = codec(k, m, 'wasm-simd')
          const data = randomShards(k, len, len + k)
          const stripe = [...data, ...rs.encode(data)]
          expect(rs.verify(stripe)).toBe(true)
          const s = shard % (k + m)
          stripe[s] = new Uint8Array(stripe[s]!)
          stripe[s][at % len]! ^= flip
          expect(rs.verify(stripe)).toBe(false)
        },
      ),
      { numRuns: 40 },
    )
  })
})

describe('splitBody / joinBody', () => {
  it('round-trip any body; padding is zero; whole shards are views', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 1, max: 255 }), (body, k) => {
        const { shards, shardSize } = splitBody(body, k)
        expect(shards).toHaveLength(k)
        expect(shardSize).toBe(Math.ceil(body.length / k))
        expect(shards.every((s) => s.length === shardSize)).toBe(true)
        expect(diffShards([joinBody(shards, body.length)], [body])).toBeUndefined()
        const tail = joinBody(shards, shardSize * k).subarray(body.length)
        expect(tail.every((b) => b === 0)).toBe(true)
        if (shardSize > 0 && body.length >= shardSize) expect(shards[0]!.buffer).toBe(body.buffer)
      }),
    )
  })

  it('rejects sizes the shards cannot hold and ragged shards', () => {
    const { shards } = splitBody(new Uint8Array(10), 3)
    expectCode(() => joinBody(shards, 13), 'INVALID_SIZE')
    expectCode(() => joinBody(shards, -1), 'INVALID_SIZE')
    expectCode(() => joinBody(shards, 1.5), 'INVALID_SIZE')
    expectCode(() => joinBody([new Uint8Array(4), new Uint8Array(3)], 5), 'SHARD_SIZE_MISMATCH')
    expect(joinBody([], 0)).toEqual(new Uint8Array(0))
  })
})
