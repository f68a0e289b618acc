// Pod network namespaces (--pod-network=netns), I/O part: runs the plans of pod-net.ts with
// iproute2's `ip`, and forwards the apiserver to the bridge so that pods (which cannot reach the
// host's 127.0.0.1) have a KUBERNETES_SERVICE_HOST. Needs root.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import net from 'node:net'
import { promisify } from 'node:util'
import { CodedError } from '../../node-image/src/util/coded-error.ts'
import type { PodPool } from './ip.ts'
import type { Logger } from './log.ts'
import {
  apiForwardPort,
  BRIDGE,
  bridgeAdd,
  bridgePlan,
  GATEWAY,
  hostVeth,
  netnsPath,
  parseNetnsList,
  podIPOfNetns,
  podPlan,
  removePlan,
  staleNetns,
} from './pod-net.ts'

const execFileP = promisify(execFile)

export type PodNetworkErrorCode = 'POD_NETWORK_SETUP' | 'POD_NETWORK_POD'

export async function ip(args: readonly string[]): Promise<{ ok: true } | { ok: false; message: string }> {
  try {
    await execFileP('ip', [...args], { timeout: 10_000 })
    return { ok: true }
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    return { ok: false, message: `ip ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}` }
  }
}

const linkExists = (name: string): boolean => existsSync(`/sys/class/net/${name}`)

/**
 * Where docker (or another firewall) left the FORWARD policy at DROP and br_netfilter hands
 * bridged frames to iptables, traffic between two pods would be dropped: accept what stays on
 * the bridge (nothing else is touched).
 */
async function acceptBridgeTraffic(log: Logger): Promise<void> {
  let rules: string
  try {
    rules = (await execFileP('iptables', ['-S', 'FORWARD'], { timeout: 10_000 })).stdout
  } catch {
    return // no iptables: nothing filters bridged traffic
  }
  if (/^-P FORWARD ACCEPT$/m.test(rules)) return
  const rule = ['FORWARD', '-i', BRIDGE, '-o', BRIDGE, '-j', 'ACCEPT']
  if (rules.includes(`-A ${rule.join(' ')}`)) return
  await execFileP('iptables', ['-I', ...rule], { timeout: 10_000 })
  log.info('iptables: accepting traffic between pods on the bridge (FORWARD policy is not ACCEPT)')
}

export class PodNetwork {
  readonly #pool: PodPool
  readonly #log: Logger
  #forwarder: net.Server | undefined
  readonly #sockets = new Set<net.Socket>()

  constructor(pool: PodPool, log: Logger) {
    this.#pool = pool
    this.#log = log.child({ component: 'pod-network' })
  }

  /** The bridge with the host's address (idempotent; several agents share it). */
  async ensureBridge(): Promise<void> {
    if (!linkExists(BRIDGE)) {
      const r = await ip(bridgeAdd)
      if (!r.ok && !linkExists(BRIDGE)) throw new CodedError<PodNetworkErrorCode>('POD_NETWORK_SETUP', r.message)
    }
    for (const args of bridgePlan()) {
      const r = await ip(args)
      if (!r.ok) throw new CodedError<PodNetworkErrorCode>('POD_NETWORK_SETUP', r.message)
    }
  }

  async setUp(): Promise<void> {
    await this.ensureBridge()
    await acceptBridgeTraffic(this.#log)
  }

  /**
   * The pod's namespace, veth and address; kept as they are when they exist (a container restart
   * of a cut-off pod stays cut off), made afresh when anything is missing.
   */
  async ensure(podIP: string): Promise<void> {
    if (!linkExists(BRIDGE)) await this.ensureBridge()
    if (existsSync(netnsPath(podIP)) && linkExists(hostVeth(podIP))) return
    for (const args of removePlan(podIP)) await ip(args)
    for (const args of podPlan(podIP)) {
      const r = await ip(args)
      if (!r.ok) throw new CodedError<PodNetworkErrorCode>('POD_NETWORK_POD', r.message)
    }
    this.#log.info('pod network created', { podIP, veth: hostVeth(podIP) })
  }

  async remove(podIP: string): Promise<void> {
    if (!existsSync(netnsPath(podIP)) && !linkExists(hostVeth(podIP))) return
    for (const args of removePlan(podIP)) await ip(args)
    this.#log.info('pod network removed', { podIP })
  }

  /** Removes this agent's namespaces except those of `keep` (pods whose processes it adopts). */
  async sweep(keep: ReadonlySet<string>): Promise<number> {
    let out = ''
    try {
      out = (await execFileP('ip', ['netns', 'list'], { timeout: 10_000 })).stdout
    } catch {
      return 0
    }
    const stale = staleNetns(parseNetnsList(out), (a) => this.#pool.contains(a), keep)
    for (const name of stale) {
      const podIP = podIPOfNetns(name)
      if (podIP !== undefined) await this.remove(podIP)
    }
    return stale.length
  }

  /**
   * A TCP forwarder on the bridge address to the apiserver (plain bytes: TLS stays end to end,
   * the apiserver's certificate names the bridge address, e2e/cluster/cluster-up.sh). Returns
   * what pods use as KUBERNETES_SERVICE_HOST/PORT.
   */
  async forwardApiserver(host: string, port: number): Promise<{ host: string; port: number }> {
    const listenPort = apiForwardPort(this.#pool.cidr)
    const server = net.createServer((client) => {
      const upstream = net.connect({ host, port })
      for (const s of [client, upstream]) {
        this.#sockets.add(s)
        s.on('close', () => this.#sockets.delete(s))
        s.on('error', () => {
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream)
      upstream.pipe(client)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: GATEWAY, port: listenPort }, resolve)
    })
    this.#forwarder = server
    this.#log.info('apiserver forwarded for pods', { listen: `${GATEWAY}:${listenPort}`, to: `${host}:${port}` })
    return { host: GATEWAY, port: listenPort }
  }

  close(): void {
    this.#forwarder?.close()
    for (const s of this.#sockets) s.destroy()
  }
}
