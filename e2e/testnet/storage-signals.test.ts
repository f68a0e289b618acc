import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createTestnet,
  downTestnet,
  killNode,
  LOOPBACK_TIMEOUTS,
  startAll,
  startNode,
  testnetAccount,
  waitFor,
  waitForHeight,
} from '../../node-image/src/cli/testnet.ts'
import type { TestnetNode, TestnetState } from '../../node-image/src/cli/testnet.ts'
import { AdminClient, adminPaths } from '../../node-image/src/api/admin-contract.ts'
import { publishAs } from '../../node-image/src/api/publish-client.ts'
import type { AdminStatus, DhtHealthStatus, RepairPriorityEntry } from '../../node-image/src/api/admin-contract.ts'

/**
 * Tier 2, the node side of the storage-incident runbook (issue 11, scenario B): 4 witnesses, 3 SSNs
 * and 2 seeds as processes on 127.0.88.x. The DHT health a node reports follows what really
 * happens to the seeds and DHT servers (SIGKILL); an SSN's repair priorities survive its SIGKILL;
 * community-shard intake is closed until opened, verifies what it takes, is rate limited, and
 * closes by itself at its expiry.
 */

const PREFIX = '127.0.88.'
let s: TestnetState
let dir: string | undefined
const items: string[] = []

function node(name: string): TestnetNode {
  const n = s.nodes.find((x) => x.name === name)
  if (!n) throw new Error(`no node ${name}`)
  return n
}

function admin(name: string): AdminClient {
  return new AdminClient(node(name).admin, s.adminToken, { timeoutMs: 30_000 })
}

async function health(name: string): Promise<DhtHealthStatus | undefined> {
  try {
    return (await admin(name).status()).dhtHealth
  } catch {
    return undefined
  }
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

async function putShard(via: string, cid: string, index: number, body: Uint8Array): Promise<[number, string?]> {
  const r = await fetch(`${node(via).api}/v1/content/${cid}/shards/${index}`, { method: 'PUT', body })
  const j = (await r.json()) as { error?: { code: string } }
  return j.error ? [r.status, j.error.code] : [r.status]
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'echonet-storage-signals-'))
  process.env.ECHONET_REPAIR_INTERVAL_MS = '600000'
  // Health checks every 3 s, so that the test's bounded waits are short.
  process.env.ECHONET_DHT_CANARY_MS = '3000'
  s = await createTestnet({
    dir,
    witnesses: 4,
    standbys: 0,
    ssns: 3,
    seeds: 2,
    ipPrefix: PREFIX,
    accounts: 2,
    timeouts: LOOPBACK_TIMEOUTS,
  })
  await startAll(s)
  await waitForHeight(s, ['w0', 'w1', 'w2', 'w3', 'ssn0', 'ssn1', 'ssn2'], 2, 200_000)
  // A loaded machine (other testnets, a cluster) makes the first blocks slow: wait for them.
}, 240_000)

afterAll(async () => {
  if (dir) await downTestnet(dir)
})

