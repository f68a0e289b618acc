import * as dagCbor from '@ipld/dag-cbor'

/**
 * Deterministic encoding: DAG-CBOR (canonical map key order, shortest integers, no floats that
 * are integers, no undefined). Everything that is hashed or signed goes through here.
 */
export function encode(value: unknown): Uint8Array {
  return dagCbor.encode(value)
}

export class DecodeError extends Error {
  readonly code = 'MALFORMED_ENCODING'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'DecodeError'
  }
}

/** Decodes DAG-CBOR; rejects non-canonical input so that one value has exactly one encoding. */
export function decode(bytes: Uint8Array): unknown {
  try {
    return dagCbor.decode(bytes)
  } catch (err) {
    throw new DecodeError(`not canonical DAG-CBOR: ${(err as Error).message}`, { cause: err })
  }
}

export const DAG_CBOR_CODE = dagCbor.code
