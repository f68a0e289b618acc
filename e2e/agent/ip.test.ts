import { describe, expect, it } from 'vitest'
import { IpAllocator, fnv1a, parsePodCidr } from './ip.ts'

describe('IpAllocator', () => {
  it('derives the address from namespace/name, independent of order', () => {
    const a = new IpAllocator()
    const b = new IpAllocator()
    const ipX = a.allocate('ns/x')
    const ipY = a.allocate('ns/y')
    expect(b.allocate('ns/y')).toBe(ipY)
    expect(b.allocate('ns/x')).toBe(ipX)
    expect(ipX).not.toBe(ipY)
    expect(ipX).toMatch(/^127\.1\.\d+\.\d+$/)
  })

  it('is stable for a key and gives the same address back after release', () => {
    const a = new IpAllocator()
    const ip = a.allocate('ns/p')
    expect(a.allocate('ns/p')).toBe(ip)
    a.release('ns/p')
    expect(a.size).toBe(0)
    expect(a.allocate('ns/p')).toBe(ip)
  })

  it('prefers a recorded address when free and in range', () => {
    const a = new IpAllocator('127.9.0.0/16')
    expect(a.allocate('ns/p', '127.9.3.4')).toBe('127.9.3.4')
    // taken → falls back to hashing
    expect(a.allocate('ns/q', '127.9.3.4')).not.toBe('127.9.3.4')
    // out of range → ignored
    expect(a.allocate('ns/r', '10.0.0.1')).toMatch(/^127\.9\./)
  })

  it('never hands out the same address twice (collisions probe onward)', () => {
    const a = new IpAllocator()
    const seen = new Set<string>()
    for (let i = 0; i < 3000; i++) seen.add(a.allocate(`ns/pod-${i}`))
    expect(seen.size).toBe(3000)
    for (const ip of seen) {
      const last = Number(ip.split('.')[3])
      expect(last).toBeGreaterThanOrEqual(1)
      expect(last).toBeLessThanOrEqual(254)
    }
  })

  it('validates the CIDR', () => {
    expect(parsePodCidr('127.42.0.0/16').ipOf(0)).toBe('127.42.0.1')
    expect(() => parsePodCidr('10.0.0.0/16')).toThrow()
    expect(() => parsePodCidr('127.1.0.0/24')).toThrow()
    expect(() => parsePodCidr('127.300.0.0/16')).toThrow()
  })

  it('netns mode: 10.244.A.y from the agent /24, never the bridge /24 (A = 0)', () => {
    const a = new IpAllocator('10.244.7.0/24', 'netns')
    const seen = new Set<string>()
    for (let i = 0; i < 254; i++) seen.add(a.allocate(`ns/pod-${i}`))
    expect(seen.size).toBe(254)
    for (const ip of seen) expect(ip).toMatch(/^10\.244\.7\.([1-9]|[1-9]\d|1\d\d|2[0-4]\d|25[0-4])$/)
    expect(() => a.allocate('ns/one-too-many')).toThrow(/exhausted/)
    expect(a.contains('127.1.0.1')).toBe(false)
    // A loopback address recorded by a loopback-mode agent is not reused by a netns-mode one.
    expect(new IpAllocator('10.244.7.0/24', 'netns').allocate('ns/p', '127.1.0.5')).toMatch(/^10\.244\.7\./)
    expect(() => parsePodCidr('10.244.0.0/24', 'netns')).toThrow()
    expect(() => parsePodCidr('127.1.0.0/16', 'netns')).toThrow()
    expect(() => parsePodCidr('10.245.1.0/24', 'netns')).toThrow()
  })

  it('fnv1a matches the reference values', () => {
    expect(fnv1a('')).toBe(0x811c9dc5)
    expect(fnv1a('a')).toBe(0xe40c292c)
  })
})
