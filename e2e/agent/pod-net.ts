// Pod network namespaces (--pod-network=netns), pure part: names and the `ip` commands that make,
// cut, heal and remove a pod's network. Every pod gets a network namespace `echonet-<ip>` with
// `eth0` (10.244.A.y/16), the peer of a host veth `ve<ip in hex>` enslaved to the bridge
// `echonet0`, whose own address 10.244.0.1/16 is how the host (the agent's probes, the tests, the
// operator on the host) reaches pods and how pods reach the host. No default route and no NAT:
// nothing of the pod network leaves the machine. Names derive from the pod IP, which is unique
// on the host (agents on one host use disjoint /24s of the bridge network), so a script knowing
// only a pod's IP finds its namespace and veth (pod-net-cli.ts).

export const BRIDGE = 'echonet0'
/** Fixed, so that the bridge keeps its MAC when ports come and go (pods' ARP caches stay valid). */
export const BRIDGE_MAC = '02:ec:00:00:00:01'
export const GATEWAY = '10.244.0.1'
export const BRIDGE_PREFIX = 16
export const NETNS_PREFIX = 'echonet-'

function octets(ip: string): number[] {
  const o = ip.split('.').map(Number)
  if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255))
    throw new Error(`not an IPv4 address: ${JSON.stringify(ip)}`)
  return o
}

/** `echonet-10.244.3.17`. */
export function netnsName(podIP: string): string {
  return `${NETNS_PREFIX}${octets(podIP).join('.')}`
}

/** The pod IP of a namespace named by netnsName, else undefined. */
export function podIPOfNetns(name: string): string | undefined {
  if (!name.startsWith(NETNS_PREFIX)) return undefined
  const ip = name.slice(NETNS_PREFIX.length)
  try {
    octets(ip)
    return ip
  } catch {
    return undefined
  }
}

/** Host end of the pod's veth: `ve0af40311` for 10.244.3.17 (≤ 15 characters, IFNAMSIZ). */
export function hostVeth(podIP: string): string {
  return `ve${octets(podIP)
    .map((x) => x.toString(16).padStart(2, '0'))
    .join('')}`
}

export function netnsPath(podIP: string): string {
  return `/run/netns/${netnsName(podIP)}`
}

/** Runs `argv` in the pod's network namespace (nsenter execs it: the pid stays the process's). */
export function inPodNetwork(podIP: string, argv: readonly string[]): string[] {
  return ['nsenter', `--net=${netnsPath(podIP)}`, '--', ...argv]
}

/**
 * Port of the agent's apiserver forwarder on the bridge address: fixed per pod CIDR (10.244.A.0/24
 * → 17000 + A), so that pods adopted by a restarted agent keep their KUBERNETES_SERVICE_PORT.
 */
export function apiForwardPort(podCidr: string): number {
  const a = Number(octets(podCidr.replace(/\/\d+$/, ''))[2])
  return 17000 + a
}

/** `ip` argument lists that create the bridge with the host's address on it (each idempotent). */
export function bridgePlan(): string[][] {
  return [
    ['addr', 'replace', `${GATEWAY}/${BRIDGE_PREFIX}`, 'dev', BRIDGE],
    ['link', 'set', BRIDGE, 'up'],
  ]
}
/** Creates the bridge (run when `ip link show echonet0` fails; "File exists" is a race won by another agent). */
export const bridgeAdd = ['link', 'add', 'name', BRIDGE, 'address', BRIDGE_MAC, 'type', 'bridge']

/** `ip` argument lists that give a pod its namespace, veth pair and address (after removePlan). */
export function podPlan(podIP: string): string[][] {
  const ns = netnsName(podIP)
  const veth = hostVeth(podIP)
  return [
    ['netns', 'add', ns],
    ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns],
    ['link', 'set', veth, 'master', BRIDGE, 'up'],
    ['-n', ns, 'addr', 'add', `${podIP}/${BRIDGE_PREFIX}`, 'dev', 'eth0'],
    ['-n', ns, 'link', 'set', 'lo', 'up'],
    ['-n', ns, 'link', 'set', 'eth0', 'up'],
  ]
}

/** `ip` argument lists that remove a pod's network (failures mean "already gone"). */
export function removePlan(podIP: string): string[][] {
  return [
    ['link', 'del', hostVeth(podIP)],
    ['netns', 'del', netnsName(podIP)],
  ]
}

/** Cutting a pod off the network and healing it: its host veth down / up (the pod's eth0 loses carrier). */
export function linkPlan(podIP: string, action: 'partition' | 'heal'): string[] {
  return ['link', 'set', hostVeth(podIP), action === 'partition' ? 'down' : 'up']
}

/** Names from `ip netns list` output (`name (id: 3)` or `name`). */
export function parseNetnsList(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '')
}

/**
 * Namespaces of this agent's pool to remove: those named for an address of the pool that no
 * pod of this agent keeps (`keep`: the addresses of pods whose processes it adopts).
 */
export function staleNetns(
  names: readonly string[],
  inPool: (ip: string) => boolean,
  keep: ReadonlySet<string>,
): string[] {
  return names.filter((n) => {
    const ip = podIPOfNetns(n)
    return ip !== undefined && inPool(ip) && !keep.has(ip)
  })
}
