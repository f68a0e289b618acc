import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { encode } from '../../node-image/src/crypto/encoding.ts'
import { NodeIdentity } from '../../node-image/src/crypto/identity.ts'
import { encodeEvent, signEvent } from '../../node-image/src/ledger/event.ts'
import {
  downTestnet,
  killNode,
  launchTestnet,
  nodeStatus,
  startNode,
  statusOf,
  testnetAccount,
  waitFor,
  waitForHeight,
  LOOPBACK_TIMEOUTS,
} from '../../node-image/src/cli/testnet.ts'
import type { TestnetState } from '../../node-image/src/cli/testnet.ts'
import { runLoad } from '../../node-image/src/cli/loadgen.ts'
import { AdminClient } from '../../node-image/src/api/admin-contract.ts'
import { doubleVotes, findForks, lostEvents } from '../../node-image/src/cli/drill.ts'
import { CONSENSUS_PROTOCOL, P2PHost } from '../../node-image/src/p2p/host.ts'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'

/**
 * Tier 2: real echonet-node processes on 127.0.10.x with real libp2p, LevelDB with fsync and
 * SIGKILL. Invariants are checked from outside through the public API and the vote audit logs.
 */

let s: TestnetState
let dir: string | undefined
const finalized = new Map<string, number>()

async function heightOf(name: string): Promise<number> {
  return (await statusOf(s, name))?.finalizedHeight ?? -1
}

beforeAll(async () => {
  s = await launchTestnet(
    {
      witnesses: 4,
      standbys: 1,
      accounts: 32,
      ipPrefix: '127.0.20.',
      checkpointInterval: 20,
      voteLog: true,
      timeouts: LOOPBACK_TIMEOUTS,
    },
    { tmpPrefix: 'echonet-testnet-', height: 1, timeoutMs: 60_000 },
  )
  dir = s.dir
})

afterAll(async () => {
  if (dir !== undefined) await downTestnet(dir, true)
})

