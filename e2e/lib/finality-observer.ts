/**
 * An observer of a network that knows nothing of the operator: it lists the network's pods with
 * kubectl and asks every witness and standby for its finalized height on the public API
 * (`GET /v1/status`), and writes what it saw as JSON lines — each time the highest finalized height
 * grows, and every pod's state once a second. It runs as its own process, so that nothing the test
 * does (synchronous kubectl calls) delays its clock.
 *
 *   node e2e/lib/finality-observer.ts --namespace NS --network testnet --out observed.jsonl [--interval-ms 150]
 *
 * Lines: {"t":ms,"height":h} | {"t":ms,"pods":[[name, role, ready, terminating, uid, specHash]]}.
 */
import { execFile } from 'node:child_process'
import { appendFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    namespace: { type: 'string' },
    network: { type: 'string', default: 'testnet' },
    out: { type: 'string' },
    'interval-ms': { type: 'string', default: '150' },
  },
})
const ns = values.namespace
const out = values.out
if (ns === undefined || out === undefined) throw new Error('--namespace and --out are required')
const intervalMs = Number(values['interval-ms'])

interface Pod {
  readonly name: string
  readonly role: string
  readonly ip?: string
  readonly ready: boolean
  readonly terminating: boolean
  readonly uid: string
  readonly specHash: string
}

interface PodJson {
  metadata: {
    name: string
    uid: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    deletionTimestamp?: string
  }
  status?: { podIP?: string; conditions?: { type: string; status: string }[] }
}

let pods: Pod[] = []
let best = 0
let stopping = false

function write(line: object): void {
  appendFileSync(out!, JSON.stringify(line) + '\n')
}

function listPods(): Promise<Pod[]> {
  return new Promise((resolve, reject) => {
    execFile(
      'kubectl',
      ['-n', ns!, 'get', 'pods', '-l', `echonet.io/network=${values.network}`, '-o', 'json'],
      { maxBuffer: 64 * 1024 * 1024, timeout: 10_000 },
      (err, stdout) => {
        if (err !== null) return reject(new Error(err.message))
        const items = (JSON.parse(stdout) as { items: PodJson[] }).items
        resolve(
          items.map((p) => ({
            name: p.metadata.name,
            role: p.metadata.labels?.['echonet.io/role'] ?? '',
            ...(p.status?.podIP !== undefined ? { ip: p.status.podIP } : {}),
            ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
            terminating: p.metadata.deletionTimestamp !== undefined,
            uid: p.metadata.uid,
            specHash: p.metadata.annotations?.['echonet.io/spec-hash'] ?? '',
          })),
        )
      },
    )
  })
}

async function podLoop(): Promise<void> {
  while (!stopping) {
    try {
      pods = await listPods()
      write({
        t: Date.now(),
        pods: pods.map((p) => [p.name, p.role, p.ready, p.terminating, p.uid, p.specHash]),
      })
    } catch {
      // the API server was slow: try again
    }
    await new Promise((r) => setTimeout(r, 1_000))
  }
}

async function height(ip: string): Promise<number> {
  try {
    const r = await fetch(`http://${ip}:8080/v1/status`, { signal: AbortSignal.timeout(1_000) })
    return ((await r.json()) as { finalizedHeight?: number }).finalizedHeight ?? 0
  } catch {
    return 0
  }
}

/**
 * One loop per voter pod, so that a pod that hangs (terminating) cannot delay what the others
 * report: the highest height is recorded the moment any voter answers with it.
 */
const polling = new Set<string>()

async function pollVoter(ip: string): Promise<void> {
  polling.add(ip)
  try {
    while (!stopping && pods.some((p) => p.ip === ip && (p.role === 'witness' || p.role === 'standby'))) {
      const h = await height(ip)
      if (h > best) {
        best = h
        write({ t: Date.now(), height: h })
      }
      await new Promise((r) => setTimeout(r, intervalMs))
    }
  } finally {
    polling.delete(ip)
  }
}

async function voterLoop(): Promise<void> {
  while (!stopping) {
    for (const p of pods) {
      if ((p.role === 'witness' || p.role === 'standby') && p.ip !== undefined && !polling.has(p.ip))
        void pollVoter(p.ip)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

process.on('SIGTERM', () => {
  stopping = true
  process.exit(0)
})
void podLoop()
void voterLoop()
