import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encode } from '../crypto/encoding.ts'
import { decodeMessage, decodeSyncRequest, encodeMessage, WireError } from './wire.ts'
import type { ConsensusMessage } from '../consensus/ports.ts'
import { parsePeersFile, watchPeersFile } from './peers-file.ts'
import { mkdtemp, rename, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

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
        t: 'restart-ready',
        ready: { chainId: 'c', epoch: 1, height: 9, manifestHash: 'ab'.repeat(32), validator: 'did:key:zX', sig },
      },
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

describe('peers file watching', () => {
  it('re-reads the peer list when the file changes while the node runs, and reports a malformed one without dropping the last good list', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'echonet-peers-'))
    const path = join(dir, 'peers.json')
    await writeFile(path, JSON.stringify({ peers: [{ peerId: 'A', addrs: ['/ip4/127.0.0.1/tcp/1'] }] }))
    const seen: string[][] = []
    const errors: string[] = []
    const stop = watchPeersFile(
      path,
      (peers) => seen.push(peers.map((p) => p.peerId)),
      (err) => errors.push((err as Error & { code?: string }).code ?? err.message),
    )
    try {
      await expect.poll(() => seen.length, { timeout: 5_000 }).toBe(1)
      // ConfigMap-style update: a new file renamed over the old one.
      await writeFile(
        `${path}.new`,
        JSON.stringify({
          peers: [
            { peerId: 'A', addrs: [] },
            { peerId: 'B', addrs: [] },
          ],
        }),
      )
      await rename(`${path}.new`, path)
      await expect.poll(() => seen.at(-1), { timeout: 5_000 }).toEqual(['A', 'B'])
      await writeFile(path, '{broken')
      await expect.poll(() => errors.length, { timeout: 5_000 }).toBeGreaterThan(0)
      expect(errors[0]).toBe('PEERS_FILE_INVALID')
      expect(seen.at(-1)).toEqual(['A', 'B'])
    } finally {
      stop()
    }
  })
})
