import { describe, expect, it } from 'vitest'
import { validateGenesis } from '../../../../node-image/src/ledger/genesis.ts'
import { parsePeersFile } from '../../../../node-image/src/p2p/peers-file.ts'
import type { KubeObject, PodObject } from '../objects.ts'
import { GENESIS_KEY, PEERS_KEY, desiredNetworkObjects, ssnMaxUnavailable, witnessMaxUnavailable } from './desired.ts'
import type { NetworkObserved, ObservedPod } from './desired.ts'
import { missingNodeKeys, requiredNodeKeys } from './keys.ts'
import { networkNodes } from '../shared/nodes.ts'
import { exampleObjects, keysFor } from './test-fixtures.ts'

const OPTS = { nodeImage: 'ghcr.io/echonet/node:0.1.0', operatorNamespace: 'echonet-system' }

function setup(): { network: ReturnType<typeof exampleObjects>['network']; observed: NetworkObserved } {
  const { network, pools } = exampleObjects()
  const nodes = networkNodes(network, pools)
  const pods: ObservedPod[] = nodes.map((n, i) => ({
    name: n.podName,
    podIP: `10.0.${Math.floor(i / 200)}.${(i % 200) + 10}`,
    ready: true,
  }))
  return { network, observed: { nodeKeys: keysFor(nodes.map((n) => n.node)), pods, pools } }
}

const byKind = (objs: KubeObject[], kind: string): KubeObject[] => objs.filter((o) => o.kind === kind)
const pods = (objs: KubeObject[]): PodObject[] => byKind(objs, 'Pod') as PodObject[]
const withRole = (objs: KubeObject[], role: string): KubeObject[] =>
  objs.filter((o) => o.metadata.labels['echonet.io/role'] === role)
const find = (objs: KubeObject[], kind: string, name: string): KubeObject => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name)
  if (o === undefined) throw new Error(`no ${kind} ${name}`)
  return o
}
/** Walks a JSON path of plain objects/arrays (test helper). */
function at(v: unknown, ...path: (string | number)[]): unknown {
  let cur = v
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null) return undefined
    cur = (cur as Record<string | number, unknown>)[p]
  }
  return cur
}