describe('storage-incident signals on a testnet', () => {
  it('DHT health with the seeds up: both seeds connected and reachable, canary lookups succeed', async () => {
    let last: DhtHealthStatus | undefined
    await waitFor(
      'w0 reports both seeds reachable and a successful canary lookup',
      async () => {
        last = await health('w0')
        return last !== undefined && last.seedsReachable === 2 && last.canary.successes >= 1
      },
      60_000,
      500,
    )
    console.log(`[signals] w0 DHT health with seeds up: ${JSON.stringify(last)}`)
    expect(last).toMatchObject({ seedsConfigured: 2, seedsConnected: 2, seedsReachable: 2 })
    expect(last!.routingTableSize).toBeGreaterThanOrEqual(2)
    expect(last!.canary.lastSuccessMs).toBeGreaterThan(0)
    expect(last!.canary.lastProviders).toBeGreaterThanOrEqual(1)
    // The same through GET /admin/v1/dht and the Prometheus endpoint.
    expect((await admin('w0').dht()).health?.seedsConfigured).toBe(2)
    const metrics = await (await fetch(`${node('w0').api}/metrics`)).text()
    expect(metrics).toMatch(/echonet_dht_canary_lookups_total\{result="success"\} [1-9]/)
    expect(metrics).toContain('echonet_dht_seeds_configured 2')
  })

  it('community-shard intake: closed, then opened (verified, rate limited, counted), then closed by its expiry', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await publishAs(node('w1').api, testnetAccount(1), randomBytes(30_000 + i), { k: 2, m: 1 })
      expect(r.status).toBe(201)
      items.push(((await r.json()) as { cid: string }).cid)
    }
    const cid = items[0]!
    await waitFor(
      'the item registered',
      async () => {
        const m = (await (await fetch(`${node('w2').api}/v1/content/${cid}/manifest`)).json()) as {
          registeredAtHeight?: number
        }
        return m.registeredAtHeight !== undefined
      },
      60_000,
      500,
    )
    // A real shard, read from an SSN's disk (not through the code under test).
    let shard: Buffer | undefined
    let index = -1
    for (const n of ['ssn0', 'ssn1', 'ssn2']) {
      const d = join(node(n).dir, 'data', 'dds', 'shards', cid)
      const files = (await readdir(d).catch(() => [])).filter((f) => /^\d+$/.test(f))
      if (files.length > 0 && shard === undefined) {
        index = Number(files[0])
        shard = await readFile(join(d, files[0]!))
      }
    }
    expect(shard).toBeDefined()
    const corrupt = Buffer.from(shard!)
    corrupt[corrupt.length >> 1] = (corrupt[corrupt.length >> 1] ?? 0) ^ 0xff

    // Closed by default: refused before the body is looked at.
    expect(await putShard('w2', cid, index, shard!)).toEqual([403, 'SHARD_INTAKE_CLOSED'])
    expect((await admin('w2').status()).shardIntake).toMatchObject({ open: false, accepted: 0 })
    // Malformed windows are refused with a stable code, and nothing opens.
    for (const bad of [
      { perIpPerMinute: 3, totalPerMinute: 100 },
      { ttlSeconds: 0, perIpPerMinute: 3, totalPerMinute: 100 },
      { ttlSeconds: 30, perIpPerMinute: -1, totalPerMinute: 100 },
    ])
      expect(await codeOf(admin('w2').openShardIntake(bad as never))).toBe('INVALID_SHARD_INTAKE')
    expect((await admin('w2').shardIntake()).open).toBe(false)

    const opened = await admin('w2').openShardIntake({
      ttlSeconds: 20,
      perIpPerMinute: 3,
      totalPerMinute: 100,
      reason: 'test B.5',
    })
    expect(opened.open).toBe(true)
    expect(await putShard('w2', cid, index, corrupt)).toEqual([422, 'SHARD_MISMATCH'])
    expect(await putShard('w2', cid, index, shard!)).toEqual([201])
    expect(await putShard('w2', cid, index, shard!)).toEqual([201])
    // The fourth from this address within the minute is over perIpPerMinute = 3.
    const over = await fetch(`${node('w2').api}/v1/content/${cid}/shards/${index}`, { method: 'PUT', body: shard! })
    expect(over.status).toBe(429)
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('SHARD_INTAKE_RATE_LIMITED')
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    const counted = (await admin('w2').status()).shardIntake
    expect(counted).toMatchObject({
      open: true,
      accepted: 2,
      rejected: { SHARD_INTAKE_CLOSED: 1, SHARD_MISMATCH: 1, SHARD_INTAKE_RATE_LIMITED: 1 },
    })
    const metrics = await (await fetch(`${node('w2').api}/metrics`)).text()
    expect(metrics).toContain('echonet_dds_shard_intake_total{result="rejected",reason="SHARD_MISMATCH"} 1')
    expect(metrics).toContain('echonet_dds_shard_intake_total{result="accepted",reason=""} 2')

    // The window closes by itself at its expiry.
    await waitFor('the window expired', async () => !(await admin('w2').shardIntake()).open, 40_000, 500)
    expect(Date.now()).toBeGreaterThanOrEqual(opened.window!.expiresAtMs)
    expect(await putShard('w2', cid, index, shard!)).toEqual([403, 'SHARD_INTAKE_CLOSED'])
    expect((await admin('w2').shardIntake()).rejected.SHARD_INTAKE_CLOSED).toBe(2)
  })

  it('repair priorities pushed to an SSN survive its SIGKILL; malformed input gets stable codes', async () => {
    const entries: RepairPriorityEntry[] = [
      { cid: items[0]!, class: 'critical' },
      { cid: items[1]!, class: 'recent' },
    ]
    const set = await admin('ssn0').setRepairPriorities(entries)
    expect(set.entries).toEqual(entries)
    await admin('ssn0').setRepairPriority(items[1]!, 42)
    // The older numeric call: a raw-codec CID is not a ContentID.
    await expect(admin('ssn0').setRepairPriority('bafkqaaa', 1)).rejects.toMatchObject({
      status: 400,
      code: 'INVALID_CONTENT_ID',
    })
    for (const bad of [
      [{ cid: items[0]!, class: 'urgent' }],
      [{ cid: 'bafkqaaa', class: 'critical' }],
      [
        { cid: items[0]!, class: 'critical' },
        { cid: items[0]!, class: 'recent' },
      ],
    ])
      expect(await codeOf(admin('ssn0').setRepairPriorities(bad as never))).toBe('INVALID_REPAIR_PRIORITIES')
    const raw = await fetch(`${node('ssn0').admin}${adminPaths.repairPriorities}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${s.adminToken}` },
      body: '{"entries": [',
    })
    expect([raw.status, ((await raw.json()) as { error: { code: string } }).error.code]).toEqual([
      400,
      'MALFORMED_JSON',
    ])
    const noToken = await fetch(`${node('ssn0').admin}${adminPaths.repairPriorities}`, {
      method: 'PUT',
      body: JSON.stringify({ entries: [] }),
    })
    expect(noToken.status).toBe(401)
    // Witnesses do not repair.
    await expect(admin('w0').setRepairPriorities(entries)).rejects.toMatchObject({
      status: 409,
      code: 'NOT_A_STORAGE_NODE',
    })
    const before = await admin('ssn0').repairPriorities()
    expect(before.entries).toEqual(entries)

    await killNode(s, 'ssn0', 'SIGKILL')
    await startNode(s, 'ssn0')
    await waitFor(
      'ssn0 back',
      async () => {
        try {
          return (await admin('ssn0').repairPriorities()).revision >= 0
        } catch {
          return false
        }
      },
      60_000,
      500,
    )
    expect(await admin('ssn0').repairPriorities()).toEqual(before)
    expect((await admin('ssn0').storage()).priorities).toEqual([{ cid: items[1]!, priority: 42 }])
  })

  it('seeds killed: seeds reachable drops to 0; all DHT servers gone: canary lookups fail — as w0 reports', async () => {
    const t0 = Date.now()
    await killNode(s, 'seed0', 'SIGKILL')
    await killNode(s, 'seed1', 'SIGKILL')
    let h: DhtHealthStatus | undefined
    await waitFor(
      'w0 reports no seed connected or reachable',
      async () => {
        h = await health('w0')
        return h !== undefined && h.seedsConnected === 0 && h.seedsReachable === 0 && h.canary.lastCheckMs > t0
      },
      30_000,
      500,
    )
    console.log(`[signals] w0 DHT health with seeds dead, SSNs up: ${JSON.stringify(h)}`)
    expect(h!.seedsConfigured).toBe(2)
    // The SSNs are DHT servers too; with them gone no one can answer the lookup.
    const t1 = Date.now()
    for (const n of ['ssn0', 'ssn1', 'ssn2']) await killNode(s, n, 'SIGKILL')
    await waitFor(
      'w0 reports a failed canary lookup after the kill',
      async () => {
        h = await health('w0')
        return h !== undefined && h.canary.lastFailureMs > t1 && h.canary.consecutiveFailures >= 1
      },
      60_000,
      500,
    )
    console.log(`[signals] w0 DHT health with every DHT server dead: ${JSON.stringify(h)}`)
    expect(h!.canary.lastSuccessMs).toBeLessThan(h!.canary.lastFailureMs)
    expect(h!.canary.lastErrorCode).toMatch(/^(NO_PROVIDERS|LOOKUP_FAILED)$/)
    const st: AdminStatus = await admin('w0').status()
    expect(st.dhtHealth?.seedsReachable).toBe(0)
    const metrics = await (await fetch(`${node('w0').api}/metrics`)).text()
    expect(metrics).toMatch(/echonet_dht_canary_lookups_total\{result="failure"\} [1-9]/)
    expect(metrics).toContain('echonet_dht_seeds_reachable 0')
  })
})
