import { BlockList, isIP } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import { isDid } from '../crypto/did.ts'
import { isObj } from '../util/guards.ts'
import { DefenceError } from './errors.ts'
import { parseExpiry } from './expiry.ts'

/**
 * The blocklist (DESIGN §4 "Attack defenses", seed §2.D): peer ids, IP addresses or prefixes, and
 * DIDs, each until an expiry. It is a node's local admission policy — what this node accepts
 * connections, requests and events from — never a consensus rule: a block proposed by others is
 * validated without it, so nodes with different lists still agree on the chain.
 */

export const BLOCKLIST_KINDS = ['peer', 'ip', 'did'] as const
export type BlocklistKind = (typeof BLOCKLIST_KINDS)[number]

export interface BlocklistEntry {
  readonly kind: BlocklistKind
  /** A PeerId, an IP or CIDR prefix (`10.1.0.0/16`, `fd00::/64`), or a did:key. */
  readonly value: string
  readonly expiresAtMs: number
  readonly reason?: string
}

/** Entries one node holds at most (a flood of entries must not become a memory problem itself). */
export const MAX_BLOCKLIST_ENTRIES = 10_000
const MAX_REASON = 200

interface Prefix {
  readonly address: string
  readonly bits: number
  readonly family: 'ipv4' | 'ipv6'
}

function parsePrefix(value: string): Prefix | undefined {
  const [address, bitsText, extra] = value.split('/')
  if (address === undefined || extra !== undefined) return undefined
  const v = isIP(address)
  if (v === 0) return undefined
  const max = v === 4 ? 32 : 128
  if (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText)) return undefined
  const bits = bitsText === undefined ? max : Number(bitsText)
  if (bits < 8 || bits > max) return undefined
  return { address, bits, family: v === 4 ? 'ipv4' : 'ipv6' }
}

function validValue(kind: BlocklistKind, value: string): boolean {
  if (value.length === 0 || value.length > 128) return false
  if (kind === 'ip') return parsePrefix(value) !== undefined
  if (kind === 'did') return isDid(value)
  try {
    peerIdFromString(value)
    return true
  } catch {
    return false
  }
}

/**
 * One entry from untrusted JSON: `{kind, value, expiresAtMs | ttlSeconds, reason?}`. Refused with
 * INVALID_BLOCKLIST_ENTRY and what is wrong; an expiry in the past or beyond MAX_DEFENCE_TTL_MS too.
 */
export function parseBlocklistEntry(v: unknown, nowMs: number): BlocklistEntry {
  const bad = (why: string): DefenceError => new DefenceError('INVALID_BLOCKLIST_ENTRY', why)
  if (!isObj(v)) throw bad('an entry must be an object {kind, value, expiresAtMs | ttlSeconds, reason?}')
  const kind = v.kind
  if (typeof kind !== 'string' || !(BLOCKLIST_KINDS as readonly string[]).includes(kind))
    throw bad(`kind must be one of ${BLOCKLIST_KINDS.join(', ')}`)
  const k = kind as BlocklistKind
  if (typeof v.value !== 'string' || !validValue(k, v.value))
    throw bad(
      k === 'ip'
        ? 'value must be an IPv4/IPv6 address or prefix (at least /8)'
        : k === 'did'
          ? 'value must be a did:key'
          : 'value must be a libp2p PeerId',
    )
  const expiresAtMs = parseExpiry(v, nowMs, 'INVALID_BLOCKLIST_ENTRY')
  if (v.reason !== undefined && (typeof v.reason !== 'string' || v.reason.length > MAX_REASON))
    throw bad(`reason must be a string of at most ${MAX_REASON} characters`)
  return {
    kind: k,
    value: k === 'ip' ? canonicalPrefix(v.value) : v.value,
    expiresAtMs,
    ...(typeof v.reason === 'string' ? { reason: v.reason } : {}),
  }
}

function canonicalPrefix(value: string): string {
  const p = parsePrefix(value)!
  return `${p.address}/${p.bits}`
}

const keyOf = (e: { kind: BlocklistKind; value: string }): string => `${e.kind} ${e.value}`

/** The entries in force, with lookups by kind. Expired entries stop matching at their expiry. */
export class Blocklist {
  readonly #entries = new Map<string, BlocklistEntry>()
  #ips = new BlockList()
  #ipEntries: { entry: BlocklistEntry; list: BlockList }[] = []

  constructor(entries: readonly BlocklistEntry[] = []) {
    for (const e of entries) this.#entries.set(keyOf(e), e)
    this.#rebuild()
  }

  /** Adds (or renews) entries; all or nothing when the list would grow past its bound. */
  add(entries: readonly BlocklistEntry[], nowMs: number): void {
    this.prune(nowMs)
    const fresh = entries.filter((e) => !this.#entries.has(keyOf(e))).length
    if (this.#entries.size + fresh > MAX_BLOCKLIST_ENTRIES)
      throw new DefenceError('BLOCKLIST_FULL', `the blocklist holds at most ${MAX_BLOCKLIST_ENTRIES} entries`)
    for (const e of entries) this.#entries.set(keyOf(e), e)
    this.#rebuild()
  }

  /** Removes entries by kind and value; returns how many were there. */
  remove(keys: readonly { kind: BlocklistKind; value: string }[]): number {
    let n = 0
    for (const k of keys) {
      const value = k.kind === 'ip' && parsePrefix(k.value) !== undefined ? canonicalPrefix(k.value) : k.value
      if (this.#entries.delete(keyOf({ kind: k.kind, value }))) n++
    }
    if (n > 0) this.#rebuild()
    return n
  }

  /** Drops expired entries; true if any went. */
  prune(nowMs: number): boolean {
    let changed = false
    for (const [k, e] of this.#entries) {
      if (e.expiresAtMs <= nowMs) {
        this.#entries.delete(k)
        changed = true
      }
    }
    if (changed) this.#rebuild()
    return changed
  }

  entries(nowMs: number): BlocklistEntry[] {
    return [...this.#entries.values()].filter((e) => e.expiresAtMs > nowMs)
  }

  get size(): number {
    return this.#entries.size
  }

  blocksPeer(peerId: string, nowMs: number): boolean {
    return this.#live(`peer ${peerId}`, nowMs)
  }

  blocksDid(did: string, nowMs: number): boolean {
    return this.#live(`did ${did}`, nowMs)
  }

  /** `ip` as a remote address (IPv4-mapped IPv6 addresses are matched as IPv4). */
  blocksIp(ip: string, nowMs: number): boolean {
    if (this.#ipEntries.length === 0) return false
    const addr = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip
    const family = isIP(addr)
    if (family === 0) return false
    const type = family === 4 ? 'ipv4' : 'ipv6'
    if (!this.#ips.check(addr, type)) return false
    // Some entry matches: is one of the matching ones still in force?
    return this.#ipEntries.some(({ entry, list }) => entry.expiresAtMs > nowMs && list.check(addr, type))
  }

  #live(key: string, nowMs: number): boolean {
    const e = this.#entries.get(key)
    return e !== undefined && e.expiresAtMs > nowMs
  }

  #rebuild(): void {
    this.#ips = new BlockList()
    this.#ipEntries = []
    for (const e of this.#entries.values()) {
      if (e.kind !== 'ip') continue
      const p = parsePrefix(e.value)!
      const list = new BlockList()
      list.addSubnet(p.address, p.bits, p.family)
      this.#ips.addSubnet(p.address, p.bits, p.family)
      this.#ipEntries.push({ entry: e, list })
    }
  }
}
