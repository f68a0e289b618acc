export const ERASURE_ERROR_CODES = [
  /** k or m not an integer, k < 1, m < 1 or k + m > 256 (also a bad k for splitBody). */
  'INVALID_PARAMETERS',
  /** Fewer than k shards present: the stripe cannot be decoded. */
  'TOO_FEW_SHARDS',
  /** Shards of one stripe differ in length (or a buffer to fill has the wrong length). */
  'SHARD_SIZE_MISMATCH',
  /** The array of shards does not have k (encode) or k + m (reconstruct, verify) entries. */
  'SHARD_COUNT_MISMATCH',
  /** joinBody was asked for a body size that the data shards cannot hold (or not a byte count). */
  'INVALID_SIZE',
  /** A backend (native, WebAssembly SIMD) was requested explicitly but cannot run here. */
  'BACKEND_UNAVAILABLE',
] as const

export type ErasureErrorCode = (typeof ERASURE_ERROR_CODES)[number]

export class ErasureError extends Error {
  readonly code: ErasureErrorCode
  constructor(code: ErasureErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ErasureError'
    this.code = code
  }
}
