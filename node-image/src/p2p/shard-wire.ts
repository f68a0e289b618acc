import { decode, encode } from '../crypto/encoding.ts'
import { isNat, isObj, isStr } from '../util/guards.ts'
import { WireError } from './wire.ts'

/**
 * Frames of the shard protocol (`/echonet/shard/1.0.0`): one request per stream. The first frame
 * is a DAG-CBOR request; `put` is followed by raw data frames (≤ SHARD_CHUNK_BYTES each) and an
 * empty frame that ends the shard. The server answers with a DAG-CBOR response frame; a `get`
 * response is followed by data frames and an empty end frame the same way, then (when the response
 * says `trailer`) by a status frame: ok, or the error that cut the data short (SHARD_CORRUPT).
 */

export const SHARD_PROTOCOL = '/echonet/shard/1.0.0'
export const SHARD_CHUNK_BYTES = 1024 * 1024
/** Largest header frame: a manifest of 256 shards is ~34 KiB; PoSR answers carry one segment. */
export const MAX_SHARD_HEADER_BYTES = 17 * 1024 * 1024

export type ShardRequest =
  | { readonly op: 'put'; readonly cid: string; readonly index: number; readonly manifest: Uint8Array }
  | { readonly op: 'get'; readonly cid: string; readonly index: number }
  | { readonly op: 'have'; readonly cid: string }
  | { readonly op: 'inventory' }
  | {
      readonly op: 'segment'
      readonly cid: string
      readonly index: number
      readonly segment: number
      readonly challengeHeight: number
    }

export type ShardResponse =
  | { readonly ok: false; readonly code: string; readonly message: string }
  | {
      readonly ok: true
      readonly size?: number
      /**
       * get: after the data frames and the end frame comes a status frame (a ShardResponse): the
       * SSN verifies the shard while sending it, so a failure can only be told at the end.
       */
      readonly trailer?: boolean
      readonly shards?: number[]
      readonly manifest?: Uint8Array
      /** Every (ContentID, shard indexes) the SSN holds. */
      readonly inventory?: [string, number[]][]
    }

/** Bound on inventory entries in one answer (the frame limit allows ~200k). */
export const MAX_INVENTORY = 100_000

export interface SegmentAnswer {
  readonly segment: Uint8Array
  readonly path: Uint8Array[]
  /** The SSN's signature over its PosrAnswer (ledger/event.ts signPosrAnswer). */
  readonly sig: Uint8Array
}

const isIndex = (v: unknown): v is number => isNat(v) && v < 256

function frame(bytes: Uint8Array, what: string): unknown {
  try {
    return decode(bytes)
  } catch {
    throw new WireError('MALFORMED_FRAME', `${what} is not canonical DAG-CBOR`)
  }
}

export function encodeShardFrame(v: ShardRequest | ShardResponse | SegmentAnswer): Uint8Array {
  return encode(v)
}

export function decodeShardRequest(bytes: Uint8Array): ShardRequest {
  const v = frame(bytes, 'shard request')
  if (isObj(v) && v.op === 'inventory') return { op: 'inventory' }
  if (!isObj(v) || !isStr(v.cid, 100)) throw new WireError('MALFORMED_FRAME', 'bad shard request')
  const cid = v.cid
  switch (v.op) {
    case 'put':
      if (isIndex(v.index) && v.manifest instanceof Uint8Array)
        return { op: 'put', cid, index: v.index, manifest: v.manifest }
      break
    case 'get':
      if (isIndex(v.index)) return { op: 'get', cid, index: v.index }
      break
    case 'have':
      return { op: 'have', cid }
    case 'segment':
      if (isIndex(v.index) && isNat(v.segment) && isNat(v.challengeHeight))
        return { op: 'segment', cid, index: v.index, segment: v.segment, challengeHeight: v.challengeHeight }
      break
    default:
      throw new WireError('UNKNOWN_MESSAGE', 'unknown shard request op')
  }
  throw new WireError('MALFORMED_FRAME', `malformed ${v.op} request`)
}

export function decodeShardResponse(bytes: Uint8Array): ShardResponse {
  const v = frame(bytes, 'shard response')
  if (!isObj(v)) throw new WireError('MALFORMED_FRAME', 'bad shard response')
  if (v.ok === false && isStr(v.code, 64) && isStr(v.message, 1024))
    return { ok: false, code: v.code, message: v.message }
  if (v.ok !== true) throw new WireError('MALFORMED_FRAME', 'bad shard response')
  if (v.size !== undefined && !isNat(v.size)) throw new WireError('MALFORMED_FRAME', 'bad size')
  if (v.trailer !== undefined && typeof v.trailer !== 'boolean') throw new WireError('MALFORMED_FRAME', 'bad trailer')
  if (v.shards !== undefined && !(Array.isArray(v.shards) && v.shards.length <= 256 && v.shards.every(isIndex)))
    throw new WireError('MALFORMED_FRAME', 'bad shard list')
  if (v.manifest !== undefined && !(v.manifest instanceof Uint8Array))
    throw new WireError('MALFORMED_FRAME', 'bad manifest')
  if (
    v.inventory !== undefined &&
    !(
      Array.isArray(v.inventory) &&
      v.inventory.length <= MAX_INVENTORY &&
      v.inventory.every(
        (e) =>
          Array.isArray(e) &&
          e.length === 2 &&
          isStr(e[0], 100) &&
          Array.isArray(e[1]) &&
          e[1].length <= 256 &&
          (e[1] as unknown[]).every(isIndex),
      )
    )
  )
    throw new WireError('MALFORMED_FRAME', 'bad inventory')
  return {
    ok: true,
    ...(v.inventory === undefined ? {} : { inventory: v.inventory as [string, number[]][] }),
    ...(v.size === undefined ? {} : { size: v.size }),
    ...(v.trailer === undefined ? {} : { trailer: v.trailer }),
    ...(v.shards === undefined ? {} : { shards: v.shards }),
    ...(v.manifest === undefined ? {} : { manifest: v.manifest }),
  }
}

export function decodeSegmentAnswer(bytes: Uint8Array): SegmentAnswer {
  const v = frame(bytes, 'segment answer')
  if (
    !isObj(v) ||
    !(v.segment instanceof Uint8Array) ||
    !(v.sig instanceof Uint8Array) ||
    v.sig.length !== 64 ||
    !Array.isArray(v.path) ||
    v.path.length > 64 ||
    !v.path.every((p) => p instanceof Uint8Array && p.length === 32)
  )
    throw new WireError('MALFORMED_FRAME', 'bad segment answer')
  return { segment: v.segment, path: v.path as Uint8Array[], sig: v.sig }
}
