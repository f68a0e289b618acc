import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { adminPaths } from './admin-contract.ts'
import type { AdminStatus } from './admin-contract.ts'
import { NodeMetrics } from './metrics.ts'
import { adminServer, listen, parseRestartPlan, publicServer } from './server.ts'
import type { NodeApiPort } from './server.ts'
import type { ApiLog } from './serve.ts'
import { answerProblem, codeOf, rawExchange, rawRequestArb } from './raw-http-testkit.ts'
import { ApiError } from './http-util.ts'
import { encodeValue } from '../ledger/cbor.ts'
import type { StateEdit } from '../ledger/governance-payloads.ts'

/**
 * The HTTP front over real sockets (issue #15): the one-line crashes, framing errors, stalled
 * bodies and handler bugs all get a JSON answer with a stable code, and the server keeps serving.
 * The node behind it is a stand-in; e2e/testnet/fuzz.test.ts runs the same against real nodes.
 */

const TOKEN = 'unit-test-admin-token-0123456789'
const logged: { level: string; obj: object; msg: string }[] = []
const log: ApiLog = {
  error: (obj, msg) => logged.push({ level: 'error', obj, msg }),
  warn: (obj, msg) => logged.push({ level: 'warn', obj, msg }),
  debug: (obj, msg) => logged.push({ level: 'debug', obj, msg }),
}
const planned: unknown[] = []
const previewed: { edits: readonly StateEdit[]; witnesses?: readonly string[] }[] = []

const STATUS = {
  did: 'did:key:zStub',
  peerId: '12D3KooWStub',
  role: 'witness',
  chainId: 'unit',
  epoch: 0,
  mode: 'running',
  version: '0.0.0',
  finalizedHeight: 7,
  finalizedHash: '00',
  stateRoot: '00',
  highestCertifiedHeight: 7,
  highestCertifiedHash: '00',
  highestCertifiedStateRoot: '00',
  lastBlockTimeMs: 0,
  consensus: { height: 8, round: 0, step: 'propose' },
  committee: { totalPower: 1, powerNeeded: 1, powerOnline: 1, members: [] },
  mempool: { size: 0, bytes: 0 },
  peers: { connected: 0, known: 0 },
} satisfies AdminStatus

const ACCOUNT_DID = 'did:key:z6MkhTxE4qWWUJyG6Rp76KRukmU8etBqBixS7YBbRxeisD7J'

const stub: NodeApiPort = {
  submit: (events) => events.map((_, i) => ({ id: String(i), ok: false, code: 'MALFORMED_EVENT' })),
  status: () => STATUS,
  emergency: () => ({
    chainId: 'c',
    height: 7,
    stateRoot: '00',
    council: { members: [], threshold: 1 },
    pauses: [],
    paramOverrides: [],
    authorizations: {},
  }),
  account: (did) => (did === ACCOUNT_DID ? { did, balance: 5, nonce: 3 } : undefined),
  // A handler bug: what a non-ApiError from deep inside the node looks like.
  block: (height) => (height === 666 ? Promise.reject(new TypeError('boom')) : Promise.resolve(undefined)),
  checkpoints: () => Promise.resolve([]),
  ready: () => true,
  live: () => true,
  dhtStatus: () => ({ mode: 'client', routingTableSize: 0, providedCount: 0, seeds: [] }),
  dhtRebootstrap: () => Promise.resolve({ dialled: 0, routingTableSize: 0, reprovided: 0 }),
  dhtProvide: (cid) => Promise.resolve({ cid, announced: false }),
  dhtProviders: () => Promise.resolve([]),
  storageStatus: () => Promise.reject(new Error('not an SSN')),
  storageRepair: () => Promise.reject(new Error('not an SSN')),
  setRepairPriority: (p) => p,
  restartPlan: (witnesses, expiresAtMs) => {
    planned.push({ witnesses, expiresAtMs })
    return { witnesses, expiresAtMs }
  },
  restart: () => Promise.reject(new ApiError(400, 'MALFORMED_RECORD', 'no')),
  restartPreview: (edits, witnesses) => {
    previewed.push({ edits, ...(witnesses === undefined ? {} : { witnesses }) })
    return { resultingStateRoot: 'ab'.repeat(32) }
  },
  chainPage: () => Promise.resolve({ items: [], validatorSets: [], restarts: [], tip: 0 }),
}

