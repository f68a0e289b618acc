import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { NodeIdentity } from '../../crypto/identity.ts'
import { sha256, toHex } from '../../crypto/hash.ts'
import { verifyPayload } from '../../crypto/signing.ts'
import { posrAnswerBytesPayload } from '../../ledger/event.ts'
import {
  encodeContent,
  encodeManifest,
  manifestSegmentCount,
  ShardStore,
  signManifest,
  unsignedPart,
  verifySegment,
} from '../../storage/content/index.ts'
import { opts, pseudoRandomBytes } from '../../storage/content/testkit.ts'
import { ShardProtocol, ShardProtocolError } from '../../p2p/shard-protocol.ts'
import { SsnStorage } from './ssn-storage.ts'

/**
 * The shard protocol between two real libp2p nodes on loopback (TCP + Noise + Yamux), with an
 * SsnStorage over a real ShardStore on disk behind it.
 */

const ssnId = NodeIdentity.fromSeed(new Uint8Array(32).fill(3))
let server: Libp2p
let client: Libp2p
let store: ShardStore
let dir: string
let proto: ShardProtocol
const corrupt: string[] = []

async function node(id?: NodeIdentity): Promise<Libp2p> {
  return createLibp2p({
    ...(id ? { privateKey: id.libp2pPrivateKey() } : {}),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  })
}

async function* chunks(bytes: Uint8Array, size: number, delayMs = 0): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) {
    if (delayMs > 0) await sleep(delayMs)
    yield bytes.subarray(at, at + size)
  }
}

async function collect(it: AsyncIterable<Uint8Array>, delayMs = 0): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of it) {
    parts.push(p)
    if (delayMs > 0) await sleep(delayMs)
  }
  return new Uint8Array(Buffer.concat(parts))
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'echonet-ssn-'))
  store = await ShardStore.open(join(dir, 'dds'))
  server = await node(ssnId)
  client = await node()
  const ssn = new SsnStorage(store, ssnId, {
    onStored: () => undefined,
    onCorrupt: (cid, index) => corrupt.push(`${cid}/${index}`),
    chainId: () => 'test-chain',
  })
  await new ShardProtocol(server).serve(ssn, 64 * 1024 * 1024)
  await client.peerStore.merge(server.peerId, { multiaddrs: server.getMultiaddrs() })
  proto = new ShardProtocol(client)
})

afterAll(async () => {
  await client.stop()
  await server.stop()
  await rm(dir, { recursive: true, force: true })
})

const peer = (): string => server.peerId.toString()

