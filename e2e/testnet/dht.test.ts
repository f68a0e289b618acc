import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, open, readFile, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { NodeIdentity, writeKeyFile } from '../../node-image/src/crypto/identity.ts'
import {
  MAIN_TS,
  createTestnet,
  downTestnet,
  killNode,
  startAll,
  startNode,
  waitFor,
  waitForHeight,
  LOOPBACK_TIMEOUTS,
} from '../../node-image/src/cli/testnet.ts'
import type { TestnetState } from '../../node-image/src/cli/testnet.ts'
import { AdminClient } from '../../node-image/src/api/admin-contract.ts'
import type { DhtPeerInfo } from '../../node-image/src/api/admin-contract.ts'

/**
 * Tier 2 DHT: 4 witnesses (DHT clients) + 2 seeds (DHT servers, bootstrap peers from the peer
 * list). Both seeds are killed and replaced by seeds with new identities; after the admin
 * re-bootstrap call, provider lookups work again, and a restarted witness finds the new seeds
 * from its persisted routing table (they are not in the peer list).
 */

const PREFIX = '127.0.50.'
let s: TestnetState
let dir: string | undefined
const seedPids: number[] = []

interface Seed {
  readonly name: string
  readonly peerId: string
  readonly ip: string
  readonly admin: AdminClient
  pid: number
}

async function startSeed(name: string, ip: string): Promise<Seed> {
  const id = NodeIdentity.generate()
  const sdir = join(s.dir, name)
  await mkdir(sdir, { recursive: true })
  await writeKeyFile(join(sdir, 'node.key'), id)
  const args = [
    MAIN_TS,
    'run',
    '--role',
    'seed',
    '--data-dir',
    join(sdir, 'data'),
    '--key',
    join(sdir, 'node.key'),
    '--genesis',
    join(s.dir, 'genesis.json'),
    '--p2p',
    `/ip4/${ip}/tcp/7000`,
    '--api-host',
    ip,
    '--admin-token-file',
    join(s.dir, 'admin-token'),
  ]
  const log = await open(join(sdir, 'node.log'), 'a')
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', log.fd, log.fd] })
  child.unref()
  await log.close()
  if (child.pid === undefined) throw new Error(`seed ${name} did not start`)
  seedPids.push(child.pid)
  return {
    name,
    peerId: id.peerId().toString(),
    ip,
    admin: new AdminClient(`http://${ip}:9090`, s.adminToken, { timeoutMs: 30_000 }),
    pid: child.pid,
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

function admin(name: string): AdminClient {
  const n = s.nodes.find((x) => x.name === name)
  if (!n) throw new Error(`no node ${name}`)
  return new AdminClient(n.admin, s.adminToken, { timeoutMs: 30_000 })
}

function peerIdOf(name: string): string {
  return s.nodes.find((x) => x.name === name)!.peerId
}

async function freshCid(): Promise<string> {
  return CID.createV1(0x55, await sha256.digest(randomBytes(64))).toString()
}

async function waitProvider(finder: string, cid: string, provider: string, timeoutMs = 30_000): Promise<number> {
  const t0 = Date.now()
  await waitFor(
    `${finder} finds ${provider} providing ${cid}`,
    async () => {
      try {
        const r = await admin(finder).dhtProviders(cid)
        return r.providers.some((p) => p.peerId === provider)
      } catch {
        return false
      }
    },
    timeoutMs,
    500,
  )
  return Date.now() - t0
}

const seedInfo = (x: Seed): DhtPeerInfo => ({ peerId: x.peerId, addrs: [`/ip4/${x.ip}/tcp/7000`] })

let oldSeeds: Seed[] = []
/** Provided by w0 while the old seeds were up: it must be re-advertised to the new ones. */
let earlyCid = ''

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'echonet-dht-'))
  s = await createTestnet({
    dir,
    witnesses: 4,
    standbys: 0,
    accounts: 4,
    ipPrefix: PREFIX,
    timeouts: LOOPBACK_TIMEOUTS,
  })
  oldSeeds = [await startSeed('seed-a', `${PREFIX}11`), await startSeed('seed-b', `${PREFIX}12`)]
  // Seeds are bootstrap peers: entries with role "seed" in the peer list.
  const peersFile = join(s.dir, 'peers.json')
  const list = JSON.parse(await readFile(peersFile, 'utf8')) as { peers: unknown[] }
  list.peers.push(...oldSeeds.map((x) => ({ ...seedInfo(x), role: 'seed' })))
  await writeFile(peersFile, JSON.stringify(list, null, 2))
  await startAll(s)
  await waitForHeight(
    s,
    s.nodes.map((n) => n.name),
    1,
    60_000,
  )
})

