/**
 * Cluster tier (DESIGN §7): the k8s layer against a real kube-apiserver. Needs the local cluster
 * (`e2e/cluster/cluster-up.sh`) and KUBECONFIG; fails without them.
 *
 *   KUBECONFIG=$PWD/.cluster/kubeconfig npx vitest run operator/src/k8s/k8s.cluster.test.ts --project cluster
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Watch } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crdObject, witnessPoolCrd } from '../api/v1alpha1/crds.ts'
import { validPool } from '../api/v1alpha1/fixtures.ts'
import { REPO_ROOT } from '../api/v1alpha1/generate.ts'
import { apply, patchStatus } from './apply.ts'
import { ApiError, K8sClient, loadKubeConfig } from './client.ts'
import type { KubeObject } from './client.ts'
import { EventRecorder } from './events.ts'
import type { K8sEvent } from './events.ts'
import { InformerSupervisor } from './informer.ts'
import { LeaderElector } from './lease.ts'
import type { Lease } from './lease.ts'

const KUBECONFIG = process.env.KUBECONFIG ?? `${REPO_ROOT}/.cluster/kubeconfig`
const NS = `echonet-k8s-test-${process.pid}`
const client = new K8sClient(loadKubeConfig({ kubeconfig: KUBECONFIG }))

interface ConfigMap extends KubeObject {
  data?: Record<string, string>
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

function cm(name: string, data: Record<string, string>): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS }, data }
}

beforeAll(async () => {
  await client.request('POST', '/api/v1/namespaces', {
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
  })
})

afterAll(async () => {
  await client.delete('v1', 'Namespace', NS)
})

describe('leader election (Lease, controller-runtime timings 15 s / 10 s / 2 s)', () => {
  it('elects exactly one leader, fails over when it stops renewing, and hands over at once on release', async () => {
    const leading = new Set<string>()
    const log: string[] = []
    const candidate = (identity: string): LeaderElector =>
      new LeaderElector({
        client,
        namespace: NS,
        name: 'operator-lock',
        identity,
        onStartedLeading: () => {
          leading.add(identity)
          log.push(`start ${identity}`)
        },
        onStoppedLeading: () => {
          leading.delete(identity)
          log.push(`stop ${identity}`)
        },
      })
    const a = candidate('a')
    const b = candidate('b')
    a.run()
    b.run()
    await until('a leader', () => leading.size === 1)
    // for 5 s (two and a half renewals) there is never a second leader
    const end = Date.now() + 5000
    while (Date.now() < end) {
      expect(leading.size).toBe(1)
      expect([a, b].filter((c) => c.isLeader()).length).toBe(1)
      await sleep(100)
    }
    const [leader, follower] = a.isLeader() ? [a, b] : [b, a]
    const lease = await client.request<Lease>(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/operator-lock`,
    )
    expect(lease.spec?.holderIdentity).toBe(leader.identity)
    expect(lease.spec?.leaseDurationSeconds).toBe(15)

    // the leader "crashes": stops renewing without releasing
    const killedAt = Date.now()
    await leader.stop({ release: false })
    await until('failover', () => follower.isLeader(), 30_000)
    const failoverMs = Date.now() - killedAt
    console.log(`failover after the leader stopped renewing: ${failoverMs} ms`)
    expect(failoverMs).toBeGreaterThan(13_000) // not before the lease could have expired
    expect(failoverMs).toBeLessThanOrEqual(15_000 + 2_000 + 500) // leaseDuration + retryPeriod (+ API latency)

    // a clean shutdown releases the Lease: a waiting candidate takes over within a retry period
    const c = candidate('c')
    c.run()
    await sleep(2500) // c has observed the held lease
    expect(c.isLeader()).toBe(false)
    const releasedAt = Date.now()
    await follower.stop()
    await until('handover', () => c.isLeader(), 10_000)
    const handoverMs = Date.now() - releasedAt
    console.log(`handover after release: ${handoverMs} ms`)
    expect(handoverMs).toBeLessThanOrEqual(2_000 + 500)
    const after = await client.request<Lease>(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/operator-lock`,
    )
    expect(after.spec?.holderIdentity).toBe('c')
    expect(after.spec?.leaseTransitions).toBe(2)
    await c.stop()
    const released = await client.request<Lease>(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/operator-lock`,
    )
    expect(released.spec?.holderIdentity).toBe('')
    expect(log).toEqual([
      `start ${leader.identity}`,
      `stop ${leader.identity}`,
      `start ${follower.identity}`,
      `stop ${follower.identity}`,
      'start c',
      'stop c',
    ])
  })
})

/** A Watch whose open connections the test can cut, as a network failure would. */
class BreakableWatch extends Watch {
  readonly open: AbortController[] = []

