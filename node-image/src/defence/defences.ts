import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { writeFileAtomic } from '../util/fs.ts'
import { isObj } from '../util/guards.ts'
import { Blocklist, parseBlocklistEntry } from './blocklist.ts'
import type { BlocklistEntry, BlocklistKind } from './blocklist.ts'
import { DefenceError } from './errors.ts'
import { parseLimits } from './limits.ts'
import type { RateLimits } from './limits.ts'
import { KeyedLimiter } from './token-bucket.ts'
import type { BucketRate } from './token-bucket.ts'

/** Where a request, frame or connection was throttled or refused (a metrics label). */
export type Surface =
  'http' | 'submit' | 'events' | 'frames' | 'sync' | 'shard' | 'publishes' | 'publishBytes' | 'uploads' | 'connections'

type BucketSurface = 'http' | 'submit' | 'events' | 'frames' | 'sync' | 'shard' | 'publishes' | 'publishBytes'

export interface DefenceCounters {
  throttled(surface: Surface): void
  blocked(surface: Surface): void
  changed(view: DefencesView): void
}

/** Limits set through the admin API (the NetworkAttack runbook), lifted at their expiry. */
export interface LimitsOverride {
  readonly limits: Partial<RateLimits>
  readonly expiresAtMs: number
  readonly reason?: string
}

export interface DefencesView {
  /** What applies now: the start-time limits with an unexpired override on top. */
  readonly limits: RateLimits
  readonly override?: LimitsOverride
  readonly blocklist: readonly BlocklistEntry[]
  /** Since the node started: refusals by a limit (throttled) and by the blocklist (blocked), by surface. */
  readonly throttled: Readonly<Partial<Record<Surface, number>>>
  readonly blocked: Readonly<Partial<Record<Surface, number>>>
}

/** The file the blocklist and the limits override survive restarts in (under the data dir). */
export const DEFENCES_FILE = 'defences.json'

type Verdict = { readonly ok: true } | { readonly ok: false; readonly error: DefenceError }
const OK: Verdict = { ok: true }
const MiB = 1024 * 1024

/** The client key for per-IP limits: an IPv4 address, or an IPv6 address's /64. */
export function ipKey(ip: string): string {
  const addr = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip
  if (isIP(addr) !== 6) return addr
  const [head = '', tail = ''] = addr.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === '' ? [] : tail.split(':')
  const groups = addr.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}

/**
 * A node's defences: token buckets per IP / DID / peer, upload and connection counts, and the
 * blocklist, with their persisted state. Each check is a cheap synchronous verdict, so the HTTP
 * front, the libp2p gater and event admission can all ask before doing any work.
 */
export class Defences {
  readonly #base: RateLimits
  #override: LimitsOverride | undefined
  readonly #blocklist: Blocklist
  readonly #file: string | undefined
  readonly #counters: DefenceCounters
  readonly #now: () => number
  readonly #buckets: Record<BucketSurface, KeyedLimiter>
  readonly #uploads = new Map<string, number>()
  readonly #throttled: Partial<Record<Surface, number>> = {}
  readonly #blockedCounts: Partial<Record<Surface, number>> = {}
  #saving: Promise<void> = Promise.resolve()

