import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { mkdtemp } from 'node:fs/promises'
import {
  createTestnet,
  downTestnet,
  killNode,
  startAll,
  startNode,
  testnetAccount,
  waitFor,
  waitForHeight,
} from '../../node-image/src/cli/testnet.ts'
import type { TestnetNode, TestnetState } from '../../node-image/src/cli/testnet.ts'
import { AdminClient } from '../../node-image/src/api/admin-contract.ts'
import { authorizeBody, hashBody, publishAs, publishHeaders } from '../../node-image/src/api/publish-client.ts'
import { encodePublishHeader, PUBLISH_AUTH_HEADER } from '../../node-image/src/ledger/publish-authorization.ts'

/**
 * Tier 2 DDS acceptance (issue 3): 4 witnesses + 6 SSNs + 3 seeds as processes on 127.0.60.x.
 * 50 items (one of 64 MiB) are published through the witnesses' public APIs; two SSNs are killed
 * and everything is fetched back and compared byte for byte; repair restores k + m shards for every
 * item (counted on the SSNs' disks, not through the code under test); a third SSN loses its whole
 * data directory, and everything is still retrievable and fully redundant again once repaired.
 */

const PREFIX = '127.0.60.'
const K = 4
const M = 2
let s: TestnetState
let dir: string | undefined

interface Item {
  cid: string
  body: Uint8Array
}
const items: Item[] = []

/** Phase durations go to the log (never asserted): where the test's time goes. */
let mark = Date.now()
function phase(label: string): void {
  console.log(`[storage] ${label}: ${((Date.now() - mark) / 1000).toFixed(1)} s`)
  mark = Date.now()
}

function node(name: string): TestnetNode {
  const n = s.nodes.find((x) => x.name === name)
  if (!n) throw new Error(`no node ${name}`)
  return n
}

function admin(name: string): AdminClient {
  return new AdminClient(node(name).admin, s.adminToken, { timeoutMs: 300_000 })
}

const ssnNames = (): string[] => s.nodes.filter((n) => n.role === 'ssn').map((n) => n.name)
const witnessNames = (): string[] => s.nodes.filter((n) => n.role === 'witness').map((n) => n.name)

/** Publishes as creator testnet account `as` (a funded genesis account; 0 unless said). */
async function publish(
  via: string,
  body: Uint8Array,
  as = 0,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await publishAs(node(via).api, testnetAccount(as), body, { chainId: s.chainId, k: K, m: M })
  return { status: res.status, json: (await res.json()) as Record<string, unknown> }
}

async function fetchBody(via: string, cid: string): Promise<Uint8Array> {
  const res = await fetch(`${node(via).api}/v1/content/${cid}`)
  if (res.status !== 200) throw new Error(`fetch ${cid} via ${via}: ${res.status} ${await res.text()}`)
  return new Uint8Array(await res.arrayBuffer())
}

/** Shard indexes of `cid` on each SSN's disk (independent of the node code). */
async function shardsOnDisk(names: string[]): Promise<Map<string, Set<number>>> {
  const out = new Map<string, Set<number>>()
  for (const name of names) {
    const root = join(node(name).dir, 'data', 'dds', 'shards')
    let cids: string[] = []
    try {
      cids = await readdir(root)
    } catch {
      continue
    }
    for (const cid of cids) {
      const set = out.get(cid) ?? new Set<number>()
      for (const f of await readdir(join(root, cid))) if (/^\d+$/.test(f)) set.add(Number(f))
      out.set(cid, set)
    }
  }
  return out
}

async function fullyRedundant(live: string[]): Promise<boolean> {
  const disk = await shardsOnDisk(live)
  return items.every((it) => disk.get(it.cid)?.size === K + M)
}

async function repairUntilRedundant(live: string[]): Promise<void> {
  await waitFor(
    `k + m shards of every item on ${live.join(',')}`,
    async () => {
      await Promise.all(live.map((n) => admin(n).storageRepair()))
      return fullyRedundant(live)
    },
    240_000,
    500,
  )
}