let pub: Server
let admin: Server
const HOST = '127.0.0.1'
let pubPort = 0
let adminPort = 0

beforeAll(async () => {
  pub = publicServer(stub, new NodeMetrics(), { log, bodyTimeoutMs: 500, headersTimeoutMs: 1_000 })
  admin = adminServer(stub, TOKEN, { log, bodyTimeoutMs: 500, headersTimeoutMs: 1_000 })
  await listen(pub, HOST, 0)
  await listen(admin, HOST, 0)
  pubPort = (pub.address() as AddressInfo).port
  adminPort = (admin.address() as AddressInfo).port
})

afterAll(() => {
  pub.closeAllConnections()
  admin.closeAllConnections()
  pub.close()
  admin.close()
})

const send = (port: number, raw: string, o: { halfClose?: boolean; timeoutMs?: number; head?: boolean } = {}) =>
  rawExchange({ host: HOST, port }, raw, { timeoutMs: o.timeoutMs ?? 5_000, ...o })

async function stillServing(): Promise<void> {
  const r = await fetch(`http://${HOST}:${pubPort}/healthz`)
  expect(r.status).toBe(200)
  const a = await fetch(`http://${HOST}:${adminPort}${adminPaths.status}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  })
  expect(a.status).toBe(200)
}

describe('the crashes of issue #15', () => {
  const reproductions = {
    'GET //': 'GET // HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET http://[': 'GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET //host/path': 'GET //evil.example/x HTTP/1.1\r\nHost: x\r\n\r\n',
  }
  for (const [name, raw] of Object.entries(reproductions)) {
    it(`${name} gets a JSON 400 MALFORMED_REQUEST on both APIs (before the admin token check), and both keep serving`, async () => {
      for (const port of [pubPort, adminPort]) {
        const x = await send(port, raw)
        expect(answerProblem(x)).toBeUndefined()
        expect(x.responses[0]?.status).toBe(400)
        expect(codeOf(x.responses[0])).toBe('MALFORMED_REQUEST')
      }
      await stillServing()
    })
  }
})

describe('framing errors get JSON with a stable code, not Node’s bodiless answers', () => {
  const cases: [string, string, number, string][] = [
    ['unknown method', 'BREW / HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    [
      'Content-Length: -1',
      'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      400,
      'MALFORMED_REQUEST',
    ],
    ['NUL in a header', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    [
      'oversized headers',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'HEADERS_TOO_LARGE',
    ],
    ['Expect: foo', 'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n', 417, 'EXPECTATION_FAILED'],
    ['no Host on HTTP/1.1', 'GET /healthz HTTP/1.1\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    ['CONNECT', 'CONNECT a:1 HTTP/1.1\r\nHost: x\r\n\r\n', 405, 'METHOD_NOT_ALLOWED'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    [
      'bad chunk size',
      'POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      400,
      'MALFORMED_REQUEST',
    ],
  ]
  for (const [name, raw, status, code] of cases) {
    it(name, async () => {
      const x = await send(pubPort, raw)
      expect(answerProblem(x)).toBeUndefined()
      expect(x.responses[0]?.status).toBe(status)
      expect(codeOf(x.responses[0])).toBe(code)
    })
  }
})

describe('routes', () => {
  it('an account DID may arrive with its colons percent-encoded (encodeURIComponent) or not', async () => {
    for (const path of [`/v1/accounts/${ACCOUNT_DID}`, `/v1/accounts/${encodeURIComponent(ACCOUNT_DID)}`]) {
      const r = await fetch(`http://${HOST}:${pubPort}${path}`)
      expect(r.status, path).toBe(200)
      expect(await r.json()).toMatchObject({ nonce: 3 })
    }
  })
})

