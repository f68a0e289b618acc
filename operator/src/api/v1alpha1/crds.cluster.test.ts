/**
 * Cluster tier (DESIGN §7, tier 3): the CRDs and the Helm chart against a real kube-apiserver with
 * the real kubectl and helm. Needs a running cluster (`e2e/cluster/cluster-up.sh`) and `KUBECONFIG`
 * (default: `<repo>/.cluster/kubeconfig`); helm from `$ECHONET_BIN_DIR` or `~/.cache/echonet/bin`.
 * Needs the local cluster (KUBECONFIG) and helm; fails without them.
 *
 *   e2e/cluster/cluster-up.sh && KUBECONFIG=$PWD/.cluster/kubeconfig npx vitest run operator/src/api/v1alpha1/crds.cluster.test.ts
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CRDS } from './crds.ts'
import { INVALID_CASES, applyMergePatch, validDeclaration, validNetwork, validPool } from './fixtures.ts'
import type { InvalidCase } from './fixtures.ts'
import { REPO_ROOT } from './generate.ts'
import { GROUP } from './schema.ts'
import {
  formatErrors,
  isDisasterDeclaration,
  isEchoNetNetwork,
  isWitnessPool,
  validateDisasterDeclaration,
  validateEchoNetNetwork,
  validateWitnessPool,
} from './validate.ts'

const KUBECONFIG = process.env.KUBECONFIG ?? join(REPO_ROOT, '.cluster/kubeconfig')
const HELM = join(process.env.ECHONET_BIN_DIR ?? join(homedir(), '.cache/echonet/bin'), 'helm')
const CHART = join(REPO_ROOT, 'charts/echonet-operator')
const NS = `echonet-crd-test-${process.pid}`
const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG }
let helmHome: string | undefined
/** Keeps helm's cache and config out of the developer's home (created only when helm runs). */
function helmEnv(): void {
  if (helmHome !== undefined) return
  const home = mkdtempSync(join(tmpdir(), 'echonet-helm-'))
  helmHome = home
  env.HELM_CACHE_HOME = join(home, 'cache')
  env.HELM_CONFIG_HOME = join(home, 'config')
  env.HELM_DATA_HOME = join(home, 'data')
}

interface Run {
  code: number
  stdout: string
  stderr: string
}

function run(cmd: string, args: string[], input?: string): Run {
  const r = spawnSync(cmd, args, { input, env, encoding: 'utf8', timeout: 60_000 })
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}

function kubectl(args: string[], input?: unknown): Run {
  return run('kubectl', args, input === undefined ? undefined : JSON.stringify(input))
}