describe('desiredNetworkObjects: the chart example', () => {
  it('produces 3 seed pods, 6 SSN pods + 6 PVCs, 4 witness + 2 standby pods, and waits for nothing', () => {
    const { network, observed } = setup()
    const { objects, waiting } = desiredNetworkObjects(network, observed, OPTS)
    expect(waiting).toEqual([])
    const p = pods(objects)
    expect(withRole(p, 'seed')).toHaveLength(3)
    expect(withRole(p, 'ssn')).toHaveLength(6)
    expect(withRole(p, 'witness')).toHaveLength(4)
    expect(withRole(p, 'standby')).toHaveLength(2)
    expect(withRole(byKind(objects, 'PersistentVolumeClaim'), 'ssn')).toHaveLength(6)
    expect(p.map((x) => x.metadata.name)).toContain('testnet-witnesses-3')
    expect(p.map((x) => x.metadata.name)).toContain('testnet-standbys-1')
    expect(at(find(objects, 'PersistentVolumeClaim', 'testnet-ssn-0-data').spec, 'resources', 'requests')).toEqual({
      storage: '10Gi',
    })
  })

  it('keeps a re-keyed node off the machines it was lost on (required node anti-affinity by hostname)', () => {
    const { network, observed } = setup()
    const plan = networkNodes(network, observed.pools).map((n) =>
      n.node === 'witnesses-0' ? { ...n, avoidMachines: ['machine-a'] } : n,
    )
    const { objects } = desiredNetworkObjects(network, { ...observed, plan }, OPTS)
    const pod = pods(objects).find((p) => p.metadata.name === 'testnet-witnesses-0')
    expect(pod?.spec.affinity).toEqual({
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: ['machine-a'] }] },
          ],
        },
      },
    })
    expect(pods(objects).find((p) => p.metadata.name === 'testnet-witnesses-1')?.spec.affinity).toBeUndefined()
  })

  it('gives every object a controller ownerReference to the network and the standard labels', () => {
    const { network, observed } = setup()
    const { objects } = desiredNetworkObjects(network, observed, OPTS)
    expect(objects.length).toBeGreaterThan(30)
    for (const o of objects) {
      expect(o.metadata.ownerReferences, `${o.kind}/${o.metadata.name}`).toEqual([
        {
          apiVersion: 'echonet.io/v1alpha1',
          kind: 'EchoNetNetwork',
          name: 'testnet',
          uid: network.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ])
      expect(o.metadata.namespace).toBe('echonet')
      expect(o.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'echonet-node',
        'app.kubernetes.io/instance': 'testnet',
        'app.kubernetes.io/managed-by': 'echonet-operator',
        'echonet.io/network': 'testnet',
      })
      expect(o.metadata.labels['app.kubernetes.io/component']).toBeTruthy()
    }
    for (const p of pods(objects)) {
      expect(['seed', 'ssn', 'witness', 'standby']).toContain(p.metadata.labels['app.kubernetes.io/component'])
      expect(`testnet-${p.metadata.labels['echonet.io/node'] ?? ''}`).toBe(p.metadata.name)
    }
  })

  it('makes every pod pass the security rules and run echonet-node with the right args, volumes and probes', () => {
    const { network, observed } = setup()
    for (const pod of pods(desiredNetworkObjects(network, observed, OPTS).objects)) {
      const name = pod.metadata.name
      const role = pod.metadata.labels['echonet.io/role']!
      const node = pod.metadata.labels['echonet.io/node']!
      const s = pod.spec
      expect(s.restartPolicy).toBe('Always')
      expect(s.terminationGracePeriodSeconds).toBe(30)
      expect(s.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, fsGroup: 65532 })
      const containers = s.containers as unknown[]
      expect(containers).toHaveLength(1)
      const c = containers[0]
      expect(at(c, 'image')).toBe(OPTS.nodeImage)
      expect(at(c, 'securityContext')).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 65532,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      })
      expect(at(c, 'readinessProbe', 'httpGet')).toEqual({ path: '/readyz', port: 8080 })
      expect(at(c, 'livenessProbe', 'httpGet')).toEqual({ path: '/healthz', port: 8080 })
      expect(at(c, 'ports')).toEqual([
        { name: 'p2p', containerPort: 7000, protocol: 'TCP' },
        { name: 'api', containerPort: 8080, protocol: 'TCP' },
        { name: 'admin', containerPort: 9090, protocol: 'TCP' },
      ])
      const podIp = { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }
      // Witness and standby keys added after genesis register themselves once funded (self-registration).
      expect(at(c, 'env')).toEqual(
        role === 'witness' || role === 'standby'
          ? [podIp, { name: 'ECHONET_BOND_ROLE', value: role }, { name: 'ECHONET_BOND_STAKE', value: '1000' }]
          : [podIp],
      )
      expect(at(c, 'args')).toEqual(
        `run --role ${role} --data-dir /data --key /keys/node.key --genesis /config/genesis.json --peers /peers/peers.json --p2p /ip4/$(POD_IP)/tcp/7000 --api-host $(POD_IP) --api-port 8080 --admin-port 9090 --admin-token-file /admin/token`.split(
          ' ',
        ),
      )
      const volumes = s.volumes as { name: string }[]
      const vol = (n: string): unknown => volumes.find((v) => v.name === n)
      expect(at(vol('key'), 'secret'), name).toEqual({
        secretName: `testnet-${node}-key`,
        defaultMode: 0o400,
        items: [{ key: 'node.key', path: 'node.key' }],
      })
      expect(at(vol('data'), 'persistentVolumeClaim', 'claimName')).toBe(`testnet-${node}-data`)
      expect(at(vol('genesis'), 'configMap', 'name')).toBe('testnet-genesis')
      expect(at(vol('peers'), 'configMap', 'name')).toBe('testnet-peers')
      expect(at(vol('admin-token'), 'secret', 'secretName')).toBe('testnet-admin-token')
      const mounts = at(c, 'volumeMounts') as { name: string; mountPath: string; readOnly?: boolean }[]
      for (const m of mounts) {
        expect(volumes.map((v) => v.name)).toContain(m.name)
        if (['key', 'genesis', 'peers', 'admin-token'].includes(m.name)) expect(m.readOnly).toBe(true)
      }
      expect(pod.metadata.annotations?.['echonet.io/spec-hash']).toMatch(/^[a-f0-9]{32}$/)
    }
  })

  it('uses spec.image over the operator default', () => {
    const { network, observed } = setup()
    network.spec.image = 'registry.example/echonet-node:9.9.9'
    for (const p of pods(desiredNetworkObjects(network, observed, OPTS).objects)) {
      expect(at(p.spec, 'containers', 0, 'image')).toBe('registry.example/echonet-node:9.9.9')
    }
  })

  it('is deterministic: identical inputs give deep-equal, byte-identical outputs, whatever the input order', () => {
    const a = setup()
    const b = setup()
    const first = desiredNetworkObjects(a.network, a.observed, OPTS)
    const shuffled: NetworkObserved = {
      nodeKeys: new Map([...b.observed.nodeKeys].reverse()),
      pods: [...b.observed.pods].reverse(),
      pools: [...b.observed.pools].reverse(),
    }
    const second = desiredNetworkObjects(b.network, shuffled, OPTS)
    expect(second).toEqual(first)
    expect(JSON.stringify(second)).toBe(JSON.stringify(first))
    expect(JSON.stringify(first)).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:/)
  })
})

