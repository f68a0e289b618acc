import type { IncomingMessage, ServerResponse } from 'node:http'
import { timingSafeEqual, createHash } from 'node:crypto'

/** Errors leave the API as `{ "error": { "code", "message" } }` with a stable code. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (err instanceof ApiError) {
    sendJson(res, err.status, { error: { code: err.code, message: err.message } })
    return
  }
  sendJson(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } })
}

export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0')
  if (declared > limit) throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `body exceeds ${limit} bytes`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `body exceeds ${limit} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const body = await readBody(req, limit)
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    throw new ApiError(400, 'MALFORMED_JSON', 'request body is not JSON')
  }
}

/** Constant-time bearer token check (hashing first makes the lengths equal). */
export function checkBearer(req: IncomingMessage, token: string): void {
  const h = req.headers.authorization ?? ''
  const given = h.startsWith('Bearer ') ? h.slice(7) : ''
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(token).digest()
  if (given === '' || !timingSafeEqual(a, b))
    throw new ApiError(401, 'UNAUTHORIZED', 'admin API needs a valid bearer token')
}
