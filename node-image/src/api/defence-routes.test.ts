import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { adminPaths } from './admin-contract.ts'
import { NodeMetrics } from './metrics.ts'
import { adminServer, listen, publicServer } from './server.ts'
import type { NodeApiPort } from './server.ts'
import type { ContentApiPort } from './content-routes.ts'
import type { ApiLog } from './serve.ts'
import { Defences } from '../defence/defences.ts'
import { DEFAULT_LIMITS } from '../defence/limits.ts'
import { NodeIdentity } from '../crypto/identity.ts'
import { authorizeBody, hashBody, publishHeaders } from './publish-client.ts'
import type { Creator } from './publish-client.ts'
import { publishGateProblem } from './publish-gate.ts'

/**
 * The defences at the HTTP front over real sockets (issue #10): per-IP rate limits answer 429 with
 * Retry-After and a stable code, a blocklisted address is cut off, uploads in progress are bounded
 * per IP, and the admin routes that set all this refuse malformed input with stable codes. Clients
 * bind distinct loopback source addresses (127.0.80.x) so each is its own "IP".
 */

const TOKEN = 'unit-test-admin-token-0123456789'
const HOST = '127.0.0.1'
const quiet: ApiLog = { error: () => undefined, warn: () => undefined, debug: () => undefined }
const DID = NodeIdentity.generate().did

/** Creators: one that can pay, one that cannot. */
const ALICE = NodeIdentity.generate()
const BOB = NodeIdentity.generate()
const CAROL = NodeIdentity.generate()
const POOR = NodeIdentity.generate()

/**
 * A publish that consumes its body and answers once it ends (a slow upload holds its slot); its
 * authorization is checked by the node's real gate against a ledger where POOR holds nothing.
 */
const content: ContentApiPort = {
  authorizePublish: (auth) => {
    const problem = publishGateProblem(auth, {
      chainId: 'unit',
      nowMs: Date.now(),
      fee: 1,
      balanceOf: (did) => (did === POOR.did ? 0 : 100),
      nonceUsed: () => false,
    })
    if (problem !== undefined) throw problem
    return () => undefined
  },
  publish: async (body) => {
    let size = 0
    for await (const c of body) size += c.length
    return { size }
  },
  fetch: () => Promise.reject(new Error('unused')),
  manifest: () => Promise.resolve(undefined),
  submitShard: () => Promise.reject(new Error('unused')),
}
const node = {
  status: () => ({ chainId: 'unit', epoch: 0, mode: 'running', finalizedHeight: 1 }),
  live: () => true,
  ready: () => true,
  contentApi: content,
} as unknown as NodeApiPort

let d: Defences
let pub: Server
let admin: Server
let pubPort = 0
let adminPort = 0

beforeAll(async () => {
  d = Defences.inMemory({
    ...DEFAULT_LIMITS,
    httpPerIp: { ratePerSec: 0.5, burst: 3 },
    uploadsPerIp: 1,
    publishesPerDid: { ratePerSec: 0.01, burst: 2 },
    publishMiBPerDid: { ratePerSec: 1, burst: 64 },
  })
  pub = publicServer(node, new NodeMetrics(), { log: quiet, defences: d })
  admin = adminServer(node, TOKEN, { log: quiet, defences: d })
  await listen(pub, HOST, 0)
  await listen(admin, HOST, 0)
  pubPort = (pub.address() as AddressInfo).port
  adminPort = (admin.address() as AddressInfo).port
})

afterAll(async () => {
  for (const s of [pub, admin]) {
    s.closeAllConnections()
    await new Promise<void>((r) => s.close(() => r()))
  }
})

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: { error?: { code: string } } & Record<string, unknown>
}

function call(
  port: number,
  method: string,
  path: string,
  o: {
    from?: string
    body?: string
    token?: boolean
    hold?: Promise<void>
    /** Publish as this creator (the authorization covers the held part and the body). */
    as?: Creator
    headers?: Record<string, string>
  } = {},
): Promise<Answer> {
  const HELD = 'first part of a slow upload'
  const whole = new TextEncoder().encode((o.hold === undefined ? '' : HELD) + (o.body ?? ''))
  const auth = o.as === undefined ? {} : publishHeaders(authorizeBody(o.as, hashBody(whole), { chainId: 'unit' }))
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: HOST,
        port,
        method,
        path,
        agent: false,
        ...(o.from === undefined ? {} : { localAddress: o.from }),
        headers: {
          ...(o.token === true ? { authorization: `Bearer ${TOKEN}` } : {}),
          ...(o.body === undefined || o.as !== undefined ? {} : { 'content-type': 'application/json' }),
          ...auth,
          ...o.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: (text === '' ? {} : JSON.parse(text)) as Answer['body'],
          })
        })
      },
    )
    req.on('error', reject)
    if (o.hold !== undefined) {
      req.write(HELD)
      void o.hold.then(() => req.end(o.body))
    } else req.end(o.body)
  })
}

