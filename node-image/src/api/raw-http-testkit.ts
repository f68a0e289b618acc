/**
 * Test helpers: raw HTTP/1.1 over a plain TCP socket, so tests can send what no HTTP client would
 * (bad framing, `GET //`, huge chunk sizes) and check exactly what comes back. Not used by the node.
 */
import { connect } from 'node:net'
import fc from 'fast-check'

export interface RawResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export interface Exchange {
  readonly responses: RawResponse[]
  /** Bytes after the last complete response (a well-behaved server leaves none). */
  readonly rest: string
  /** The server closed the connection (or reset it) before `timeoutMs`. */
  readonly closed: boolean
  /** The request was a HEAD: its answer has headers only. */
  readonly head: boolean
  readonly error?: string
}

/** Reads the complete responses in `buf`; the first has no body if it answers a HEAD. */
export function parseResponses(buf: Buffer, firstIsHead = false): { responses: RawResponse[]; rest: Buffer } {
  const responses: RawResponse[] = []
  let at = 0
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at)
    if (end < 0) break
    const lines = buf.subarray(at, end).toString('latin1').split('\r\n')
    const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '')
    if (!m) break
    const status = Number(m[1])
    const headers: Record<string, string> = {}
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':')
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
    }
    let bodyStart = end + 4
    let body: Buffer
    const noBody = status < 200 || status === 204 || status === 304 || (firstIsHead && responses.length === 0)
    if (noBody) body = Buffer.alloc(0)
    else if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = []
      let p = bodyStart
      let done = false
      for (;;) {
        const eol = buf.indexOf('\r\n', p)
        if (eol < 0) break
        const size = parseInt(buf.subarray(p, eol).toString('latin1'), 16)
        if (!Number.isFinite(size) || eol + 2 + size + 2 > buf.length) break
        if (size === 0) {
          p = eol + 4
          done = true
          break
        }
        parts.push(buf.subarray(eol + 2, eol + 2 + size))
        p = eol + 2 + size + 2
      }
      if (!done) break
      body = Buffer.concat(parts)
      bodyStart = p
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length'])
      if (bodyStart + len > buf.length) break
      body = buf.subarray(bodyStart, bodyStart + len)
      bodyStart += len
    } else {
      body = buf.subarray(bodyStart)
      bodyStart = buf.length
    }
    responses.push({ status, headers, body: body.toString('utf8') })
    at = noBody ? end + 4 : bodyStart
  }
  return { responses, rest: buf.subarray(at) }
}

/**
 * Sends `payload` on a new connection and collects what comes back until the server closes the
 * connection or `timeoutMs` passes. With `halfClose` the client then shuts its sending side, as a
 * client that has nothing more to say (the server answers what it got and closes).
 */
export function rawExchange(
  target: { host: string; port: number; localAddress?: string },
  payload: string | Uint8Array,
  opts: { timeoutMs: number; halfClose?: boolean; head?: boolean },
): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let error: string | undefined
    const sock = connect({
      host: target.host,
      port: target.port,
      ...(target.localAddress === undefined ? {} : { localAddress: target.localAddress }),
    })
    const finish = (closed: boolean): void => {
      clearTimeout(timer)
      clearTimeout(idle)
      sock.destroy()
      const buf = Buffer.concat(chunks)
      // A HEAD answer has no body, unless the server could not parse the request as a HEAD at all
      // (e.g. `HEAD` alone on the line): then its error answer has one.
      let { responses, rest } = parseResponses(buf, opts.head ?? false)
      if (opts.head === true && rest.length > 0) {
        const asBody = parseResponses(buf, false)
        if (asBody.rest.length === 0) ({ responses, rest } = asBody)
      }
      resolve({
        responses,
        rest: rest.toString('latin1'),
        closed,
        head: opts.head ?? false,
        ...(error === undefined ? {} : { error }),
      })
    }
    const timer = setTimeout(() => finish(false), opts.timeoutMs)
    // Without a half-close a keep-alive connection stays open after its answer: stop once an
    // answer is complete and nothing more came for a moment.
    let idle: NodeJS.Timeout | undefined
    sock.on('data', (d: Buffer) => {
      chunks.push(d)
      if (opts.halfClose ?? true) return
      clearTimeout(idle)
      if (parseResponses(Buffer.concat(chunks), opts.head ?? false).responses.length > 0)
        idle = setTimeout(() => finish(false), 30)
    })
    sock.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message
    })
    sock.on('close', () => finish(true))
    sock.on('connect', () => {
      sock.write(payload)
      if (opts.halfClose ?? true) sock.end()
    })
  })
}