describe('pipelined requests', () => {
  it('a broken request after a good one is answered after the good one’s answer, not instead of it', async () => {
    // /metrics answers asynchronously: the parse error of the next request arrives first.
    const x = await send(pubPort, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nBREW / HTTP/1.1\r\n\r\n', {
      halfClose: false,
    })
    expect(answerProblem(x)).toBeUndefined()
    expect(x.responses.map((r) => r.status)).toEqual([200, 400])
    expect(codeOf(x.responses[1])).toBe('MALFORMED_REQUEST')
  })

  it('after a HEAD, the broken request’s answer still carries its JSON body', async () => {
    const x = await send(pubPort, 'HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n\u0000', { head: true, halfClose: false })
    expect(answerProblem(x)).toBeUndefined()
    expect(x.responses).toHaveLength(2)
    expect(codeOf(x.responses[1])).toBe('MALFORMED_REQUEST')
  })
})

describe('bodies are bounded', () => {
  it('a chunked body declaring size ffffffffffffffff and sending nothing gets 408 REQUEST_TIMEOUT and a closed connection', async () => {
    for (const [port, path, auth] of [
      [pubPort, '/v1/events', ''],
      [adminPort, adminPaths.restartPlan, `Authorization: Bearer ${TOKEN}\r\n`],
    ] as const) {
      const x = await send(
        port,
        `POST ${path} HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n`,
        { halfClose: false },
      )
      expect(answerProblem(x)).toBeUndefined()
      expect(x.responses[0]?.status).toBe(408)
      expect(codeOf(x.responses[0])).toBe('REQUEST_TIMEOUT')
    }
  })

  it('a body past the limit gets 413 PAYLOAD_TOO_LARGE however it is framed', async () => {
    const big = 'a'.repeat(70 * 1024)
    const head = `POST ${adminPaths.restartPlan} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n`
    const chunked = await send(
      adminPort,
      `${head}Transfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n`,
      {
        halfClose: false,
      },
    )
    expect(codeOf(chunked.responses[0])).toBe('PAYLOAD_TOO_LARGE')
    const declared = await send(adminPort, `${head}Content-Length: ${big.length}\r\n\r\n`, { halfClose: false })
    expect(codeOf(declared.responses[0])).toBe('PAYLOAD_TOO_LARGE')
  })
})

describe('refused bodies', () => {
  it('a client still sending a body that is too large reads the 413 (the rest is drained, not reset)', async () => {
    const r = await fetch(`http://${HOST}:${pubPort}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cbor' },
      body: new Uint8Array(9 * 1024 * 1024),
    })
    expect(r.status).toBe(413)
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE')
  })
})

describe('handler errors', () => {
  it('a non-ApiError from a handler is a 500 INTERNAL whose request id is in the log with the error', async () => {
    const x = await send(pubPort, 'GET /v1/blocks/666 HTTP/1.1\r\nHost: x\r\nX-Request-Id: req-666\r\n\r\n')
    expect(x.responses[0]?.status).toBe(500)
    expect(JSON.parse(x.responses[0]!.body)).toEqual({
      error: { code: 'INTERNAL', message: 'internal error', requestId: 'req-666' },
    })
    expect(x.responses[0]?.headers['x-request-id']).toBe('req-666')
    const entry = logged.find((l) => l.level === 'error' && (l.obj as { requestId?: string }).requestId === 'req-666')
    expect(entry?.obj).toMatchObject({ api: 'public', message: 'boom', name: 'TypeError' })
    await stillServing()
  })
})

describe('restart plan input', () => {
  const now = 1_800_000_000_000
  const body = (b: unknown) => Buffer.from(JSON.stringify(b))
  const plan = (witnesses: unknown, expiresAtMs: unknown) => () =>
    parseRestartPlan(body({ witnesses, expiresAtMs }), now)
  const codeOfThrow = (fn: () => unknown): string | undefined => {
    try {
      fn()
    } catch (err) {
      return err instanceof ApiError ? `${err.status} ${err.code}` : 'other'
    }
    return undefined
  }

  it('refuses an expiry that is not in the future, and a DID listed twice, with 400 INVALID_PLAN', () => {
    expect(codeOfThrow(plan(['did:key:za'], now - 1))).toBe('400 INVALID_PLAN')
    expect(codeOfThrow(plan(['did:key:za'], now))).toBe('400 INVALID_PLAN')
    expect(
      codeOfThrow(
        plan(
          Array.from({ length: 256 }, () => 'did:key:za'),
          now + 1,
        ),
      ),
    ).toBe('400 INVALID_PLAN')
    expect(codeOfThrow(plan(['did:key:za', 'did:key:zb', 'did:key:za'], now + 1))).toBe('400 INVALID_PLAN')
    expect(plan(['did:key:za', 'did:key:zb'], now + 60_000)()).toEqual({
      witnesses: ['did:key:za', 'did:key:zb'],
      expiresAtMs: now + 60_000,
    })
  })

  it('over HTTP: the node is never asked to plan a degenerate restart', async () => {
    const before = planned.length
    const post = (b: unknown) =>
      fetch(`http://${HOST}:${adminPort}${adminPaths.restartPlan}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(b),
      })
    const past = await post({ witnesses: ['did:key:za'], expiresAtMs: Date.now() - 1_000 })
    expect(past.status).toBe(400)
    expect(((await past.json()) as { error: { code: string } }).error.code).toBe('INVALID_PLAN')
    const dup = await post({
      witnesses: Array.from({ length: 256 }, () => 'did:key:za'),
      expiresAtMs: Date.now() + 60_000,
    })
    expect(dup.status).toBe(400)
    expect(planned.length).toBe(before)
  })
})