  override async watch(...args: Parameters<Watch['watch']>): Promise<AbortController> {
    const c = await super.watch(...args)
    this.open.push(c)
    return c
  }

  break(): void {
    for (const c of this.open.splice(0)) c.abort()
  }
}

describe('informer supervisor', () => {
  it('sees create, update and delete, and recovers (relist + watch) after its watch is broken', async () => {
    const watches: BreakableWatch[] = []
    const errors: unknown[] = []
    const inf = new InformerSupervisor<ConfigMap>({
      client,
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: NS,
      labelSelector: 'test=informer',
      resyncPeriodMs: 0,
      backoffInitialMs: 1500,
      onError: (e) => errors.push(e),
      watchFactory: (kc) => {
        const w = new BreakableWatch(kc)
        watches.push(w)
        return w
      },
    })
    const events: string[] = []
    inf.addHandler({
      add: (o) => events.push(`add ${o.metadata?.name} ${o.data?.v}`),
      update: (old, o) => events.push(`update ${o.metadata?.name} ${old.data?.v}->${o.data?.v}`),
      delete: (o) => events.push(`delete ${o.metadata?.name}`),
    })
    const labelled = (name: string, v: string): ConfigMap => {
      const o = cm(name, { v })
      o.metadata = { ...o.metadata, labels: { test: 'informer' } }
      return o
    }
    await client.create(labelled('pre', '0'))
    inf.start()
    await inf.waitForSync()
    expect(inf.hasSynced()).toBe(true)
    expect(inf.list(NS).map((o) => o.metadata?.name)).toEqual(['pre'])
    expect(events).toEqual(['add pre 0'])

    await client.create(labelled('a', '1'))
    await until('add a', () => events.includes('add a 1'))
    await apply(client, labelled('a', '2'))
    await until('update a', () => events.includes('update a 1->2'))
    expect(inf.get('a', NS)?.data?.v).toBe('2')
    await client.delete('v1', 'ConfigMap', 'pre', NS)
    await until('delete pre', () => events.includes('delete pre'))
    expect(inf.get('pre', NS)).toBeUndefined()

    // cut the watch; while it is down (restart backoff ≥ 1.2 s) a is deleted and b is created
    events.length = 0
    watches.at(-1)!.break()
    await until('error seen', () => errors.length === 1)
    await client.delete('v1', 'ConfigMap', 'a', NS)
    await client.create(labelled('b', '1'))
    await sleep(300)
    expect(events).toEqual([]) // nothing is watching now
    await until('recovered', () => events.includes('delete a') && events.includes('add b 1'), 15_000)
    expect(inf.stats.errors).toBe(1)
    expect(inf.stats.starts).toBe(2)
    expect(inf.list().map((o) => o.metadata?.name)).toEqual(['b'])
    // ...and watches again after the restart
    await apply(client, labelled('b', '2'))
    await until('update b after restart', () => events.includes('update b 1->2'))

    // resync: a relist delivers every cached object again as an update
    events.length = 0
    inf.relist()
    await until('resync', () => events.includes('update b 2->2'))
    expect(events).toEqual(['update b 2->2'])
    await inf.stop()
  })
})

