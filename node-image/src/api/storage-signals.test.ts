import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { adminPaths } from './admin-contract.ts'
import type { RepairPriorityEntry, RepairPriorityList } from './admin-contract.ts'
import { AdminClient } from './admin-contract.ts'
import { NodeMetrics } from './metrics.ts'
import { adminServer, listen, publicServer } from './server.ts'
import type { NodeApiPort } from './server.ts'
import { parseShardIntakeOpen, ShardIntake } from './shard-intake.ts'
import { StorageSignalsError } from './storage-signals-routes.ts'
import type { StorageSignalsPort } from './storage-signals-routes.ts'
import { ContentError } from '../storage/content/index.ts'

/**
 * The storage-incident admin routes and the community-shard gate over real sockets; the node behind
 * them is a stand-in whose "shard" verifies only when its body is `good`.
 */

const TOKEN = 'unit-test-admin-token-0123456789'
const CID = 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const metrics = new NodeMetrics()
const intake = new ShardIntake({ registry: metrics.registry })
let saved: RepairPriorityList = { entries: [], revision: 0, updatedAtMs: 0 }
let ssn = true
const submitted: string[] = []

const signals: StorageSignalsPort = {
  shardIntake: intake,
  repairPriorities: () => {
    if (!ssn) throw new StorageSignalsError('NOT_A_STORAGE_NODE', 'not an SSN')
    return saved
  },
  setRepairPriorities: (entries: readonly RepairPriorityEntry[]) => {
    if (!ssn) return Promise.reject(new StorageSignalsError('NOT_A_STORAGE_NODE', 'not an SSN'))
    saved = { entries, revision: saved.revision + 1, updatedAtMs: 1 }
    return Promise.resolve(saved)
  },
}

const stub = {
  status: () => ({}),
  storageSignals: signals,
  contentApi: {
    publish: () => Promise.reject(new Error('unused')),
    fetch: () => Promise.reject(new Error('unused')),
    manifest: () => Promise.resolve(undefined),
    async submitShard(cid: string, index: number, body: AsyncIterable<Uint8Array>) {
      let text = ''
      for await (const c of body) text += Buffer.from(c).toString()
      submitted.push(text)
      if (text !== 'good') throw new ContentError('SHARD_MISMATCH', 'does not verify')
      return { cid, index, storedOn: 'ssn' }
    },
  },
} as unknown as NodeApiPort

let pub: Server
let adm: Server
let pubUrl = ''
let client: AdminClient

beforeAll(async () => {
  pub = publicServer(stub, metrics)
  adm = adminServer(stub, TOKEN)
  await listen(pub, '127.0.0.1', 0)
  await listen(adm, '127.0.0.1', 0)
  pubUrl = `http://127.0.0.1:${(pub.address() as AddressInfo).port}`
  client = new AdminClient(`http://127.0.0.1:${(adm.address() as AddressInfo).port}`, TOKEN)
})

afterAll(async () => {
  for (const s of [pub, adm]) await new Promise<void>((r) => s.close(() => r()))
})

const adminUrl = (path: string): string => `http://127.0.0.1:${(adm.address() as AddressInfo).port}${path}`