  private constructor(o: {
    base: RateLimits
    override: LimitsOverride | undefined
    blocklist: Blocklist
    file: string | undefined
    counters: DefenceCounters | undefined
    now: () => number
  }) {
    this.#base = o.base
    this.#override = o.override
    this.#blocklist = o.blocklist
    this.#file = o.file
    const sink = o.counters
    this.#counters = {
      throttled: (surface) => {
        this.#throttled[surface] = (this.#throttled[surface] ?? 0) + 1
        sink?.throttled(surface)
      },
      blocked: (surface) => {
        this.#blockedCounts[surface] = (this.#blockedCounts[surface] ?? 0) + 1
        sink?.blocked(surface)
      },
      changed: (v) => sink?.changed(v),
    }
    this.#now = o.now
    const l = this.limits
    this.#buckets = {
      http: new KeyedLimiter(l.httpPerIp),
      submit: new KeyedLimiter(l.eventsPerIp),
      events: new KeyedLimiter(l.eventsPerDid),
      frames: new KeyedLimiter(l.framesPerPeer, 4_096),
      sync: new KeyedLimiter(l.syncPerPeer, 4_096),
      shard: new KeyedLimiter(l.shardPerPeer, 4_096),
      publishes: new KeyedLimiter(l.publishesPerDid),
      publishBytes: new KeyedLimiter(l.publishMiBPerDid),
    }
    this.#counters.changed(this.view())
  }

  /** In memory only (tests, tools). */
  static inMemory(base: RateLimits, counters?: DefenceCounters, now: () => number = Date.now): Defences {
    return new Defences({ base, override: undefined, blocklist: new Blocklist(), file: undefined, counters, now })
  }

  /**
   * Loads what a previous run persisted in `dataDir`. An unreadable file stops the start with
   * DEFENCES_UNREADABLE rather than silently dropping a blocklist someone set during an attack.
   */
  static async open(
    dataDir: string,
    base: RateLimits,
    counters?: DefenceCounters,
    now: () => number = Date.now,
  ): Promise<Defences> {
    const file = join(dataDir, DEFENCES_FILE)
    let text: string | undefined
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new DefenceError('DEFENCES_UNREADABLE', `cannot read ${file}: ${(err as Error).message}`)
    }
    const t = now()
    let override: LimitsOverride | undefined
    let entries: BlocklistEntry[] = []
    if (text !== undefined) {
      try {
        const v = JSON.parse(text) as unknown
        if (!isObj(v) || !Array.isArray(v.blocklist)) throw new Error('expected {blocklist: [...], override?}')
        // Entries that expired while the node was down are dropped, not refused.
        entries = v.blocklist
          .filter((e) => isObj(e) && typeof e.expiresAtMs === 'number' && e.expiresAtMs > t)
          .map((e) => parseBlocklistEntry(e, t))
        if (isObj(v.override) && typeof v.override.expiresAtMs === 'number' && v.override.expiresAtMs > t)
          override = {
            limits: parseLimits(v.override.limits),
            expiresAtMs: v.override.expiresAtMs,
            ...(typeof v.override.reason === 'string' ? { reason: v.override.reason } : {}),
          }
      } catch (err) {
        throw new DefenceError('DEFENCES_UNREADABLE', `${file} is not a valid defences file: ${(err as Error).message}`)
      }
    }
    return new Defences({ base, override, blocklist: new Blocklist(entries), file, counters, now })
  }

  /** The limits in force now. */
  get limits(): RateLimits {
    const o = this.#override
    return o !== undefined && o.expiresAtMs > this.#now() ? { ...this.#base, ...o.limits } : this.#base
  }

  view(): DefencesView {
    const now = this.#now()
    const o = this.#override
    return {
      limits: this.limits,
      ...(o !== undefined && o.expiresAtMs > now ? { override: o } : {}),
      blocklist: this.#blocklist.entries(now),
      throttled: { ...this.#throttled },
      blocked: { ...this.#blockedCounts },
    }
  }

  // --- checks (synchronous, before any work) ---------------------------------------------------

  /** A public API request from `ip`. */
  admitHttp(ip: string | undefined): Verdict {
    if (ip === undefined) return OK
    if (this.#blocklist.blocksIp(ip, this.#now())) return this.#blocked('http', `address ${ip} is blocked`)
    return this.#take('http', ipKey(ip), 1, `too many requests from ${ipKey(ip)}`)
  }

  /** A batch of `n` events submitted by a client at `ip` (before any is decoded). */
  admitSubmission(ip: string | undefined, n: number): Verdict {
    if (ip === undefined || n === 0) return OK
    return this.#take('submit', ipKey(ip), n, `too many events from ${ipKey(ip)}`)
  }

  /** An event by `did` offered for the mempool (by a client, or gossiped by `fromPeer`). */
  admitEvent(did: string): string | undefined {
    if (this.#blocklist.blocksDid(did, this.#now())) {
      this.#counters.blocked('events')
      return 'BLOCKED'
    }
    const v = this.#take('events', did, 1, '')
    return v.ok ? undefined : 'RATE_LIMITED'
  }

  /**
   * A publish of `bytes` by creator `did` (its authorization already verified), before the body is
   * read: the blocklist, then its publishes and its bytes per window (an attempt refused for its
   * bytes still counts as a publish).
   */
  admitPublish(did: string, bytes: number): Verdict {
    if (this.#blocklist.blocksDid(did, this.#now())) return this.#blocked('publishes', `creator ${did} is blocked`)
    const mib = Math.max(1, Math.ceil(bytes / MiB))
    const bytesRate = this.limits.publishMiBPerDid
    // A body larger than the whole bytes burst could never fit: refuse it outright.
    if (mib > bytesRate.burst) {
      this.#counters.throttled('publishBytes')
      return {
        ok: false,
        error: new DefenceError('QUOTA_EXCEEDED', `${bytes} bytes exceed the per-creator quota`, 60_000),
      }
    }
    const n = this.#take('publishes', did, 1, `creator ${did} is over its publish quota`, 'QUOTA_EXCEEDED')
    if (!n.ok) return n
    return this.#take('publishBytes', did, mib, `creator ${did} is over its byte quota`, 'QUOTA_EXCEEDED')
  }

  /** A frame on the consensus protocol from `peer`; false drops it. */
  admitFrame(peer: string): boolean {
    return this.#take('frames', peer, 1, '').ok
  }

  admitSync(peer: string): boolean {
    return this.#take('sync', peer, 1, '').ok
  }

  admitShardRequest(peer: string): boolean {
    return this.#take('shard', peer, 1, '').ok
  }

  blocksPeer(peerId: string): boolean {
    return this.#blocklist.blocksPeer(peerId, this.#now())
  }

  blocksIp(ip: string): boolean {
    return this.#blocklist.blocksIp(ip, this.#now())
  }

  /** Counts a refused connection (the gater decides; this only records it). */
  refusedConnection(reason: 'blocked' | 'limit'): void {
    if (reason === 'blocked') this.#counters.blocked('connections')
    else this.#counters.throttled('connections')
  }

  /** Starts an upload from `ip`; the returned release must be called when it ends, however it ends. */
  beginUpload(ip: string | undefined): (() => void) | DefenceError {
    const key = ip === undefined ? '?' : ipKey(ip)
    const n = this.#uploads.get(key) ?? 0
    if (n >= this.limits.uploadsPerIp) {
      this.#counters.throttled('uploads')
      return new DefenceError(
        'TOO_MANY_UPLOADS',
        `${key} has ${n} uploads in progress (at most ${this.limits.uploadsPerIp})`,
        1_000,
      )
    }
    this.#uploads.set(key, n + 1)
    let done = false
    return () => {
      if (done) return
      done = true
      const left = (this.#uploads.get(key) ?? 1) - 1
      if (left > 0) this.#uploads.set(key, left)
      else this.#uploads.delete(key)
    }
  }

  // --- changes (admin API), persisted before they are acknowledged -----------------------------

  async block(raw: readonly unknown[]): Promise<BlocklistEntry[]> {
    const now = this.#now()
    const entries = raw.map((e) => parseBlocklistEntry(e, now))
    this.#blocklist.add(entries, now)
    await this.#save()
    return entries
  }

  async unblock(keys: readonly { kind: BlocklistKind; value: string }[]): Promise<number> {
    const n = this.#blocklist.remove(keys)
    if (n > 0) await this.#save()
    return n
  }

  /** Sets (or with `undefined`, lifts) the limits override. */
  async setOverride(o: LimitsOverride | undefined): Promise<void> {
    this.#override = o
    this.#applyRates()
    await this.#save()
  }

  /** Drops expired entries and a lapsed override (called periodically). */
  async expire(): Promise<void> {
    const now = this.#now()
    const lapsed = this.#override !== undefined && this.#override.expiresAtMs <= now
    if (lapsed) this.#override = undefined
    if (this.#blocklist.prune(now) || lapsed) {
      this.#applyRates()
      await this.#save()
    }
  }

  #applyRates(): void {
    const l = this.limits
    const rates: Record<BucketSurface, BucketRate> = {
      http: l.httpPerIp,
      submit: l.eventsPerIp,
      events: l.eventsPerDid,
      frames: l.framesPerPeer,
      sync: l.syncPerPeer,
      shard: l.shardPerPeer,
      publishes: l.publishesPerDid,
      publishBytes: l.publishMiBPerDid,
    }
    for (const [k, limiter] of Object.entries(this.#buckets)) limiter.setRate(rates[k as BucketSurface])
  }

  #take(
    surface: BucketSurface,
    key: string,
    n: number,
    why: string,
    code: 'RATE_LIMITED' | 'QUOTA_EXCEEDED' = 'RATE_LIMITED',
  ): Verdict {
    const lim = this.#buckets[surface]
    // A lapsed override stops applying at once, even before the next expire() sweep.
    if (this.#override !== undefined && this.#override.expiresAtMs <= this.#now()) this.#applyRates()
    const r = lim.take(key, n, this.#now())
    if (r.ok) return OK
    this.#counters.throttled(surface)
    return { ok: false, error: new DefenceError(code, why, r.retryAfterMs) }
  }

  #blocked(surface: Surface, why: string): Verdict {
    this.#counters.blocked(surface)
    return { ok: false, error: new DefenceError('BLOCKED', why) }
  }

  #save(): Promise<void> {
    this.#counters.changed(this.view())
    const file = this.#file
    if (file === undefined) return Promise.resolve()
    const text = JSON.stringify({
      version: 1,
      blocklist: this.#blocklist.entries(this.#now()),
      ...(this.#override === undefined ? {} : { override: this.#override }),
    })
    // One write at a time, in order: the last change is what the file ends with.
    const next = this.#saving.then(() => writeFileAtomic(file, text, 0o600))
    this.#saving = next.catch(() => undefined)
    return next.catch((err: unknown) => {
      throw new DefenceError('DEFENCES_UNREADABLE', `cannot persist ${file}: ${(err as Error).message}`)
    })
  }
}
