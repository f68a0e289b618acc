// Just enough of the kubelet API for `kubectl logs`: GET /containerLogs/<ns>/<pod>/<container>
// with `follow`, `previous`, `tailLines` and `limitBytes`. Served over TLS on 127.0.0.1 (the
// Node's only address, so the apiserver dials it) with a self-signed certificate (the apiserver
// does not verify kubelet certificates unless told to), and only to clients with a certificate
// from the cluster CA (the apiserver's kubelet-client certificate).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { open, readdir, stat } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import type { Logger } from './log.ts'
import type { Layout } from './paths.ts'

export interface LogRequest {
  namespace: string
  pod: string
  container: string
  follow: boolean
  previous: boolean
  tailLines: number | undefined
  limitBytes: number | undefined
}

/** Parses a kubelet containerLogs URL (pure). */
export function parseLogRequest(url: string): LogRequest | undefined {
  const u = new URL(url, 'https://agent')
  const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(u.pathname)
  if (m === null) return undefined
  const int = (k: string): number | undefined => {
    const v = u.searchParams.get(k)
    return v === null || !/^\d+$/.test(v) ? undefined : Number(v)
  }
  const bool = (k: string): boolean => ['true', '1'].includes(u.searchParams.get(k) ?? '')
  return {
    namespace: decodeURIComponent(m[1]!),
    pod: decodeURIComponent(m[2]!),
    container: decodeURIComponent(m[3]!),
    follow: bool('follow'),
    previous: bool('previous'),
    tailLines: int('tailLines'),
    limitBytes: int('limitBytes'),
  }
}

/** The last `n` lines of `text` (pure). */
export function tailLines(text: Buffer, n: number): Buffer {
  if (n === 0) return Buffer.alloc(0)
  let end = text.length
  if (end > 0 && text[end - 1] === 0x0a) end--
  let count = 0
  for (let i = end - 1; i >= 0; i--) {
    if (text[i] === 0x0a && ++count === n) return text.subarray(i + 1)
  }
  return text
}

function ensureCert(dir: string): { cert: Buffer; key: Buffer } {
  const cert = path.join(dir, 'kubelet.crt')
  const key = path.join(dir, 'kubelet.key')
  if (!existsSync(cert) || !existsSync(key)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '3650',
        '-subj',
        '/CN=echonet-local-agent',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore', timeout: 10_000 },
    )
  }
  return { cert: readFileSync(cert), key: readFileSync(key) }
}

export interface LogServerOptions {
  layout: Layout
  /** Cluster CA: clients must present a certificate it signed. */
  clientCA: Buffer | undefined
  port: number
  log: Logger
  /** uid of the pod currently known under namespace/name. */
  podUid(namespace: string, name: string): string | undefined
}

async function logFiles(dir: string): Promise<number[]> {
  try {
    return (await readdir(dir))
      .map((f) => /^(\d+)\.log$/.exec(f)?.[1])
      .filter((x): x is string => x !== undefined)
      .map(Number)
      .sort((a, b) => a - b)
  } catch {
    return []
  }
}

export async function startLogServer(o: LogServerOptions): Promise<{ port: number; close(): void }> {
  const { cert, key } = ensureCert(path.join(o.layout.stateDir, 'pki'))
  const server = https.createServer(
    { cert, key, ...(o.clientCA === undefined ? {} : { ca: o.clientCA, requestCert: true, rejectUnauthorized: true }) },
    (req, res) => {
      serve(req.url ?? '/', res, o).catch((err: unknown) => {
        o.log.warn('log request failed', { url: req.url, err })
        if (!res.headersSent) res.writeHead(500)
        res.end()
      })
    },
  )
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, '127.0.0.1', () => {
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    close: () => {
      server.closeAllConnections()
      server.close()
    },
  }
}

async function serve(url: string, res: ServerResponse, o: LogServerOptions): Promise<void> {
  const r = parseLogRequest(url)
  if (r === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('only /containerLogs is served by the local agent\n')
    return
  }
  const uid = o.podUid(r.namespace, r.pod)
  if (uid === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end(`pod ${r.namespace}/${r.pod} is not on this node\n`)
    return
  }
  const ref = { namespace: r.namespace, name: r.pod, uid }
  const dir = path.join(o.layout.podDir(ref), 'logs', r.container)
  const files = await logFiles(dir)
  const n = r.previous ? files.at(-2) : files.at(-1)
  if (n === undefined) {
    res.writeHead(400, { 'content-type': 'text/plain' })
    res.end(
      r.previous
        ? `previous terminated container "${r.container}" not found\n`
        : `container "${r.container}" has no logs yet\n`,
    )
    return
  }
  const file = path.join(dir, `${n}.log`)
  let data: Buffer = readFileSync(file)
  if (r.tailLines !== undefined) data = tailLines(data, r.tailLines)
  if (r.limitBytes !== undefined) data = data.subarray(0, r.limitBytes)
  res.writeHead(200, { 'content-type': 'text/plain' })
  res.write(data)
  if (!r.follow || r.previous) {
    res.end()
    return
  }
  // Follow: stream what is appended until the client goes away or the container restarts.
  let offset = (await stat(file)).size
  const fh = await open(file, 'r')
  const client = { closed: false }
  res.on('close', () => {
    client.closed = true
  })
  try {
    while (!client.closed) {
      await new Promise((resolve) => setTimeout(resolve, 500))
      const size = (await stat(file)).size
      if (size > offset) {
        const buf = Buffer.alloc(size - offset)
        await fh.read(buf, 0, buf.length, offset)
        offset = size
        res.write(buf)
      } else if (
        !existsSync(o.layout.pidFile(ref, r.container)) || // exited (the pid file goes with the process)
        (await logFiles(dir)).some((x) => x > n) ||
        o.podUid(r.namespace, r.pod) !== uid
      ) {
        break
      }
    }
  } finally {
    await fh.close()
    res.end()
  }
}
