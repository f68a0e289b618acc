/**
 * What ships, on the local cluster (issue 12, ADR 0012): a node agent in image mode runs the
 * operator pod and every node pod from the OCI archives `make images` built — unpacked layers,
 * chroot, the image's user, read-only root — while the chart is installed pinned to the built
 * digests. The example network must become Ready exactly as with host processes.
 * Needs the local control plane (`e2e/cluster/cluster-up.sh`, KUBECONFIG) and helm; skipped
 * unless run as root (mount namespaces, overlayfs, chroot), as CI runs it.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readlinkSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  installOperator,
  kubectl,
  kubectlJson,
  LocalMachine,
  REPO,
  sh,
  uninstallOperator,
  waitFor,
} from '../lib/cluster-kit.ts'

const suffix = Math.random().toString(36).slice(2, 7)
const OP_NS = `img-op-${suffix}`
const NS = `img-net-${suffix}`
const RELEASE = `img-${suffix}`
const stateDir = mkdtempSync(join(tmpdir(), 'echonet-img-e2e-'))
const imageDir = join(REPO, 'dist', 'images')

interface Built {
  name: string
  tag: string
  digest: string
}
interface PodJson {
  metadata: { name: string; labels?: Record<string, string> }
  spec: { containers: { name: string; image: string }[] }
  status?: {
    conditions?: { type: string; status: string }[]
    containerStatuses?: { name: string; imageID: string; ready: boolean }[]
  }
}
const ready = (p: PodJson): boolean =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false

const isRoot = process.getuid?.() === 0
let machine: LocalMachine | undefined
let built: Record<string, Built> = {}

beforeAll(async () => {
  // Not skipped when it cannot run: image mode needs chroot and mount namespaces, and a suite that
  // silently leaves out what ships would pass for the wrong reason.
  if (!isRoot) throw new Error('image mode needs root (chroot, mount namespaces): run the cluster suite as root')
  execFileSync(join(REPO, 'images', 'build.sh'), [], { stdio: ['ignore', 'ignore', 'inherit'] })
  built = JSON.parse(readFileSync(join(imageDir, 'images.json'), 'utf8')) as Record<string, Built>
  machine = await LocalMachine.start({
    name: `img-${suffix}`,
    podCidr: '127.79.0.0/16',
    labels: { 'echonet.io/machine': `img-${suffix}` },
    stateDir,
    provisioner: true,
    imageDir,
  })
  kubectl(['create', 'namespace', NS])
  const op = built['echonet-operator']!
  const node = built['echonet-node']!
  installOperator({
    release: RELEASE,
    namespace: OP_NS,
    watch: [NS],
    stateDir,
    values: {
      'image.repository': op.name,
      'image.tag': op.tag,
      'image.digest': op.digest,
      'nodeImage.repository': node.name,
      'nodeImage.tag': node.tag,
      'nodeImage.digest': node.digest,
    },
  })
}, 600_000)

afterAll(async () => {
  if (!isRoot) return
  sh('kubectl', ['-n', NS, 'delete', 'echonetnetwork', 'testnet', '--wait=true', '--timeout=90s'])
  sh('kubectl', ['-n', NS, 'wait', '--for=delete', 'secret', '-l', 'app.kubernetes.io/component=node-key'])
  sh('kubectl', ['delete', 'namespace', NS, '--wait=true', '--timeout=90s'])
  uninstallOperator({ release: RELEASE, namespace: OP_NS, stateDir })
  sh('kubectl', ['delete', 'namespace', OP_NS, '--wait=false'])
  await machine?.stop()
  sh('kubectl', ['delete', 'node', `img-${suffix}`, '--ignore-not-found'])
  if (process.env.KEEP_E2E_STATE === undefined) await rm(stateDir, { recursive: true, force: true })
  else console.log(`state kept in ${stateDir}`)
}, 240_000)

/** uid and root directory of a pod's main process, from the agent's pid file and /proc. */
function processOf(pod: string, ns: string): { uid: number; root: string } {
  const pid = machine!.podPids(ns, pod)[0]
  if (pid === undefined) throw new Error(`no process for ${ns}/${pod}`)
  const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1])
  return { uid, root: readlinkSync(`/proc/${pid}/root`) }
}

describe('image mode: the operator and the example network run from the built images', () => {
  it('the operator pod runs from its image (digest, uid 65532, chrooted) and becomes Ready', async () => {
    const pod = await waitFor(
      'operator pod Ready',
      () => (kubectlJson(['-n', OP_NS, 'get', 'pods']) as { items: PodJson[] }).items.find(ready),
      180_000,
    )
    const op = built['echonet-operator']!
    expect(pod.spec.containers[0]!.image).toBe(`${op.name}:${op.tag}@${op.digest}`)
    expect(pod.status!.containerStatuses![0]!.imageID).toBe(`docker.io/${op.name}@${op.digest}`)
    const p = processOf(pod.metadata.name, OP_NS)
    expect(p.uid).toBe(65532)
    expect(p.root).toMatch(/\/containers\/[^/]+\/root\/root$/)
  }, 240_000)

  it('the example network becomes Ready with every node pod from the node image', async () => {
    kubectl(['-n', NS, 'apply', '-f', join(REPO, 'charts/echonet-operator/examples/network.yaml')])
    // Not Ready yet: what the network says, kept so that a timeout shows it.
    const conditions = (): string =>
      kubectl([
        '-n',
        NS,
        'get',
        'echonetnetwork',
        'testnet',
        '-o',
        'jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\\n"}{end}',
      ])
    await waitFor('network Ready', () => /^Ready=True /m.test(conditions()), 600_000, 2000).catch((err: unknown) => {
      console.log(`network conditions at the timeout:\n${conditions()}`)
      console.log(kubectl(['-n', NS, 'get', 'pods', '-o', 'wide']))
      throw err
    })
    const node = built['echonet-node']!
    const pods = (
      kubectlJson(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=echonet-node']) as {
        items: PodJson[]
      }
    ).items
    const byRole = (r: string) => pods.filter((p) => p.metadata.labels?.['echonet.io/role'] === r && ready(p)).length
    expect([byRole('seed'), byRole('witness'), byRole('standby'), byRole('ssn')]).toEqual([3, 4, 2, 6])
    for (const p of pods) {
      const cs = p.status!.containerStatuses!.find((c) => c.name === p.spec.containers[0]!.name)!
      expect(cs.imageID, p.metadata.name).toBe(`docker.io/${node.name}@${node.digest}`)
      const proc = processOf(p.metadata.name, NS)
      expect(proc.uid, p.metadata.name).toBe(65532)
      expect(proc.root, p.metadata.name).toContain(`/pods/${NS}_${p.metadata.name}_`)
    }
    // The network keeps finalizing (read from a witness's public API: the network's status
    // heights are refreshed only every few minutes, ADR 0005).
    const w = (
      kubectlJson(['-n', NS, 'get', 'pods', '-l', 'echonet.io/role=witness']) as {
        items: { status?: { podIP?: string } }[]
      }
    ).items[0]!.status!.podIP!
    const height = async (): Promise<number> =>
      ((await (await fetch(`http://${w}:8080/v1/status`)).json()) as { finalizedHeight: number }).finalizedHeight
    const h0 = await height()
    await waitFor('finalized height moves', async () => (await height()) > h0, 60_000, 1000)
  }, 660_000)
})
