import { describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import type { MultiaddrConnection } from '@libp2p/interface'
import { PendingInboundLimiter } from './inbound-gate.ts'

/**
 * The per-IP cap on pending inbound connections (issue #15). A connection stands in for libp2p's
 * MultiaddrConnection with the two things the limiter uses: its remote address and its close event.
 * The real thing is exercised in e2e/testnet/fuzz.test.ts (256 idle sockets, then a real dial).
 */

function conn(ip: string): MultiaddrConnection & { fireClose(): void } {
  const events = new EventTarget()
  return Object.assign(events, {
    remoteAddr: multiaddr(`/ip4/${ip}/tcp/40000`),
    fireClose: () => events.dispatchEvent(new Event('close')),
  }) as unknown as MultiaddrConnection & { fireClose(): void }
}

describe('PendingInboundLimiter', () => {
  it('lets one address hold at most its share of pending slots, and others still connect', () => {
    const l = new PendingInboundLimiter(3, 60_000)
    const flood = Array.from({ length: 10 }, () => conn('10.0.0.1'))
    const denied = flood.map((c) => l.deny(c))
    expect(denied).toEqual([false, false, false, true, true, true, true, true, true, true])
    expect(l.pending('10.0.0.1')).toBe(3)
    expect(l.deny(conn('10.0.0.2'))).toBe(false)
  })

  it('gives the slot back when the handshake completes, when the connection closes, and only once', () => {
    const l = new PendingInboundLimiter(2, 60_000)
    const a = conn('10.0.0.1')
    const b = conn('10.0.0.1')
    expect(l.deny(a)).toBe(false)
    expect(l.deny(b)).toBe(false)
    expect(l.deny(conn('10.0.0.1'))).toBe(true)
    l.upgraded(a)
    expect(l.pending('10.0.0.1')).toBe(1)
    // An upgraded connection closing later must not free a slot it no longer holds.
    a.fireClose()
    l.upgraded(a)
    expect(l.pending('10.0.0.1')).toBe(1)
    b.fireClose()
    expect(l.pending('10.0.0.1')).toBe(0)
    expect(l.deny(conn('10.0.0.1'))).toBe(false)
  })

  it('frees a slot whose connection neither upgrades nor closes after the hold time', async () => {
    const l = new PendingInboundLimiter(1, 50)
    expect(l.deny(conn('10.0.0.1'))).toBe(false)
    expect(l.deny(conn('10.0.0.1'))).toBe(true)
    await new Promise((r) => setTimeout(r, 120))
    expect(l.pending('10.0.0.1')).toBe(0)
    expect(l.deny(conn('10.0.0.1'))).toBe(false)
  })

  it('as a gater: refuses through denyInboundConnection, frees through denyInboundUpgradedConnection', async () => {
    const l = new PendingInboundLimiter(1, 60_000)
    const g = l.gater()
    const a = conn('10.0.0.1')
    expect(await g.denyInboundConnection?.(a)).toBe(false)
    expect(await g.denyInboundConnection?.(conn('10.0.0.1'))).toBe(true)
    expect(await g.denyInboundUpgradedConnection?.(undefined as never, a)).toBe(false)
    expect(await g.denyInboundConnection?.(conn('10.0.0.1'))).toBe(false)
    expect(await g.denyDialMultiaddr?.(multiaddr('/ip4/127.0.0.1/tcp/1'))).toBe(false)
  })
})
