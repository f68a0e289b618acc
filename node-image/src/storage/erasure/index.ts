/** Reed-Solomon erasure coding for DDS (DESIGN §4): see reed-solomon.ts. */
export { ERASURE_ERROR_CODES, ErasureError, type ErasureErrorCode } from './errors.ts'
export {
  MAX_TOTAL_SHARDS,
  ReedSolomon,
  joinBody,
  splitBody,
  type ErasureBackend,
  type ReconstructOptions,
  type ReedSolomonOptions,
} from './reed-solomon.ts'
export { GF_POLY, gfDiv, gfInv, gfMul, gfPow } from './gf256.ts'
