/**
 * Arithmetic in GF(2^8) with the reducing polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d), the field
 * used by most Reed-Solomon erasure codes (Backblaze, klauspost/reedsolomon, rust
 * reed-solomon-erasure, ISA-L's default). Addition is XOR; multiplication goes through log/exp
 * tables built from the generator 2, which is primitive for 0x11d.
 *
 * Everything here is built once at module load (about 70 KiB of tables).
 */

/** The reducing polynomial, including the x^8 term. */
export const GF_POLY = 0x11d

/** EXP[i] = 2^i for i in [0, 510): doubled so that EXP[LOG[a] + LOG[b]] never needs a modulo. */
export const GF_EXP: Uint8Array = new Uint8Array(510)

/** LOG[a] = i such that 2^i = a, for a != 0. LOG[0] is meaningless (0). */
export const GF_LOG: Uint8Array = new Uint8Array(256)

/** MUL[a * 256 + b] = a · b. Row a is the "multiply by a" lookup table used by the scalar kernel. */
export const GF_MUL: Uint8Array = new Uint8Array(256 * 256)

/** INV[a] = a^-1 for a != 0; INV[0] = 0 (never used: 0 has no inverse). */
export const GF_INV: Uint8Array = new Uint8Array(256)

/**
 * Split-nibble tables for the SIMD kernel: for each coefficient c, 32 bytes:
 * bytes [0, 16) are c · x for x = 0..15 (the low nibble), bytes [16, 32) are c · (x << 4).
 * Since multiplication distributes over XOR, c · b = LO[b & 15] ^ HI[b >> 4].
 */
export const GF_NIBBLE_TABLES: Uint8Array = new Uint8Array(256 * 32)

{
  let x = 1
  for (let i = 0; i < 255; i++) {
    GF_EXP[i] = x
    GF_EXP[i + 255] = x
    GF_LOG[x] = i
    x <<= 1
    if (x & 0x100) x ^= GF_POLY
  }
  for (let a = 1; a < 256; a++) {
    const la = GF_LOG[a]!
    for (let b = 1; b < 256; b++) GF_MUL[a * 256 + b] = GF_EXP[la + GF_LOG[b]!]!
    GF_INV[a] = GF_EXP[255 - la]!
  }
  for (let c = 0; c < 256; c++) {
    for (let n = 0; n < 16; n++) {
      GF_NIBBLE_TABLES[c * 32 + n] = GF_MUL[c * 256 + n]!
      GF_NIBBLE_TABLES[c * 32 + 16 + n] = GF_MUL[c * 256 + (n << 4)]!
    }
  }
}

export function gfAdd(a: number, b: number): number {
  return a ^ b
}

export function gfMul(a: number, b: number): number {
  return GF_MUL[((a & 0xff) << 8) | (b & 0xff)]!
}

/** a^-1. Throws on 0, which has no inverse (a caller asking for it has a bug). */
export function gfInv(a: number): number {
  if ((a & 0xff) === 0) throw new RangeError('0 has no multiplicative inverse in GF(2^8)')
  return GF_INV[a & 0xff]!
}

export function gfDiv(a: number, b: number): number {
  return gfMul(a, gfInv(b))
}

/** a^n for n >= 0, with 0^0 = 1 (the convention the Vandermonde matrix needs). */
export function gfPow(a: number, n: number): number {
  if (n === 0) return 1
  if ((a & 0xff) === 0) return 0
  return GF_EXP[(GF_LOG[a & 0xff]! * n) % 255]!
}
