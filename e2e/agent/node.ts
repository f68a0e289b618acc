// Node registration and heartbeats: the Node object (labels, capacity, Ready condition), its
// Lease in kube-node-lease renewed every 10 s (as the kubelet does), and a status write only
// when something changes or every 5 minutes (the kubelet's nodeStatusReportFrequency), so that
// an idle agent writes nothing but Lease renewals.
import type { Logger } from './log.ts'
import { isConflict, isNotFound, MERGE_PATCH, STRATEGIC_MERGE_PATCH, type KubeClient } from './kube/client.ts'
import type { Condition, Lease, Node, NodeStatus } from './kube/types.ts'
import { parseQuantity } from './quantity.ts'
import { apiTime } from './status.ts'

export interface NodeConfig {
  name: string
  podCIDR: string
  capacity: Record<string, string>
  hostIP: string
  /** Port of the agent's kubelet-API subset (for `kubectl logs`). */
  kubeletPort: number
  kubeletVersion: string
  labels?: Record<string, string>
}

export const LEASE_NAMESPACE = 'kube-node-lease'

export function nodeLabels(cfg: Pick<NodeConfig, 'name' | 'labels'>): Record<string, string> {
  return {
    'kubernetes.io/hostname': cfg.name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch,
    'echonet.io/local-agent': 'true',
    ...cfg.labels,
  }
}

