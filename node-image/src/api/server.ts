import type { IncomingMessage, Server } from 'node:http'
import { decode } from '../crypto/encoding.ts'
import type {
  AdminStatus,
  CheckpointInfo,
  DhtPeerInfo,
  DhtProvideResult,
  DhtRebootstrapResult,
  DhtStatus,
  RepairPriority,
  RepairRunResult,
  StorageStatus,
} from './admin-contract.ts'
import { adminPaths } from './admin-contract.ts'
import type { EmergencyView } from './emergency-contract.ts'
import { ApiError, apiError, BODY_TIMEOUT_MS, checkBearer, readBody, sendJson } from './http-util.ts'
import { serve } from './serve.ts'
import type { ApiLog, Handler } from './serve.ts'
import { DhtError } from '../p2p/dht.ts'
import { MAX_RESTART_RECORD_BYTES } from '../ledger/restart-record.ts'
import type { NodeMetrics } from './metrics.ts'
import { contentRoute } from './content-routes.ts'
import type { ContentApiPort } from './content-routes.ts'
import { chainRoute } from './chain-routes.ts'
import { defenceRoute } from './defence-routes.ts'
import type { Defences } from '../defence/defences.ts'
import type { ChainApiPort } from './chain-routes.ts'
import { MAX_PREVIEW_BODY_BYTES, parseRestartPreview } from './restart-preview.ts'
import type { StateEdit } from '../ledger/governance-payloads.ts'
import { SHARD_SUBMIT_PATH, storageSignalsRoute, throughShardIntake } from './storage-signals-routes.ts'
import type { StorageSignalsPort } from './storage-signals-routes.ts'

/** What the HTTP APIs need from the node (composed in node/). */
export interface NodeApiPort extends ChainApiPort {
  submit(events: Uint8Array[]): { id: string; ok: boolean; code?: string }[]
  status(): AdminStatus
  emergency(): EmergencyView
  account(did: string): unknown
  block(height: number): Promise<unknown>
  checkpoints(): Promise<CheckpointInfo[]>
  ready(): boolean
  live(): boolean
  dhtStatus(): DhtStatus
  dhtRebootstrap(seeds: DhtPeerInfo[]): Promise<DhtRebootstrapResult>
  dhtProvide(cid: string): Promise<DhtProvideResult>
  dhtProviders(cid: string): Promise<DhtPeerInfo[]>
  storageStatus(): Promise<StorageStatus>
  storageRepair(): Promise<RepairRunResult>
  setRepairPriority(p: RepairPriority): RepairPriority | Promise<RepairPriority>
  /** Repair priority list and community-shard intake (storage-signals-routes.ts). */
  readonly storageSignals?: StorageSignalsPort | undefined
  restartPlan(witnesses: readonly string[], expiresAtMs: number): unknown
  restart(record: Uint8Array): Promise<unknown>
  restartPreview(edits: readonly StateEdit[], witnesses?: readonly string[]): unknown
  /** The content API (publish/fetch/submit shard); undefined until the node has started it. */
  readonly contentApi?: ContentApiPort | undefined
}

/** Largest body one publish accepts (it is spooled to disk, never held in memory). */
export const MAX_CONTENT_BYTES = 4 * 1024 * 1024 * 1024

export const MAX_ADMIN_BODY_BYTES = 64 * 1024
export const MAX_REBOOTSTRAP_SEEDS = 64

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    throw new ApiError(400, 'MALFORMED_JSON', 'body is not JSON')
  }
}

function isPeerInfo(v: unknown): v is DhtPeerInfo {
  if (typeof v !== 'object' || v === null) return false
  const p = v as Record<string, unknown>
  return (
    typeof p.peerId === 'string' &&
    p.peerId.length <= 128 &&
    Array.isArray(p.addrs) &&
    p.addrs.length > 0 &&
    p.addrs.length <= 16 &&
    p.addrs.every((a) => typeof a === 'string' && a.length <= 256)
  )
}

function parseSeeds(body: Buffer): DhtPeerInfo[] {
  const seeds = (parseJson(body) as { seeds?: unknown } | null)?.seeds
  if (!Array.isArray(seeds) || seeds.length === 0 || seeds.length > MAX_REBOOTSTRAP_SEEDS || !seeds.every(isPeerInfo))
    throw new ApiError(
      400,
      'MALFORMED_BODY',
      `body must be {"seeds": [{"peerId", "addrs": [multiaddr]}]} with 1..${MAX_REBOOTSTRAP_SEEDS} seeds`,
    )
  return seeds
}

/** Maps DHT input errors (bad CID, bad or self-referencing seeds) to 400s. */
async function dhtCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof DhtError) throw new ApiError(400, err.code, err.message)
    throw err
  }
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

/**
 * Bounds on receiving one whole request. The public one also bounds a content upload: 300 s (Node's
 * default) takes the 4 GiB maximum at ≥ 14 MB/s. Responses are not bounded by it.
 */
export const PUBLIC_REQUEST_TIMEOUT_MS = 300_000
export const ADMIN_REQUEST_TIMEOUT_MS = 30_000

