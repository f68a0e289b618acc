/**
 * Cluster tier: two managers campaigning on one Lease against the real API server — only the
 * leader runs its controllers; on a graceful stop the leader finishes in-flight work, releases
 * the Lease, and the other starts its controllers within a retry period.
 *
 *   KUBECONFIG=$PWD/.cluster/kubeconfig npx vitest run operator/src/runtime/manager.cluster.test.ts --project cluster
 */
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../api/v1alpha1/generate.ts'
import { K8sClient, loadKubeConfig } from '../k8s/client.ts'
import { microTime } from '../k8s/lease.ts'
import type { Lease } from '../k8s/lease.ts'
import { Controller } from './controller.ts'
import { Manager } from './manager.ts'

const KUBECONFIG = process.env.KUBECONFIG ?? `${REPO_ROOT}/.cluster/kubeconfig`
const NS = `echonet-mgr-test-${process.pid}`
const client = new K8sClient(loadKubeConfig({ kubeconfig: KUBECONFIG }))
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

beforeAll(async () => {
  await client.request('POST', '/api/v1/namespaces', {
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
  })
})

afterAll(async () => {
  await client.delete('v1', 'Namespace', NS)
})

describe('Manager with leader election', () => {
  it('runs controllers only on the leader and hands over on graceful shutdown', async () => {
    const reconciled: string[] = []
    const lost: string[] = []
    let inFlightDone = false
    const make = (identity: string): { m: Manager; c: Controller } => {
      const registry = new Registry()
      const c = new Controller({
        name: 'pools',
        registry,
        reconcile: async (key) => {
          reconciled.push(`${identity} ${key}`)
          if (key === 'slow') {
            await sleep(500)
            inFlightDone = true
          }
          return {}
        },
      })
      const m = new Manager({
        controllers: [c],
        registry,
        leaderElection: {
          client,
          namespace: NS,
          name: 'echonet-operator',
          identity,
          leaseDurationMs: 4000,
          renewDeadlineMs: 3000,
          retryPeriodMs: 500,
        },
        onLeadershipLost: () => lost.push(identity),
      })
      return { m, c }
    }
    const one = make('one')
    const two = make('two')
    await one.m.start()
    await one.m.waitForLeadership()
    await two.m.start()
    for (const x of [one, two]) x.c.enqueue('k1')
    await sleep(1500)
    expect(one.m.isLeader()).toBe(true)
    expect(two.m.isLeader()).toBe(false)
    expect(reconciled).toEqual(['one k1'])

    one.c.enqueue('slow')
    await sleep(50)
    const t0 = Date.now()
    expect(await one.m.stop()).toBe(true)
    expect(inFlightDone).toBe(true)
    await two.m.waitForLeadership()
    const handoverMs = Date.now() - t0
    console.log(`manager handover (incl. 500 ms in-flight reconcile): ${handoverMs} ms`)
    expect(handoverMs).toBeLessThan(500 + 500 + 1000)
    await sleep(100)
    expect(reconciled).toEqual(['one k1', 'one slow', 'two k1'])
    expect(lost).toEqual([])

    // someone else takes the Lease (e.g. after a network partition): the leader notices at its
    // next renewal, stops its controllers and reports the loss (main exits the process)
    const path = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/echonet-operator`
    const lease = await client.request<Lease>('GET', path)
    await client.request('PUT', path, {
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', renewTime: microTime(Date.now()) } },
    })
    await sleep(1500)
    expect(lost).toEqual(['two'])
    expect(two.m.isLeader()).toBe(false)
    two.c.enqueue('after-loss')
    await sleep(100)
    expect(reconciled).not.toContain('two after-loss')
    await two.m.stop()
    expect((await client.request<Lease>('GET', path)).spec?.holderIdentity).toBe('intruder')
  })
})
