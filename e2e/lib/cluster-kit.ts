/**
 * Shared by the local-cluster tests, `make up`'s drill and the scenario A benchmark: kubectl and
 * helm as a user runs them, local "machines" (node agents, each a Node with its own labels and
 * pod addresses) that can be lost for good, and the independent checks — the certified chain read
 * back from the nodes' public APIs and verified from genesis, votes read from the nodes' volumes.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, openSync, readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { auditChain, doubleVotesIn, httpChainSource } from '../../node-image/src/audit/index.ts'
import type { AuditOptions, AuditResult } from '../../node-image/src/audit/index.ts'
import type { AdminStatus } from '../../node-image/src/api/admin-contract.ts'
import { AdminClient } from '../../node-image/src/api/admin-contract.ts'

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const KUBECONFIG = process.env.KUBECONFIG ?? join(REPO, '.cluster/kubeconfig')
export const HELM = join(process.env.ECHONET_BIN_DIR ?? join(homedir(), '.cache/echonet/bin'), 'helm')
export const AUDIT_LOG = join(REPO, '.cluster/logs/audit.log')

export function sh(
  cmd: string,
  args: readonly string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, {
    input: opts.input,
    env: { ...process.env, KUBECONFIG, ...opts.env },
    encoding: 'utf8',
    timeout: 180_000,
    maxBuffer: 64 * 1024 * 1024,
  })
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}

export function kubectl(args: readonly string[], input?: string): string {
  const r = sh('kubectl', args, input !== undefined ? { input } : {})
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`)
  return r.stdout
}

export function kubectlJson(args: readonly string[]): unknown {
  return JSON.parse(kubectl([...args, '-o', 'json']))
}

/** `kubectl echonet ...`: the plugin, run as a user would (the operator package's bin). */
export function plugin(args: readonly string[]): { code: number; stdout: string; stderr: string } {
  return sh(process.execPath, [join(REPO, 'operator/bin/kubectl-echonet.js'), ...args])
}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 120_000,
  everyMs = 500,
): Promise<T> {
  const end = Date.now() + ms
  let last: unknown
  for (;;) {
    let v: T | undefined | false
    try {
      v = await fn()
    } catch (err) {
      last = err
      v = undefined
    }
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) {
      throw new Error(
        `timed out after ${ms} ms waiting for ${what}${last !== undefined ? ` (last error: ${(last as Error).message})` : ''}`,
      )
    }
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/**
 * A machine of the local cluster: a node agent registering Node `name` with `labels`, running its
 * pods as host processes on `podCidr`. `lose()` is what a power cut does: every process of the
 * machine is SIGKILLed at once, agent included, and nothing on it answers again.
 */
export class LocalMachine {
  readonly name: string
  readonly stateDir: string
  readonly #pid: number

  private constructor(name: string, stateDir: string, pid: number) {
    this.name = name
    this.stateDir = stateDir
    this.#pid = pid
  }

  /**
   * Starts the machine's agent. `detached` machines outlive the script that started them (`make
   * up` leaves the network running): their agent runs in its own session and its pid is kept in
   * `<stateDir>/agent.pid` for `attach` and `make down`.
   */
  static async start(o: {
    name: string
    podCidr: string
    labels: Record<string, string>
    stateDir: string
    detached?: boolean
    /**
     * Provision PersistentVolumes (one machine of a cluster does: its volumes stand for network
     * storage that outlives any other machine).
     */
    provisioner?: boolean
    /** Image mode (ADR 0012): run the images found among these OCI archives (`make images`). */
    imageDir?: string
  }): Promise<LocalMachine> {
    mkdirSync(o.stateDir, { recursive: true })
    const log = openSync(join(o.stateDir, 'agent.log'), 'a')
    const args = [join(REPO, 'e2e/agent/main.ts'), '--node-name', o.name, '--state-dir', join(o.stateDir, 'agent')]
      .concat(['--pod-cidr', o.podCidr, '--kubeconfig', KUBECONFIG, '--cpu', '32', '--memory', '64Gi'])
      .concat(Object.entries(o.labels).flatMap(([k, v]) => ['--node-label', `${k}=${v}`]))
      .concat(o.provisioner === true ? [] : ['--no-provisioner'])
      .concat(o.imageDir !== undefined ? ['--image-dir', o.imageDir] : [])
    const agent = spawn(process.execPath, args, {
      stdio: ['ignore', log, log],
      detached: o.detached === true,
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    })
    if (agent.pid === undefined) throw new Error(`machine ${o.name}: the agent did not start`)
    if (o.detached === true) agent.unref()
    writeFileSync(join(o.stateDir, 'agent.pid'), `${agent.pid}\n`)
    const m = new LocalMachine(o.name, o.stateDir, agent.pid)
    await waitFor(
      `machine ${o.name} Ready`,
      () =>
        kubectl(['get', 'node', o.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']) === 'True',
      60_000,
    )
    return m
  }

  /** A machine started earlier (detached), from its state directory. */
  static attach(name: string, stateDir: string): LocalMachine {
    return new LocalMachine(name, stateDir, Number(readFileSync(join(stateDir, 'agent.pid'), 'utf8').trim()))
  }

  get alive(): boolean {
    try {
      process.kill(this.#pid, 0)
      return readFileSync(`/proc/${this.#pid}/cmdline`, 'utf8').includes('e2e/agent/main.ts')
    } catch {
      return false
    }
  }

  /** Pids of every process of this machine's pods (their paths live in its pod directories). */
  processes(): number[] {
    const marker = join(this.stateDir, 'agent', 'pods')
    const out: number[] = []
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        if (cmd.includes(marker) && Number(pid) !== this.#pid) out.push(Number(pid))
      } catch {
        // gone
      }
    }
    return out
  }

  /** Main process of each container of pod `namespace/pod` on this machine (the agent's pid files). */
  podPids(namespace: string, pod: string): number[] {
    const pods = join(this.stateDir, 'agent', 'pods')
    if (!existsSync(pods)) return []
    const out: number[] = []
    for (const dir of readdirSync(pods).filter((d) => d.startsWith(`${namespace}_${pod}_`))) {
      const run = join(pods, dir, 'run')
      if (!existsSync(run)) continue
      for (const f of readdirSync(run).filter((x) => x.endsWith('.json'))) {
        try {
          out.push((JSON.parse(readFileSync(join(run, f), 'utf8')) as { pid: number }).pid)
        } catch {
          // being rewritten
        }
      }
    }
    return out
  }

  /** Sends `signal` to the process group of every container of a pod (SIGSTOP pauses it, SIGKILL kills it). */
  signalPod(namespace: string, pod: string, signal: NodeJS.Signals): number {
    const pids = this.podPids(namespace, pod)
    for (const p of pids) {
      try {
        process.kill(-p, signal)
      } catch {
        // gone
      }
    }
    return pids.length
  }

  /** Power cut: the agent and every pod process die at once; volumes stay unreachable on disk. */
  async lose(): Promise<void> {
    const pids = this.processes()
    try {
      process.kill(this.#pid, 'SIGKILL')
    } catch {
      // already gone
    }
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    await waitFor(
      `machine ${this.name} processes gone`,
      () => this.processes().length === 0 && !this.alive,
      30_000,
      100,
    )
  }

  /** Orderly stop (test teardown): the agent stops its pods. */
  async stop(): Promise<void> {
    if (!this.alive) return
    process.kill(this.#pid, 'SIGTERM')
    await waitFor(`machine ${this.name} stopped`, () => !this.alive, 60_000, 200)
  }

  /** votes.jsonl of every node volume this machine provisioned (spec.voteLog). */
  voteLogs(): string[] {
    const dir = join(this.stateDir, 'agent', 'volumes')
    if (!existsSync(dir)) return []
    return readdirSync(dir)
      .map((v) => join(dir, v, 'votes.jsonl'))
      .filter((f) => existsSync(f))
  }
}

export function installOperator(o: {
  release: string
  namespace: string
  watch: readonly string[]
  nodeSelector?: Record<string, string>
  replicas?: number
  env?: Record<string, string>
  values?: Record<string, string>
  stateDir: string
}): void {
  const helmEnv = {
    HELM_CACHE_HOME: join(o.stateDir, 'helm/cache'),
    HELM_CONFIG_HOME: join(o.stateDir, 'helm/config'),
    HELM_DATA_HOME: join(o.stateDir, 'helm/data'),
  }
  const args = ['install', o.release, join(REPO, 'charts/echonet-operator'), '-n', o.namespace, '--create-namespace']
    .concat(['--set', `replicaCount=${o.replicas ?? 1}`, '--set', `watchNamespaces={${o.watch.join(',')}}`])
    .concat(o.nodeSelector !== undefined ? ['--set-json', `nodeSelector=${JSON.stringify(o.nodeSelector)}`] : [])
    .concat(Object.entries(o.values ?? {}).flatMap(([k, v]) => ['--set', `${k}=${v}`]))
    .concat(
      Object.entries(o.env ?? {}).flatMap(([k, v], i) => [
        '--set',
        `extraEnv[${i}].name=${k}`,
        '--set',
        `extraEnv[${i}].value=${v}`,
      ]),
    )
  const r = sh(HELM, args, { env: helmEnv })
  if (r.code !== 0) throw new Error(`helm install: ${r.stderr}`)
}

export function uninstallOperator(o: { release: string; namespace: string; stateDir: string }): void {
  sh(HELM, ['uninstall', o.release, '-n', o.namespace, '--wait', '--timeout', '60s'], {
    env: {
      HELM_CACHE_HOME: join(o.stateDir, 'helm/cache'),
      HELM_CONFIG_HOME: join(o.stateDir, 'helm/config'),
      HELM_DATA_HOME: join(o.stateDir, 'helm/data'),
    },
  })
}

export interface PodJson {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string }
  spec?: { nodeName?: string }
  status?: { podIP?: string; phase?: string; conditions?: { type: string; status: string }[] }
}

export const podReady = (p: PodJson): boolean =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false

/** One node of a network as the cluster shows it. */
export interface ClusterNode {
  readonly node: string
  readonly pod: string
  readonly role: string
  readonly ip?: string
  readonly ready: boolean
  readonly machine?: string
}

export function networkNodes(ns: string, network: string): ClusterNode[] {
  return (
    kubectlJson(['-n', ns, 'get', 'pods', '-l', `echonet.io/network=${network}`]) as { items: PodJson[] }
  ).items.map((p) => ({
    node: p.metadata.labels?.['echonet.io/node'] ?? p.metadata.name,
    pod: p.metadata.name,
    role: p.metadata.labels?.['echonet.io/role'] ?? '',
    ...(p.status?.podIP !== undefined ? { ip: p.status.podIP } : {}),
    ready: podReady(p) && p.metadata.deletionTimestamp === undefined,
    ...(p.spec?.nodeName !== undefined ? { machine: p.spec.nodeName } : {}),
  }))
}

export function adminToken(ns: string, network: string): string {
  return Buffer.from(
    kubectl(['-n', ns, 'get', 'secret', `${network}-admin-token`, '-o', 'jsonpath={.data.token}']),
    'base64',
  ).toString('utf8')
}

export async function nodeStatus(ip: string, token: string): Promise<AdminStatus | undefined> {
  try {
    return await new AdminClient(`http://${ip}:9090`, token, { timeoutMs: 3_000 }).status()
  } catch {
    return undefined
  }
}

export function genesisOf(ns: string, network: string): unknown {
  return JSON.parse(
    kubectl(['-n', ns, 'get', 'configmap', `${network}-genesis`, '-o', 'jsonpath={.data.genesis\\.json}']),
  ) as unknown
}

/**
 * The chain as the live witnesses and standbys serve it, verified from genesis by the auditor
 * (certificates checked against the committee it tracks itself, restart records included).
 */
export async function auditNetwork(ns: string, network: string, opts: AuditOptions = {}): Promise<AuditResult> {
  const token = adminToken(ns, network)
  const live: ClusterNode[] = []
  for (const n of networkNodes(ns, network)) {
    if (
      (n.role === 'witness' || n.role === 'standby') &&
      n.ip !== undefined &&
      (await nodeStatus(n.ip, token)) !== undefined
    )
      live.push(n)
  }
  return auditChain(
    genesisOf(ns, network),
    live.map((n) => httpChainSource(n.node, `http://${n.ip!}:8080`)),
    opts,
  )
}

export async function doubleVotesOn(machines: readonly LocalMachine[]): Promise<{ votes: number; doubles: string[] }> {
  return doubleVotesIn(machines.flatMap((m) => m.voteLogs()))
}

/** Writes by a service account in [fromMs, toMs] from the audit log (Lease renewals excepted). */
export function writesBy(user: string, fromMs: number, toMs: number): string[] {
  const out: string[] = []
  for (const line of readFileSync(AUDIT_LOG, 'utf8').split('\n')) {
    if (!line.includes(user)) continue
    const e = JSON.parse(line) as {
      stage: string
      verb: string
      user: { username: string }
      objectRef?: { resource?: string; subresource?: string; name?: string }
      requestReceivedTimestamp: string
    }
    if (e.stage !== 'ResponseComplete' || e.user.username !== user) continue
    if (['get', 'list', 'watch'].includes(e.verb) || e.objectRef?.resource === 'leases') continue
    const t = Date.parse(e.requestReceivedTimestamp)
    if (t >= fromMs && t <= toMs)
      out.push(
        `${e.verb} ${e.objectRef?.resource ?? ''}${e.objectRef?.subresource !== undefined ? `/${e.objectRef.subresource}` : ''}/${e.objectRef?.name ?? ''}`,
      )
  }
  return out
}