const conditionSpecs: [type: string, status: 'True' | 'False', reason: string, message: string][] = [
  ['MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'local agent has sufficient memory available'],
  ['DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'local agent has no disk pressure'],
  ['PIDPressure', 'False', 'KubeletHasSufficientPID', 'local agent has sufficient PID available'],
  ['Ready', 'True', 'KubeletReady', 'local agent (echonet e2e/agent, not a kubelet) is posting ready status'],
]

/** Desired node status; transition times kept from `prev` when a condition did not change. */
export function desiredNodeStatus(cfg: NodeConfig, prev: NodeStatus | undefined, nowMs: number): NodeStatus {
  const now = apiTime(nowMs)
  const conditions: Condition[] = conditionSpecs.map(([type, status, reason, message]) => {
    const old = prev?.conditions?.find((c) => c.type === type)
    return {
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: old?.status === status && old.lastTransitionTime !== undefined ? old.lastTransitionTime : now,
    }
  })
  return {
    capacity: cfg.capacity,
    allocatable: cfg.capacity,
    conditions,
    // No Hostname address: the apiserver would prefer it to reach the "kubelet" (kubectl logs),
    // and the node name does not resolve.
    addresses: [{ type: 'InternalIP', address: cfg.hostIP }],
    daemonEndpoints: { kubeletEndpoint: { Port: cfg.kubeletPort } },
    nodeInfo: {
      machineID: '',
      systemUUID: '',
      bootID: '',
      kernelVersion: '',
      osImage: 'echonet local node agent (host processes)',
      containerRuntimeVersion: 'echonet-local-agent://0.1.0',
      kubeletVersion: cfg.kubeletVersion,
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    },
  }
}

/** Everything but heartbeat times: a change here is worth a write at once. */
export function nodeStatusFingerprint(s: NodeStatus | undefined): string {
  if (s === undefined) return ''
  const conditions = (s.conditions ?? [])
    .filter((c) => conditionSpecs.some(([type]) => type === c.type))
    .map((c) => ({ type: c.type, status: c.status, reason: c.reason ?? '', message: c.message ?? '' }))
    .sort((a, b) => a.type.localeCompare(b.type))
  // Quantities are compared by value: the API canonicalizes them ("24576000Ki" comes back as "24000Mi").
  const sorted = (m: Record<string, string> | undefined): [string, number][] =>
    Object.entries(m ?? {})
      .map(([k, v]): [string, number] => [k, parseQuantity(v)])
      .sort((a, b) => a[0].localeCompare(b[0]))
  return JSON.stringify([
    conditions,
    sorted(s.capacity),
    sorted(s.allocatable),
    s.addresses ?? [],
    s.daemonEndpoints?.kubeletEndpoint?.Port ?? 0,
    s.nodeInfo?.kubeletVersion ?? '',
    s.nodeInfo?.containerRuntimeVersion ?? '',
  ])
}

/** Last heartbeat of the Ready condition, in ms (0 when missing). */
export function lastHeartbeat(s: NodeStatus | undefined): number {
  const t = s?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime
  return t === undefined ? 0 : Date.parse(t)
}

export function nodeStatusNeedsWrite(
  current: NodeStatus | undefined,
  desired: NodeStatus,
  nowMs: number,
  reportEveryMs: number,
): boolean {
  return (
    nodeStatusFingerprint(current) !== nodeStatusFingerprint(desired) || nowMs - lastHeartbeat(current) >= reportEveryMs
  )
}

/** MicroTime (RFC 3339 with exactly 6 fractional digits), as Lease times are stored. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
}

export class NodeHeartbeat {
  readonly #client: KubeClient
  readonly #cfg: NodeConfig
  readonly #log: Logger
  readonly #leaseEveryMs: number
  readonly #statusEveryMs: number
  #node: Node | undefined
  #lease: Lease | undefined
  #leaseTimer: NodeJS.Timeout | undefined
  #statusTimer: NodeJS.Timeout | undefined
  #stopped = false

  constructor(
    client: KubeClient,
    cfg: NodeConfig,
    log: Logger,
    opts: { leaseEveryMs?: number; statusEveryMs?: number } = {},
  ) {
    this.#client = client
    this.#cfg = cfg
    this.#log = log
    this.#leaseEveryMs = opts.leaseEveryMs ?? 10_000
    this.#statusEveryMs = opts.statusEveryMs ?? 300_000
  }

  get #path(): string {
    return `/api/v1/nodes/${this.#cfg.name}`
  }

  /** Creates the Node if missing, adds missing labels, then writes status if needed. */
  async register(): Promise<void> {
    const labels = nodeLabels(this.#cfg)
    let node = await this.#client.getOptional<Node>(this.#path)
    if (node === undefined) {
      node = await this.#client.request<Node>('POST', '/api/v1/nodes', {
        body: {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: { name: this.#cfg.name, labels },
          spec: { podCIDR: this.#cfg.podCIDR, podCIDRs: [this.#cfg.podCIDR] },
        },
      })
      this.#log.info('registered node', { node: this.#cfg.name })
    } else {
      const missing = Object.entries(labels).filter(([k, v]) => node?.metadata.labels?.[k] !== v)
      if (missing.length > 0) {
        node = await this.#client.request<Node>('PATCH', this.#path, {
          body: { metadata: { labels: Object.fromEntries(missing) } },
          contentType: STRATEGIC_MERGE_PATCH,
        })
      }
    }
    this.#node = node
    await this.#syncStatus()
    await this.#renewLease()
  }

  start(): void {
    const leaseLoop = (): void => {
      if (this.#stopped) return
      this.#leaseTimer = setTimeout(() => {
        this.#renewLease()
          .catch((err: unknown) => {
            this.#log.warn('lease renewal failed', { err })
          })
          .finally(leaseLoop)
      }, this.#leaseEveryMs)
    }
    const statusLoop = (): void => {
      if (this.#stopped) return
      // Checked every 10 s, written only when changed or after statusEveryMs.
      this.#statusTimer = setTimeout(() => {
        this.#syncStatus()
          .catch((err: unknown) => {
            this.#log.warn('node status update failed', { err })
          })
          .finally(statusLoop)
      }, 10_000)
    }
    leaseLoop()
    statusLoop()
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#leaseTimer)
    clearTimeout(this.#statusTimer)
  }

  async #syncStatus(): Promise<void> {
    const now = Date.now()
    const desired = desiredNodeStatus(this.#cfg, this.#node?.status, now)
    if (!nodeStatusNeedsWrite(this.#node?.status, desired, now, this.#statusEveryMs)) return
    // A JSON merge patch replaces lists (addresses, conditions) as a whole: the agent owns them,
    // and a strategic merge would keep entries it dropped.
    try {
      this.#node = await this.#client.request<Node>('PATCH', `${this.#path}/status`, {
        body: { status: desired },
        contentType: MERGE_PATCH,
      })
    } catch (err) {
      if (!isNotFound(err)) throw err
      // Someone deleted the Node: register again (its Lease went with it, by owner reference).
      this.#log.warn('node object is gone; registering again', { node: this.#cfg.name })
      this.#node = undefined
      this.#lease = undefined
      await this.register()
    }
    this.#log.debug('node status written', { node: this.#cfg.name })
  }

  async #renewLease(): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases/${this.#cfg.name}`
    const renewTime = microTime(Date.now())
    this.#lease ??= await this.#client.getOptional<Lease>(path)
    if (this.#lease === undefined) {
      // (Re)create it, owned by the Node — which must exist (someone may have deleted it, and
      // the Lease with it).
      const node = await this.#client.getOptional<Node>(this.#path)
      if (node === undefined) {
        this.#log.warn('node object is gone; registering again', { node: this.#cfg.name })
        this.#node = undefined
        await this.register() // ends with #renewLease, the Node existing
        return
      }
      this.#node = node
      this.#lease = await this.#client.request<Lease>(
        'POST',
        `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases`,
        {
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: {
              name: this.#cfg.name,
              namespace: LEASE_NAMESPACE,
              ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node.metadata.name, uid: node.metadata.uid }],
            },
            spec: { holderIdentity: this.#cfg.name, leaseDurationSeconds: 40, renewTime },
          },
        },
      )
      return
    }
    try {
      this.#lease = await this.#client.request<Lease>('PUT', path, {
        body: {
          ...this.#lease,
          spec: { ...this.#lease.spec, holderIdentity: this.#cfg.name, leaseDurationSeconds: 40, renewTime },
        },
      })
    } catch (err) {
      // Stale resourceVersion or deleted: re-read next time.
      if (isConflict(err) || isNotFound(err)) this.#lease = undefined
      throw err
    }
  }
}
