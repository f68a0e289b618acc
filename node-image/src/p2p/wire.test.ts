import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encode } from '../crypto/encoding.ts'
import { decodeMessage, decodeSyncRequest, encodeMessage, WireError } from './wire.ts'
import type { ConsensusMessage } from '../consensus/ports.ts'
import { parsePeersFile } from './peers-file.ts'

const sig = new Uint8Array(64).fill(1)
const vote: ConsensusMessage = {
  t: 'vote',
  vote: { chainId: 'c', epoch: 0, height: 3, round: 1, kind: 'prevote', blockHash: null, validator: 'did:key:zX', sig },
}

describe('p2p wire format', () => {
  it('round-trips every message kind', () => {
    const msgs: ConsensusMessage[] = [
      vote,
      {
        t: 'proposal',
        proposal: {
          chainId: 'c',
          epoch: 0,
          height: 1,
          round: 0,
          polRound: -1,
          blockHash: 'ab',
          proposer: 'did:key:zX',
          sig,
        },
        block: new Uint8Array([1]),
      },
      { t: 'events', events: [new Uint8Array([1, 2])] },
      { t: 'status', epoch: 1, height: 9 },
      {
        t: 'commit',
        block: new Uint8Array([3]),
        certificate: {
          chainId: 'c',
          epoch: 0,
          height: 1,
          round: 0,
          blockHash: 'ab',
          signatures: [{ validator: 'did:key:zX', sig }],
        },
      },
    ]
    for (const m of msgs) expect(decodeMessage(encodeMessage(m))).toEqual(m)
  })

  it('property: random bytes never crash the decoder; they are a WireError with a stable code (what was tried: arbitrary byte strings)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          decodeMessage(bytes)
        } catch (err) {
          expect(err).toBeInstanceOf(WireError)
          expect(['MALFORMED_FRAME', 'UNKNOWN_MESSAGE']).toContain((err as WireError).code)
        }
      }),
      { numRuns: 2_000 },
    )
  })

  it('property: well-formed CBOR with the wrong shape is refused (what was tried: arbitrary JSON-like values, and valid votes with one field replaced)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(() => decodeMessage(encode(v))).toThrow(WireError)
      }),
      { numRuns: 500 },
    )
    const base = (vote as unknown as { vote: Record<string, unknown> }).vote
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(base)),
        fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.uint8Array({ maxLength: 70 })),
        (key, value) => {
          const mutated = { ...base, [key]: value }
          try {
            const m = decodeMessage(encode({ t: 'vote', vote: mutated }))
            // Accepted only if the replacement is itself well-formed for that field.
            expect(m.t).toBe('vote')
          } catch (err) {
            expect(err).toBeInstanceOf(WireError)
          }
        },
      ),
      { numRuns: 500 },
    )
  })

  it('bounds sync requests', () => {
    expect(decodeSyncRequest(encode({ from: 5, max: 100_000 }))).toEqual({ kind: 'blocks', from: 5, max: 256 })
    expect(decodeSyncRequest(encode({ kind: 'headers', from: 1, max: 100_000 }))).toEqual({
      kind: 'headers',
      from: 1,
      max: 4096,
    })
    expect(decodeSyncRequest(encode({ kind: 'snapshot', height: 7 }))).toEqual({ kind: 'snapshot', height: 7 })
    expect(() => decodeSyncRequest(encode({ kind: 'other' }))).toThrow(WireError)
    expect(() => decodeSyncRequest(encode({ from: 0, max: 1 }))).toThrow(WireError)
    expect(() => decodeSyncRequest(new Uint8Array([0xff]))).toThrow(WireError)
  })

  it('parses peer files and refuses malformed ones with PEERS_FILE_INVALID', () => {
    expect(parsePeersFile('{"peers":[{"peerId":"12D3","addrs":["/ip4/127.0.0.1/tcp/1"],"did":"did:key:z1"}]}')).toEqual(
      [{ peerId: '12D3', addrs: ['/ip4/127.0.0.1/tcp/1'], did: 'did:key:z1' }],
    )
    expect(() => parsePeersFile('nope')).toThrow(expect.objectContaining({ code: 'PEERS_FILE_INVALID' }) as Error)
    expect(() => parsePeersFile('[{"peerId":1}]')).toThrow(
      expect.objectContaining({ code: 'PEERS_FILE_INVALID' }) as Error,
    )
  })
})