describe('testnet: 4 witnesses + 1 standby', () => {
  it('finalizes submitted events; every node, including the standby, holds them', async () => {
    const r = await runLoad(s, { rate: 200, seconds: 3, senders: 16 })
    expect(r.accepted).toBeGreaterThan(400)
    expect(r.finalized).toBe(r.accepted)
    for (const [id, h] of r.finalizedAt) finalized.set(id, h)
    const top = Math.max(...r.finalizedAt.values())
    await waitForHeight(
      s,
      s.nodes.map((n) => n.name),
      top,
      30_000,
    )
    expect(await lostEvents(s, r.finalizedAt)).toBe(0)
  })

  it('rejects bad input with stable codes and keeps running (what was tried: garbage JSON, garbage CBOR, an oversized body, a forged signature, a replayed nonce, a wrong chain id)', async () => {
    const api = s.nodes[0]!.api
    const post = async (
      body: string | Uint8Array,
      type: string,
    ): Promise<{ status: number; body: { error?: { code: string }; results?: { ok: boolean; code?: string }[] } }> => {
      const r = await fetch(`${api}/v1/events`, { method: 'POST', headers: { 'content-type': type }, body })
      return { status: r.status, body: (await r.json()) as never }
    }
    expect((await post('{not json', 'application/json')).body.error?.code).toBe('MALFORMED_JSON')
    expect((await post(new Uint8Array([0xff, 0x00, 0x13]), 'application/cbor')).body.error?.code).toBe('MALFORMED_BODY')
    expect((await post(new Uint8Array(9 * 1024 * 1024), 'application/cbor')).status).toBe(413)
    const acct = testnetAccount(31)
    const nonce = ((await (await fetch(`${api}/v1/accounts/${acct.did}`)).json()) as { nonce: number }).nonce
    const good = signEvent(acct.signer, acct.did, {
      chainId: s.chainId,
      type: 'accounts.transfer',
      nonce: nonce + 1,
      fee: 1,
      payload: { to: testnetAccount(0).did, amount: 5 },
    })
    const forged = { ...good, sig: new Uint8Array(64).fill(7) }
    const wrongChain = signEvent(acct.signer, acct.did, {
      chainId: 'other-chain',
      type: 'accounts.transfer',
      nonce: nonce + 1,
      fee: 1,
      payload: { to: testnetAccount(0).did, amount: 5 },
    })
    const other = NodeIdentity.generate()
    const impostor = signEvent(other.signer, other.did, {
      chainId: s.chainId,
      type: 'accounts.transfer',
      nonce: 1,
      fee: 1,
      payload: { to: acct.did, amount: 5 },
    })
    const batch = [encodeEvent(forged), encodeEvent(wrongChain), new Uint8Array([1, 2, 3]), encodeEvent(impostor)]
    const r1 = await post(encode(batch), 'application/cbor')
    expect(r1.body.results?.map((x) => x.code)).toEqual([
      'BAD_SIGNATURE',
      'WRONG_CHAIN',
      'MALFORMED_EVENT',
      'INSUFFICIENT_FUNDS',
    ])
    const r2 = await post(encode([encodeEvent(good)]), 'application/cbor')
    expect(r2.body.results?.[0]?.ok).toBe(true)
    await waitFor(
      'transfer final',
      async () =>
        ((await (await fetch(`${api}/v1/accounts/${acct.did}`)).json()) as { nonce: number }).nonce === nonce + 1,
      20_000,
    )
    const replay = await post(encode([encodeEvent(good)]), 'application/cbor')
    expect(replay.body.results?.[0]?.code).toBe('ALREADY_FINAL')
    const reusedNonce = signEvent(acct.signer, acct.did, {
      chainId: s.chainId,
      type: 'accounts.transfer',
      nonce: nonce + 1,
      fee: 1,
      payload: { to: testnetAccount(0).did, amount: 6 },
    })
    expect((await post(encode([encodeEvent(reusedNonce)]), 'application/cbor')).body.results?.[0]?.code).toBe(
      'BAD_NONCE',
    )
    expect((await nodeStatus(s, s.nodes[0]!))?.finalizedHeight).toBeGreaterThan(0)
  })

  it('kill 1 of 4 witnesses: finality continues', async () => {
    await killNode(s, 'w3')
    const r = await runLoad(s, { rate: 100, seconds: 3, senders: 8, targets: ['w0', 'w1', 'w2'] })
    expect(r.accepted).toBeGreaterThan(100)
    expect(r.finalized).toBe(r.accepted)
    for (const [id, h] of r.finalizedAt) finalized.set(id, h)
  })

  it('kill 2 of 4: nothing is finalized without > 2/3 of power; restart them: finality resumes, no finalized block lost', async () => {
    await killNode(s, 'w2')
    await new Promise((r) => setTimeout(r, 1_000))
    const stuck = await heightOf('w0')
    await new Promise((r) => setTimeout(r, 4_000))
    // At most the block that was already in flight when w2 died can still finalize.
    expect(await heightOf('w0')).toBeLessThanOrEqual(stuck + 1)
    const frozen = await heightOf('w0')
    await startNode(s, 'w2')
    await startNode(s, 'w3')
    await waitForHeight(s, ['w0', 'w1', 'w2', 'w3', 's0'], frozen + 2, 60_000)
    const r = await runLoad(s, { rate: 100, seconds: 2, senders: 8 })
    expect(r.finalized).toBe(r.accepted)
    for (const [id, h] of r.finalizedAt) finalized.set(id, h)
    expect(await lostEvents(s, finalized)).toBe(0)
  })

  it('a witness killed with SIGKILL mid-round restarts without double-signing (every vote seen by any node is checked)', async () => {
    for (let i = 0; i < 4; i++) {
      const load = runLoad(s, { rate: 100, seconds: 2, senders: 8, targets: ['w1', 'w2'] })
      await new Promise((r) => setTimeout(r, 300 + i * 217))
      await killNode(s, 'w0', 'SIGKILL')
      await startNode(s, 'w0')
      await load
    }
    const h = await heightOf('w1')
    await waitForHeight(s, ['w0'], h, 60_000)
    const { votes, doubles } = await doubleVotes(s)
    expect(votes).toBeGreaterThan(100)
    expect(doubles).toEqual([])
  })

  it('garbage p2p frames are counted and dropped; the node keeps finalizing (what was tried: random bytes, CBOR of the wrong shape, a forged vote, an oversized length prefix)', async () => {
    const target = s.nodes[1]!
    const metric = async (): Promise<number> => {
      const text = await (await fetch(`${target.api}/metrics`)).text()
      return [...text.matchAll(/^echonet_p2p_bad_frames_total\{[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0)
    }
    const before = await metric()
    const attacker = NodeIdentity.generate()
    const host = await P2PHost.create({
      privateKey: attacker.libp2pPrivateKey(),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      callbacks: { onMessage: () => undefined, serveSync: () => Promise.resolve({ blocks: [] }) },
    })
    try {
      await host.node.peerStore.merge(peerIdFromString(target.peerId), {
        multiaddrs: [multiaddr(`/ip4/${target.ip}/tcp/7000`)],
      })
      const stream = await host.node.dialProtocol(peerIdFromString(target.peerId), CONSENSUS_PROTOCOL)
      const lp = lpStream(stream)
      await lp.write(new Uint8Array([0xde, 0xad, 0xbe, 0xef]))
      await lp.write(encode({ t: 'vote', vote: { height: 'x' } }))
      await lp.write(encode({ t: 'nonsense' }))
      const forged = {
        chainId: s.chainId,
        epoch: 0,
        height: 999_999,
        round: 0,
        kind: 'prevote',
        blockHash: null,
        validator: s.nodes[0]!.did,
        sig: new Uint8Array(64),
      }
      await lp.write(encode({ t: 'vote', vote: forged }))
      await waitFor('bad frames counted', async () => (await metric()) >= before + 3, 10_000)
      // A length prefix announcing 1 GiB: the stream is reset instead of buffering it.
      stream.send(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x04]))
    } finally {
      await host.stop()
    }
    const h = await heightOf('w1')
    await waitForHeight(s, ['w1'], h + 1, 20_000)
    const r = await runLoad(s, { rate: 50, seconds: 1, senders: 4 })
    expect(r.finalized).toBe(r.accepted)
  })

  it('a node whose data is wiped state-syncs from a verified snapshot and follows the chain again', async () => {
    const target = await heightOf('w0')
    if (target < 45) await waitForHeight(s, ['w0'], 45, 60_000)
    await killNode(s, 's0')
    const s0 = s.nodes.find((n) => n.name === 's0')!
    await rm(join(s0.dir, 'data'), { recursive: true, force: true })
    await startNode(s, 's0')
    const now = await heightOf('w0')
    await waitForHeight(s, ['s0'], now, 60_000)
    const log = await readFile(join(s0.dir, 'node.log'), 'utf8')
    expect(log).toContain('state-synced from a verified snapshot')
    const cps = await new AdminClient(s0.admin, s.adminToken).checkpoints()
    expect(cps.checkpoints.length).toBeGreaterThan(0)
  })

  it('no height ever has two different final blocks across all nodes', async () => {
    expect(await findForks(s)).toEqual([])
    const st = await nodeStatus(s, s.nodes[0]!)
    expect(st?.committee.powerOnline).toBe(st?.committee.totalPower)
  })
})
