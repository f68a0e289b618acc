import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { FakeClock } from './clock.ts'
import {
  BucketRateLimiter,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  defaultControllerRateLimiter,
} from './ratelimit.ts'
import { RateLimitingQueue } from './workqueue.ts'

function newQueue(clock = new FakeClock(), registry = new Registry()) {
  const q = new RateLimitingQueue<string>({ name: 'test', clock, registry })
  return { q, clock, registry }
}

async function metric(registry: Registry, name: string): Promise<number | undefined> {
  const m = await registry.getSingleMetric(name)?.get()
  return m?.values.find((v) => v.labels.name === 'test' && !('le' in v.labels))?.value
}

describe('RateLimitingQueue', () => {
  it('dedups an item added several times before it is taken', async () => {
    const { q, registry } = newQueue()
    q.add('a')
    q.add('b')
    q.add('a')
    q.add('a')
    expect(q.len()).toBe(2)
    expect(await q.get()).toBe('a')
    expect(await q.get()).toBe('b')
    expect(q.len()).toBe(0)
    expect(await metric(registry, 'workqueue_adds_total')).toBe(2)
    expect(await metric(registry, 'workqueue_depth')).toBe(0)
  })

  it('re-queues an item re-added while processing only after done, and never hands it out twice at once', async () => {
    const { q } = newQueue()
    q.add('a')
    const a = await q.get()
    expect(a).toBe('a')
    q.add('a')
    q.add('a')
    expect(q.len()).toBe(0)
    let second: string | undefined
    void q.get().then((x) => (second = x))
    await Promise.resolve()
    expect(second).toBeUndefined()
    q.done('a')
    await Promise.resolve()
    expect(second).toBe('a')
    q.done('a')
    expect(q.len()).toBe(0)
  })

  it('wakes a waiting get on add', async () => {
    const { q } = newQueue()
    const p = q.get()
    q.add('x')
    expect(await p).toBe('x')
  })

  it('addAfter delays and keeps the earliest ready time', async () => {
    const { q, clock } = newQueue()
    q.addAfter('a', 1000)
    q.addAfter('a', 500)
    q.addAfter('a', 2000)
    expect(q.len()).toBe(0)
    clock.step(499)
    expect(q.len()).toBe(0)
    clock.step(1)
    expect(q.len()).toBe(1)
    expect(await q.get()).toBe('a')
    q.done('a')
    clock.step(5000)
    expect(q.len()).toBe(0)
    expect(clock.pending).toBe(0)
  })

  it('backs off exponentially per item (5 ms doubling) and forget resets it', () => {
    const { q, clock } = newQueue()
    const delays: number[] = []
    for (let i = 0; i < 5; i++) {
      const t0 = clock.now()
      q.addRateLimited('a')
      while (q.len() === 0) clock.step(1)
      delays.push(clock.now() - t0)
      void q.get()
      q.done('a')
    }
    expect(delays).toEqual([5, 10, 20, 40, 80])
    expect(q.numRequeues('a')).toBe(5)
    q.forget('a')
    expect(q.numRequeues('a')).toBe(0)
    const t0 = clock.now()
    q.addRateLimited('a')
    while (q.len() === 0) clock.step(1)
    expect(clock.now() - t0).toBe(5)
  })

  it('counts retries', async () => {
    const { q, registry } = newQueue()
    q.addRateLimited('a')
    q.addRateLimited('b')
    expect(await metric(registry, 'workqueue_retries_total')).toBe(2)
  })

  it('shutDown releases waiting getters, ignores new adds, and hands out what is left', async () => {
    const { q } = newQueue()
    const waiting = q.get()
    q.shutDown()
    expect(await waiting).toBeUndefined()
    q.add('late')
    expect(await q.get()).toBeUndefined()

    const { q: q2, clock } = newQueue()
    q2.add('a')
    q2.addAfter('b', 100)
    q2.shutDown()
    expect(await q2.get()).toBe('a')
    expect(await q2.get()).toBeUndefined()
    clock.step(1000)
    expect(q2.len()).toBe(0)
  })

  it('shutDownWithDrain waits for in-flight items', async () => {
    const { q } = newQueue()
    q.add('a')
    const a = await q.get()
    let drained = false
    const p = q.shutDownWithDrain().then(() => (drained = true))
    await Promise.resolve()
    expect(drained).toBe(false)
    q.done(a!)
    await p
    expect(drained).toBe(true)
  })

  it('reports queue and work durations, unfinished work and the longest processor', async () => {
    const { q, clock, registry } = newQueue()
    q.add('a')
    q.add('b')
    clock.step(2000)
    await q.get()
    clock.step(1000)
    await q.get()
    clock.step(3000)
    expect(await metric(registry, 'workqueue_longest_running_processor_seconds')).toBe(4)
    expect(await metric(registry, 'workqueue_unfinished_work_seconds')).toBe(7)
    q.done('a')
    const wd = await registry.getSingleMetric('workqueue_work_duration_seconds')?.get()
    expect(
      wd?.values.find((v) => (v as { metricName?: string }).metricName === 'workqueue_work_duration_seconds_sum')
        ?.value,
    ).toBe(4)
    const qd = await registry.getSingleMetric('workqueue_queue_duration_seconds')?.get()
    expect(
      qd?.values.find((v) => (v as { metricName?: string }).metricName === 'workqueue_queue_duration_seconds_sum')
        ?.value,
    ).toBe(5)
  })
})

describe('rate limiters', () => {
  it('exponential backoff caps at the maximum', () => {
    const l = new ItemExponentialFailureRateLimiter<string>(5, 1_000_000)
    let last = 0
    for (let i = 0; i < 40; i++) last = l.when('x')
    expect(last).toBe(1_000_000)
    expect(l.when('y')).toBe(5)
  })

  it('the token bucket allows a burst, then 10 per second', () => {
    const clock = new FakeClock()
    const b = new BucketRateLimiter<string>(10, 100, clock)
    for (let i = 0; i < 100; i++) expect(b.when(`i${i}`)).toBe(0)
    expect(b.when('over')).toBeCloseTo(100)
    expect(b.when('over2')).toBeCloseTo(200)
    clock.step(1000)
    // 10 tokens refilled, 2 owed: 8 free now
    expect(b.when('z')).toBe(0)
  })

  it('the default limiter is the max of both', () => {
    const clock = new FakeClock()
    const l = defaultControllerRateLimiter<string>(clock)
    expect(l).toBeInstanceOf(MaxOfRateLimiter)
    expect(l.when('a')).toBe(5)
    expect(l.when('a')).toBe(10)
    for (let i = 0; i < 200; i++) l.when(`k${i}`)
    // bucket in debt: a fresh item waits for the bucket, not 5 ms
    expect(l.when('fresh')).toBeGreaterThan(5)
    l.forget('a')
    expect(l.numRequeues('a')).toBe(0)
  })
})