export interface ServerOptions {
  /** Where request failures are logged (the node's logger); a JSON logger on stdout otherwise. */
  readonly log?: ApiLog
  /** How long a small body may take to arrive (BODY_TIMEOUT_MS). */
  readonly bodyTimeoutMs?: number
  /** How long the request head may take to arrive (HEADERS_TIMEOUT_MS). */
  readonly headersTimeoutMs?: number
  /** Rate limits, upload limits and the blocklist (public API), and their admin routes. */
  readonly defences?: Defences
}

/** Public API: submit events, read status, accounts and blocks; health and metrics. */
export function publicServer(node: NodeApiPort, metrics: NodeMetrics, opts: ServerOptions = {}): Server {
  const d = opts.defences
  return serve(publicRoutes(node, metrics, opts.bodyTimeoutMs ?? BODY_TIMEOUT_MS, d), {
    api: 'public',
    requestTimeoutMs: PUBLIC_REQUEST_TIMEOUT_MS,
    headersTimeoutMs: opts.headersTimeoutMs,
    log: opts.log,
    ...(d === undefined
      ? {}
      : {
          admit: (req: IncomingMessage) => {
            const v = d.admitHttp(req.socket.remoteAddress)
            if (!v.ok) throw v.error
          },
          refuseSocket: (addr: string | undefined) => addr !== undefined && d.blocksIp(addr),
        }),
  })
}

function publicRoutes(node: NodeApiPort, metrics: NodeMetrics, bodyMs: number, d: Defences | undefined): Handler {
  // Uploads in progress per client IP are bounded: each holds a spool file and a stream.
  const upload =
    d === undefined
      ? undefined
      : (req: IncomingMessage): (() => void) => {
          const r = d.beginUpload(req.socket.remoteAddress)
          if (typeof r === 'function') return r
          throw r
        }
  const admitPublish =
    d === undefined
      ? undefined
      : (creator: string, bytes: number): void => {
          const v = d.admitPublish(creator, bytes)
          if (!v.ok) throw v.error
        }
  return async (req, res, url) => {
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
      const events = parseSubmission(req, await readBody(req, MAX_SUBMIT_BYTES, bodyMs))
      if (events.length > MAX_SUBMIT_EVENTS)
        throw new ApiError(413, 'TOO_MANY_EVENTS', `at most ${MAX_SUBMIT_EVENTS} events per request`)
      const v = d?.admitSubmission(req.socket.remoteAddress, events.length)
      if (v !== undefined && !v.ok) throw v.error
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
        ...(s.haltCode === undefined ? {} : { haltCode: s.haltCode, haltReason: s.haltReason }),
        version: s.version,
        ...(s.binaryDigest === undefined ? {} : { binaryDigest: s.binaryDigest }),
        finalizedHeight: s.finalizedHeight,
        finalizedHash: s.finalizedHash,
        stateRoot: s.stateRoot,
        lastBlockTimeMs: s.lastBlockTimeMs,
      })
    }
    if (req.method === 'GET' && path === '/v1/emergency') return sendJson(res, 200, node.emergency())
    // A client may percent-encode the DID's colons (as encodeURIComponent does): decode first.
    const acct = /^\/v1\/accounts\/(did:key:z[1-9A-HJ-NP-Za-km-z]{1,60})$/.exec(path.replace(/%3A/gi, ':'))
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
    if (await chainRoute(node, req, res, url)) return
    const intake = node.storageSignals?.shardIntake
    if (intake !== undefined && req.method === 'PUT' && SHARD_SUBMIT_PATH.test(path))
      return throughShardIntake(intake, req, () =>
        contentRoute(node.contentApi, req, res, url, MAX_CONTENT_BYTES, upload),
      )
    if (await contentRoute(node.contentApi, req, res, url, MAX_CONTENT_BYTES, upload, admitPublish)) return
    throw new ApiError(404, 'NOT_FOUND', `no route ${req.method ?? ''} ${path}`)
  }
}

export const MAX_PLAN_WITNESSES = 256

/**
 * A restart plan request. Degenerate plans are refused here rather than planned: a manifest that
 * has already expired could never be adopted, and a DID listed twice is an operator mistake.
 */
export function parseRestartPlan(body: Buffer, nowMs: number): { witnesses: string[]; expiresAtMs: number } {
  const b = parseJson(body) as { witnesses?: unknown; expiresAtMs?: unknown } | null
  const w = b?.witnesses
  if (
    !Array.isArray(w) ||
    w.length === 0 ||
    w.length > MAX_PLAN_WITNESSES ||
    !w.every((d) => typeof d === 'string' && d.length > 0 && d.length <= 128)
  ) {
    throw apiError('INVALID_PLAN', `witnesses must list 1 to ${MAX_PLAN_WITNESSES} DIDs`)
  }
  const seen = new Set<string>()
  for (const did of w as string[]) {
    if (seen.has(did)) throw apiError('INVALID_PLAN', `witness ${did} is listed twice`)
    seen.add(did)
  }
  const expiresAtMs = b?.expiresAtMs
  if (typeof expiresAtMs !== 'number' || !Number.isSafeInteger(expiresAtMs) || expiresAtMs <= 0) {
    throw apiError('INVALID_PLAN', 'expiresAtMs must be a positive integer (ms since epoch)')
  }
  if (expiresAtMs <= nowMs) throw apiError('INVALID_PLAN', `expiresAtMs ${expiresAtMs} is not in the future`)
  return { witnesses: w as string[], expiresAtMs }
}

