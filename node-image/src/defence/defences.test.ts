import { describe, expect, it } from 'vitest'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { KeyedLimiter, TokenBucket } from './token-bucket.ts'
import { Blocklist, parseBlocklistEntry } from './blocklist.ts'
import { DEFAULT_LIMITS, limitsFromEnv, NO_LIMITS, parseLimits } from './limits.ts'
import { DEFENCES_FILE, Defences, ipKey } from './defences.ts'
import type { DefenceCounters, Surface } from './defences.ts'
import { DefenceError } from './errors.ts'
import { PeerScore } from './peer-score.ts'
import { NodeIdentity } from '../crypto/identity.ts'

const DID = NodeIdentity.generate().did
const PEER = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
const T0 = 1_800_000_000_000

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return err instanceof DefenceError ? err.code : `not coded: ${String(err)}`
  }
}

describe('TokenBucket', () => {
  it('spends the burst, then refills at the rate, and says when a retry fits', () => {
    const rate = { ratePerSec: 10, burst: 5 }
    const b = new TokenBucket(rate, T0)
    for (let i = 0; i < 5; i++) expect(b.take(rate, 1, T0).ok).toBe(true)
    const r = b.take(rate, 1, T0)
    expect(r).toEqual({ ok: false, retryAfterMs: 100 })
    expect(b.take(rate, 1, T0 + 100).ok).toBe(true)
    // Idle for a long time: at most the burst comes back.
    expect(b.full(rate, T0 + 60_000)).toBe(true)
    for (let i = 0; i < 5; i++) expect(b.take(rate, 1, T0 + 60_000).ok).toBe(true)
    expect(b.take(rate, 1, T0 + 60_000).ok).toBe(false)
  })

  it('a clock going backwards gives nothing back', () => {
    const rate = { ratePerSec: 1, burst: 1 }
    const b = new TokenBucket(rate, T0)
    expect(b.take(rate, 1, T0).ok).toBe(true)
    expect(b.take(rate, 1, T0 - 10_000).ok).toBe(false)
    expect(b.take(rate, 1, T0 + 999).ok).toBe(false)
    expect(b.take(rate, 1, T0 + 1_000).ok).toBe(true)
  })
})

describe('KeyedLimiter', () => {
  it('keys are independent, and memory stays bounded when an attacker rotates keys', () => {
    const l = new KeyedLimiter({ ratePerSec: 1, burst: 2 }, 100)
    expect(l.take('a', 2, T0).ok).toBe(true)
    expect(l.take('a', 1, T0).ok).toBe(false)
    expect(l.take('b', 1, T0).ok).toBe(true)
    for (let i = 0; i < 10_000; i++) l.take(`rot-${i}`, 1, T0)
    expect(l.size).toBeLessThanOrEqual(100)
  })
})

describe('limits', () => {
  it('parses a subset and refuses unknown or out-of-range fields with INVALID_LIMITS', () => {
    expect(parseLimits({ httpPerIp: { ratePerSec: 5, burst: 10 }, uploadsPerIp: 2 })).toEqual({
      httpPerIp: { ratePerSec: 5, burst: 10 },
      uploadsPerIp: 2,
    })
    // Tried: a typo, a negative rate, a fractional burst, a zero count, not an object.
    expect(codeOf(() => parseLimits({ httpPerIP: { ratePerSec: 5, burst: 10 } }))).toBe('INVALID_LIMITS')
    expect(codeOf(() => parseLimits({ httpPerIp: { ratePerSec: -1, burst: 10 } }))).toBe('INVALID_LIMITS')
    expect(codeOf(() => parseLimits({ eventsPerDid: { ratePerSec: 1, burst: 1.5 } }))).toBe('INVALID_LIMITS')
    expect(codeOf(() => parseLimits({ uploadsPerIp: 0 }))).toBe('INVALID_LIMITS')
    expect(codeOf(() => parseLimits([]))).toBe('INVALID_LIMITS')
  })

  it('reads the start-time limits from the environment', () => {
    expect(limitsFromEnv({})).toEqual(DEFAULT_LIMITS)
    expect(limitsFromEnv({ ECHONET_DEFENCES: 'off' })).toEqual(NO_LIMITS)
    expect(limitsFromEnv({ ECHONET_RATE_LIMITS: '{"uploadsPerIp": 1}' }).uploadsPerIp).toBe(1)
    expect(codeOf(() => limitsFromEnv({ ECHONET_RATE_LIMITS: '{nope' }))).toBe('INVALID_LIMITS')
  })
})