/** A loopback source address not used yet: the per-IP request limit (burst 3) stays out of the way. */
let lastIp = 0
const fresh = (): string => `127.0.81.${++lastIp}`

describe('defences at the HTTP front', () => {
  it('throttles one address with 429 RATE_LIMITED and Retry-After; another address is unaffected', async () => {
    const answers = []
    for (let i = 0; i < 4; i++) answers.push(await call(pubPort, 'GET', '/v1/status', { from: '127.0.80.1' }))
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429])
    expect(answers[3]!.body.error?.code).toBe('RATE_LIMITED')
    expect(Number(answers[3]!.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    expect((await call(pubPort, 'GET', '/v1/status', { from: '127.0.80.2' })).status).toBe(200)
  })

  it('allows one upload in progress per address: a second one is 429 TOO_MANY_UPLOADS until the first ends', async () => {
    let finish!: () => void
    const hold = new Promise<void>((r) => (finish = r))
    const first = call(pubPort, 'POST', '/v1/content', { from: '127.0.80.3', hold, body: 'rest', as: ALICE })
    await new Promise((r) => setTimeout(r, 100))
    const second = await call(pubPort, 'POST', '/v1/content', { from: '127.0.80.3', body: 'x', as: BOB })
    expect([second.status, second.body.error?.code]).toEqual([429, 'TOO_MANY_UPLOADS'])
    finish()
    expect((await first).status).toBe(201)
    expect((await call(pubPort, 'POST', '/v1/content', { from: '127.0.80.3', body: 'y', as: BOB })).status).toBe(201)
  })

  it('publishing needs a creator: anonymous, malformed, forged and unfunded publishes get stable codes', async () => {
    const anon = await call(pubPort, 'POST', '/v1/content', { from: fresh(), body: 'x' })
    expect([anon.status, anon.body.error?.code]).toEqual([401, 'PUBLISH_UNAUTHENTICATED'])
    const junk = await call(pubPort, 'POST', '/v1/content', {
      from: fresh(),
      body: 'x',
      headers: { 'x-echonet-publish-auth': 'AAAA' },
    })
    expect([junk.status, junk.body.error?.code]).toEqual([400, 'INVALID_AUTHORIZATION'])
    // Alice's authorization for "x" with Bob's key swapped in as creator: the signature is not Bob's.
    const a = authorizeBody(ALICE, hashBody(new TextEncoder().encode('x')), { chainId: 'unit' })
    const forged = publishHeaders({ auth: { ...a.auth, creator: BOB.did }, sig: a.sig })
    const bad = await call(pubPort, 'POST', '/v1/content', { from: fresh(), body: 'x', headers: forged })
    expect([bad.status, bad.body.error?.code]).toEqual([401, 'BAD_SIGNATURE'])
    const old = publishHeaders(
      authorizeBody(ALICE, hashBody(new TextEncoder().encode('x')), { chainId: 'unit', ttlMs: -1 }),
    )
    const expired = await call(pubPort, 'POST', '/v1/content', { from: fresh(), body: 'x', headers: old })
    expect([expired.status, expired.body.error?.code]).toEqual([401, 'EXPIRED'])
    const poor = await call(pubPort, 'POST', '/v1/content', { from: fresh(), body: 'x', as: POOR })
    expect([poor.status, poor.body.error?.code]).toEqual([402, 'INSUFFICIENT_FUNDS'])
    // A body of another length than the one signed for: refused on its content-length, before it is read.
    const other = await call(pubPort, 'POST', '/v1/content', {
      from: fresh(),
      body: 'xy',
      headers: { ...publishHeaders(a), 'content-length': '2' },
    })
    expect([other.status, other.body.error?.code]).toEqual([422, 'BODY_NOT_AUTHORIZED'])
  })

  it('a creator over its publish quota gets 429 QUOTA_EXCEEDED with Retry-After, before its body is read', async () => {
    const codes = []
    for (let i = 0; i < 3; i++) {
      const r = await call(pubPort, 'POST', '/v1/content', { from: fresh(), body: `body ${i}`, as: CAROL })
      codes.push([r.status, r.body.error?.code, r.headers['retry-after']])
    }
    expect(codes.slice(0, 2)).toEqual([
      [201, undefined, undefined],
      [201, undefined, undefined],
    ])
    expect(codes[2]!.slice(0, 2)).toEqual([429, 'QUOTA_EXCEEDED'])
    expect(Number(codes[2]![2])).toBeGreaterThanOrEqual(1)
    // Over the byte quota (65 MiB > 64 MiB burst): the answer comes with none of the body sent.
    const big = authorizeBody(BOB, { bodyHash: 'ab'.repeat(32), size: 65 * 1024 * 1024 }, { chainId: 'unit' })
    const r = await call(pubPort, 'POST', '/v1/content', {
      from: fresh(),
      headers: publishHeaders(big),
      hold: new Promise(() => undefined),
    })
    expect([r.status, r.body.error?.code]).toEqual([429, 'QUOTA_EXCEEDED'])
    expect(d.view().throttled.publishes).toBe(1)
    expect(d.view().throttled.publishBytes).toBe(1)
  })

  it('a blocklisted address is cut off at connect; the entry is listed, then removed', async () => {
    const add = await call(adminPort, 'POST', adminPaths.blocklist, {
      token: true,
      body: JSON.stringify({ entries: [{ kind: 'ip', value: '127.0.80.4', ttlSeconds: 60, reason: 'flood' }] }),
    })
    expect(add.status).toBe(200)
    await expect(call(pubPort, 'GET', '/v1/status', { from: '127.0.80.4' })).rejects.toThrow()
    expect((await call(pubPort, 'GET', '/v1/status', { from: '127.0.80.5' })).status).toBe(200)
    const view = await call(adminPort, 'GET', adminPaths.defences, { token: true })
    expect(view.body.blocklist).toEqual([
      { kind: 'ip', value: '127.0.80.4/32', expiresAtMs: expect.any(Number) as number, reason: 'flood' },
    ])
    const rm = await call(adminPort, 'POST', adminPaths.blocklistRemove, {
      token: true,
      body: JSON.stringify({ entries: [{ kind: 'ip', value: '127.0.80.4' }] }),
    })
    expect(rm.body.removed).toBe(1)
    expect((await call(pubPort, 'GET', '/v1/status', { from: '127.0.80.4' })).status).toBe(200)
  })

  it('admin input is checked: stable codes for each malformed body, 401 without the token', async () => {
    const cases: [string, string, string, string][] = [
      ['POST', adminPaths.blocklist, '{"entries": []}', 'INVALID_BLOCKLIST_ENTRY'],
      [
        'POST',
        adminPaths.blocklist,
        '{"entries": [{"kind": "ip", "value": "10.0.0.0/99", "ttlSeconds": 5}]}',
        'INVALID_BLOCKLIST_ENTRY',
      ],
      [
        'POST',
        adminPaths.blocklist,
        `{"entries": [{"kind": "did", "value": "${DID}", "expiresAtMs": 1}]}`,
        'INVALID_BLOCKLIST_ENTRY',
      ],
      [
        'POST',
        adminPaths.blocklist,
        '{"entries": [{"kind": "peer", "value": "nope", "ttlSeconds": 5}]}',
        'INVALID_BLOCKLIST_ENTRY',
      ],
      ['POST', adminPaths.blocklist, 'not json', 'MALFORMED_JSON'],
      ['POST', adminPaths.blocklistRemove, '{"entries": [{"kind": "dns"}]}', 'INVALID_BLOCKLIST_ENTRY'],
      [
        'PUT',
        adminPaths.limits,
        '{"limits": {"httpPerIp": {"ratePerSec": -1, "burst": 1}}, "ttlSeconds": 5}',
        'INVALID_LIMITS',
      ],
      ['PUT', adminPaths.limits, '{"limits": {"bogus": 1}, "ttlSeconds": 5}', 'INVALID_LIMITS'],
      ['PUT', adminPaths.limits, '{"limits": {"uploadsPerIp": 2}}', 'INVALID_LIMITS'],
      ['PUT', adminPaths.limits, '{"limits": {}, "ttlSeconds": 5}', 'INVALID_LIMITS'],
    ]
    for (const [method, path, body, code] of cases) {
      const a = await call(adminPort, method, path, { token: true, body })
      expect([a.status, a.body.error?.code], `${method} ${path} ${body}`).toEqual([400, code])
    }
    const anon = await call(adminPort, 'POST', adminPaths.blocklist, { body: '{"entries": []}' })
    expect([anon.status, anon.body.error?.code]).toEqual([401, 'UNAUTHORIZED'])
    expect(d.view().blocklist).toEqual([])
  })

  it('a limits override applies at once and is lifted by DELETE', async () => {
    const set = await call(adminPort, 'PUT', adminPaths.limits, {
      token: true,
      body: JSON.stringify({ limits: { uploadsPerIp: 7 }, ttlSeconds: 60, reason: 'drill' }),
    })
    expect(set.status).toBe(200)
    expect(d.limits.uploadsPerIp).toBe(7)
    expect((set.body.override as { reason?: string }).reason).toBe('drill')
    const lift = await call(adminPort, 'DELETE', adminPaths.limits, { token: true })
    expect(lift.status).toBe(200)
    expect(d.limits.uploadsPerIp).toBe(1)
  })
})