async function expectAllRetrievable(via: string[]): Promise<void> {
  for (const [i, it] of items.entries()) {
    const got = await fetchBody(via[i % via.length]!, it.cid)
    expect(got.length).toBe(it.body.length)
    // Every byte, not a hash of them.
    expect(Buffer.compare(Buffer.from(got), Buffer.from(it.body))).toBe(0)
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'echonet-storage-'))
  // Repairs run when the test asks (admin call), so what is checked is what the test did.
  process.env.ECHONET_REPAIR_INTERVAL_MS = '600000'
  s = await createTestnet({ dir, witnesses: 4, standbys: 0, ssns: 6, seeds: 3, ipPrefix: PREFIX, accounts: 4 })
  await startAll(s)
  await waitForHeight(s, [...witnessNames(), ...ssnNames()], 2, 90_000)
})

afterAll(async () => {
  if (dir) await downTestnet(dir)
})

describe('testnet DDS: 4 witnesses + 6 SSNs + 3 seeds', () => {
  it('keeps 50 items (one of 64 MiB) retrievable through the loss of 3 SSNs, and repair restores k + m', async () => {
    const bodies = [randomBytes(64 * 1024 * 1024), new Uint8Array(0)]
    for (let i = bodies.length; i < 50; i++) bodies.push(randomBytes(1 + ((i * 7919) % (300 * 1024))))
    const via = witnessNames()
    for (let i = 0; i < bodies.length; i += 4) {
      const batch = bodies.slice(i, i + 4)
      const published = await Promise.all(batch.map((b, j) => publish(via[(i + j) % via.length]!, b)))
      for (const [j, p] of published.entries()) {
        expect(p.status).toBe(201)
        expect(p.json.stored).toBe(K + M)
        items.push({ cid: String(p.json.cid), body: batch[j]! })
      }
    }
    expect(new Set(items.map((x) => x.cid)).size).toBe(50)
    phase('published 50 items')
    // Placement: k + m distinct SSNs per item.
    const disk = await shardsOnDisk(ssnNames())
    for (const it of items) expect(disk.get(it.cid)?.size).toBe(K + M)
    // Registered on the ledger (repair and PoSR work from the registry).
    await waitFor(
      'every item registered',
      async () => {
        for (const it of items) {
          const r = await fetch(`${node('w0').api}/v1/content/${it.cid}/manifest`)
          const m = (await r.json()) as { registeredAtHeight?: number }
          if (m.registeredAtHeight === undefined) return false
        }
        return true
      },
      60_000,
      500,
    )
    phase('all registered')
    // Provider records: a witness (DHT client) finds SSNs holding the 64 MiB item through the DHT.
    const ssnPeers = new Set(s.nodes.filter((n) => n.role === 'ssn').map((n) => n.peerId))
    await waitFor(
      'DHT providers of the 64 MiB item',
      async () => {
        const r = await admin('w3').dhtProviders(items[0]!.cid)
        return r.providers.filter((p) => ssnPeers.has(p.peerId)).length >= 1
      },
      60_000,
      1_000,
    )
    phase('provider records found')

    // Two SSNs die: everything is still retrievable, byte for byte.
    const [a, b, c, ...rest] = ssnNames()
    await killNode(s, a!)
    await killNode(s, b!)
    await expectAllRetrievable(via)
    phase('2 SSNs killed, all 50 fetched and compared')

    // Repair by the survivors: every item has k + m shards on live SSNs again.
    let live = [c!, ...rest]
    await repairUntilRedundant(live)
    phase('repaired to k + m')
    // The admin status (what the operator reads) agrees once a scan has seen the repaired state.
    expect((await admin(c!).storageRepair()).underReplicated).toBe(0)
    expect((await admin(c!).storage()).underReplicated).toBe(0)
    expect(await admin(rest[0]!).status()).toHaveProperty('storage')

    // A third SSN loses its whole data directory and comes back empty.
    await killNode(s, c!)
    await rm(join(node(c!).dir, 'data'), { recursive: true, force: true })
    await startNode(s, c!)
    await waitForHeight(s, [c!], 2, 90_000)
    phase('third SSN wiped and restarted')
    await expectAllRetrievable(via)
    phase('all 50 fetched and compared')
    live = [c!, ...rest]
    await repairUntilRedundant(live)
    phase('repaired to k + m')
    await expectAllRetrievable([...via].reverse())
    phase('all 50 fetched and compared')
  })

  it('detects a shard corrupted on disk (scrub or read check) and repairs it', async () => {
    const live = ssnNames().slice(2)
    const it0 = items[5]!
    let victim: { name: string; file: string } | undefined
    for (const name of live) {
      const d = join(node(name).dir, 'data', 'dds', 'shards', it0.cid)
      const files = await readdir(d).catch(() => [])
      if (files.length > 0) {
        victim = { name, file: join(d, files[0]!) }
        break
      }
    }
    expect(victim).toBeDefined()
    const good = await readFile(victim!.file)
    const quarantinedBefore = (await admin(victim!.name).storage()).quarantined ?? 0
    const bad = Buffer.from(good)
    bad[bad.length >> 1] = (bad[bad.length >> 1] ?? 0) ^ 0xff
    await writeFile(victim!.file, bad)
    // The file count alone cannot tell (the corrupt file is still there until detected): wait for
    // the quarantine and for k + m good shards.
    const quarantined = async (): Promise<boolean> =>
      (await readdir(join(node(victim!.name).dir, 'data', 'dds', 'quarantine'))).some((q) => q.includes(it0.cid))
    await waitFor(
      'the corrupt shard quarantined and rebuilt',
      async () => {
        await Promise.all(live.map((n) => admin(n).storageRepair()))
        return (await quarantined()) && (await fullyRedundant(live))
      },
      120_000,
      500,
    )
    expect(Buffer.compare(await readFile(victim!.file).catch(() => good), good)).toBe(0)
    expect(Buffer.compare(Buffer.from(await fetchBody('w1', it0.cid)), Buffer.from(it0.body))).toBe(0)
    // The SSN says so itself (what the operator's storage assessment reads): one more quarantined.
    expect((await admin(victim!.name).storage()).quarantined).toBeGreaterThanOrEqual(quarantinedBefore + 1)
  })

  it('refuses bad input with stable codes and leaves nothing partial on disk', async () => {
    const w = node('w2')
    const codeOf = async (r: Response): Promise<string> => ((await r.json()) as { error: { code: string } }).error.code
    // Unparsable ContentIDs.
    for (const bad of ['bafy!!', 'not-a-cid', 'bafkreiarfqfrthr2srgpowsrvvhnhv3rruhozcgwb7i5qbtotdx2iejvgu', 'Qm123']) {
      const r = await fetch(`${w.api}/v1/content/${encodeURIComponent(bad)}`)
      expect([r.status, await codeOf(r)]).toEqual([400, 'INVALID_CONTENT_ID'])
    }
    // Erasure parameters no manifest may carry.
    const abc = new TextEncoder().encode('abc')
    for (const q of ['k=0', 'k=200&m=100', 'm=0']) {
      const auth = authorizeBody(testnetAccount(0), hashBody(abc), { chainId: s.chainId })
      const r = await fetch(`${w.api}/v1/content?${q}`, { method: 'POST', body: abc, headers: publishHeaders(auth) })
      expect([r.status, await codeOf(r)]).toEqual([400, 'INVALID_PARAMETERS'])
    }
    // A truncated upload: 1 MiB of a declared 8 MiB, then the client hangs up.
    const before = await shardsOnDisk(ssnNames().slice(2))
    const sock = connect(8080, w.ip)
    await new Promise((r) => sock.once('connect', r))
    const eight = authorizeBody(
      testnetAccount(0),
      { bodyHash: 'ab'.repeat(32), size: 8 * 1024 * 1024 },
      { chainId: s.chainId },
    )
    sock.write(
      `POST /v1/content HTTP/1.1\r\nhost: ${w.ip}\r\n${PUBLISH_AUTH_HEADER}: ${encodePublishHeader(eight)}\r\n` +
        `content-length: ${8 * 1024 * 1024}\r\n\r\n`,
    )
    sock.write(randomBytes(1024 * 1024))
    await new Promise((r) => setTimeout(r, 200))
    sock.destroy()
    await waitFor(
      'the truncated upload is cleaned up',
      async () => (await readdir(join(w.dir, 'data', 'dds-work')).catch(() => [])).length === 0,
      10_000,
    )
    const after = await shardsOnDisk(ssnNames().slice(2))
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort())
    // A reader that hangs up in the middle of the 64 MiB body: the spooled shards are removed.
    const reader = connect(8080, w.ip)
    await new Promise((r) => reader.once('connect', r))
    reader.write(`GET /v1/content/${items[0]!.cid} HTTP/1.1\r\nhost: ${w.ip}\r\n\r\n`)
    await new Promise<void>((r) => reader.once('data', () => r()))
    reader.destroy()
    await waitFor(
      'the abandoned fetch is cleaned up',
      async () => (await readdir(join(w.dir, 'data', 'dds-work')).catch(() => [])).length === 0,
      20_000,
    )
    // A shard that does not match its manifest is refused; the right one is accepted.
    const it1 = items[7]!
    let holder = ''
    for (const n of ssnNames().slice(2)) {
      const held = await readdir(join(node(n).dir, 'data', 'dds', 'shards', it1.cid)).catch(() => [])
      if (held.length > 0) holder = n
    }
    expect(holder).not.toBe('')
    const files = await readdir(join(node(holder).dir, 'data', 'dds', 'shards', it1.cid))
    const index = Number(files[0])
    const shard = await readFile(join(node(holder).dir, 'data', 'dds', 'shards', it1.cid, String(index)))
    const wrong = Buffer.from(shard)
    wrong[0] = (wrong[0] ?? 0) ^ 1
    // Community intake is closed unless an operator opens a window (scenario B.5).
    await admin('w2').openShardIntake({ ttlSeconds: 600, perIpPerMinute: 100, totalPerMinute: 1_000 })
    let r = await fetch(`${w.api}/v1/content/${it1.cid}/shards/${index}`, { method: 'PUT', body: wrong })
    expect([r.status, await codeOf(r)]).toEqual([422, 'SHARD_MISMATCH'])
    r = await fetch(`${w.api}/v1/content/${it1.cid}/shards/${index}`, { method: 'PUT', body: shard.subarray(1) })
    expect([r.status, await codeOf(r)]).toEqual([422, 'SHARD_MISMATCH'])
    expect((await readdir(join(w.dir, 'data', 'dds-work')).catch(() => [])).length).toBe(0)
    r = await fetch(`${w.api}/v1/content/${it1.cid}/shards/${index}`, { method: 'PUT', body: shard })
    expect(r.status).toBe(201)
  })

  it('matches a creator re-upload to the existing ContentID by bodyHash; another creator is refused', async () => {
    const it2 = items[3]!
    // items[i] was published through witness i % 4 by creator account 0; the same creator
    // re-uploads it through another node (whose manifest differs: it signs its own).
    const through = witnessNames()[0]!
    const before = (await admin(through).status()).content
    const again = await publish(through, it2.body)
    expect(again.status).toBe(201)
    expect(again.json).toMatchObject({ cid: it2.cid, matched: true, registered: false })
    // The node counts it (admin status `content`, what the DataUnavailability runbook reports).
    expect((await admin(through).status()).content).toEqual({
      published: (before?.published ?? 0) + 1,
      reuploadsMatched: (before?.reuploadsMatched ?? 0) + 1,
    })
    // Another creator, even through the node that published it first.
    const other = await publish(witnessNames()[3 % 4]!, it2.body, 1)
    expect([other.status, (other.json.error as { code: string }).code]).toEqual([409, 'ALREADY_REGISTERED'])
  })
})