describe('genesis ConfigMap', () => {
  it('is a genesis echonet-node accepts, built from the spec, the pools and the SSNs, timed by creationTimestamp', () => {
    const { network, observed } = setup()
    const { objects } = desiredNetworkObjects(network, observed, OPTS)
    const text = find(objects, 'ConfigMap', 'testnet-genesis').data?.[GENESIS_KEY] ?? ''
    const g = validateGenesis(JSON.parse(text))
    const k = observed.nodeKeys
    expect(g.chainId).toBe('echonet-testnet')
    expect(g.genesisTimeMs).toBe(Date.parse('2026-11-24T10:00:00Z'))
    expect(g.council.threshold).toBe(2)
    expect(g.witnesses).toEqual([0, 1, 2, 3].map((i) => ({ did: k.get(`witnesses-${i}`)?.did, stake: 1000 })))
    expect(g.standbys).toEqual([0, 1].map((i) => ({ did: k.get(`standbys-${i}`)?.did, stake: 1000 })))
    expect(g.ssns?.map((s) => s.did)).toEqual([0, 1, 2, 3, 4, 5].map((i) => k.get(`ssn-${i}`)?.did))
    expect(g.treasury).toBe(1_000_000_000)
    // Each node can pay the fees of its protocol events (PoSR results, content registration).
    for (const [node, key] of k)
      expect({ node, balance: g.accounts.find((a) => a.did === key.did)?.balance }).toEqual({
        node,
        balance: 1_000_000,
      })
    expect(g.params).toMatchObject({
      committeeSize: 4,
      minWitnessStake: 1000,
      checkpointInterval: 100,
      erasureK: 4,
      erasureM: 2,
    })
  })

  it('is absent, with a reason, while keys are missing; pods without a key wait too', () => {
    const { network, observed } = setup()
    const nodeKeys = new Map(observed.nodeKeys)
    nodeKeys.delete('witnesses-2')
    nodeKeys.delete('seed-0')
    const { objects, waiting } = desiredNetworkObjects(network, { ...observed, nodeKeys }, OPTS)
    expect(objects.some((o) => o.metadata.name === 'testnet-genesis')).toBe(false)
    expect(waiting[0]).toBe('genesis: waiting for the keys of witnesses-2')
    expect(pods(objects)).toHaveLength(0)
    expect(waiting).toContain('pod testnet-seed-0: waiting for key Secret testnet-seed-0-key')
    expect(waiting).toContain('pod testnet-ssn-0: waiting for the genesis')
    // PVCs and the peers ConfigMap do not wait for keys.
    expect(byKind(objects, 'PersistentVolumeClaim')).toHaveLength(15)
  })

  it('waits with a clear reason when a pool stakes less than minWitnessStake (the node would refuse it)', () => {
    const { network, observed } = setup()
    const pools = observed.pools.map((p) => (p.spec.mode === 'Standby' ? { ...p, spec: { ...p.spec, stake: 10 } } : p))
    const { objects, waiting } = desiredNetworkObjects(network, { ...observed, pools }, OPTS)
    expect(objects.some((o) => o.metadata.name === 'testnet-genesis')).toBe(false)
    expect(waiting[0]).toBe(
      "genesis: stake 10 of standbys-0, standbys-1 is below minWitnessStake 1000 (set the WitnessPool's spec.stake)",
    )
  })

  it('refuses node names that clash or do not fit a label, and says so', () => {
    const { network, observed } = setup()
    const clash = { ...observed.pools[0]!, metadata: { ...observed.pools[0]!.metadata, name: 'seed' } }
    const long = { ...observed.pools[0]!, metadata: { ...observed.pools[0]!.metadata, name: 'p'.repeat(63) } }
    const pools = [...observed.pools, clash, long]
    const nodeKeys = keysFor(networkNodes(network, pools).map((n) => n.node))
    const { objects, waiting } = desiredNetworkObjects(network, { ...observed, pools, nodeKeys }, OPTS)
    expect(waiting).toContain('nodes: node names claimed twice (rename the WitnessPool): seed-0, seed-1, seed-2')
    expect(waiting.some((w) => w.startsWith(`node ${'p'.repeat(63)}-0: name longer than 63`))).toBe(true)
    expect(pods(objects).some((p) => p.metadata.name === 'testnet-seed-0')).toBe(false)
    expect(waiting).toContain('genesis: waiting until every node name is valid and unique')
    expect(pods(objects).some((p) => p.metadata.name.startsWith('testnet-ppp'))).toBe(false)
  })

  it('waits for a creationTimestamp rather than reading the clock', () => {
    const { network, observed } = setup()
    delete network.metadata.creationTimestamp
    const { waiting } = desiredNetworkObjects(network, observed, OPTS)
    expect(waiting).toContain('genesis: the network has no creationTimestamp yet')
  })

  it('stays frozen once written: an existing genesis is kept even when the pools change', () => {
    const { network, observed } = setup()
    const frozen = '{"frozen":true}\n'
    const pools = observed.pools.map((p) => (p.spec.mode === 'Active' ? { ...p, spec: { ...p.spec, replicas: 7 } } : p))
    const nodeKeys = keysFor(networkNodes(network, pools).map((n) => n.node))
    const { objects } = desiredNetworkObjects(network, { ...observed, pools, nodeKeys, genesisData: frozen }, OPTS)
    expect(find(objects, 'ConfigMap', 'testnet-genesis').data).toEqual({ [GENESIS_KEY]: frozen })
  })

  it('mounts spec.genesisRef instead of building one', () => {
    const { network, observed } = setup()
    delete network.spec.genesis
    network.spec.genesisRef = { name: 'my-genesis', key: 'g.json' }
    const { objects, waiting } = desiredNetworkObjects(network, observed, OPTS)
    expect(waiting).toEqual([])
    expect(objects.some((o) => o.metadata.name === 'testnet-genesis')).toBe(false)
    const vols = at(pods(objects)[0]?.spec, 'volumes') as { name: string }[]
    expect(vols.find((v) => v.name === 'genesis')).toEqual({
      name: 'genesis',
      configMap: { name: 'my-genesis', items: [{ key: 'g.json', path: GENESIS_KEY }] },
    })
  })
})

