// Pod IP allocation. Two kinds of pool, one per pod network mode (--pod-network):
// - loopback: every pod gets its own 127.A.x.y address from the agent's /16 (default
//   127.1.0.0/16; Linux routes all of 127.0.0.0/8 to `lo`, so any of them can be bound without
//   configuration). Kubernetes refuses these in Endpoints/EndpointSlices.
// - netns: every pod gets 10.244.A.y from the agent's /24 of the bridge network 10.244.0.0/16
//   (pod-net.ts), on its own network namespace's eth0.
// The address is derived from `namespace/name` (FNV-1a, then linear probing past addresses in
// use), so a pod re-created under the same name usually gets its old address back, and the
// allocation is the same whatever order pods are seen in, as long as there are no collisions.

export function fnv1a(s: string): number {
  let h = 0x811c9dc5
  for (const b of new TextEncoder().encode(s)) {
    h ^= b
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

export type PodNetworkMode = 'loopback' | 'netns'

/** A pool of pod addresses: slot i ↔ one address. */
export interface PodPool {
  readonly cidr: string
  readonly mode: PodNetworkMode
  readonly slots: number
  ipOf(slot: number): string
  contains(ip: string): boolean
}

function octets(ip: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip)
  if (m === null) return undefined
  const o = m.slice(1).map(Number)
  return o.every((x) => x <= 255) ? o : undefined
}

/** `127.A.0.0/16`: x in 0..255, y in 1..254 (skipping .0 and .255 for readability). */
function loopbackPool(cidr: string, a: number): PodPool {
  return {
    cidr,
    mode: 'loopback',
    slots: 256 * 254,
    ipOf: (slot) => `127.${a}.${Math.floor(slot / 254)}.${(slot % 254) + 1}`,
    contains: (ip) => {
      const o = octets(ip)
      return o !== undefined && o[0] === 127 && o[1] === a && o[3]! >= 1 && o[3]! <= 254
    },
  }
}

/** `10.244.A.0/24` (A ≥ 1: 10.244.0.0/24 holds the bridge's own address): y in 1..254. */
function netnsPool(cidr: string, a: number): PodPool {
  return {
    cidr,
    mode: 'netns',
    slots: 254,
    ipOf: (slot) => `10.244.${a}.${slot + 1}`,
    contains: (ip) => {
      const o = octets(ip)
      return o !== undefined && o[0] === 10 && o[1] === 244 && o[2] === a && o[3]! >= 1 && o[3]! <= 254
    },
  }
}

/** The default pod CIDR of each mode. */
export const DEFAULT_POD_CIDR: Record<PodNetworkMode, string> = {
  loopback: '127.1.0.0/16',
  netns: '10.244.1.0/24',
}

/** Parses the pod CIDR of a mode: `127.A.0.0/16` (loopback) or `10.244.A.0/24`, A ≥ 1 (netns). */
export function parsePodCidr(cidr: string, mode: PodNetworkMode = 'loopback'): PodPool {
  if (mode === 'loopback') {
    const m = /^127\.(\d{1,3})\.0\.0\/16$/.exec(cidr)
    const a = m === null ? NaN : Number(m[1])
    if (!(a >= 0 && a <= 255))
      throw new Error(
        `pod CIDR must be of the form 127.A.0.0/16 with --pod-network=loopback, got ${JSON.stringify(cidr)}`,
      )
    return loopbackPool(cidr, a)
  }
  const m = /^10\.244\.(\d{1,3})\.0\/24$/.exec(cidr)
  const a = m === null ? NaN : Number(m[1])
  if (!(a >= 1 && a <= 255))
    throw new Error(
      `pod CIDR must be of the form 10.244.A.0/24 (A in 1..255) with --pod-network=netns, got ${JSON.stringify(cidr)}`,
    )
  return netnsPool(cidr, a)
}

export class IpAllocator {
  readonly cidr: string
  readonly #pool: PodPool
  readonly #byKey = new Map<string, string>()
  readonly #byIp = new Map<string, string>()

  constructor(cidr = DEFAULT_POD_CIDR.loopback, mode: PodNetworkMode = 'loopback') {
    this.#pool = parsePodCidr(cidr, mode)
    this.cidr = cidr
  }

  contains(ip: string): boolean {
    return this.#pool.contains(ip)
  }

  /**
   * The address of `key`: its current one; else `preferred` (e.g. the pod's recorded status.podIP
   * after an agent restart) when it is in range and free; else the first free address probing
   * from hash(key).
   */
  allocate(key: string, preferred?: string): string {
    const have = this.#byKey.get(key)
    if (have !== undefined) return have
    if (preferred !== undefined && this.contains(preferred) && !this.#byIp.has(preferred)) {
      this.#assign(key, preferred)
      return preferred
    }
    const slots = this.#pool.slots
    const start = fnv1a(key) % slots
    for (let i = 0; i < slots; i++) {
      const ip = this.#pool.ipOf((start + i) % slots)
      if (!this.#byIp.has(ip)) {
        this.#assign(key, ip)
        return ip
      }
    }
    throw new Error(`pod CIDR ${this.cidr} exhausted`)
  }

  #assign(key: string, ip: string): void {
    this.#byKey.set(key, ip)
    this.#byIp.set(ip, key)
  }

  release(key: string): void {
    const ip = this.#byKey.get(key)
    if (ip === undefined) return
    this.#byKey.delete(key)
    this.#byIp.delete(ip)
  }

  get(key: string): string | undefined {
    return this.#byKey.get(key)
  }

  get size(): number {
    return this.#byKey.size
  }
}