describe('hard-fork preview over HTTP', () => {
  const post = (b: unknown, token = TOKEN) =>
    fetch(`http://${HOST}:${adminPort}${adminPaths.restartPreview}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: typeof b === 'string' ? b : JSON.stringify(b),
    })
  const codeOfAnswer = async (r: Response) =>
    `${r.status} ${((await r.json()) as { error: { code: string } }).error.code}`
  const key = `acct/${ACCOUNT_DID}`

  it('needs the admin token, and refuses malformed edits with stable codes before the node is asked', async () => {
    const before = previewed.length
    expect(await codeOfAnswer(await post({ edits: [{ op: 'delete', key }] }, 'wrong-token'))).toBe('401 UNAUTHORIZED')
    expect(await codeOfAnswer(await post('{"edits": ['))).toBe('400 MALFORMED_JSON')
    expect(await codeOfAnswer(await post({ edits: [] }))).toBe('400 INVALID_PAYLOAD')
    expect(await codeOfAnswer(await post({ edits: [{ op: 'put', key, value: 1.5 }] }))).toBe('400 INVALID_STATE_EDIT')
    expect(await codeOfAnswer(await post({ edits: [{ op: 'put', key: 'a key', value: 1 }] }))).toBe(
      '400 INVALID_PAYLOAD',
    )
    expect(previewed.length).toBe(before)
  })

  it('hands the node canonical DAG-CBOR values and answers with what the node computed', async () => {
    const r = await post({ edits: [{ op: 'put', key, value: { nonce: 3, balance: 9, createdAt: 0 } }] })
    expect(r.status).toBe(200)
    expect(await r.json()).toEqual({ resultingStateRoot: 'ab'.repeat(32) })
    expect(previewed.at(-1)).toEqual({
      edits: [{ op: 'put', key, value: encodeValue({ balance: 9, nonce: 3, createdAt: 0 }) }],
    })
  })
})

describe('property: any raw request gets JSON with a stable code or a closed connection', () => {
  it('on the public and the admin API (bounded runs), and both keep serving', async () => {
    const paths = ['/healthz', '/readyz', '/v1/status', '/v1/events', '/v1/blocks/1', ...Object.values(adminPaths)]
    const started = Date.now()
    let runs = 0
    await fc.assert(
      fc.asyncProperty(rawRequestArb(paths, TOKEN), fc.boolean(), fc.boolean(), async (req, toAdmin, halfClose) => {
        runs++
        const x = await send(toAdmin ? adminPort : pubPort, req.payload, {
          head: req.method === 'HEAD',
          halfClose,
          timeoutMs: 8_000,
        })
        const problem = answerProblem(x)
        if (problem !== undefined) throw new Error(`${problem} for ${JSON.stringify(req.payload.slice(0, 300))}`)
      }),
      { numRuns: 500, interruptAfterTimeLimit: 8_000 },
    )
    await stillServing()
    console.log(`http fuzz (unit): ${runs} raw requests in ${Date.now() - started} ms`)
  }, 30_000)
})
