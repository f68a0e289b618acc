import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encode } from '../crypto/encoding.ts'
import { decodeSegmentAnswer, decodeShardRequest, decodeShardResponse, encodeShardFrame } from './shard-wire.ts'
import type { ShardRequest } from './shard-wire.ts'
import { WireError } from './wire.ts'

/** Frames of the shard protocol come from untrusted peers: anything malformed is a WireError, never a crash. */

const cid = 'bafyreieb7zsryr25xgmka74hbcxqbkd33dfbifeb6bnwzr26gwkmybkuc4'

function wireCode(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(WireError)
    return (err as WireError).code
  }
  return undefined
}

describe('shard wire', () => {
  it('round-trips every request kind', () => {
    const reqs: ShardRequest[] = [
      { op: 'put', cid, index: 3, manifest: new Uint8Array([1, 2]) },
      { op: 'get', cid, index: 0 },
      { op: 'have', cid },
      { op: 'inventory' },
      { op: 'segment', cid, index: 255, segment: 7, challengeHeight: 12 },
    ]
    for (const r of reqs) expect(decodeShardRequest(encodeShardFrame(r))).toEqual(r)
  })

  it('refuses malformed requests with stable codes', () => {
    expect(wireCode(() => decodeShardRequest(new Uint8Array([0xff, 0x00])))).toBe('MALFORMED_FRAME')
    expect(wireCode(() => decodeShardRequest(encode({ op: 'get', cid, index: 256 })))).toBe('MALFORMED_FRAME')
    expect(wireCode(() => decodeShardRequest(encode({ op: 'get', cid, index: -1 })))).toBe('MALFORMED_FRAME')
    expect(wireCode(() => decodeShardRequest(encode({ op: 'put', cid, index: 1 })))).toBe('MALFORMED_FRAME')
    expect(wireCode(() => decodeShardRequest(encode({ op: 'delete', cid })))).toBe('UNKNOWN_MESSAGE')
    expect(wireCode(() => decodeShardRequest(encode({ op: 'get', cid: 'x'.repeat(101), index: 0 })))).toBe(
      'MALFORMED_FRAME',
    )
    expect(wireCode(() => decodeShardResponse(encode({ ok: true, shards: [300] })))).toBe('MALFORMED_FRAME')
    expect(wireCode(() => decodeShardResponse(encode({ ok: true, inventory: [[cid, [1, 'x']]] })))).toBe(
      'MALFORMED_FRAME',
    )
    expect(
      wireCode(() => decodeSegmentAnswer(encode({ segment: new Uint8Array(1), path: [], sig: new Uint8Array(63) }))),
    ).toBe('MALFORMED_FRAME')
  })

  it('never throws anything but a WireError on arbitrary bytes or values (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.anything().map((v) => safeEncode(v)),
        ),
        (bytes) => {
          for (const decode of [decodeShardRequest, decodeShardResponse, decodeSegmentAnswer]) {
            try {
              decode(bytes)
            } catch (err) {
              expect(err).toBeInstanceOf(WireError)
            }
          }
        },
      ),
      { numRuns: 500 },
    )
  })
})

function safeEncode(v: unknown): Uint8Array {
  try {
    return encode(v)
  } catch {
    return new Uint8Array([0xa0])
  }
}
