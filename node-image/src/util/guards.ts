/** Shape checks for values decoded from untrusted bytes (DAG-CBOR, JSON). */

export type Obj = Record<string, unknown>

export const isObj = (v: unknown): v is Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)

export const isNat = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

export const isStr = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length <= max
