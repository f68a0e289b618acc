import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { Controller } from './controller.ts'
import { Manager } from './manager.ts'
import type { Cache } from './manager.ts'

class FakeCache implements Cache {
  synced = false
  started = false
  stopped = false
  #waiters: (() => void)[] = []
  start(): void {
    this.started = true
  }
  stop(): Promise<void> {
    this.stopped = true
    return Promise.resolve()
  }
  hasSynced(): boolean {
    return this.synced
  }
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }
  sync(): void {
    this.synced = true
    for (const w of this.#waiters.splice(0)) w()
  }
}

async function get(m: Manager, path: string): Promise<{ status: number; body: string }> {
  const a = m.address!
  const res = await fetch(`http://127.0.0.1:${a.port}${path}`)
  return { status: res.status, body: await res.text() }
}

describe('Manager', () => {
  it('serves probes and metrics, starts controllers after caches sync, and shuts down gracefully', async () => {
    const registry = new Registry()
    const cache = new FakeCache()
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const reconciled: string[] = []
    let finished = 0
    const ctrl = new Controller({
      name: 'pools',
      registry,
      reconcile: async (key) => {
        reconciled.push(key)
        await gate
        finished++
        return {}
      },
    })
    const m = new Manager({ controllers: [ctrl], caches: [cache], registry, port: 0, host: '127.0.0.1' })
    ctrl.enqueue('ns/a')
    await m.start()
    expect(cache.started).toBe(true)
    expect((await get(m, '/healthz')).status).toBe(200)
    const notReady = await get(m, '/readyz')
    expect(notReady.status).toBe(503)
    expect(notReady.body).toContain('[-]caches failed')
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(reconciled).toEqual([]) // not before the caches are synced
    cache.sync()
    await m.waitForLeadership()
    expect(m.isLeader()).toBe(true)
    expect((await get(m, '/readyz')).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(reconciled).toEqual(['ns/a'])
    const metrics = await get(m, '/metrics')
    expect(metrics.body).toContain('workqueue_depth{name="pools"} 0')
    expect(metrics.body).toContain('controller_runtime_active_workers{controller="pools"} 1')
    expect(metrics.body).toContain('controller_runtime_max_concurrent_reconciles{controller="pools"} 1')
    expect((await get(m, '/nope')).status).toBe(404)

    // stop waits for the in-flight reconcile
    const stopping = m.stop()
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(m.state).toBe('stopping')
    release()
    expect(await stopping).toBe(true)
    expect(finished).toBe(1)
    expect(cache.stopped).toBe(true)
    expect(m.state).toBe('stopped')
  })

  it('gives up on in-flight work after the graceful shutdown deadline', async () => {
    const registry = new Registry()
    const ctrl = new Controller({
      name: 'stuck',
      registry,
      reconcile: () => new Promise(() => undefined),
    })
    const m = new Manager({ controllers: [ctrl], registry, gracefulShutdownMs: 50 })
    await m.start()
    await m.waitForLeadership()
    ctrl.enqueue('x')
    await new Promise((resolve) => setTimeout(resolve, 10))
    const t0 = Date.now()
    expect(await m.stop()).toBe(false)
    expect(Date.now() - t0).toBeLessThan(1000)
  })
})