const STABLE_CODE = /^[A-Z][A-Z0-9_]{1,63}$/

/**
 * What every answer must be: a parsable HTTP response, and for an error a JSON body
 * `{ error: { code } }` with a stable code. Returns a description of the first violation.
 */
export function answerProblem(x: Exchange): string | undefined {
  if (x.rest.length > 0 && x.closed) return `unparsable bytes from the server: ${JSON.stringify(x.rest.slice(0, 200))}`
  // A connection may stay open (keep-alive) once it has answered.
  if (!x.closed && x.responses.length === 0) return 'no answer and the connection stayed open'
  for (const [i, r] of x.responses.entries()) {
    if (r.status < 400) continue
    if (!(r.headers['content-type'] ?? '').startsWith('application/json')) return `${r.status} without a JSON body`
    if (x.head && i === 0 && r.body === '') continue
    let code: unknown
    try {
      code = (JSON.parse(r.body) as { error?: { code?: unknown } }).error?.code
    } catch {
      return `${r.status} body is not JSON: ${r.body.slice(0, 200)}`
    }
    if (typeof code !== 'string' || !STABLE_CODE.test(code)) return `${r.status} without a stable code: ${r.body}`
  }
  return undefined
}

/** The error code of a JSON error response. */
export function codeOf(r: RawResponse | undefined): string | undefined {
  if (r === undefined) return undefined
  try {
    return (JSON.parse(r.body) as { error?: { code?: string } }).error?.code
  } catch {
    return undefined
  }
}

// --- fast-check arbitraries for raw HTTP requests -------------------------------------------------

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'PRI', 'G ET', '']

/** Request targets: real routes, their near misses, and what URL parsers trip on. */
export function targetArb(paths: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(
      ...paths,
      '/',
      '//',
      '///x',
      '//evil.example/x',
      'http://[',
      'http://local/',
      'https://x/v1/status',
      '*',
      '/%',
      '/%zz',
      '/..',
      '/v1/blocks/99999999999999999999',
      '/v1/accounts/did:key:z',
      '/v1/content/%00',
      '/admin/v1/dht/providers/%E0%A4%A',
      '\\',
      '/\\',
      '?',
      '',
    ),
    fc
      .constantFrom(...paths)
      .chain((p) =>
        fc.string({ maxLength: 24, unit: 'binary-ascii' }).map((tail) => `${p}${tail.replace(/[\r\n ]/g, '')}`),
      ),
    fc.string({ maxLength: 64, unit: 'binary-ascii' }).map((s) => s.replace(/[\r\n ]/g, '')),
  )
}

const HEADER_NAMES = [
  'Host',
  'Content-Length',
  'Transfer-Encoding',
  'Content-Type',
  'Authorization',
  'Expect',
  'Connection',
  'Upgrade',
  'X-Request-Id',
  'Accept',
]

const headerValueArb = fc.oneof(
  fc.constantFrom(
    '-1',
    '0',
    '5',
    '18446744073709551616',
    'chunked',
    'gzip, chunked',
    'identity',
    '100-continue',
    'foo',
    'close',
    'Upgrade',
    'websocket',
    'h2c',
    'application/json',
    'application/cbor',
    'Bearer x',
    'x',
  ),
  fc.string({ maxLength: 40, unit: 'binary-ascii' }).map((s) => s.replace(/[\r\n]/g, '')),
)

const headerArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...HEADER_NAMES), headerValueArb).map(([k, v]) => `${k}: ${v}`) },
  // Names and values Node's parser must refuse: NUL, bare CR, no colon, spaces before the colon.
  { weight: 1, arbitrary: fc.string({ maxLength: 40, unit: 'binary-ascii' }).map((s) => s.replace(/\r\n/g, '')) },
  { weight: 1, arbitrary: fc.constantFrom('X-Nul: a\u0000b', 'Bad Name: x', ': empty', 'NoColon', 'X: a\rb') },
  // Oversized heads (the limit is 16 KiB).
  { weight: 1, arbitrary: fc.integer({ min: 8_000, max: 40_000 }).map((n) => `X-Big: ${'a'.repeat(n)}`) },
)

