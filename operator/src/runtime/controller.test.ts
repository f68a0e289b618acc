import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { FakeClock } from './clock.ts'
import { Controller, objectKey, splitKey } from './controller.ts'
import type { ReconcileResult } from './controller.ts'
import { TerminalError } from './errors.ts'

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = await registry.getSingleMetric(name)?.get()
  return m?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

describe('Controller', () => {
  it('does not retry a TerminalError (counted as terminal_error), and aborts the signal of a running reconcile on stop', async () => {
    const clock = new FakeClock()
    const registry = new Registry()
    let calls = 0
    const signals: AbortSignal[] = []
    const gate = deferred()
    const c = new Controller({
      name: 'c-terminal',
      clock,
      registry,
      reconcile: async (key, signal) => {
        calls++
        signals.push(signal)
        if (key === 'ns/bad') throw new TerminalError('MALFORMED', 'cannot be fixed by retrying')
        await gate.promise
        return undefined
      },
    })
    c.start()
    c.enqueue('ns/bad')
    await tick()
    clock.step(60_000)
    await tick()
    expect(calls).toBe(1)
    expect(c.queue.numRequeues('ns/bad')).toBe(0)
    expect(
      await value(registry, 'controller_runtime_reconcile_total', {
        controller: 'c-terminal',
        result: 'terminal_error',
      }),
    ).toBe(1)
    c.enqueue('ns/slow')
    await tick()
    expect(signals[1]?.aborted).toBe(false)
    const stopped = c.stop(1_000)
    expect(signals[1]?.aborted).toBe(true)
    gate.resolve()
    expect(await stopped).toBe(true)
  })

  it('retries errors with exponential backoff, then forgets the key on success', async () => {
    const clock = new FakeClock()
    const registry = new Registry()
    const calls: number[] = []
    let failures = 2
    const errors: string[] = []
    const c = new Controller({
      name: 'c1',
      clock,
      registry,
      reconcile: (key) => {
        calls.push(clock.now())
        if (failures-- > 0) return Promise.reject(new Error(`boom ${key}`))
        return Promise.resolve(undefined)
      },
      onError: (key) => errors.push(key),
    })
    c.start()
    const t0 = clock.now()
    c.enqueue('ns/a')
    await tick()
    expect(calls).toEqual([t0])
    expect(c.queue.numRequeues('ns/a')).toBe(1)
    clock.step(5)
    await tick()
    expect(calls).toEqual([t0, t0 + 5])
    clock.step(9)
    await tick()
    expect(calls.length).toBe(2)
    clock.step(1)
    await tick()
    expect(calls).toEqual([t0, t0 + 5, t0 + 15])
    expect(c.queue.numRequeues('ns/a')).toBe(0)
    expect(errors).toEqual(['ns/a', 'ns/a'])
    expect(await value(registry, 'controller_runtime_reconcile_total', { controller: 'c1', result: 'error' })).toBe(2)
    expect(await value(registry, 'controller_runtime_reconcile_total', { controller: 'c1', result: 'success' })).toBe(1)
    expect(await value(registry, 'controller_runtime_reconcile_errors_total', { controller: 'c1' })).toBe(2)
    expect(await c.stop()).toBe(true)
  })

  it('requeueAfter reconciles again after the delay; requeue uses backoff', async () => {
    const clock = new FakeClock()
    const registry = new Registry()
    const results: (ReconcileResult | undefined)[] = [{ requeueAfterMs: 1000 }, { requeue: true }, undefined]
    const calls: number[] = []
    const c = new Controller({
      name: 'c2',
      clock,
      registry,
      reconcile: () => {
        calls.push(clock.now())
        return Promise.resolve(results.shift())
      },
    })
    c.start()
    const t0 = clock.now()
    c.enqueue('k')
    await tick()
    clock.step(999)
    await tick()
    expect(calls).toEqual([t0])
    clock.step(1)
    await tick()
    clock.step(5)
    await tick()
    expect(calls).toEqual([t0, t0 + 1000, t0 + 1005])
    expect(
      await value(registry, 'controller_runtime_reconcile_total', { controller: 'c2', result: 'requeue_after' }),
    ).toBe(1)
    expect(await value(registry, 'controller_runtime_reconcile_total', { controller: 'c2', result: 'requeue' })).toBe(1)
    await c.stop()
  })

  it('runs up to N reconciles in parallel, never the same key twice at once', async () => {
    const registry = new Registry()
    const gates = new Map<string, { promise: Promise<void>; resolve: () => void }>()
    const running = new Set<string>()
    let maxParallel = 0
    const calls: string[] = []
    const c = new Controller({
      name: 'c3',
      concurrency: 3,
      registry,
      reconcile: async (key) => {
        expect(running.has(key)).toBe(false)
        running.add(key)
        calls.push(key)
        maxParallel = Math.max(maxParallel, running.size)
        const g = deferred()
        gates.set(key, g)
        await g.promise
        running.delete(key)
        return {}
      },
    })
    for (const k of ['a', 'b', 'c', 'd']) c.enqueue(k)
    c.start()
    await tick()
    expect(running.size).toBe(3)
    expect(await value(registry, 'controller_runtime_active_workers', { controller: 'c3' })).toBe(3)
    expect(await value(registry, 'controller_runtime_max_concurrent_reconciles', { controller: 'c3' })).toBe(3)
    c.enqueue('a') // re-added while being reconciled: waits for the running one
    await tick()
    expect(calls.filter((k) => k === 'a').length).toBe(1)
    gates.get('a')!.resolve()
    await tick()
    gates.get('b')!.resolve()
    await tick()
    expect(calls.filter((k) => k === 'a').length).toBe(2)
    for (const g of gates.values()) g.resolve()
    await tick()
    for (const g of gates.values()) g.resolve()
    expect(await c.stop()).toBe(true)
    expect(maxParallel).toBe(3)
    expect(calls.sort()).toEqual(['a', 'a', 'b', 'c', 'd'])
  })

  it('stop lets in-flight reconciles finish, and gives up after the deadline', async () => {
    const g = deferred()
    let finished = false
    const c = new Controller({
      name: 'c4',
      registry: new Registry(),
      reconcile: async () => {
        await g.promise
        finished = true
        return {}
      },
    })
    c.start()
    c.enqueue('x')
    await tick()
    expect(await c.stop(20)).toBe(false)
    c.enqueue('y') // ignored after stop
    g.resolve()
    expect(await c.stop()).toBe(true)
    expect(finished).toBe(true)
  })

  it('builds and splits keys', () => {
    expect(objectKey({ namespace: 'ns', name: 'a' })).toBe('ns/a')
    expect(objectKey({ name: 'node1' })).toBe('node1')
    expect(splitKey('ns/a')).toEqual({ namespace: 'ns', name: 'a' })
    expect(splitKey('node1')).toEqual({ name: 'node1' })
  })
})