describe('peers ConfigMap', () => {
  it('lists every pod with an IP, sorted by PeerId, in the node peers-file format', () => {
    const { network, observed } = setup()
    const podsNoIp = observed.pods.map((p) => (p.name === 'testnet-ssn-3' ? { name: p.name, ready: false } : p))
    const { objects } = desiredNetworkObjects(network, { ...observed, pods: podsNoIp }, OPTS)
    const text = find(objects, 'ConfigMap', 'testnet-peers').data?.[PEERS_KEY] ?? ''
    const peers = parsePeersFile(text)
    expect(peers).toHaveLength(14)
    const ids = peers.map((p) => p.peerId)
    expect(ids).toEqual([...ids].sort())
    const w0 = observed.nodeKeys.get('witnesses-0')!
    const entry = peers.find((p) => p.peerId === w0.peerId)
    const ip = observed.pods.find((p) => p.name === 'testnet-witnesses-0')?.podIP ?? ''
    expect(entry).toEqual({ peerId: w0.peerId, did: w0.did, role: 'witness', addrs: [`/ip4/${ip}/tcp/7000`] })
    expect(peers.some((p) => p.did === observed.nodeKeys.get('ssn-3')?.did)).toBe(false)
  })

  it('is byte-identical for the same pods in any order, and changes only when an IP does', () => {
    const { network, observed } = setup()
    const data = (o: NetworkObserved): string | undefined =>
      find(desiredNetworkObjects(network, o, OPTS).objects, 'ConfigMap', 'testnet-peers').data?.[PEERS_KEY]
    const a = data(observed)
    expect(data({ ...observed, pods: [...observed.pods].reverse() })).toBe(a)
    const moved = observed.pods.map((p) => (p.name === 'testnet-seed-1' ? { ...p, podIP: '10.9.9.9' } : p))
    expect(data({ ...observed, pods: moved })).not.toBe(a)
    expect(data({ ...observed, pods: moved })).toContain('/ip4/10.9.9.9/tcp/7000')
  })
})