describe('shard protocol', () => {
  it('stores and serves 12 MiB shards through a slow reader and a slow writer (backpressure, no overflow)', async () => {
    const body = pseudoRandomBytes(24 * 1024 * 1024, 5)
    const { cid, manifest, shards } = encodeContent(body, opts(2, 1, 64 * 1024))
    const mbytes = encodeManifest(manifest)
    // A writer that pauses between chunks and one that pushes as fast as it can.
    await proto.put(peer(), cid, 0, mbytes, chunks(shards[0]!, 256 * 1024, 1))
    await proto.put(peer(), cid, 1, mbytes, chunks(shards[1]!, 4 * 1024 * 1024))
    await proto.put(peer(), cid, 2, mbytes, chunks(shards[2]!, 1024 * 1024))
    expect(await store.list(cid)).toEqual([0, 1, 2])
    // A reader that sleeps between chunks: the server must wait (pause), not overflow or reset.
    const got = await proto.get(peer(), cid, 1)
    expect(got?.size).toBe(shards[1]!.length)
    const bytes = await collect(got!.chunks, 20)
    expect(toHex(sha256(bytes))).toBe(manifest.shards[1]!.hash)
    expect(await proto.have(peer(), cid)).toEqual({ shards: [0, 1, 2], manifest: mbytes })
    expect(await proto.inventory(peer())).toContainEqual([cid, [0, 1, 2]])
  })

  it('refuses shards that do not match the manifest, and leaves nothing on disk (property)', async () => {
    const { cid, manifest, shards } = encodeContent(pseudoRandomBytes(5000, 9), opts(3, 2))
    const mbytes = encodeManifest(manifest)
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 4 }),
        fc.oneof(
          fc.record({ kind: fc.constant('flip' as const), at: fc.nat() }),
          fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
          fc.record({ kind: fc.constant('extend' as const), at: fc.integer({ min: 1, max: 100 }) }),
        ),
        async (index, change) => {
          const good = shards[index]!
          let bad: Uint8Array
          if (change.kind === 'flip') {
            bad = good.slice()
            const at = change.at % bad.length
            bad[at] = (bad[at] ?? 0) ^ 1
          } else if (change.kind === 'truncate') {
            bad = good.slice(0, change.at % good.length)
          } else {
            bad = new Uint8Array(good.length + change.at)
            bad.set(good)
          }
          expect(await codeOf(proto.put(peer(), cid, index, mbytes, chunks(bad, 512)))).toBe('SHARD_MISMATCH')
          expect(await store.has(cid, index)).toBe(false)
          expect(await readdir(join(dir, 'dds', 'tmp'))).toEqual([])
        },
      ),
      { numRuns: 25 },
    )
  })

  it('refuses manifests with k + m > 256 or k = 0 (signed by their creator) and stores nothing', async () => {
    const { cid, manifest, shards } = encodeContent(pseudoRandomBytes(1000, 2), opts(2, 1))
    const bad = [
      { ...unsignedPart(manifest), k: 0 },
      { ...unsignedPart(manifest), k: 200, m: 100 },
    ]
    for (const u of bad) {
      const signed = signManifest(u, opts(2, 1).signer)
      const err = await codeOf(proto.put(peer(), cid, 0, encodeManifest(signed), chunks(shards[0]!, 100)))
      expect(err).toBe('INVALID_MANIFEST')
    }
    // A valid manifest under someone else's ContentID is refused too.
    const other = encodeContent(pseudoRandomBytes(1000, 3), opts(2, 1))
    expect(await codeOf(proto.put(peer(), cid, 0, encodeManifest(other.manifest), chunks(shards[0]!, 100)))).toBe(
      'INVALID_MANIFEST',
    )
    expect(await store.getManifest(cid)).toBeUndefined()
    expect(await store.has(cid, 0)).toBe(false)
  })

  it('detects a shard corrupted on disk: quarantined, reported, never served', async () => {
    const { cid, manifest, shards } = encodeContent(pseudoRandomBytes(100_000, 4), opts(2, 1, 1024))
    const mbytes = encodeManifest(manifest)
    await proto.put(peer(), cid, 0, mbytes, chunks(shards[0]!, 4096))
    const file = join(dir, 'dds', 'shards', cid, '0')
    const rotten = shards[0]!.slice()
    rotten[1234] = (rotten[1234] ?? 0) ^ 0x40
    await writeFile(file, rotten)
    // Served shards are hashed on the way out: the stream stops short and ends with the error.
    const got = await proto.get(peer(), cid, 0)
    let received = 0
    const drain = async (): Promise<void> => {
      for await (const c of got!.chunks) received += c.length
    }
    expect(await codeOf(drain())).toBe('SHARD_CORRUPT')
    expect(received).toBeLessThan(shards[0]!.length)
    expect(corrupt).toContain(`${cid}/0`)
    expect(await store.has(cid, 0)).toBe(false)
    expect((await readdir(join(dir, 'dds', 'quarantine'))).some((n) => n.startsWith(`shard-${cid}-0`))).toBe(true)
    expect(await proto.get(peer(), cid, 0)).toBeUndefined()
  })

  it('answers PoSR challenges with a segment that verifies against the manifest, signed by the SSN', async () => {
    const { cid, manifest, shards } = encodeContent(pseudoRandomBytes(50_000, 6), opts(2, 2, 1024))
    await proto.put(peer(), cid, 3, encodeManifest(manifest), chunks(shards[3]!, 4096))
    const a = await proto.segment(peer(), { cid, index: 3, segment: 7, challengeHeight: 12 })
    const count = manifestSegmentCount(manifest)
    expect(verifySegment(manifest.shards[3]!.root, 7, a.segment, a.path, count)).toBe(true)
    const answer = posrAnswerBytesPayload({
      chainId: 'test-chain',
      ssn: ssnId.did,
      cid,
      shard: 3,
      segment: 7,
      challengeHeight: 12,
      dataHash: toHex(sha256(a.segment)),
    })
    expect(verifyPayload(ssnId.did, 'posr-answer', answer, a.sig)).toBe(true)
    expect(await codeOf(proto.segment(peer(), { cid, index: 1, segment: 0, challengeHeight: 12 }))).toBe(
      'UNKNOWN_CONTENT',
    )
  })

  it('reports an unreachable peer with a stable code', async () => {
    const gone = await node()
    const id = gone.peerId.toString()
    await client.peerStore.merge(gone.peerId, { multiaddrs: gone.getMultiaddrs() })
    await gone.stop()
    const err = await proto.have(id, 'bafy').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ShardProtocolError)
    expect((err as ShardProtocolError).code).toBe('UNREACHABLE')
  })
})
