import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect } from 'node:net'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Socket } from 'node:net'
import fc from 'fast-check'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddr } from '@multiformats/multiaddr'
import {
  downTestnet,
  launchTestnet,
  nodeNamed,
  statusOf,
  waitFor,
  LOOPBACK_TIMEOUTS,
} from '../../node-image/src/cli/testnet.ts'
import type { TestnetState } from '../../node-image/src/cli/testnet.ts'
import { adminPaths } from '../../node-image/src/api/admin-contract.ts'
import { answerProblem, codeOf, rawExchange, rawRequestArb } from '../../node-image/src/api/raw-http-testkit.ts'
import type { Exchange } from '../../node-image/src/api/raw-http-testkit.ts'

/**
 * Issue #15: bad input against a real 4-witness + 1-standby testnet (node processes on
 * 127.0.70.x, attackers on 127.0.71.x). One unauthenticated `GET //` used to kill a node. Every
 * raw request here — the reproductions, framing errors, stalled bodies, a property-based stream
 * of request lines, headers and bodies, raw bytes on the libp2p port — must leave the target
 * process alive and finalizing, and each HTTP request must be answered with JSON and a stable
 * code or have its connection closed. Runs are bounded in count and time.
 */

const PREFIX = '127.0.70.'
const ATTACKER = '127.0.71.'
const TARGET = 'w0'
let s: TestnetState
let dir: string | undefined
let host = ''
let pid = 0

beforeAll(async () => {
  s = await launchTestnet(
    { witnesses: 4, standbys: 1, accounts: 4, ipPrefix: PREFIX, timeouts: LOOPBACK_TIMEOUTS },
    { tmpPrefix: 'echonet-fuzz-', height: 1, timeoutMs: 60_000 },
  )
  dir = s.dir
  const n = nodeNamed(s, TARGET)
  host = n.ip
  if (n.pid === undefined) throw new Error(`${TARGET} has no pid`)
  pid = n.pid
})

afterAll(async () => {
  if (dir !== undefined) await downTestnet(dir, true)
})

/** What killed the target: the last requests sent and the errors at the end of its log. */
async function deathReport(what: string, recent: readonly string[]): Promise<string> {
  const log = await readFile(join(nodeNamed(s, TARGET).dir, 'node.log'), 'utf8').catch(() => '')
  const errors = log
    .split('\n')
    .filter((l) => /Error|error/.test(l))
    .slice(-3)
    .map((l) => l.slice(0, 400))
  return `${what}; last requests: ${recent.join(' | ')}; end of its log: ${errors.join(' | ')}`
}

function alive(): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The target finalizes `blocks` more blocks (a generous bound; this is not a speed check). */
async function keepsFinalizing(blocks = 2): Promise<void> {
  const h0 = (await statusOf(s, TARGET))?.finalizedHeight
  expect(h0, `${TARGET} answers its admin status`).toBeTypeOf('number')
  await waitFor(
    `${TARGET} to finalize ${blocks} more blocks`,
    async () => ((await statusOf(s, TARGET))?.finalizedHeight ?? -1) >= h0! + blocks,
    30_000,
  )
}

const API = 8080
const ADMIN = 9090
const P2P = 7000

function send(port: number, raw: string, o: { halfClose?: boolean; head?: boolean; timeoutMs?: number } = {}) {
  return rawExchange({ host, port }, raw, { timeoutMs: o.timeoutMs ?? 15_000, ...o })
}

/** The first answer's status and code, after checking the answer is well-formed. */
function answer(x: Exchange): { status: number | undefined; code: string | undefined } {
  expect(answerProblem(x)).toBeUndefined()
  return { status: x.responses[0]?.status, code: codeOf(x.responses[0]) }
}

describe('issue #15 reproductions', () => {
  it('GET //, GET //host/path and GET http://[ get a JSON 400 MALFORMED_REQUEST on the public and the admin port; the node keeps running and finalizing', async () => {
    const lines = ['GET // HTTP/1.1', 'GET //evil.example/x HTTP/1.1', 'GET http://[ HTTP/1.1']
    for (const port of [API, ADMIN])
      for (const line of lines) {
        // Without a half-close too, exactly as `nc` and `curl --path-as-is` send it.
        for (const halfClose of [true, false]) {
          expect(answer(await send(port, `${line}\r\nHost: x\r\n\r\n`, { halfClose }))).toEqual({
            status: 400,
            code: 'MALFORMED_REQUEST',
          })
          expect(alive()).toBe(true)
        }
      }
    await keepsFinalizing()
  })
})