const put = async (body: string): Promise<{ status: number; code?: string; retry: string | null }> => {
  const r = await fetch(`${pubUrl}/v1/content/${CID}/shards/0`, { method: 'PUT', body })
  const j = (await r.json()) as { error?: { code: string } }
  return { status: r.status, ...(j.error ? { code: j.error.code } : {}), retry: r.headers.get('retry-after') }
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

describe('community-shard intake over HTTP', () => {
  it('is closed by default: 403 SHARD_INTAKE_CLOSED, the body never reaches the node', async () => {
    expect(await put('good')).toMatchObject({ status: 403, code: 'SHARD_INTAKE_CLOSED' })
    expect(submitted).toEqual([])
    expect((await client.shardIntake()).open).toBe(false)
  })

  it('refuses malformed windows with INVALID_SHARD_INTAKE and stays closed', async () => {
    const bad: unknown[] = [
      { perIpPerMinute: 5, totalPerMinute: 10 }, // no expiry
      { ttlSeconds: 60, expiresAtMs: Date.now() + 60_000, perIpPerMinute: 5, totalPerMinute: 10 }, // both
      { expiresAtMs: Date.now() - 1, perIpPerMinute: 5, totalPerMinute: 10 }, // past
      { ttlSeconds: 8 * 24 * 3600, perIpPerMinute: 5, totalPerMinute: 10 }, // too long
      { ttlSeconds: 60, perIpPerMinute: 0, totalPerMinute: 10 },
      { ttlSeconds: 60, perIpPerMinute: 1.5, totalPerMinute: 10 },
      { ttlSeconds: 60, perIpPerMinute: 5 },
      { ttlSeconds: 60, perIpPerMinute: 5, totalPerMinute: 10, extra: true },
    ]
    for (const b of bad)
      expect([JSON.stringify(b), await codeOf(client.openShardIntake(b as never))]).toEqual([
        JSON.stringify(b),
        'INVALID_SHARD_INTAKE',
      ])
    expect((await client.shardIntake()).open).toBe(false)
  })

  it('open: a verifying shard is accepted, a corrupt one refused with SHARD_MISMATCH; both counted', async () => {
    const st = await client.openShardIntake({ ttlSeconds: 60, perIpPerMinute: 3, totalPerMinute: 100, reason: 'B.5' })
    expect(st).toMatchObject({ open: true, window: { perIpPerMinute: 3, totalPerMinute: 100, reason: 'B.5' } })
    expect(await put('good')).toMatchObject({ status: 201 })
    expect(await put('rotten')).toMatchObject({ status: 422, code: 'SHARD_MISMATCH' })
    // Third from this IP is still within 3 per minute; the fourth is over.
    expect(await put('good')).toMatchObject({ status: 201 })
    const over = await put('good')
    expect(over).toMatchObject({ status: 429, code: 'SHARD_INTAKE_RATE_LIMITED' })
    expect(Number(over.retry)).toBeGreaterThanOrEqual(1)
    expect(submitted).toEqual(['good', 'rotten', 'good'])
    expect(await client.shardIntake()).toMatchObject({
      accepted: 2,
      rejected: { SHARD_INTAKE_CLOSED: 1, SHARD_MISMATCH: 1, SHARD_INTAKE_RATE_LIMITED: 1 },
    })
    const text = await metrics.registry.metrics()
    expect(text).toContain('echonet_dds_shard_intake_total{result="accepted",reason=""} 2')
    expect(text).toContain('echonet_dds_shard_intake_total{result="rejected",reason="SHARD_MISMATCH"} 1')
    expect(text).toContain('echonet_dds_shard_intake_open 1')
  })

  it('DELETE closes it', async () => {
    expect((await client.closeShardIntake()).open).toBe(false)
    expect(await put('good')).toMatchObject({ status: 403, code: 'SHARD_INTAKE_CLOSED' })
    expect(await metrics.registry.metrics()).toContain('echonet_dds_shard_intake_open 0')
  })

  it('needs the admin token', async () => {
    const r = await fetch(adminUrl(adminPaths.shardIntake), {
      method: 'PUT',
      body: JSON.stringify({ ttlSeconds: 60, perIpPerMinute: 1, totalPerMinute: 1 }),
    })
    expect(r.status).toBe(401)
    expect((await client.shardIntake()).open).toBe(false)
  })
})

describe('ShardIntake window', () => {
  it('closes by itself at its expiry, and the total limit holds across IPs', () => {
    let now = 10_000
    const i = new ShardIntake({ now: () => now })
    i.open(parseShardIntakeOpen({ ttlSeconds: 5, perIpPerMinute: 10, totalPerMinute: 2 }, now))
    expect(i.admit('10.0.0.1')).toEqual({ ok: true })
    expect(i.admit('10.0.0.2')).toEqual({ ok: true })
    expect(i.admit('10.0.0.3')).toMatchObject({ ok: false, code: 'SHARD_INTAKE_RATE_LIMITED' })
    now = 14_999
    expect(i.status().open).toBe(true)
    now = 15_000
    expect(i.status()).toMatchObject({ open: false })
    expect(i.status().window).toBeUndefined()
    expect(i.admit('10.0.0.4')).toMatchObject({ ok: false, code: 'SHARD_INTAKE_CLOSED' })
    expect(i.status().rejected).toEqual({ SHARD_INTAKE_RATE_LIMITED: 1, SHARD_INTAKE_CLOSED: 1 })
  })
})

describe('repair priorities over HTTP', () => {
  it('PUT then GET; malformed lists are refused whole with stable codes', async () => {
    const entries = [{ cid: CID, class: 'critical' as const }]
    expect(await client.setRepairPriorities(entries)).toMatchObject({ entries, revision: 1 })
    for (const bad of [
      [{ cid: CID, class: 'urgent' }],
      [{ cid: 'nope', class: 'critical' }],
      [
        { cid: CID, class: 'critical' },
        { cid: CID, class: 'recent' },
      ],
    ])
      expect(await codeOf(client.setRepairPriorities(bad as never))).toBe('INVALID_REPAIR_PRIORITIES')
    const url = adminUrl(adminPaths.repairPriorities)
    const raw = await fetch(url, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}` }, body: '{"entries":' })
    expect(((await raw.json()) as { error: { code: string } }).error.code).toBe('MALFORMED_JSON')
    const del = await fetch(url, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })
    expect([del.status, ((await del.json()) as { error: { code: string } }).error.code]).toEqual([
      405,
      'METHOD_NOT_ALLOWED',
    ])
    expect(await client.repairPriorities()).toMatchObject({ entries, revision: 1 })
  })

  it('a node that is not an SSN answers 409 NOT_A_STORAGE_NODE', async () => {
    ssn = false
    try {
      await expect(client.repairPriorities()).rejects.toMatchObject({ status: 409, code: 'NOT_A_STORAGE_NODE' })
      await expect(client.setRepairPriorities([])).rejects.toMatchObject({ status: 409, code: 'NOT_A_STORAGE_NODE' })
    } finally {
      ssn = true
    }
  })
})
