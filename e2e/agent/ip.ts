// Pod IP allocation on loopback: every pod gets its own 127.A.x.y address from the agent's
// /16 (default 127.1.0.0/16; Linux routes all of 127.0.0.0/8 to `lo`, so any of them can be bound
// without configuration). The address is derived from `namespace/name` (FNV-1a, then linear
// probing past addresses in use), so a pod re-created under the same name usually gets its old
// address back, and the allocation is the same whatever order pods are seen in, as long as
// there are no collisions.

/** Usable hosts per /16: x in 0..255, y in 1..254 (skipping .0 and .255 for readability). */
const SLOTS = 256 * 254

export function fnv1a(s: string): number {
  let h = 0x811c9dc5
  for (const b of new TextEncoder().encode(s)) {
    h ^= b
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

/** Parses `127.A.0.0/16`; returns A. */
export function parsePodCidr(cidr: string): number {
  const m = /^127\.(\d{1,3})\.0\.0\/16$/.exec(cidr)
  const a = m === null ? NaN : Number(m[1])
  if (!(a >= 0 && a <= 255)) throw new Error(`pod CIDR must be of the form 127.A.0.0/16, got ${JSON.stringify(cidr)}`)
  return a
}

export class IpAllocator {
  readonly cidr: string
  readonly #a: number
  readonly #byKey = new Map<string, string>()
  readonly #byIp = new Map<string, string>()

  constructor(cidr = '127.1.0.0/16') {
    this.#a = parsePodCidr(cidr)
    this.cidr = cidr
  }

  #ipOf(slot: number): string {
    return `127.${this.#a}.${Math.floor(slot / 254)}.${(slot % 254) + 1}`
  }

  contains(ip: string): boolean {
    const m = /^127\.(\d+)\.(\d+)\.(\d+)$/.exec(ip)
    if (m === null) return false
    const [a, x, y] = [Number(m[1]), Number(m[2]), Number(m[3])]
    return a === this.#a && x >= 0 && x <= 255 && y >= 1 && y <= 254
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
    const start = fnv1a(key) % SLOTS
    for (let i = 0; i < SLOTS; i++) {
      const ip = this.#ipOf((start + i) % SLOTS)
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