describe('smaller findings of the same run', () => {
  it('framing errors, stalled bodies and heads, and degenerate admin calls get JSON with a stable code', async () => {
    const auth = `Authorization: Bearer ${s.adminToken}\r\n`
    const stalls = Promise.all([
      // A chunk of 2^64 - 1 bytes that never comes, on both ports: answered when the body times out.
      send(API, 'POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n', {
        halfClose: false,
        timeoutMs: 20_000,
      }),
      send(
        ADMIN,
        `POST ${adminPaths.restartPlan} HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n`,
        { halfClose: false, timeoutMs: 20_000 },
      ),
      // A head that never ends (slowloris), and a PRI line that pauses Node's parser.
      send(API, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n', { halfClose: false, timeoutMs: 20_000 }),
      send(API, 'PRI /healthz HTTP/1.1\r\n\r\n', { halfClose: false, timeoutMs: 20_000 }),
    ])
    const framing: [string, number, string][] = [
      ['BREW / HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'MALFORMED_REQUEST'],
      ['POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400, 'MALFORMED_REQUEST'],
      ['GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n', 400, 'MALFORMED_REQUEST'],
      [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
      ['GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n', 417, 'EXPECTATION_FAILED'],
      ['GET /healthz HTTP/1.1\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    ]
    for (const port of [API, ADMIN])
      for (const [raw, status, code] of framing) expect(answer(await send(port, raw))).toEqual({ status, code })

    const post = async (path: string, body: unknown) => {
      const r = await fetch(`http://${host}:${ADMIN}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      })
      return { status: r.status, code: ((await r.json()) as { error?: { code?: string } }).error?.code }
    }
    const self = nodeNamed(s, TARGET)
    expect(
      await post(adminPaths.dhtRebootstrap, { seeds: [{ peerId: self.peerId, addrs: [`/ip4/${host}/tcp/${P2P}`] }] }),
    ).toEqual({ status: 400, code: 'SELF_SEED' })
    const dids = s.nodes.filter((n) => n.role === 'witness').map((n) => n.did)
    expect(await post(adminPaths.restartPlan, { witnesses: dids, expiresAtMs: Date.now() - 60_000 })).toEqual({
      status: 400,
      code: 'INVALID_PLAN',
    })
    expect(
      await post(adminPaths.restartPlan, {
        witnesses: Array.from({ length: 256 }, () => dids[0]),
        expiresAtMs: Date.now() + 600_000,
      }),
    ).toEqual({ status: 400, code: 'INVALID_PLAN' })

    const [chunkedApi, chunkedAdmin, slowHead, pri] = await stalls
    expect(answer(chunkedApi)).toEqual({ status: 408, code: 'REQUEST_TIMEOUT' })
    expect(answer(chunkedAdmin)).toEqual({ status: 408, code: 'REQUEST_TIMEOUT' })
    expect(answer(slowHead)).toEqual({ status: 408, code: 'REQUEST_TIMEOUT' })
    // Closing the connection is the answer here (there is no request to answer yet).
    expect(pri.closed).toBe(true)
    expect(alive()).toBe(true)
    await keepsFinalizing()
  })
})

describe('property: raw HTTP against the public and the admin port', () => {
  it('every request is answered with JSON and a stable code or its connection is closed, and the process stays alive; afterwards it finalizes', async () => {
    const paths = [
      '/healthz',
      '/readyz',
      '/metrics',
      '/v1/status',
      '/v1/events',
      '/v1/blocks/1',
      ...Object.values(adminPaths),
    ]
    const started = Date.now()
    let runs = 0
    // A wrong answer is collected (one example per kind) and the run goes on; a dead node or a
    // refused connection ends it at once, with that request as the counterexample.
    const wrong = new Map<string, string>()
    // A dying process may still answer the next connection's close: name the last few requests.
    const recent: string[] = []
    await fc.assert(
      fc.asyncProperty(rawRequestArb(paths, s.adminToken), fc.boolean(), async (req, toAdmin) => {
        runs++
        const x = await send(toAdmin ? ADMIN : API, req.payload, { head: req.method === 'HEAD' })
        const sent = JSON.stringify(req.payload.slice(0, 300))
        recent.push(sent)
        if (recent.length > 3) recent.shift()
        if (!alive()) throw new Error(await deathReport('the node died', recent))
        if (x.error === 'ECONNREFUSED') throw new Error(await deathReport('connection refused', recent))
        const problem = answerProblem(x)
        if (problem !== undefined && !wrong.has(problem.slice(0, 40)))
          wrong.set(problem.slice(0, 40), `${problem} for ${sent}`)
      }),
      // No shrinking: once the node is dead every input "fails", so the first failure is the one.
      { numRuns: 5_000, interruptAfterTimeLimit: 10_000, endOnFailure: true },
    )
    console.log(`http fuzz (testnet): ${runs} raw requests in ${Date.now() - started} ms`)
    expect([...wrong.values()]).toEqual([])
    expect(runs).toBeGreaterThan(50)
    await keepsFinalizing()
  })
})

function varint(n: number): Buffer {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return Buffer.from(out)
}
const lpFrame = (text: string): Buffer => Buffer.concat([varint(Buffer.byteLength(text)), Buffer.from(text)])
const MSS = lpFrame('/multistream/1.0.0\n')

/** Bytes for the libp2p port: noise, and the first steps of a real handshake gone wrong. */
const p2pBytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 2_048 }),
  fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.concat([MSS, b])),
  fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.concat([MSS, lpFrame('/noise\n'), b])),
  fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.concat([MSS, lpFrame('/yamux/1.0.0\n'), b])),
  fc.constant(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])),
  fc.constant(Buffer.concat([MSS, lpFrame('ls\n')])),
  fc.constant(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')),
)

/** Sends bytes from an attacker address and waits until the node closes (or `timeoutMs`). */
function p2pSend(bytes: Uint8Array, from: string, timeoutMs: number): Promise<{ closed: boolean; error?: string }> {
  return new Promise((resolve) => {
    const sock = connect({ host, port: P2P, localAddress: from })
    let error: string | undefined
    const timer = setTimeout(() => {
      sock.destroy()
      resolve({ closed: false })
    }, timeoutMs)
    sock.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message))
    sock.on('data', () => undefined)
    sock.on('close', () => {
      clearTimeout(timer)
      resolve({ closed: true, ...(error === undefined ? {} : { error }) })
    })
    sock.on('connect', () => sock.end(bytes))
  })
}

describe('libp2p port', () => {
  it('property: raw bytes on the libp2p port leave the node alive, connected to its committee and finalizing', async () => {
    const started = Date.now()
    let runs = 0
    await fc.assert(
      fc.asyncProperty(p2pBytesArb, fc.integer({ min: 10, max: 60 }), async (bytes, last) => {
        runs++
        const r = await p2pSend(bytes, `${ATTACKER}${last}`, 15_000)
        if (!alive()) throw new Error(`the node died on ${Buffer.from(bytes).toString('hex').slice(0, 200)}`)
        if (r.error === 'ECONNREFUSED') throw new Error('connection refused')
        if (!r.closed) throw new Error('the node kept a connection that sent garbage and hung up')
      }),
      { numRuns: 500, interruptAfterTimeLimit: 5_000, endOnFailure: true },
    )
    console.log(`p2p fuzz (testnet): ${runs} raw connections in ${Date.now() - started} ms`)
    expect(runs).toBeGreaterThan(20)
    await keepsFinalizing()
    expect((await statusOf(s, TARGET))?.peers.connected).toBeGreaterThanOrEqual(3)
  })

  it('while one address holds 256 idle connections to the libp2p port, a peer from another address connects', async () => {
    const flood: Socket[] = []
    let closedByNode = 0
    try {
      await Promise.all(
        Array.from(
          { length: 256 },
          () =>
            new Promise<void>((resolve) => {
              const sock = connect({ host, port: P2P, localAddress: `${ATTACKER}66` })
              flood.push(sock)
              sock.on('error', () => undefined)
              sock.on('close', () => closedByNode++)
              sock.on('connect', () => resolve())
              sock.on('close', () => resolve())
            }),
        ),
      )
      // A libp2p node dialling from another loopback address (the TCP dial binds it).
      const dialOpts = { noDelay: true, localAddress: `${ATTACKER}77` }
      const peer = await createLibp2p({
        transports: [tcp({ dialOpts })],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        connectionGater: { denyDialMultiaddr: () => false },
      })
      try {
        const target = nodeNamed(s, TARGET)
        const dialStarted = Date.now()
        const conn = await peer.dial(multiaddr(`/ip4/${host}/tcp/${P2P}/p2p/${target.peerId}`), {
          signal: AbortSignal.timeout(5_000),
        })
        expect(conn.remotePeer.toString()).toBe(target.peerId)
        console.log(
          `p2p flood: ${flood.length} idle sockets from ${ATTACKER}66, ${closedByNode} refused by the node; the dial from ${ATTACKER}77 succeeded in ${Date.now() - dialStarted} ms`,
        )
      } finally {
        await peer.stop()
      }
    } finally {
      for (const sock of flood) sock.destroy()
    }
    expect(alive()).toBe(true)
    await keepsFinalizing()
  })
})