/** kubectl that must succeed; returns stdout. */
function ok(args: string[], input?: unknown): string {
  const r = kubectl(args, input)
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`)
  return r.stdout
}

function helm(args: string[]): Run {
  helmEnv()
  return run(HELM, args)
}

function clusterReachable(): boolean {
  if (!existsSync(KUBECONFIG)) return false
  return kubectl(['get', '--raw', '/readyz', '--request-timeout=5s']).code === 0
}

// The cluster tier runs only with the local control plane up (make test-cluster starts it); a
// missing cluster or helm is a failure, never a silent skip.
if (!clusterReachable()) {
  throw new Error(`no reachable cluster at KUBECONFIG=${KUBECONFIG}; start it with e2e/cluster/cluster-up.sh`)
}
if (!existsSync(HELM)) throw new Error(`no helm at ${HELM}; build it with e2e/cluster/build-binaries.sh helm`)

const kindOf = (o: Record<string, unknown>): string => String(o.kind).toLowerCase()
const nameOf = (o: Record<string, unknown>): string => (o.metadata as { name: string }).name

describe('CRDs on a real API server', () => {
  beforeAll(() => {
    ok([
      'apply',
      '--server-side',
      '--force-conflicts',
      '--field-manager=echonet-crd-test',
      '-f',
      join(REPO_ROOT, 'crds'),
    ])
    for (const d of CRDS) {
      ok(['wait', '--for=condition=Established', `crd/${d.plural}.${GROUP}`, '--timeout=60s'])
    }
    ok(['create', 'namespace', NS])
  }, 120_000)

  afterAll(() => {
    kubectl(['delete', 'namespace', NS, '--wait=false', '--ignore-not-found'])
  })

  it('the CRDs are installed from crds/ and accepted as structural (NonStructuralSchema absent)', () => {
    for (const d of CRDS) {
      const crd = JSON.parse(ok(['get', 'crd', `${d.plural}.${GROUP}`, '-o', 'json'])) as {
        status: { conditions: { type: string; status: string }[] }
      }
      const types = Object.fromEntries(crd.status.conditions.map((c) => [c.type, c.status]))
      expect(types.Established).toBe('True')
      expect(types.NamesAccepted).toBe('True')
      expect(types).not.toHaveProperty('NonStructuralSchema')
    }
  })

  it('accepts the valid fixtures and defaults them exactly as validate.ts does', () => {
    const cases = [
      { obj: validNetwork(), local: validateEchoNetNetwork(validNetwork()), guard: isEchoNetNetwork },
      { obj: validPool(), local: validateWitnessPool(validPool()), guard: isWitnessPool },
      { obj: validDeclaration(), local: validateDisasterDeclaration(validDeclaration()), guard: isDisasterDeclaration },
    ]
    for (const { obj, local, guard } of cases) {
      const created = JSON.parse(ok(['create', '-n', NS, '--validate=strict', '-o', 'json', '-f', '-'], obj)) as {
        spec: unknown
      }
      if (!local.ok) throw new Error(formatErrors(local.errors))
      expect(created.spec).toEqual(local.value.spec)
      // the object as read from the API server passes the type guard
      expect(guard(created)).toBe(true)
    }
  })

  it('accepts the chart examples (kubectl apply, strict field validation)', () => {
    const ns = `${NS}-examples`
    ok(['create', 'namespace', ns])
    try {
      for (const f of ['network.yaml', 'declaration.yaml']) {
        const r = run('kubectl', ['apply', '-n', ns, '--validate=strict', '-f', join(CHART, 'examples', f)])
        expect(r.stderr).toBe('')
        expect(r.code).toBe(0)
      }
      expect(ok(['get', 'echonet', '-n', ns, '-o', 'name']).trim().split('\n').sort()).toEqual([
        `disasterdeclaration.${GROUP}/witness-loss-drill`,
        `echonetnetwork.${GROUP}/testnet`,
        `witnesspool.${GROUP}/standbys`,
        `witnesspool.${GROUP}/witnesses`,
      ])
    } finally {
      kubectl(['delete', 'namespace', ns, '--wait=false'])
    }
  })

  describe('refuses invalid objects with the readable message', () => {
    it.each(INVALID_CASES.map((c) => [c.name, c] as const))('%s', (_name, c: InvalidCase) => {
      const obj = applyMergePatch(c.object, { metadata: { name: `${nameOf(c.object)}-${INVALID_CASES.indexOf(c)}` } })
      const o = obj as Record<string, unknown>
      if (c.update === undefined && c.statusSteps === undefined) {
        const r = kubectl(['create', '-n', NS, '--validate=strict', '-f', '-'], obj)
        expect(r.code, r.stdout).not.toBe(0)
        expect(r.stderr).toContain(c.message)
        return
      }
      ok(['create', '-n', NS, '--validate=strict', '-f', '-'], obj)
      for (const s of c.statusSteps ?? []) {
        ok([
          'patch',
          '-n',
          NS,
          kindOf(o),
          nameOf(o),
          '--subresource=status',
          '--type=merge',
          '-p',
          JSON.stringify(s.status),
        ])
      }
      const u = c.update!
      const args = ['patch', '-n', NS, kindOf(o), nameOf(o), '--type=merge', '-p', JSON.stringify(u.patch)]
      if (u.subresource !== undefined) args.push(`--subresource=${u.subresource}`)
      const r = kubectl(args)
      expect(r.code, r.stdout).not.toBe(0)
      expect(r.stderr).toContain(c.message)
    })
  })

  it('kubectl explain shows the field descriptions', () => {
    const spec = ok(['explain', 'echonetnetwork.spec'])
    expect(spec).toContain('Desired state of an EchoNet network.')
    expect(spec).toContain('Network (chain) id that every signature and block commits to. Immutable.')
    expect(spec).toMatch(/networkId\s+<string> -required-/)
    const k = ok(['explain', 'echonetnetwork.spec.storage.erasure.k'])
    expect(k).toContain('Data shards per content body')
    const actions = ok(['explain', 'disasterdeclaration.spec.actions.scheduledUpgrade'])
    expect(actions).toContain('Flag height at which the new logic activates.')
    expect(ok(['explain', 'wp.spec.mode'])).toContain('Standby witnesses follow the chain')
  })

  it('kubectl get echonet lists all three kinds with their printer columns', () => {
    ok(['create', '-n', NS, '-f', '-'], validNetwork('columns'))
    ok([
      'patch',
      '-n',
      NS,
      'enn',
      'columns',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          finalizedHeight: 1234,
          certifiedHeight: 1230,
          powerOnline: 3,
          powerNeeded: 3,
          ssnsReady: 6,
          conditions: [
            { type: 'Ready', status: 'True', reason: 'Ready', message: '', lastTransitionTime: '2025-01-02T03:04:05Z' },
          ],
        },
      }),
    ])
    const all = ok(['get', 'echonet', '-n', NS])
    expect(all).toContain(`echonetnetwork.${GROUP}/testnet`)
    expect(all).toContain(`witnesspool.${GROUP}/witnesses`)
    expect(all).toContain(`disasterdeclaration.${GROUP}/witness-loss`)

    const net = ok(['get', 'enn', 'columns', '-n', NS])
    expect(net.split('\n')[0]!.split(/\s+/)).toEqual([
      'NAME',
      'READY',
      'HEIGHT',
      'CERTIFIED',
      'POWER',
      'NEEDED',
      'SSNS',
      'AGE',
    ])
    expect(net.split('\n')[1]!.split(/\s+/).slice(0, 7)).toEqual(['columns', 'True', '1234', '1230', '3', '3', '6'])
    const wide = ok(['get', 'enn', 'columns', '-n', NS, '-o', 'wide'])
    expect(wide.split('\n')[0]).toContain('UNDER-REPLICATED')
    expect(ok(['get', 'wp', '-n', NS]).split('\n')[0]!.split(/\s+/)).toEqual([
      'NAME',
      'NETWORK',
      'MODE',
      'REPLICAS',
      'READY',
      'COMMITTEE',
      'SYNCED',
      'AGE',
    ])
    expect(ok(['get', 'dd', '-n', NS]).split('\n')[0]!.split(/\s+/)).toEqual([
      'NAME',
      'NETWORK',
      'SCENARIO',
      'PHASE',
      'RTO',
      'AGE',
    ])
  })

  it('kubectl scale witnesspool/x updates spec.replicas through the scale subresource', () => {
    ok(['create', '-n', NS, '-f', '-'], validPool('scaled'))
    ok([
      'patch',
      '-n',
      NS,
      'wp',
      'scaled',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: { replicas: 4, selector: 'echonet.io/network=testnet,echonet.io/pool=scaled' },
      }),
    ])
    ok(['scale', '-n', NS, 'witnesspool/scaled', '--replicas=3'])
    expect(ok(['get', '-n', NS, 'wp', 'scaled', '-o', 'jsonpath={.spec.replicas}'])).toBe('3')
    const scale = JSON.parse(
      ok(['get', '--raw', `/apis/${GROUP}/v1alpha1/namespaces/${NS}/witnesspools/scaled/scale`]),
    ) as { spec: { replicas: number }; status: { replicas: number; selector: string } }
    expect(scale.spec.replicas).toBe(3)
    expect(scale.status).toEqual({ replicas: 4, selector: 'echonet.io/network=testnet,echonet.io/pool=scaled' })
    const neg = kubectl(['scale', '-n', NS, 'witnesspool/scaled', '--replicas=-1'])
    expect(neg.code).not.toBe(0)
  })

  it('selectable fields: witness pools by mode and network', () => {
    ok(['create', '-n', NS, '-f', '-'], applyMergePatch(validPool('standby-pool'), { spec: { mode: 'Standby' } }))
    const standby = ok(['get', 'wp', '-n', NS, '--field-selector', 'spec.mode=Standby', '-o', 'name'])
    expect(standby.trim()).toBe(`witnesspool.${GROUP}/standby-pool`)
  })
})

describe('Helm chart', () => {
  const release = `echonet-op-${process.pid}`
  const relNs = `${NS}-helm`

  afterAll(() => {
    helm(['uninstall', release, '-n', relNs, '--ignore-not-found'])
    kubectl(['delete', 'namespace', relNs, '--wait=false', '--ignore-not-found'])
    if (helmHome !== undefined) rmSync(helmHome, { recursive: true, force: true })
  })

  it('helm lint --strict passes', () => {
    const r = helm(['lint', '--strict', CHART])
    expect(r.stdout + r.stderr).toContain('1 chart(s) linted, 0 chart(s) failed')
    expect(r.code).toBe(0)
  })

  it('helm template renders the operator, RBAC, metrics Service and dashboard; ServiceMonitor only when served', () => {
    const r = helm(['template', 'rel', CHART, '--namespace', 'echonet-system'])
    expect(r.code, r.stderr).toBe(0)
    const kinds = [...r.stdout.matchAll(/^kind: (\w+)$/gm)].map((m) => m[1]).sort()
    expect(kinds).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'Deployment',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ])
    const noMon = helm(['template', 'rel', CHART, '--set', 'serviceMonitor.enabled=true'])
    expect(noMon.stdout).not.toContain('kind: ServiceMonitor')
    const mon = helm([
      'template',
      'rel',
      CHART,
      '--set',
      'serviceMonitor.enabled=true',
      '--api-versions',
      'monitoring.coreos.com/v1/ServiceMonitor',
    ])
    expect(mon.stdout).toContain('kind: ServiceMonitor')
    const ns = helm(['template', 'rel', CHART, '--set', 'watchNamespaces={team-a,team-b}'])
    expect(ns.stdout).not.toContain('kind: ClusterRoleBinding')
    expect([...ns.stdout.matchAll(/^kind: RoleBinding$/gm)]).toHaveLength(3)
  })

  it('values.schema.json and the templates refuse bad values', () => {
    expect(helm(['template', 'rel', CHART, '--set', 'replicaCount=-1']).stderr).toContain('replicaCount')
    expect(helm(['template', 'rel', CHART, '--set', 'bogus=1']).code).not.toBe(0)
    const twoNoLease = helm([
      'template',
      'rel',
      CHART,
      '--set',
      'replicaCount=2',
      '--set',
      'leaderElection.enabled=false',
    ])
    expect(twoNoLease.stderr).toContain('replicaCount > 1 needs leaderElection.enabled=true')
  })

  it('helm install --dry-run=server is accepted by the API server', () => {
    ok(['create', 'namespace', relNs])
    const r = helm(['install', release, CHART, '-n', relNs, '--dry-run=server', '--set', 'replicaCount=2'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('kind: Deployment')
  })

  it('an installed chart gives the operator exactly its permissions (kubectl auth can-i)', () => {
    const r = helm(['install', release, CHART, '-n', relNs, '--skip-crds'])
    expect(r.code, r.stderr).toBe(0)
    const sa = `system:serviceaccount:${relNs}:${release}-echonet-operator`
    const can = (verb: string, resource: string, ns = 'anywhere', sub?: string): boolean => {
      const args = ['auth', 'can-i', verb, resource, '-n', ns, `--as=${sa}`]
      if (sub !== undefined) args.push(`--subresource=${sub}`)
      return kubectl(args).stdout.trim() === 'yes'
    }
    expect(can('create', 'pods')).toBe(true)
    expect(can('delete', 'persistentvolumeclaims')).toBe(true)
    expect(can('patch', 'echonetnetworks.echonet.io', 'anywhere', 'status')).toBe(true)
    expect(can('update', 'witnesspools.echonet.io', 'anywhere', 'scale')).toBe(true)
    expect(can('create', 'disasterdeclarations.echonet.io')).toBe(true)
    expect(can('create', 'events.events.k8s.io')).toBe(true)
    expect(can('update', 'leases.coordination.k8s.io', relNs)).toBe(true)
    expect(can('create', 'poddisruptionbudgets.policy')).toBe(true)
    expect(can('create', 'networkpolicies.networking.k8s.io')).toBe(true)
    // not granted
    expect(can('delete', 'echonetnetworks.echonet.io')).toBe(false)
    expect(can('delete', 'secrets')).toBe(false)
    expect(can('get', 'pods', 'anywhere', 'log')).toBe(false)
    expect(can('create', 'pods', 'anywhere', 'exec')).toBe(false)
    expect(can('list', 'nodes')).toBe(false)
    expect(can('create', 'customresourcedefinitions.apiextensions.k8s.io')).toBe(false)
    expect(can('create', 'clusterroles.rbac.authorization.k8s.io')).toBe(false)
    expect(can('create', 'deployments.apps')).toBe(false)
  })
})