describe('server-side apply', () => {
  it('applying the same content twice makes no second write; a change does', async () => {
    const first = await apply(client, cm('ssa', { k: 'v' }))
    const rv1 = first.metadata?.resourceVersion
    expect(rv1).toBeDefined()
    expect(
      first.metadata?.managedFields?.some(
        (f) =>
          (f as { manager?: string; operation?: string }).manager === 'echonet-operator' &&
          (f as { operation?: string }).operation === 'Apply',
      ),
    ).toBe(true)
    const second = await apply(client, cm('ssa', { k: 'v' }))
    expect(second.metadata?.resourceVersion).toBe(rv1)
    const third = await apply(client, cm('ssa', { k: 'w' }))
    expect(third.metadata?.resourceVersion).not.toBe(rv1)
    // fields the manager stops applying are removed
    const fourth = await apply<ConfigMap>(client, cm('ssa', { other: 'x' }))
    expect(fourth.data).toEqual({ other: 'x' })
  })

  it('patchStatus writes only through /status (a WitnessPool)', async () => {
    const crdName = 'witnesspools.echonet.io'
    const existed =
      (await client.getOrUndefined('apiextensions.k8s.io/v1', 'CustomResourceDefinition', crdName)) !== undefined
    if (!existed) {
      await apply(client, crdObject(witnessPoolCrd) as KubeObject)
      await until(
        'CRD established',
        async () => {
          const crd = await client.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(
            'apiextensions.k8s.io/v1',
            'CustomResourceDefinition',
            crdName,
          )
          return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') === true
        },
        30_000,
      )
    }
    try {
      const pool = validPool('pool-a')
      const created = await apply(client, {
        ...pool,
        metadata: { ...pool.metadata, namespace: NS },
      })
      const updated = await patchStatus<KubeObject & { status?: { replicas?: number; selector?: string } }>(
        client,
        created,
        { replicas: 0, readyReplicas: 0, selector: 'a=b' },
      )
      expect(updated.status?.replicas).toBe(0)
      expect(updated.status?.selector).toBe('a=b')
      // the main resource ignores status, /status ignores spec
      const again = await apply<KubeObject & { status?: { selector?: string } }>(client, {
        ...pool,
        metadata: { ...pool.metadata, namespace: NS },
        status: { selector: 'ignored' },
      })
      expect(again.status?.selector).toBe('a=b')
      const merged = await patchStatus<KubeObject & { status?: { replicas?: number } }>(
        client,
        created,
        { replicas: 3 },
        { mode: 'merge' },
      )
      expect(merged.status?.replicas).toBe(3)
    } finally {
      if (!existed) await client.delete('apiextensions.k8s.io/v1', 'CustomResourceDefinition', crdName)
    }
  })
})

describe('event recorder', () => {
  it('aggregates repeats into one Event with series.count', async () => {
    const regarding = await apply(client, cm('evented', { a: '1' }))
    const errors: unknown[] = []
    const rec = new EventRecorder({ client, reportingInstance: 'test-pod-0', onError: (e) => errors.push(e) })
    await rec.normal(regarding, 'Reconciled', 'Reconcile', 'all good')
    await Promise.all([
      rec.normal(regarding, 'Reconciled', 'Reconcile', 'all good'),
      rec.normal(regarding, 'Reconciled', 'Reconcile', 'all good'),
    ])
    await rec.warning(regarding, 'Failed', 'Reconcile', 'something else')
    expect(errors).toEqual([])
    const list = await client.request<{ items: K8sEvent[] }>('GET', `/apis/events.k8s.io/v1/namespaces/${NS}/events`, {
      query: { fieldSelector: `regarding.name=evented` },
    })
    const byReason = new Map(list.items.map((e) => [e.reason, e]))
    expect(list.items.length).toBe(2)
    const ok = byReason.get('Reconciled')!
    expect(ok.series?.count).toBe(3)
    expect(ok.reportingController).toBe('echonet.io/operator')
    expect(ok.reportingInstance).toBe('test-pod-0')
    expect(ok.regarding.uid).toBe(regarding.metadata?.uid)
    expect(ok.action).toBe('Reconcile')
    expect(ok.note).toBe('all good')
    expect(byReason.get('Failed')?.type).toBe('Warning')
    expect(byReason.get('Failed')?.series).toBeUndefined()
  })
})

describe('in-cluster credentials', () => {
  it('authenticates as the service account from $ECHONET_SA_DIR (token, ca.crt, namespace)', async () => {
    await client.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'probe', namespace: NS } })
    const tr = await client.request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${NS}/serviceaccounts/probe/token`,
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } } },
    )
    const cluster = client.kubeConfig.getCurrentCluster()!
    const url = new URL(cluster.server)
    const dir = mkdtempSync(join(tmpdir(), 'echonet-sa-'))
    try {
      writeFileSync(join(dir, 'token'), `${tr.status.token}\n`)
      writeFileSync(join(dir, 'ca.crt'), Buffer.from(cluster.caData ?? '', 'base64'))
      writeFileSync(join(dir, 'namespace'), NS)
      const sa = new K8sClient(
        loadKubeConfig({
          env: { ECHONET_SA_DIR: dir, KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port },
        }),
      )
      expect(sa.namespace).toBe(NS)
      // no RBAC for it: 403 (authenticated, not authorized) and the message names the service account
      const err = await sa.request('GET', `/api/v1/namespaces/${NS}/configmaps`).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ApiError)
      expect((err as ApiError).status).toBe(403)
      expect((err as ApiError).message).toContain(`system:serviceaccount:${NS}:probe`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
