import { createServer, STATUS_CODES } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { randomUUID } from 'node:crypto'
import { pino } from 'pino'
import { ApiError, apiError, errorBody, sendError, sendJson, toApiError } from './http-util.ts'
import type { ApiErrorCode } from './http-util.ts'

/**
 * The HTTP front of both APIs. Nothing a client sends may end the process (issue #15: `GET //`
 * threw from URL parsing outside the handler's catch): every request runs inside one error path
 * that answers JSON with a stable code, framing errors Node's parser finds are answered as JSON
 * from `clientError`, and slow or stalled requests are cut off by timeouts.
 */

/** What the HTTP layer logs through (a pino Logger fits). */
export interface ApiLog {
  error(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  debug(obj: object, msg: string): void
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>

export interface ServeOptions {
  /** Which API, for logs. */
  readonly api: 'public' | 'admin'
  /** Bound on receiving one whole request, body included (Node's `requestTimeout`). */
  readonly requestTimeoutMs: number
  /** Bound on receiving the request head (HEADERS_TIMEOUT_MS). */
  readonly headersTimeoutMs?: number | undefined
  readonly log?: ApiLog | undefined
  /**
   * Admission before any work (rate limits, blocklist): throws to refuse the request. A socket
   * from an address `refuseSocket` names is closed at once, before it can send anything.
   */
  readonly admit?: ((req: IncomingMessage) => void) | undefined
  readonly refuseSocket?: ((remoteAddress: string | undefined) => boolean) | undefined
}

/** Headers must be complete this long after a connection starts a request (slowloris). */
export const HEADERS_TIMEOUT_MS = 10_000
/** Larger request heads get 431 HEADERS_TOO_LARGE. */
export const MAX_HEADER_BYTES = 16 * 1024
/** How often Node checks the two timeouts above (its default, 30 s, lets them run 30 s late). */
const TIMEOUT_CHECK_EVERY_MS = 1_000

let fallbackLog: ApiLog | undefined
function defaultLog(): ApiLog {
  fallbackLog ??= pino({
    level: process.env.ECHONET_LOG_LEVEL ?? 'info',
    base: { svc: 'echonet-node', component: 'api' },
  })
  return fallbackLog
}

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/

/** The client's `x-request-id` when it is a sane token, else a fresh one. */
function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID()
}

/**
 * The request target as a URL on a fixed base. Origin-form paths and absolute-form URLs are
 * accepted; a target starting with `//` reads as a network-path reference (`//host/...`) to URL
 * parsers, so it is refused rather than guessed at, like `*` and anything unparsable.
 */
export function requestTarget(raw: string | undefined): URL {
  const target = raw ?? ''
  if (target.startsWith('/') && !target.startsWith('//')) {
    try {
      return new URL(`http://local${target}`)
    } catch {
      throw apiError('MALFORMED_REQUEST', 'request target is not a valid path')
    }
  }
  if (/^https?:\/\//i.test(target)) {
    try {
      return new URL(target)
    } catch {
      throw apiError('MALFORMED_REQUEST', 'request target is not a valid URL')
    }
  }
  throw apiError('MALFORMED_REQUEST', 'request target must be a path starting with a single /')
}

/** A complete HTTP/1.1 error response for a raw socket (no ServerResponse exists there). */
function rawError(err: ApiError, requestId: string, head: boolean): string {
  const body = JSON.stringify(errorBody(err, requestId))
  return (
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n${head ? '' : body}`
  )
}

/** Answers on a socket the HTTP parser gave up on, then closes it (no body for a HEAD request). */
function endWith(socket: Duplex, err: ApiError, requestId: string, head = false): void {
  socket.end(rawError(err, requestId, head), () => socket.destroy())
  // A client that never reads must not keep the socket open.
  setTimeout(() => socket.destroy(), 5_000).unref()
}

/** Node's parser error codes (llhttp `HPE_*`, `ERR_HTTP_*`) as the API's stable codes. */
export function framingError(nodeCode: string | undefined): ApiError {
  const detail = nodeCode ?? 'parse error'
  const code: ApiErrorCode =
    nodeCode === 'HPE_HEADER_OVERFLOW'
      ? 'HEADERS_TOO_LARGE'
      : nodeCode === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'REQUEST_TIMEOUT'
        : 'MALFORMED_REQUEST'
  const message =
    code === 'HEADERS_TOO_LARGE'
      ? `request headers exceed ${MAX_HEADER_BYTES} bytes`
      : code === 'REQUEST_TIMEOUT'
        ? 'request not received in time'
        : `malformed HTTP request (${detail})`
  return apiError(code, message)
}

/** An unread request body is read and dropped up to this many bytes or this long, then the connection is closed. */
const DRAIN_MAX_BYTES = 16 * 1024 * 1024
const DRAIN_MAX_MS = 5_000

/**
 * Reads and drops the rest of a body the handler refused. Closing at once would make a client
 * that is still sending see a reset instead of the answer; draining forever would let a chunked
 * body of endless size hold the connection.
 */
function drainThenClose(req: IncomingMessage): void {
  let bytes = 0
  const stop = (): void => {
    clearTimeout(timer)
    req.socket.destroy()
  }
  const timer = setTimeout(stop, DRAIN_MAX_MS)
  timer.unref()
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length
    if (bytes > DRAIN_MAX_BYTES) stop()
  })
  req.once('end', () => clearTimeout(timer))
  req.once('close', () => clearTimeout(timer))
  req.resume()
}

export function serve(handler: Handler, o: ServeOptions): Server {
  const log = o.log ?? defaultLog()
  // The response in flight on each socket: a framing error in a pipelined request after it is
  // answered once that response is complete.
  const inFlight = new WeakMap<Duplex, { req: IncomingMessage; res: ServerResponse }>()
  const hadRequest = new WeakSet<Duplex>()

  const server = createServer(
    {
      requestTimeout: o.requestTimeoutMs,
      headersTimeout: Math.min(o.headersTimeoutMs ?? HEADERS_TIMEOUT_MS, o.requestTimeoutMs),
      connectionsCheckingInterval: TIMEOUT_CHECK_EVERY_MS,
      maxHeaderSize: MAX_HEADER_BYTES,
      // Checked in dispatch instead, so a missing Host gets JSON rather than Node's bodiless 400.
      requireHostHeader: false,
    },
    (req, res) => {
      const current = { req, res }
      inFlight.set(req.socket, current)
      hadRequest.add(req.socket)
      res.once('close', () => {
        if (inFlight.get(req.socket) === current) inFlight.delete(req.socket)
      })
      void dispatch(req, res)
    },
  )

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = requestIdOf(req)
    // Late stream errors (client gone mid-response) are logged, never thrown at the process.
    res.on('error', (err) => log.debug({ requestId, api: o.api, err: err.message }, 'response stream error'))
    req.on('error', (err) => log.debug({ requestId, api: o.api, err: err.message }, 'request stream error'))
    try {
      res.setHeader('x-request-id', requestId)
      o.admit?.(req)
      if (req.httpVersion === '1.1' && req.headers.host === undefined)
        throw apiError('MALFORMED_REQUEST', 'an HTTP/1.1 request needs a Host header')
      await handler(req, res, requestTarget(req.url))
    } catch (err) {
      fail(req, res, err, requestId)
    }
  }

  /** The one place a thrown error becomes a response. */
  function fail(req: IncomingMessage, res: ServerResponse, err: unknown, requestId: string): void {
    const e = toApiError(err)
    if (e.code === 'INTERNAL') {
      const detail = err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : { err }
      log.error(
        { requestId, api: o.api, method: req.method, path: req.url?.slice(0, 200), ...detail },
        'request failed',
      )
    }
    try {
      if (res.headersSent) {
        res.destroy()
        return
      }
      // A stalled body is not waited for again; one refused unread (too large, unauthorized) is
      // drained for a while so the client, still sending, gets to read the answer.
      const stalled = e.code === 'REQUEST_TIMEOUT'
      if (stalled) res.setHeader('connection', 'close')
      sendError(res, e, requestId)
      if (!stalled && !req.complete) drainThenClose(req)
    } catch (sendErr) {
      log.warn({ requestId, api: o.api, err: (sendErr as Error).message }, 'could not send the error response')
      res.destroy()
    }
  }

  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    try {
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy()
        return
      }
      const requestId = randomUUID()
      const e = framingError(err.code)
      log.debug({ requestId, api: o.api, nodeCode: err.code, code: e.code }, 'refused a malformed request')
      // No body for a HEAD: known only when the failing request is the socket's first.
      const packet = (err as { rawPacket?: unknown }).rawPacket
      const head =
        !hadRequest.has(socket) && Buffer.isBuffer(packet) && packet.subarray(0, 5).toString('latin1') === 'HEAD '
      const answer = (): void => {
        if (socket.writable) endWith(socket, e, requestId, head)
        else socket.destroy()
      }
      const current = inFlight.get(socket)
      if (current === undefined || current.res.writableEnded) {
        answer()
        return
      }
      const { req, res } = current
      // The request in progress is the broken one (its body did not parse): answer it now, unless
      // its response has begun.
      if (!req.complete) {
        if (res.headersSent) socket.destroy()
        else answer()
        return
      }
      // A complete request before the broken one (pipelined) is answered first; ours follows it.
      res.once('finish', answer)
      res.once('close', () => {
        if (!res.writableFinished) socket.destroy()
      })
    } catch {
      socket.destroy()
    }
  })

  // `Expect: <anything but 100-continue>`: Node would answer a bodiless 417.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    hadRequest.add(req.socket)
    res.setHeader('connection', 'close')
    sendJson(res, 417, errorBody(apiError('EXPECTATION_FAILED', 'only Expect: 100-continue is supported')))
    req.resume()
  })

  // A connection with no request in progress that goes quiet is closed. Node's own timeouts miss
  // some (a `PRI` request line leaves its parser paused with the head read: only the 300 s
  // requestTimeout would end it); a handler still working on a response is left alone. It fires
  // after the headers timeout has had its turn, so a slow head still gets its 408.
  server.setTimeout((o.headersTimeoutMs ?? HEADERS_TIMEOUT_MS) + 2 * TIMEOUT_CHECK_EVERY_MS)
  server.on('timeout', (socket: Duplex) => {
    const current = inFlight.get(socket)
    if (current !== undefined && !current.res.writableEnded) return
    socket.destroy()
  })

  if (o.refuseSocket !== undefined) {
    const refuse = o.refuseSocket
    server.on('connection', (socket: Duplex & { remoteAddress?: string }) => {
      if (refuse(socket.remoteAddress)) socket.destroy()
    })
  }

  // CONNECT hands over the raw socket; nothing here tunnels.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy())
    endWith(socket, apiError('METHOD_NOT_ALLOWED', 'CONNECT is not supported'), randomUUID())
  })

  return server
}
