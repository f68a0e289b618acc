/**
 * Unit-tier checks of the Helm chart that need no helm binary and no cluster (those are in
 * `crds.cluster.test.ts`): the example manifests pass the API's validation, the dashboard queries
 * the agreed metric names, values and their schema agree, RBAC has no wildcards.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import yaml from 'js-yaml'
import { base58btc } from 'multiformats/bases/base58'
import { REPO_ROOT } from './generate.ts'
import { COUNCIL_DIDS, OTHER_DIDS } from './fixtures.ts'
import { formatErrors, validateResource } from './validate.ts'
import type { DisasterDeclaration, EchoNetNetwork, WitnessPool } from './types.ts'

const CHART = join(REPO_ROOT, 'charts/echonet-operator')
const read = (p: string): Promise<string> => readFile(join(CHART, p), 'utf8')

async function loadDocs(p: string): Promise<unknown[]> {
  return yaml.loadAll(await read(p)).filter((d) => d !== null && d !== undefined)
}

function isEd25519DidKey(did: string): boolean {
  const bytes = base58btc.decode(did.slice('did:key:'.length))
  return bytes.length === 34 && bytes[0] === 0xed && bytes[1] === 0x01
}

describe('examples', () => {
  it('network.yaml: 3 seeds, 6 SSNs with k=4 m=2, council of 3 with threshold 2, 4 active + 2 standby witnesses', async () => {
    const docs = await loadDocs('examples/network.yaml')
    const valid = docs.map((d) => {
      const r = validateResource(d)
      if (!r.ok) throw new Error(formatErrors(r.errors))
      return r.value
    })
    const [net, active, standby] = valid as [EchoNetNetwork, WitnessPool, WitnessPool]
    expect(valid.map((v) => v.kind)).toEqual(['EchoNetNetwork', 'WitnessPool', 'WitnessPool'])
    expect(net.spec.seeds.replicas).toBe(3)
    expect(net.spec.storage.replicas).toBe(6)
    expect(net.spec.storage.erasure).toEqual({ k: 4, m: 2 })
    expect(net.spec.genesis?.council.members).toHaveLength(3)
    expect(net.spec.genesis?.council.threshold).toBe(2)
    for (const did of net.spec.genesis?.council.members ?? []) expect(isEd25519DidKey(did), did).toBe(true)
    expect([active.spec.mode, active.spec.replicas, active.spec.networkRef.name]).toEqual(['Active', 4, 'testnet'])
    expect([standby.spec.mode, standby.spec.replicas, standby.spec.networkRef.name]).toEqual(['Standby', 2, 'testnet'])
  })

  it('declaration.yaml is a valid dry-run WitnessLoss declaration of that network', async () => {
    const [doc] = await loadDocs('examples/declaration.yaml')
    const r = validateResource(doc)
    if (!r.ok) throw new Error(formatErrors(r.errors))
    const d = r.value as DisasterDeclaration
    expect([d.spec.scenario, d.spec.dryRun, d.spec.networkRef.name]).toEqual(['WitnessLoss', true, 'testnet'])
  })

  it('the fixtures use real Ed25519 did:key values', () => {
    for (const did of [...COUNCIL_DIDS, ...OTHER_DIDS]) expect(isEd25519DidKey(did), did).toBe(true)
  })
})

describe('chart', () => {
  it('Chart.yaml is apiVersion v2 and values.yaml satisfies the top level of values.schema.json', async () => {
    const chart = yaml.load(await read('Chart.yaml')) as Record<string, unknown>
    expect(chart.apiVersion).toBe('v2')
    expect(chart.name).toBe('echonet-operator')
    const values = yaml.load(await read('values.yaml')) as Record<string, unknown>
    const schema = JSON.parse(await read('values.schema.json')) as {
      properties: Record<string, unknown>
      required: string[]
    }
    for (const k of Object.keys(values))
      expect(schema.properties, `values.schema.json documents ${k}`).toHaveProperty(k)
    for (const k of schema.required) expect(values, `values.yaml sets ${k}`).toHaveProperty(k)
    expect(values.replicaCount).toBe(1)
    expect(values).toHaveProperty('extraEnv')
    expect((values.serviceMonitor as { enabled: boolean }).enabled).toBe(false)
  })

  it('the security context is restricted (non-root, read-only root, no capabilities, RuntimeDefault seccomp)', async () => {
    const values = yaml.load(await read('values.yaml')) as Record<string, Record<string, unknown>>
    expect(values.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    })
    expect(values.podSecurityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } })
  })

  it('RBAC grants exactly the listed resources, with no wildcards', async () => {
    const rbac = await read('templates/rbac.yaml')
    const lists = (key: string): string[] =>
      [...rbac.matchAll(new RegExp(`^\\s*-?\\s*${key}: \\[(.*)\\]$`, 'gm'))].flatMap((m) =>
        m[1]!.split(',').map((x) => x.trim().replace(/^'|'$/g, '')),
      )
    const resources = new Set(lists('resources'))
    expect([...resources].sort()).toEqual(
      [
        'configmaps',
        'disasterdeclarations',
        'disasterdeclarations/finalizers',
        'disasterdeclarations/status',
        'echonetnetworks',
        'echonetnetworks/finalizers',
        'echonetnetworks/status',
        'events',
        'leases',
        'networkpolicies',
        'persistentvolumeclaims',
        'poddisruptionbudgets',
        'pods',
        'secrets',
        'services',
        'witnesspools',
        'witnesspools/finalizers',
        'witnesspools/scale',
        'witnesspools/status',
      ].sort(),
    )
    expect(new Set(lists('apiGroups'))).toEqual(
      new Set(['echonet.io', '', 'events.k8s.io', 'policy', 'networking.k8s.io', 'coordination.k8s.io']),
    )
    const verbs = new Set(lists('verbs'))
    expect(verbs.has('*')).toBe(false)
    for (const v of ['escalate', 'bind', 'impersonate', 'deletecollection']) expect(verbs.has(v), v).toBe(false)
  })

  it('the Grafana dashboard is valid JSON with a panel for each agreed metric', async () => {
    const dash = JSON.parse(await read('dashboards/echonet-operator.json')) as {
      uid: string
      panels: { id: number; type: string; targets?: { expr: string }[] }[]
    }
    expect(dash.uid).toBe('echonet-operator')
    const ids = dash.panels.map((p) => p.id)
    expect(new Set(ids).size).toBe(ids.length)
    const exprs = dash.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr)
    for (const metric of [
      'echonet_network_finalized_height',
      'echonet_network_power_online',
      'echonet_network_power_needed',
      'echonet_storage_under_replicated_content',
      'controller_runtime_reconcile_total',
      'controller_runtime_reconcile_errors_total',
      'workqueue_depth',
    ]) {
      expect(
        exprs.some((e) => new RegExp(`\\b${metric}\\b`).test(e)),
        metric,
      ).toBe(true)
    }
  })
})