/** Admin API, on its own port, bearer token required on every route. */
export function adminServer(node: NodeApiPort, token: string, opts: ServerOptions = {}): Server {
  return serve(adminRoutes(node, token, opts.bodyTimeoutMs ?? BODY_TIMEOUT_MS, opts.defences), {
    api: 'admin',
    requestTimeoutMs: ADMIN_REQUEST_TIMEOUT_MS,
    headersTimeoutMs: opts.headersTimeoutMs,
    log: opts.log,
  })
}

function adminRoutes(node: NodeApiPort, token: string, bodyMs: number, d: Defences | undefined): Handler {
  return async (req, res, url) => {
    checkBearer(req, token)
    const path = url.pathname
    if (d !== undefined && (await defenceRoute(d, req, res, url, bodyMs))) return
    if (req.method === 'GET' && path === adminPaths.status) return sendJson(res, 200, node.status())
    if (node.storageSignals !== undefined && (await storageSignalsRoute(node.storageSignals, req, res, url, bodyMs)))
      return
    if (req.method === 'GET' && path === adminPaths.checkpoints)
      return sendJson(res, 200, { checkpoints: await node.checkpoints() })
    if (req.method === 'GET' && path === adminPaths.dht) return sendJson(res, 200, node.dhtStatus())
    if (req.method === 'POST' && path === adminPaths.dhtRebootstrap) {
      const seeds = parseSeeds(await readBody(req, MAX_ADMIN_BODY_BYTES, bodyMs))
      return sendJson(res, 200, await dhtCall(() => node.dhtRebootstrap(seeds)))
    }
    if (req.method === 'POST' && path === adminPaths.dhtProvide) {
      const cid = (parseJson(await readBody(req, MAX_ADMIN_BODY_BYTES, bodyMs)) as { cid?: unknown } | null)?.cid
      if (typeof cid !== 'string' || cid.length > 256)
        throw new ApiError(400, 'MALFORMED_BODY', 'body must be {"cid": string}')
      return sendJson(res, 200, await dhtCall(() => node.dhtProvide(cid)))
    }
    if (req.method === 'GET' && path.startsWith(`${adminPaths.dhtProviders}/`)) {
      let cid: string
      try {
        cid = decodeURIComponent(path.slice(adminPaths.dhtProviders.length + 1))
      } catch {
        throw new ApiError(400, 'BAD_CID', 'CID is not URI-encoded')
      }
      if (cid.length === 0 || cid.length > 256) throw new ApiError(400, 'BAD_CID', 'missing or oversized CID')
      return sendJson(res, 200, { providers: await dhtCall(() => node.dhtProviders(cid)) })
    }
    if (req.method === 'GET' && path === adminPaths.storage) return sendJson(res, 200, await node.storageStatus())
    if (req.method === 'POST' && path === adminPaths.storageRepair) {
      await readBody(req, MAX_ADMIN_BODY_BYTES, bodyMs)
      return sendJson(res, 200, await node.storageRepair())
    }
    if (req.method === 'POST' && path === adminPaths.restartPlan) {
      const p = parseRestartPlan(await readBody(req, MAX_ADMIN_BODY_BYTES, bodyMs), Date.now())
      return sendJson(res, 200, node.restartPlan(p.witnesses, p.expiresAtMs))
    }
    if (req.method === 'POST' && path === adminPaths.restartPreview) {
      const p = parseRestartPreview(await readBody(req, MAX_PREVIEW_BODY_BYTES, bodyMs))
      return sendJson(res, 200, node.restartPreview(p.edits, p.witnesses))
    }
    if (req.method === 'POST' && path === adminPaths.restart) {
      return sendJson(res, 200, await node.restart(await readBody(req, MAX_RESTART_RECORD_BYTES, bodyMs)))
    }
    if (req.method === 'POST' && path === adminPaths.storageRepairPriority) {
      const b = parseJson(await readBody(req, MAX_ADMIN_BODY_BYTES, bodyMs)) as {
        cid?: unknown
        priority?: unknown
      } | null
      if (
        typeof b?.cid !== 'string' ||
        !/^[a-z0-9]{1,100}$/.test(b.cid) ||
        typeof b.priority !== 'number' ||
        !Number.isSafeInteger(b.priority) ||
        Math.abs(b.priority) > 1_000_000
      )
        throw new ApiError(400, 'MALFORMED_BODY', 'body must be {"cid": string, "priority": integer}')
      return sendJson(res, 200, await node.setRepairPriority({ cid: b.cid, priority: b.priority }))
    }
    throw new ApiError(404, 'NOT_FOUND', `no route ${req.method ?? ''} ${path}`)
  }
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
