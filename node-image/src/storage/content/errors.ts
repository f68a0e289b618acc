export const CONTENT_ERROR_CODES = [
  /** Not a CIDv1 in canonical base32 with the dag-cbor codec and a sha2-256 multihash. */
  'INVALID_CONTENT_ID',
  /** A manifest that is malformed or inconsistent (fields, sizes, hashes, k/m). */
  'INVALID_MANIFEST',
  /** A well-formed manifest whose signature does not verify against its creator. */
  'BAD_SIGNATURE',
  /** encodeContent options are unusable (k, m, segment size, signer not the creator). */
  'INVALID_PARAMETERS',
  /** A shard index outside [0, k + m). */
  'INVALID_SHARD_INDEX',
  /** The store has no manifest for this ContentID (a shard cannot be checked without it). */
  'UNKNOWN_CONTENT',
  /** Offered shard bytes do not match the manifest (hash or length): nothing was written. */
  'SHARD_MISMATCH',
  /** A stored shard no longer matches its hash: it was quarantined and is not served. */
  'SHARD_CORRUPT',
  /** A stored manifest no longer decodes/validates/matches its ContentID: it was quarantined. */
  'MANIFEST_CORRUPT',
  /** The filesystem ran out of space (ENOSPC/EDQUOT) while writing: nothing partial was left. */
  'DISK_FULL',
  /** Fewer than k shards verified: the body cannot be reassembled. */
  'TOO_FEW_SHARDS',
  /** The decoded body does not hash to the manifest's bodyHash. */
  'BODY_MISMATCH',
] as const

export type ContentErrorCode = (typeof CONTENT_ERROR_CODES)[number]

export class ContentError extends Error {
  readonly code: ContentErrorCode
  constructor(code: ContentErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ContentError'
    this.code = code
  }
}
