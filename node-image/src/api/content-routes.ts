import type { IncomingMessage, ServerResponse } from 'node:http'
import { ApiError, sendJson } from './http-util.ts'
import { decodePublishHeader, PUBLISH_AUTH_HEADER } from '../ledger/publish-authorization.ts'
import type { SignedPublishAuthorization } from '../ledger/publish-authorization.ts'
import { PublishGateError } from './publish-gate.ts'
import type { PublishGateCode } from './publish-gate.ts'

/**
 * Public content routes (DESIGN §4 "APIs"): bodies stream in and out; nothing is buffered whole.
 *   POST /v1/content[?k=&m=]               publish as a creator (body = raw bytes, header
 *                                          x-echonet-publish-auth, ADR 0016)  → 201 PublishResult
 *   GET  /v1/content/<cid>                 the body (verified against the manifest)
 *   GET  /v1/content/<cid>/manifest        the manifest summary
 *   PUT  /v1/content/<cid>/shards/<index>  community recovery: a shard, kept only if it verifies
 */

export interface ContentManifestView {
  readonly cid: string
  readonly bodyHash: string
  readonly size: number
  readonly k: number
  readonly m: number
  readonly shardSize: number
  readonly segmentSize: number
  /** The creator who registered it (the manifest's signer until the ledger has it). */
  readonly creator: string
  /** The node that encoded and signed the manifest. */
  readonly publisher?: string
  readonly shards: readonly { hash: string; root: string }[]
  /** Height of the content.register event, if the ledger has it yet. */
  readonly registeredAtHeight?: number
}

export interface ContentApiPort {
  /**
   * Checks a creator's authorization before the body is read (coded errors of publish-gate.ts) and
   * claims it; returns the release for a publish refused or failed before it registered.
   */
  authorizePublish(auth: SignedPublishAuthorization): () => void
  publish(body: AsyncIterable<Uint8Array>, auth: SignedPublishAuthorization): Promise<unknown>
  fetch(cid: string): Promise<{ size: number; bodyHash: string; body: AsyncIterable<Uint8Array> }>
  manifest(cid: string): Promise<ContentManifestView | undefined>
  submitShard(cid: string, index: number, body: AsyncIterable<Uint8Array>): Promise<unknown>
}

/** HTTP status per stable error code of the content layer. */
const STATUS: Record<string, number> = {
  INVALID_CONTENT_ID: 400,
  INVALID_PARAMETERS: 400,
  INVALID_MANIFEST: 400,
  INVALID_SHARD_INDEX: 400,
  TRUNCATED_UPLOAD: 400,
  UNKNOWN_CONTENT: 404,
  ALREADY_REGISTERED: 409,
  SHARD_MISMATCH: 422,
  BODY_MISMATCH: 502,
  TOO_FEW_SHARDS: 503,
  NO_SSNS: 503,
  PLACEMENT_FAILED: 503,
  DISK_FULL: 507,
}

/** HTTP status per code of the creator's publish authorization (ADR 0016). */
const PUBLISH_STATUS: Record<PublishGateCode, number> = {
  PUBLISH_UNAUTHENTICATED: 401,
  INVALID_AUTHORIZATION: 400,
  BAD_SIGNATURE: 401,
  EXPIRED: 401,
  WRONG_CHAIN: 403,
  FEE_ABOVE_MAX: 402,
  INSUFFICIENT_FUNDS: 402,
  AUTHORIZATION_USED: 409,
  BODY_NOT_AUTHORIZED: 422,
}

/** Maps a coded error from the content layer to an ApiError (others pass through as 500s). */
export function contentApiError(err: unknown): unknown {
  if (err instanceof PublishGateError) return new ApiError(PUBLISH_STATUS[err.code], err.code, err.message)
  const code = (err as { code?: unknown }).code
  if (err instanceof Error && typeof code === 'string' && STATUS[code] !== undefined) {
    return new ApiError(STATUS[code], code, err.message)
  }
  return err
}

/**
 * The request body as a stream that fails with TRUNCATED_UPLOAD if the client stops before the
 * declared content-length (or the connection breaks), so the publish that consumes it aborts and
 * cleans up instead of storing a prefix.
 */
export async function* requestBody(req: IncomingMessage, limit: number): AsyncGenerator<Uint8Array> {
  const header = req.headers['content-length']
  const declared = header === undefined ? undefined : Number(header)
  if (declared !== undefined && (!Number.isSafeInteger(declared) || declared < 0))
    throw new ApiError(400, 'MALFORMED_BODY', 'bad content-length')
  if (declared !== undefined && declared > limit)
    throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `body exceeds ${limit} bytes`)
  let size = 0
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > limit) throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `body exceeds ${limit} bytes`)
      yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    }
  } catch (err) {
    if (err instanceof ApiError) throw err
    throw new ApiError(400, 'TRUNCATED_UPLOAD', `upload broke off after ${size} bytes`)
  }
  if (!req.complete || (declared !== undefined && size !== declared)) {
    throw new ApiError(400, 'TRUNCATED_UPLOAD', `upload ended after ${size} of ${declared ?? '?'} bytes`)
  }
}

function intParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name)
  if (v === null) return undefined
  if (!/^\d{1,3}$/.test(v)) throw new ApiError(400, 'INVALID_PARAMETERS', `${name} must be a small integer`)
  return Number(v)
}

/** The creator's signed authorization from its header; nothing of the body has been read. */
function publishAuthorization(req: IncomingMessage, url: URL): SignedPublishAuthorization {
  const raw = req.headers[PUBLISH_AUTH_HEADER]
  if (raw === undefined)
    throw new PublishGateError(
      'PUBLISH_UNAUTHENTICATED',
      `publishing needs a creator's signed ${PUBLISH_AUTH_HEADER} header`,
    )
  let auth: SignedPublishAuthorization
  try {
    auth = decodePublishHeader(Array.isArray(raw) ? raw.join(',') : raw)
  } catch (err) {
    throw new PublishGateError('INVALID_AUTHORIZATION', (err as Error).message)
  }
  const a = auth.auth
  const k = intParam(url, 'k')
  const m = intParam(url, 'm')
  if ((k !== undefined && k !== a.k) || (m !== undefined && m !== a.m))
    throw new ApiError(400, 'INVALID_PARAMETERS', `k and m are the authorization's (${a.k}+${a.m})`)
  const length = req.headers['content-length']
  if (length !== undefined && Number(length) !== a.size)
    throw new PublishGateError('BODY_NOT_AUTHORIZED', `content-length ${length} is not the authorized size ${a.size}`)
  return auth
}

const CID_PATH = /^\/v1\/content\/([A-Za-z0-9]{1,100})(\/manifest|\/shards\/(\d{1,3}))?$/

/** Handles a content route; false if the path is not one. */
export async function contentRoute(
  port: ContentApiPort | undefined,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  maxBodyBytes: number,
  /** Takes an upload slot for the request's client (throws when it has none); returns its release. */
  upload?: (req: IncomingMessage) => () => void,
  /** The creator's publish quota: throws (429 QUOTA_EXCEEDED) when `bytes` more would exceed it. */
  admitPublish?: (creator: string, bytes: number) => void,
): Promise<boolean> {
  const path = url.pathname
  const isPublish = path === '/v1/content'
  const match = CID_PATH.exec(path)
  if (!isPublish && !match && !path.startsWith('/v1/content/')) return false
  if (port === undefined) throw new ApiError(503, 'CONTENT_UNAVAILABLE', 'this node does not serve content')
  const isUpload = (isPublish && req.method === 'POST') || (match?.[3] !== undefined && req.method === 'PUT')
  const release = isUpload ? upload?.(req) : undefined
  try {
    if (isPublish && req.method === 'POST') {
      // Who publishes, whether it may and whether it is within its quota: all before the body.
      const auth = publishAuthorization(req, url)
      const unclaim = port.authorizePublish(auth)
      let out: unknown
      try {
        if (auth.auth.size > maxBodyBytes)
          throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `body exceeds ${maxBodyBytes} bytes`)
        admitPublish?.(auth.auth.creator, auth.auth.size)
        // Never more than the authorized size is read: a longer body is cut off at it.
        out = await port.publish(requestBody(req, auth.auth.size), auth)
      } catch (err) {
        unclaim()
        throw err
      }
      sendJson(res, 201, out)
      return true
    }
    if (!match) throw new ApiError(400, 'INVALID_CONTENT_ID', `not a content path: ${path.slice(0, 200)}`)
    const cid = match[1]!
    if (match[2] === undefined && req.method === 'GET') {
      const got = await port.fetch(cid)
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': got.size,
        'x-echonet-body-hash': got.bodyHash,
      })
      // Leaving the loop early (client gone) ends the body iterator, which removes its spool files.
      for await (const piece of got.body) {
        if (res.destroyed) break
        if (!res.write(piece)) {
          await new Promise<void>((r) => {
            const done = (): void => {
              res.off('drain', done)
              res.off('close', done)
              r()
            }
            res.once('drain', done)
            res.once('close', done)
          })
        }
      }
      res.end()
      return true
    }
    if (match[2] === '/manifest' && req.method === 'GET') {
      const m = await port.manifest(cid)
      if (m === undefined) throw new ApiError(404, 'UNKNOWN_CONTENT', `no manifest known for ${cid}`)
      sendJson(res, 200, m)
      return true
    }
    if (match[3] !== undefined && req.method === 'PUT') {
      sendJson(res, 201, await port.submitShard(cid, Number(match[3]), requestBody(req, maxBodyBytes)))
      return true
    }
  } catch (err) {
    throw contentApiError(err)
  } finally {
    release?.()
  }
  throw new ApiError(404, 'NOT_FOUND', `no route ${req.method ?? ''} ${path}`)
}
