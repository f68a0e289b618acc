import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { decode } from '../crypto/encoding.ts'
import type { AdminStatus, CheckpointInfo } from './admin-contract.ts'
import { adminPaths } from './admin-contract.ts'
import { ApiError, checkBearer, readBody, sendError, sendJson } from './http-util.ts'
import type { NodeMetrics } from './metrics.ts'

/** What the HTTP APIs need from the node (composed in node/). */
export interface NodeApiPort {
  submit(events: Uint8Array[]): { id: string; ok: boolean; code?: string }[]
  status(): AdminStatus
  account(did: string): unknown
  block(height: number): Promise<unknown>
  checkpoints(): Promise<CheckpointInfo[]>
  ready(): boolean
  live(): boolean
}

export const MAX_SUBMIT_BYTES = 8 * 1024 * 1024
export const MAX_SUBMIT_EVENTS = 10_000

function parseSubmission(req: IncomingMessage, body: Buffer): Uint8Array[] {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim()
  let list: unknown
  if (type === 'application/cbor') {
    try {
      list = decode(new Uint8Array(body.buffer, body.byteOffset, body.byteLength))
    } catch {
      throw new ApiError(400, 'MALFORMED_BODY', 'body is not DAG-CBOR')
    }
    if (!Array.isArray(list) || !list.every((e) => e instanceof Uint8Array)) {
      throw new ApiError(400, 'MALFORMED_BODY', 'CBOR body must be an array of encoded events')
    }
    return list
  }
  try {
    list = (JSON.parse(body.toString('utf8')) as { events?: unknown }).events
  } catch {
    throw new ApiError(400, 'MALFORMED_JSON', 'body is not JSON')
  }
  if (!Array.isArray(list) || !list.every((e) => typeof e === 'string')) {
    throw new ApiError(400, 'MALFORMED_BODY', 'JSON body must be {"events": [base64, ...]}')
  }
  return list.map((s) => new Uint8Array(Buffer.from(s, 'base64')))
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>

function serve(handler: Handler): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local')
    handler(req, res, url).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, err)
      else res.destroy()
    })
  })
}

/** Public API: submit events, read status, accounts and blocks; health and metrics. */
export function publicServer(node: NodeApiPort, metrics: NodeMetrics): Server {
  return serve(async (req, res, url) => {
    const path = url.pathname
    if (req.method === 'GET' && path === '/healthz') return sendJson(res, node.live() ? 200 : 503, { ok: node.live() })
    if (req.method === 'GET' && path === '/readyz')
      return sendJson(res, node.ready() ? 200 : 503, { ready: node.ready() })
    if (req.method === 'GET' && path === '/metrics') {
      const text = await metrics.registry.metrics()
      res.writeHead(200, { 'content-type': metrics.registry.contentType })
      res.end(text)
      return
    }
    if (req.method === 'POST' && path === '/v1/events') {
      const events = parseSubmission(req, await readBody(req, MAX_SUBMIT_BYTES))
      if (events.length > MAX_SUBMIT_EVENTS)
        throw new ApiError(413, 'TOO_MANY_EVENTS', `at most ${MAX_SUBMIT_EVENTS} events per request`)
      const results = node.submit(events)
      const accepted = results.filter((r) => r.ok).length
      return sendJson(res, accepted > 0 || results.length === 0 ? 202 : 400, { accepted, results })
    }
    if (req.method === 'GET' && path === '/v1/status') {
      const s = node.status()
      return sendJson(res, 200, {
        chainId: s.chainId,
        epoch: s.epoch,
        mode: s.mode,
        finalizedHeight: s.finalizedHeight,
        finalizedHash: s.finalizedHash,
        stateRoot: s.stateRoot,
        lastBlockTimeMs: s.lastBlockTimeMs,
      })
    }
    const acct = /^\/v1\/accounts\/(did:key:z[1-9A-HJ-NP-Za-km-z]{1,60})$/.exec(path)
    if (req.method === 'GET' && acct) {
      const a = node.account(acct[1]!)
      if (a === undefined) throw new ApiError(404, 'NOT_FOUND', 'no such account')
      return sendJson(res, 200, a)
    }
    const blk = /^\/v1\/blocks\/(\d{1,15})$/.exec(path)
    if (req.method === 'GET' && blk) {
      const b = await node.block(Number(blk[1]))
      if (b === undefined) throw new ApiError(404, 'NOT_FOUND', 'no such block')
      return sendJson(res, 200, b)
    }
    throw new ApiError(404, 'NOT_FOUND', `no route ${req.method ?? ''} ${path}`)
  })
}

/** Admin API, on its own port, bearer token required on every route. */
export function adminServer(node: NodeApiPort, token: string): Server {
  return serve(async (req, res, url) => {
    checkBearer(req, token)
    const path = url.pathname
    if (req.method === 'GET' && path === adminPaths.status) return sendJson(res, 200, node.status())
    if (req.method === 'GET' && path === adminPaths.checkpoints)
      return sendJson(res, 200, { checkpoints: await node.checkpoints() })
    throw new ApiError(404, 'NOT_FOUND', `no route ${req.method ?? ''} ${path}`)
  })
}

export function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}