describe('PodDisruptionBudgets', () => {
  it('witnesses: f = floor((n-1)/3) — n=4 → 1, n=7 → 2; fewer than 4 → 0', () => {
    expect(witnessMaxUnavailable([1000, 1000, 1000, 1000])).toBe(1)
    expect(witnessMaxUnavailable(Array<number>(7).fill(1000))).toBe(2)
    expect(witnessMaxUnavailable(Array<number>(10).fill(5))).toBe(3)
    expect(witnessMaxUnavailable([1000, 1000, 1000])).toBe(0)
    expect(witnessMaxUnavailable([1])).toBe(0)
    // Unequal stakes: the worst case removes the strongest first.
    expect(witnessMaxUnavailable([4000, 1000, 1000, 1000, 1000])).toBe(0)
    // Only the top committeeSize count.
    expect(witnessMaxUnavailable(Array<number>(7).fill(1000), 4)).toBe(1)
  })

  it('SSNs: with m=2 at most 1 (keeps one parity shard of margin), m=1 → 1, never more than m', () => {
    expect(ssnMaxUnavailable(2)).toBe(1)
    expect(ssnMaxUnavailable(1)).toBe(1)
    expect(ssnMaxUnavailable(4)).toBe(3)
    for (let m = 1; m < 50; m++) expect(ssnMaxUnavailable(m)).toBeLessThanOrEqual(m)
  })

  it('in objects: integer minAvailable = count − maxUnavailable (pods owned by the network have no scale)', () => {
    const { network, observed } = setup()
    const { objects } = desiredNetworkObjects(network, observed, OPTS)
    const pdb = (role: string): unknown => find(objects, 'PodDisruptionBudget', `testnet-${role}`).spec
    expect(pdb('witness')).toEqual({
      minAvailable: 3,
      selector: { matchLabels: { 'echonet.io/network': 'testnet', 'echonet.io/role': 'witness' } },
    })
    expect(at(pdb('ssn'), 'minAvailable')).toBe(5)
    expect(at(pdb('seed'), 'minAvailable')).toBe(2)
    expect(find(objects, 'PodDisruptionBudget', 'testnet-witness').metadata.annotations).toMatchObject({
      'echonet.io/max-unavailable': '1',
    })

    const pools = observed.pools.map((p) => (p.spec.mode === 'Active' ? { ...p, spec: { ...p.spec, replicas: 7 } } : p))
    network.spec.genesis!.params = { ...network.spec.genesis!.params, committeeSize: 7 }
    const seven = desiredNetworkObjects(network, { ...observed, pools }, OPTS).objects
    expect(at(find(seven, 'PodDisruptionBudget', 'testnet-witness').spec, 'minAvailable')).toBe(5)
  })
})

describe('Services and NetworkPolicy', () => {
  it('has a headless Service per role and a ClusterIP API Service', () => {
    const { network, observed } = setup()
    const { objects } = desiredNetworkObjects(network, observed, OPTS)
    for (const role of ['seed', 'ssn', 'witness', 'standby']) {
      const svc = find(objects, 'Service', `testnet-${role}`)
      expect(svc.spec).toMatchObject({
        clusterIP: 'None',
        selector: { 'echonet.io/network': 'testnet', 'echonet.io/role': role },
      })
    }
    expect(find(objects, 'Service', 'testnet-api').spec).toMatchObject({
      type: 'ClusterIP',
      ports: [{ name: 'api', port: 8080, targetPort: 8080, protocol: 'TCP' }],
    })
  })

  it('opens p2p inside the network, the API to all, and the admin port only to the operator', () => {
    const { network, observed } = setup()
    const np = find(desiredNetworkObjects(network, observed, OPTS).objects, 'NetworkPolicy', 'testnet-nodes')
    expect(at(np.spec, 'ingress')).toEqual([
      {
        from: [{ podSelector: { matchLabels: { 'echonet.io/network': 'testnet' } } }],
        ports: [{ protocol: 'TCP', port: 7000 }],
      },
      { ports: [{ protocol: 'TCP', port: 8080 }] },
      {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'echonet-system' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'echonet-operator' } },
          },
        ],
        ports: [{ protocol: 'TCP', port: 9090 }],
      },
    ])
  })
})

describe('keys', () => {
  it('needs one key Secret per node, witness keys protected by the finalizer', () => {
    const { network, observed } = setup()
    const keys = requiredNodeKeys(network, observed.pools)
    expect(keys).toHaveLength(15)
    expect(keys.find((k) => k.node === 'witnesses-0')).toEqual({
      secretName: 'testnet-witnesses-0-key',
      node: 'witnesses-0',
      role: 'witness',
      key: 'node.key',
      finalizers: ['echonet.io/witness-key-protection'],
    })
    expect(keys.find((k) => k.node === 'ssn-0')?.finalizers).toEqual([])
    const have = new Set(keys.filter((k) => k.role !== 'standby').map((k) => k.secretName))
    expect(missingNodeKeys(network, observed.pools, have).map((k) => k.secretName)).toEqual([
      'testnet-standbys-0-key',
      'testnet-standbys-1-key',
    ])
  })
})
