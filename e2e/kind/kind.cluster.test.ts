/**
 * `make kind-up` without Docker (issue 12): what it would install is rendered with the images
 * `make images` built — the chart pinned to their digests — and the local cluster's API server
 * accepts all of it in a server-side dry run (admission, schemas, CEL rules of the CRDs), the
 * example network included. Needs the local control plane (KUBECONFIG) and helm.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import yaml from 'js-yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HELM, kubectl, REPO, sh } from '../lib/cluster-kit.ts'

const suffix = Math.random().toString(36).slice(2, 7)
const OP_NS = `kind-dry-op-${suffix}`
const NET_NS = `kind-dry-net-${suffix}`
let rendered = ''
let built: Record<string, { name: string; tag: string; digest: string }> = {}

beforeAll(() => {
  execFileSync(join(REPO, 'images', 'build.sh'), [], { stdio: ['ignore', 'ignore', 'inherit'] })
  built = JSON.parse(readFileSync(join(REPO, 'dist/images/images.json'), 'utf8')) as typeof built
  rendered = execFileSync(join(REPO, 'e2e/kind/render.sh'), [HELM], {
    env: { ...process.env, ECHONET_KIND_OPERATOR_NS: OP_NS, ECHONET_KIND_NETWORK_NS: NET_NS },
    maxBuffer: 64 << 20,
  }).toString('utf8')
}, 600_000)

afterAll(() => {
  sh('kubectl', ['delete', 'namespace', OP_NS, NET_NS, '--ignore-not-found', '--wait=false'])
})

describe('make kind-up, the steps that need no Docker', () => {
  it('the chart renders with the built images, pinned by digest', () => {
    const op = built['echonet-operator']!
    const node = built['echonet-node']!
    const docs = (yaml.loadAll(rendered) as ({ kind: string; spec?: unknown } | null)[]).filter((d) => d !== null)
    const deploy = docs.find((d) => d.kind === 'Deployment') as {
      spec: { template: { spec: { containers: { image: string; env: { name: string; value?: string }[] }[] } } }
    }
    const c = deploy.spec.template.spec.containers[0]!
    expect(c.image).toBe(`${op.name}:${op.tag}@${op.digest}`)
    expect(c.env.find((e) => e.name === 'ECHONET_NODE_IMAGE')?.value).toBe(`${node.name}:${node.tag}@${node.digest}`)
    expect(docs.filter((d) => d.kind === 'CustomResourceDefinition')).toHaveLength(3)
    // The kind config names the same Kubernetes minor as the local cluster.
    expect(readFileSync(join(REPO, 'e2e/kind/cluster.yaml'), 'utf8')).toContain('kindest/node:v1.33.')
  })

  it('the API server accepts everything kind-up applies (server-side dry run)', () => {
    // A dry run creates nothing, so what the rest lives in must exist: the two namespaces, and
    // the CRDs for the example network (installed as helm would, unless already there).
    kubectl(['create', 'namespace', OP_NS])
    kubectl(['create', 'namespace', NET_NS])
    const out = kubectl(['apply', '--dry-run=server', '-f', '-'], rendered)
    for (const kind of ['customresourcedefinition', 'deployment', 'serviceaccount', 'clusterrole', 'service'])
      expect(out).toMatch(new RegExp(`^${kind}[^ /]*/\\S+ (created|configured|unchanged) \\(server dry run\\)`, 'm'))
    if (sh('kubectl', ['get', 'crd', 'echonetnetworks.echonet.io']).code !== 0)
      kubectl(['apply', '--server-side', '-f', join(REPO, 'charts/echonet-operator/crds')])
    const net = kubectl([
      'apply',
      '--dry-run=server',
      '-n',
      NET_NS,
      '-f',
      join(REPO, 'charts/echonet-operator/examples/network.yaml'),
    ])
    expect(net).toMatch(/echonetnetwork\.echonet\.io\/testnet created \(server dry run\)/)
  })
})