const bodyArb = fc.oneof(
  fc.constant(''),
  fc.constantFrom(
    '{"seeds":[]}',
    '{"witnesses":[],"expiresAtMs":1}',
    '{"events":["AA=="]}',
    'ffffffffffffffff\r\n',
    'fffffffffffffff\r\nabc',
    '5\r\nhello\r\n0\r\n\r\n',
    '0\r\n\r\n',
    'zz\r\n',
    'null',
    '[]',
    '{"cid":"x"}',
  ),
  fc.string({ maxLength: 200, unit: 'binary' }),
)

export interface RawRequestCase {
  readonly method: string
  readonly payload: string
}

/** Any request: request line, headers and body, each often valid and sometimes not. */
function anyRequestArb(paths: readonly string[], auth: string | undefined): fc.Arbitrary<RawRequestCase> {
  return fc
    .record({
      method: fc.constantFrom(...METHODS),
      target: targetArb(paths),
      version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.x', ''),
      host: fc.boolean(),
      auth: fc.boolean(),
      headers: fc.array(headerArb, { maxLength: 6 }),
      body: bodyArb,
      eol: fc.constantFrom('\r\n', '\r\n', '\r\n', '\n'),
    })
    .map((r) => {
      const head = [
        `${r.method} ${r.target} ${r.version}`.trimEnd(),
        ...(r.host ? ['Host: node'] : []),
        ...(r.auth && auth !== undefined ? [`Authorization: Bearer ${auth}`] : []),
        ...r.headers,
      ]
      return { method: r.method, payload: `${head.join(r.eol)}${r.eol}${r.eol}${r.body}` }
    })
}

/**
 * A request whose framing is valid (so it reaches the routes and handlers) with an adversarial
 * target, header values and body: where `GET //` lived.
 */
function framedRequestArb(paths: readonly string[], auth: string | undefined): fc.Arbitrary<RawRequestCase> {
  const printable = (max: number) =>
    fc.string({ maxLength: max, unit: 'binary-ascii' }).map((v) => v.replace(/[^\x21-\x7e]/g, ''))
  return fc
    .record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'),
      target: targetArb(paths).filter((t) => /^[\x21-\x7e]+$/.test(t)),
      auth: fc.boolean(),
      type: fc.constantFrom('application/json', 'application/cbor', 'text/plain', ''),
      extra: fc.array(fc.tuple(fc.constantFrom('X-Request-Id', 'Accept', 'Connection'), printable(40)), {
        maxLength: 3,
      }),
      body: fc.oneof(
        fc.constantFrom('', '{}', 'null', '{"seeds":[{"peerId":"x","addrs":["/ip4/1.2.3.4/tcp/1"]}]}'),
        fc.json({ maxDepth: 3 }),
        fc.string({ maxLength: 300, unit: 'binary' }),
      ),
      chunked: fc.boolean(),
    })
    .map((r) => {
      const bytes = Buffer.from(r.body)
      const head = [
        `${r.method} ${r.target} HTTP/1.1`,
        'Host: node',
        ...(r.auth && auth !== undefined ? [`Authorization: Bearer ${auth}`] : []),
        ...(r.type === '' ? [] : [`Content-Type: ${r.type}`]),
        ...r.extra.map(([k, v]) => `${k}: ${v}`),
        r.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${bytes.length}`,
      ]
      const body = r.chunked
        ? `${bytes.length.toString(16)}\r\n${r.body}\r\n0\r\n\r\n`.replace(/^0\r\n\r\n0\r\n\r\n$/, '0\r\n\r\n')
        : r.body
      return { method: r.method, payload: `${head.join('\r\n')}\r\n\r\n${body}` }
    })
}

/** Raw requests: half with valid framing (reaching the handlers), half with anything at all. */
export function rawRequestArb(paths: readonly string[], auth: string | undefined): fc.Arbitrary<RawRequestCase> {
  return fc.oneof(framedRequestArb(paths, auth), anyRequestArb(paths, auth))
}
