import type { IncomingMessage, ServerResponse } from 'node:http'
import { timingSafeEqual, createHash } from 'node:crypto'
import { CodedError } from '../util/coded-error.ts'
import { DefenceError } from '../defence/errors.ts'
import type { DefenceErrorCode } from '../defence/errors.ts'

/**
 * Codes the HTTP layer itself answers with. Codes of lower layers (ledger, content, DHT, restart)
 * pass through ApiError unchanged; a code is never renamed once shipped (add new ones instead).
 */
export const API_ERROR_CODES = [
  // Framing: the request could not be read as HTTP (answered from the `clientError` handler too).
  'MALFORMED_REQUEST',
  'HEADERS_TOO_LARGE',
  'REQUEST_TIMEOUT',
  'PAYLOAD_TOO_LARGE',
  'EXPECTATION_FAILED',
  'METHOD_NOT_ALLOWED',
  // Routing, auth and bodies.
  'NOT_FOUND',
  'UNAUTHORIZED',
  'MALFORMED_JSON',
  'MALFORMED_BODY',
  'TOO_MANY_EVENTS',
  'BAD_CID',
  'INVALID_PLAN',
  // Anything a handler threw that is not an ApiError: a bug, logged with the request id.
  'INTERNAL',
] as const

export type ApiErrorCode = (typeof API_ERROR_CODES)[number]

const STATUS_OF: Record<ApiErrorCode, number> = {
  MALFORMED_REQUEST: 400,
  HEADERS_TOO_LARGE: 431,
  REQUEST_TIMEOUT: 408,
  PAYLOAD_TOO_LARGE: 413,
  EXPECTATION_FAILED: 417,
  METHOD_NOT_ALLOWED: 405,
  NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  MALFORMED_JSON: 400,
  MALFORMED_BODY: 400,
  TOO_MANY_EVENTS: 413,
  BAD_CID: 400,
  INVALID_PLAN: 400,
  INTERNAL: 500,
}

/** Errors leave the API as `{ "error": { "code", "message", "requestId"? } }` with a stable code. */
export class ApiError extends CodedError {
  readonly status: number
  /** Extra response headers (`Retry-After` on a 429). */
  readonly headers: Readonly<Record<string, string>> | undefined
  constructor(status: number, code: string, message: string, headers?: Record<string, string>) {
    super(code, message)
    this.status = status
    this.headers = headers
  }
}

/** An ApiError with one of the HTTP layer's own codes, at the status that code maps to. */
export function apiError(code: ApiErrorCode, message: string): ApiError {
  return new ApiError(STATUS_OF[code], code, message)
}

const DEFENCE_STATUS: Record<DefenceErrorCode, number> = {
  RATE_LIMITED: 429,
  TOO_MANY_UPLOADS: 429,
  QUOTA_EXCEEDED: 429,
  BLOCKED: 403,
  INVALID_BLOCKLIST_ENTRY: 400,
  INVALID_LIMITS: 400,
  BLOCKLIST_FULL: 409,
  DEFENCES_UNREADABLE: 500,
}

/** A defence's refusal as HTTP: 429 with `Retry-After` (whole seconds, at least 1), 403, 400. */
export function defenceApiError(e: DefenceError): ApiError {
  const retry =
    e.retryAfterMs === undefined ? undefined : { 'retry-after': String(Math.max(1, Math.ceil(e.retryAfterMs / 1000))) }
  return new ApiError(DEFENCE_STATUS[e.code], e.code, e.message, retry)
}

/**
 * Any thrown value as what the client sees: an ApiError as it is, a defence's refusal at its
 * status, anything else 500 INTERNAL.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError && Number.isInteger(err.status) && err.status >= 400 && err.status <= 599) return err
  if (err instanceof DefenceError) return defenceApiError(err)
  return apiError('INTERNAL', 'internal error')
}

export function errorBody(err: ApiError, requestId?: string): { error: { code: string; message: string } } {
  return { error: { code: err.code, message: err.message, ...(requestId === undefined ? {} : { requestId }) } }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

export function sendError(res: ServerResponse, err: unknown, requestId?: string): void {
  const e = toApiError(err)
  for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v)
  sendJson(res, e.status, errorBody(e, requestId))
}

/** How long a small body (events, admin calls) may take to arrive once the headers are in. */
export const BODY_TIMEOUT_MS = 10_000

/**
 * The whole body, at most `limit` bytes, within `timeoutMs`. A body that is too large, stalls (a
 * chunked body that declares a huge chunk and sends nothing) or breaks off is refused with a
 * coded error; the rest of it is left unread (the error response closes the connection).
 */
export function readBody(req: IncomingMessage, limit: number, timeoutMs = BODY_TIMEOUT_MS): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0')
  if (declared > limit) return Promise.reject(apiError('PAYLOAD_TOO_LARGE', `body exceeds ${limit} bytes`))
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0))
  if (req.destroyed) return Promise.reject(apiError('MALFORMED_REQUEST', 'body broke off'))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const finish = (err?: ApiError): void => {
      clearTimeout(timer)
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('close', onClose)
      req.off('error', onClose)
      if (err === undefined) {
        resolve(Buffer.concat(chunks))
        return
      }
      req.pause()
      reject(err)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > limit) finish(apiError('PAYLOAD_TOO_LARGE', `body exceeds ${limit} bytes`))
      else chunks.push(chunk)
    }
    const onEnd = (): void => finish()
    const onClose = (): void => finish(apiError('MALFORMED_REQUEST', `body broke off after ${size} bytes`))
    const timer = setTimeout(
      () => finish(apiError('REQUEST_TIMEOUT', `body not received within ${timeoutMs} ms (${size} bytes arrived)`)),
      timeoutMs,
    )
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('close', onClose)
    req.on('error', onClose)
  })
}

export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const body = await readBody(req, limit)
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    throw apiError('MALFORMED_JSON', 'request body is not JSON')
  }
}

/** Constant-time bearer token check (hashing first makes the lengths equal). */
export function checkBearer(req: IncomingMessage, token: string): void {
  const h = req.headers.authorization ?? ''
  const given = h.startsWith('Bearer ') ? h.slice(7) : ''
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(token).digest()
  if (given === '' || !timingSafeEqual(a, b)) throw apiError('UNAUTHORIZED', 'admin API needs a valid bearer token')
}
