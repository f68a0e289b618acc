// Test program for the local agent's integration test (image `echonet/test-http`).
//
// Serves on $POD_IP:${PORT:-8080}:
//   GET /healthz  → 200 "ok"
//   GET /info     → JSON: pid, selected env, contents of $SECRET_FILE and $CONFIG_FILE, the
//                   lines of $DATA_DIR/boots.log, and files of the service-account dir
//   GET /whoami   → the identity the apiserver sees for the pod's service-account token
//                   (SelfSubjectReview, allowed for every authenticated user)
// On start it appends a line to $DATA_DIR/boots.log; on SIGTERM it appends "SIGTERM <pid>" to
// $DATA_DIR/signals.log, waits 300 ms (a graceful shutdown) and exits 0.
import { appendFileSync, readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'

const host = process.env.POD_IP ?? '127.0.0.1'
const port = Number(process.env.PORT ?? '8080')
const dataDir = process.env.DATA_DIR

function read(file: string | undefined): string | null {
  if (file === undefined) return null
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    return `ERROR ${err instanceof Error ? err.message : String(err)}`
  }
}

if (dataDir !== undefined)
  appendFileSync(path.join(dataDir, 'boots.log'), `boot ${process.pid} ${new Date().toISOString()}\n`)

function whoami(): Promise<unknown> {
  const saDir = process.env.ECHONET_SA_DIR
  if (saDir === undefined) return Promise.resolve({ error: 'no ECHONET_SA_DIR' })
  const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' })
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: process.env.KUBERNETES_SERVICE_HOST,
        port: Number(process.env.KUBERNETES_SERVICE_PORT),
        path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        method: 'POST',
        ca: readFileSync(path.join(saDir, 'ca.crt')),
        headers: {
          authorization: `Bearer ${readFileSync(path.join(saDir, 'token'), 'utf8')}`,
          'content-type': 'application/json',
        },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () => {
          try {
            resolve(JSON.parse(text))
          } catch {
            resolve({ error: text })
          }
        })
      },
    )
    req.on('error', (err) => {
      resolve({ error: err.message })
    })
    req.end(body)
  })
}

const server = http.createServer((req, res) => {
  const send = (code: number, value: unknown): void => {
    res.writeHead(code, { 'content-type': 'application/json' })
    res.end(JSON.stringify(value))
  }
  if (req.url === '/healthz') {
    res.end('ok')
    return
  }
  if (req.url === '/info') {
    const saDir = process.env.ECHONET_SA_DIR
    send(200, {
      pid: process.pid,
      cwd: process.cwd(),
      argv: process.argv.slice(2),
      env: Object.fromEntries(
        Object.entries(process.env).filter(([k]) =>
          /^(TEST_|POD_|NODE_NAME|KUBERNETES_SERVICE_|ECHONET_|FROM_|HOSTNAME|DATA_DIR)/.test(k),
        ),
      ),
      secret: read(process.env.SECRET_FILE),
      config: read(process.env.CONFIG_FILE),
      boots: (read(dataDir === undefined ? undefined : path.join(dataDir, 'boots.log')) ?? '')
        .split('\n')
        .filter((l) => l !== ''),
      sa:
        saDir === undefined
          ? null
          : {
              namespace: read(path.join(saDir, 'namespace')),
              tokenLength: (read(path.join(saDir, 'token')) ?? '').length,
            },
    })
    return
  }
  if (req.url === '/whoami') {
    void whoami().then((r) => {
      send(200, r)
    })
    return
  }
  send(404, { error: 'not found' })
})

server.listen(port, host, () => {
  console.log(`listening on ${host}:${port} pid ${process.pid}`)
})

process.on('SIGTERM', () => {
  console.log('SIGTERM received; shutting down')
  if (dataDir !== undefined)
    appendFileSync(path.join(dataDir, 'signals.log'), `SIGTERM ${process.pid} ${new Date().toISOString()}\n`)
  server.close()
  setTimeout(() => process.exit(0), 300)
})
