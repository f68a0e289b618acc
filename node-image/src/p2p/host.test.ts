import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { P2PHost } from './host.ts'
import type { HostCallbacks } from './host.ts'

/** The sync protocol carries responses larger than lpStream's default 4 MiB read buffer. */

const big = new Uint8Array(6 * 1024 * 1024).fill(7)
const callbacks: HostCallbacks = {
  onMessage: () => undefined,
  serveSync: () => Promise.resolve({ snapshot: big }),
}
let a: P2PHost
let b: P2PHost

beforeAll(async () => {
  a = await P2PHost.create({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    callbacks,
  })
  b = await P2PHost.create({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    callbacks,
  })
  await a.node.peerStore.merge(b.peerId, { multiaddrs: b.node.getMultiaddrs() })
})

afterAll(async () => {
  await a.stop()
  await b.stop()
})

describe('P2PHost sync', () => {
  it('receives a 6 MiB sync response (a large snapshot or block batch)', async () => {
    const res = (await a.syncRequest(b.peerId.toString(), { kind: 'snapshot', height: 1 })) as { snapshot: Uint8Array }
    expect(res.snapshot.length).toBe(big.length)
  })
})