afterAll(async () => {
  for (const pid of seedPids) killPid(pid)
  if (dir !== undefined) await downTestnet(dir, true)
})

describe('testnet DHT: seeds replaced at run time', () => {
  it('seeds are DHT servers, witnesses clients; witnesses bootstrap from the seed entries', async () => {
    const st = await oldSeeds[0]!.admin.dht()
    expect(st.mode).toBe('server')
    const w = await admin('w0').dht()
    expect(w.mode).toBe('client')
    expect(w.seeds.map((x) => x.peerId).sort()).toEqual(oldSeeds.map((x) => x.peerId).sort())
    for (const n of s.nodes)
      await waitFor(`${n.name} routing table`, async () => (await admin(n.name).dht()).routingTableSize >= 2, 30_000)
  })

  it('a CID provided by one witness is found by another', async () => {
    const cid = await freshCid()
    earlyCid = cid
    const r = await admin('w0').dhtProvide(cid)
    expect(r.announced).toBe(true)
    const ms = await waitProvider('w2', cid, peerIdOf('w0'))
    console.log(`dht: provider found in ${ms} ms`)
    expect((await admin('w0').dht()).providedCount).toBe(1)
  })

  it('after all seeds are replaced by seeds with new identities, re-bootstrap restores lookups', async () => {
    for (const x of oldSeeds) killPid(x.pid)
    const fresh = [await startSeed('seed-c', `${PREFIX}13`), await startSeed('seed-d', `${PREFIX}14`)]
    for (const x of fresh)
      await waitFor(
        `${x.name} admin API`,
        async () => {
          try {
            return (await x.admin.dht()).mode === 'server'
          } catch {
            return false
          }
        },
        30_000,
      )
    const seeds = fresh.map(seedInfo)
    const t0 = Date.now()
    for (const x of fresh) await x.admin.dhtRebootstrap(seeds)
    const results = await Promise.all(s.nodes.map((n) => admin(n.name).dhtRebootstrap(seeds)))
    const rebootstrapMs = Date.now() - t0
    for (const r of results) expect(r.dialled).toBe(2)
    expect(results[0]!.reprovided).toBe(1)
    console.log(`dht: re-bootstrap of 6 nodes took ${rebootstrapMs} ms`, JSON.stringify(results))
    // Holdings announced before the seeds died are found again once re-advertised to the new ones.
    const reMs = await waitProvider('w2', earlyCid, peerIdOf('w0'))
    console.log(`dht: re-advertised CID found ${reMs} ms after re-bootstrap`)

    const cid = await freshCid()
    expect((await admin('w1').dhtProvide(cid)).announced).toBe(true)
    const ms = await waitProvider('w3', cid, peerIdOf('w1'))
    console.log(`dht: fresh CID found ${ms} ms after provide (new seeds)`)
    // The new seeds hold w1's record.
    const onSeed = await fresh[0]!.admin.dhtProviders(cid)
    expect(onSeed.providers.map((p) => p.peerId)).toContain(peerIdOf('w1'))

    // The routing table is persisted: a restarted witness re-dials the new seeds (not in its peer list).
    await killNode(s, 'w3', 'SIGTERM')
    const saved = JSON.parse(await readFile(join(s.nodes[3]!.dir, 'data', 'dht-peers.json'), 'utf8')) as {
      peerId: string
    }[]
    expect(saved.map((p) => p.peerId)).toEqual(expect.arrayContaining(fresh.map((x) => x.peerId)))
    await startNode(s, 'w3')
    await waitFor(
      'w3 routing table after restart',
      async () => {
        try {
          return (await admin('w3').dht()).routingTableSize >= 2
        } catch {
          return false
        }
      },
      30_000,
    )
    const ms2 = await waitProvider('w3', cid, peerIdOf('w1'))
    console.log(`dht: restarted witness found the provider in ${ms2} ms`)
  })
})