describe('Blocklist', () => {
  it('validates entries: kinds, values, expiry (tried: bad CIDR, /4 prefix, bad DID, bad PeerId, past, too far)', () => {
    const ok = parseBlocklistEntry({ kind: 'ip', value: '10.1.2.3', ttlSeconds: 60 }, T0)
    expect(ok).toEqual({ kind: 'ip', value: '10.1.2.3/32', expiresAtMs: T0 + 60_000 })
    const bad: unknown[] = [
      null,
      { kind: 'host', value: 'x', ttlSeconds: 1 },
      { kind: 'ip', value: '10.0.0.0/33', ttlSeconds: 1 },
      { kind: 'ip', value: '10.0.0.0/4', ttlSeconds: 1 },
      { kind: 'ip', value: 'example.com', ttlSeconds: 1 },
      { kind: 'did', value: 'did:web:example.com', ttlSeconds: 1 },
      { kind: 'peer', value: 'QmNotAPeer', ttlSeconds: 1 },
      { kind: 'did', value: DID, expiresAtMs: T0 - 1 },
      { kind: 'did', value: DID, ttlSeconds: 91 * 86_400 },
      { kind: 'did', value: DID },
      { kind: 'did', value: DID, ttlSeconds: 5, expiresAtMs: T0 + 5 },
      { kind: 'did', value: DID, ttlSeconds: 5, reason: 'x'.repeat(201) },
    ]
    for (const b of bad)
      expect(
        codeOf(() => parseBlocklistEntry(b, T0)),
        JSON.stringify(b),
      ).toBe('INVALID_BLOCKLIST_ENTRY')
  })

  it('matches IPs by prefix (v4, v6, v4-mapped), DIDs and peers, until each expiry', () => {
    const l = new Blocklist()
    l.add(
      [
        parseBlocklistEntry({ kind: 'ip', value: '127.0.72.0/24', ttlSeconds: 10 }, T0),
        parseBlocklistEntry({ kind: 'ip', value: 'fd00:1::/64', ttlSeconds: 10 }, T0),
        parseBlocklistEntry({ kind: 'did', value: DID, ttlSeconds: 20 }, T0),
        parseBlocklistEntry({ kind: 'peer', value: PEER, ttlSeconds: 20 }, T0),
      ],
      T0,
    )
    expect(l.blocksIp('127.0.72.9', T0)).toBe(true)
    expect(l.blocksIp('::ffff:127.0.72.9', T0)).toBe(true)
    expect(l.blocksIp('127.0.73.9', T0)).toBe(false)
    expect(l.blocksIp('fd00:1::abcd', T0)).toBe(true)
    expect(l.blocksIp('fd00:2::abcd', T0)).toBe(false)
    expect(l.blocksDid(DID, T0)).toBe(true)
    expect(l.blocksPeer(PEER, T0)).toBe(true)
    expect(l.blocksIp('127.0.72.9', T0 + 10_000)).toBe(false)
    expect(l.blocksDid(DID, T0 + 10_000)).toBe(true)
    expect(l.prune(T0 + 20_000)).toBe(true)
    expect(l.size).toBe(0)
  })

  it('removes by kind and value (a prefix in any spelling)', () => {
    const l = new Blocklist([parseBlocklistEntry({ kind: 'ip', value: '10.0.0.0/8', ttlSeconds: 10 }, T0)])
    expect(l.remove([{ kind: 'ip', value: '10.0.0.0/8' }])).toBe(1)
    expect(l.blocksIp('10.1.1.1', T0)).toBe(false)
  })
})

describe('ipKey', () => {
  it('is the address for IPv4 (mapped or not) and the /64 for IPv6', () => {
    expect(ipKey('10.0.0.1')).toBe('10.0.0.1')
    expect(ipKey('::ffff:10.0.0.1')).toBe('10.0.0.1')
    expect(ipKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64')
    expect(ipKey('2001:db8:1:2::9')).toBe('2001:db8:1:2::/64')
    expect(ipKey('2001:db8::9')).toBe('2001:db8:0:0::/64')
  })
})

class Counts implements DefenceCounters {
  readonly throttles = new Map<Surface, number>()
  readonly blocks = new Map<Surface, number>()
  views = 0
  throttled(s: Surface): void {
    this.throttles.set(s, (this.throttles.get(s) ?? 0) + 1)
  }
  blocked(s: Surface): void {
    this.blocks.set(s, (this.blocks.get(s) ?? 0) + 1)
  }
  changed(): void {
    this.views++
  }
}

describe('Defences', () => {
  it('throttles per IP and per DID, refuses the blocklisted, and counts both', async () => {
    let now = T0
    const c = new Counts()
    const d = Defences.inMemory(
      { ...DEFAULT_LIMITS, httpPerIp: { ratePerSec: 1, burst: 2 }, eventsPerDid: { ratePerSec: 1, burst: 1 } },
      c,
      () => now,
    )
    expect(d.admitHttp('10.0.0.1').ok).toBe(true)
    expect(d.admitHttp('10.0.0.1').ok).toBe(true)
    const r = d.admitHttp('10.0.0.1')
    expect(r.ok ? undefined : [r.error.code, r.error.retryAfterMs]).toEqual(['RATE_LIMITED', 1000])
    expect(d.admitHttp('10.0.0.2').ok).toBe(true)
    expect(d.admitEvent(DID)).toBeUndefined()
    expect(d.admitEvent(DID)).toBe('RATE_LIMITED')
    await d.block([{ kind: 'ip', value: '10.0.0.2', ttlSeconds: 5 }])
    const b = d.admitHttp('10.0.0.2')
    expect(b.ok ? undefined : b.error.code).toBe('BLOCKED')
    now += 5_000
    expect(d.admitHttp('10.0.0.2').ok).toBe(true)
    expect(c.throttles.get('http')).toBe(1)
    expect(c.throttles.get('events')).toBe(1)
    expect(c.blocks.get('http')).toBe(1)
  })

  it('holds each creator DID to its publishes and bytes per window; a blocklisted creator is refused', async () => {
    let now = T0
    const c = new Counts()
    const d = Defences.inMemory(
      {
        ...DEFAULT_LIMITS,
        publishesPerDid: { ratePerSec: 1, burst: 2 },
        publishMiBPerDid: { ratePerSec: 1, burst: 10 },
      },
      c,
      () => now,
    )
    const verdict = (did: string, bytes: number) => {
      const v = d.admitPublish(did, bytes)
      return v.ok ? 'ok' : [v.error.code, v.error.retryAfterMs]
    }
    const MiB = 1024 * 1024
    expect(verdict(DID, 1)).toBe('ok')
    expect(verdict(DID, 1)).toBe('ok')
    expect(verdict(DID, 1)).toEqual(['QUOTA_EXCEEDED', 1000])
    // Bytes: 9 of the 10 MiB burst spent (8 + 1 rounded up), then 2 MiB more does not fit.
    const other = NodeIdentity.generate().did
    expect(verdict(other, 8 * MiB)).toBe('ok')
    expect(verdict(other, 1)).toBe('ok')
    now += 2_000
    expect(verdict(other, 2 * MiB)).toBe('ok')
    expect(verdict(other, 3 * MiB)).toEqual(['QUOTA_EXCEEDED', 2000])
    // More than the whole burst can never fit.
    expect(verdict(NodeIdentity.generate().did, 11 * MiB)).toEqual(['QUOTA_EXCEEDED', 60_000])
    await d.block([{ kind: 'did', value: DID, ttlSeconds: 5 }])
    expect(verdict(DID, 1)).toEqual(['BLOCKED', undefined])
    expect([c.throttles.get('publishes'), c.throttles.get('publishBytes'), c.blocks.get('publishes')]).toEqual([
      1, 2, 1,
    ])
  })

  it('bounds uploads in progress per IP; a release frees the slot once', () => {
    const d = Defences.inMemory({ ...DEFAULT_LIMITS, uploadsPerIp: 1 })
    const first = d.beginUpload('10.0.0.1')
    expect(typeof first).toBe('function')
    const second = d.beginUpload('10.0.0.1')
    expect(second instanceof DefenceError ? second.code : 'granted').toBe('TOO_MANY_UPLOADS')
    ;(first as () => void)()
    ;(first as () => void)()
    expect(typeof d.beginUpload('10.0.0.1')).toBe('function')
    expect(d.beginUpload('10.0.0.1') instanceof DefenceError).toBe(true)
  })

  it('an override applies at once and lapses at its expiry, even before a sweep', async () => {
    let now = T0
    const d = Defences.inMemory({ ...DEFAULT_LIMITS, eventsPerDid: { ratePerSec: 0, burst: 1 } }, undefined, () => now)
    expect(d.admitEvent(DID)).toBeUndefined()
    expect(d.admitEvent(DID)).toBe('RATE_LIMITED')
    await d.setOverride({ limits: { eventsPerDid: { ratePerSec: 1000, burst: 1000 } }, expiresAtMs: T0 + 1_000 })
    now += 10
    expect(d.admitEvent(DID)).toBeUndefined()
    expect(d.view().override?.expiresAtMs).toBe(T0 + 1_000)
    now = T0 + 1_000
    expect(d.limits.eventsPerDid.ratePerSec).toBe(0)
    expect(d.view().override).toBeUndefined()
  })

  it('persists the blocklist and the override across a restart, drops what expired meanwhile', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'echonet-defences-'))
    let now = T0
    const d = await Defences.open(dir, DEFAULT_LIMITS, undefined, () => now)
    await d.block([
      { kind: 'did', value: DID, ttlSeconds: 100, reason: 'flood' },
      { kind: 'peer', value: PEER, ttlSeconds: 10 },
    ])
    await d.setOverride({ limits: { uploadsPerIp: 1 }, expiresAtMs: T0 + 50_000 })
    now += 20_000
    const again = await Defences.open(dir, DEFAULT_LIMITS, undefined, () => now)
    expect(again.view().blocklist).toEqual([{ kind: 'did', value: DID, expiresAtMs: T0 + 100_000, reason: 'flood' }])
    expect(again.limits.uploadsPerIp).toBe(1)
    expect(again.admitEvent(DID)).toBe('BLOCKED')
    expect(again.blocksPeer(PEER)).toBe(false)
    const text = await readFile(join(dir, DEFENCES_FILE), 'utf8')
    expect(JSON.parse(text)).toMatchObject({ version: 1 })
  })

  it('an unreadable defences file stops the start with DEFENCES_UNREADABLE (the file is kept)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'echonet-defences-'))
    await writeFile(join(dir, DEFENCES_FILE), '{"blocklist": [{"kind": "ip", "value": "nope", "expiresAtMs": 9e15}]}')
    await expect(Defences.open(dir, DEFAULT_LIMITS)).rejects.toMatchObject({ code: 'DEFENCES_UNREADABLE' })
    await writeFile(join(dir, DEFENCES_FILE), 'garbage')
    await expect(Defences.open(dir, DEFAULT_LIMITS)).rejects.toMatchObject({ code: 'DEFENCES_UNREADABLE' })
    expect(await readFile(join(dir, DEFENCES_FILE), 'utf8')).toBe('garbage')
  })
})

describe('PeerScore', () => {
  it('cuts off a peer after enough invalid events within the window; other refusals do not count', () => {
    const s = new PeerScore({ maxInvalid: 10, windowMs: 1_000, maxPeers: 100 })
    // Stale or unfunded events are what honest relays produce under load: never held against them.
    expect(s.record('p', Array<string>(50).fill('NONCE_GAP'), T0)).toBe(false)
    expect(s.record('p', [...Array<string>(9).fill('BAD_SIGNATURE'), undefined], T0)).toBe(false)
    expect(s.invalid('p')).toBe(9)
    // The window passed: the count starts over.
    expect(s.record('p', ['MALFORMED_EVENT'], T0 + 2_000)).toBe(false)
    expect(s.invalid('p')).toBe(1)
    expect(s.record('p', Array<string>(9).fill('WRONG_CHAIN'), T0 + 2_500)).toBe(true)
    expect(s.invalid('p')).toBe(0)
  })
})
