/**
 * Operator acceptance on the local cluster (issue 4), with the real kubectl and helm: the chart's
 * operator runs as a pod of a local node agent (its own, started here), the example network runs
 * as real echonet-node processes, and every check goes through the API server or the processes.
 * Needs the local control plane (`e2e/cluster/cluster-up.sh`, KUBECONFIG) and helm; fails without.
 */
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, openSync, readFileSync, readdirSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import yaml from 'js-yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encode } from '../../node-image/src/crypto/encoding.ts'
import { NodeIdentity } from '../../node-image/src/crypto/identity.ts'
import type { Did } from '../../node-image/src/crypto/did.ts'
import { encodeEvent, signEvent } from '../../node-image/src/ledger/event.ts'
import { publishAs } from '../../node-image/src/api/publish-client.ts'

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const KUBECONFIG = process.env.KUBECONFIG ?? join(REPO, '.cluster/kubeconfig')
const HELM = join(process.env.ECHONET_BIN_DIR ?? join(homedir(), '.cache/echonet/bin'), 'helm')
const AUDIT_LOG = join(REPO, '.cluster/logs/audit.log')
const suffix = Math.random().toString(36).slice(2, 7)
const NODE = `op-e2e-${suffix}`
const OP_NS = `echonet-op-${suffix}`
const NS = `echonet-net-${suffix}`
// A release name of its own: the chart's ClusterRole is cluster-scoped and named after the release.
const RELEASE = `e2e-${suffix}`
const OPERATOR_SA = `system:serviceaccount:${OP_NS}:${RELEASE}-echonet-operator`
const stateDir = mkdtempSync(join(tmpdir(), 'echonet-op-e2e-'))
const env: NodeJS.ProcessEnv = {
  ...process.env,
  KUBECONFIG,
  HELM_CACHE_HOME: join(stateDir, 'helm/cache'),
  HELM_CONFIG_HOME: join(stateDir, 'helm/config'),
  HELM_DATA_HOME: join(stateDir, 'helm/data'),
}

if (!readFileSync(KUBECONFIG, 'utf8').includes('server:')) throw new Error(`no cluster in ${KUBECONFIG}`)

function run(cmd: string, args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { input, env, encoding: 'utf8', timeout: 120_000 })
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}
function kubectl(args: string[], input?: string): string {
  const r = run('kubectl', args, input)
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}
function helm(args: string[]): string {
  const r = run(HELM, args)
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}
function json(args: string[]): unknown {
  return JSON.parse(kubectl([...args, '-o', 'json']))
}

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 120_000,
) {
  const end = Date.now() + ms
  for (;;) {
    let v: T | undefined | false
    try {
      v = await fn()
    } catch {
      v = undefined
    }
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

interface PodJson {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string }
  status?: {
    podIP?: string
    conditions?: { type: string; status: string }[]
    containerStatuses?: { restartCount: number }[]
  }
}
const ready = (p: PodJson): boolean =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
const pods = (selector: string): PodJson[] =>
  (json(['-n', NS, 'get', 'pods', '-l', selector]) as { items: PodJson[] }).items

function condition(type: string): string | undefined {
  const n = json(['-n', NS, 'get', 'echonetnetwork', 'testnet']) as {
    status?: { conditions?: { type: string; status: string }[] }
  }
  return n.status?.conditions?.find((c) => c.type === type)?.status
}

/**
 * Every running echonet-node process of this agent, by pod name (from the pod directory the
 * agent rewrote its --key path to): the ground truth of "which key is signing where".
 */
function nodeProcesses(): Map<string, number[]> {
  const out = new Map<string, number[]>()
  const marker = `${stateDir}/agent/pods/${NS}_`
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd: string
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue
    } catch {
      continue
    }
    if (!cmd.includes('node-image/src/cli/main.ts')) continue
    const i = cmd.indexOf(marker)
    if (i < 0) continue
    const pod = cmd.slice(i + marker.length).split('_')[0]!
    out.set(pod, [...(out.get(pod) ?? []), Number(pid)])
  }
  return out
}

/** Writes by the operator's service account in [fromMs, toMs], Lease renewals excepted (ADR 0005). */
function operatorWrites(fromMs: number, toMs: number): string[] {
  const out: string[] = []
  for (const line of readFileSync(AUDIT_LOG, 'utf8').split('\n')) {
    if (!line.includes(OPERATOR_SA)) continue
    const e = JSON.parse(line) as {
      stage: string
      verb: string
      user: { username: string }
      objectRef?: { resource?: string; name?: string }
      requestReceivedTimestamp: string
    }
    if (e.stage !== 'ResponseComplete' || e.user.username !== OPERATOR_SA) continue
    if (['get', 'list', 'watch'].includes(e.verb) || e.objectRef?.resource === 'leases') continue
    const t = Date.parse(e.requestReceivedTimestamp)
    if (t >= fromMs && t <= toMs) out.push(`${e.verb} ${e.objectRef?.resource}/${e.objectRef?.name}`)
  }
  return out
}

const account = NodeIdentity.generate()
let agent: ChildProcess | undefined

beforeAll(async () => {
  const log = openSync(join(stateDir, 'agent.log'), 'a')
  agent = spawn(
    process.execPath,
    [join(REPO, 'e2e/agent/main.ts'), '--node-name', NODE, '--state-dir', join(stateDir, 'agent')].concat([
      '--pod-cidr',
      '127.78.0.0/16',
      '--kubeconfig',
      KUBECONFIG,
      '--cpu',
      '32',
      '--memory',
      '64Gi',
    ]),
    { stdio: ['ignore', log, log], env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` } },
  )
  await waitFor(
    `node ${NODE} Ready`,
    () => kubectl(['get', 'node', NODE, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']) === 'True',
  )
  kubectl(['create', 'namespace', NS])
  // The chart as a user installs it; the operator's status heights refresh is raised so that the
  // quiet-period check below cannot coincide with a scheduled height refresh.
  helm(
    ['install', RELEASE, join(REPO, 'charts/echonet-operator'), '-n', OP_NS, '--create-namespace']
      .concat(['--set', 'replicaCount=2', '--set', `watchNamespaces={${NS}}`])
      .concat(['--set', 'extraEnv[0].name=ECHONET_HEIGHT_REFRESH', '--set', 'extraEnv[0].value=30m']),
  )
}, 180_000)

afterAll(async () => {
  // The network first, while the operator still has its RoleBinding in the namespace: it removes
  // the witness-key finalizers once the pods are gone (a namespace deletion would remove the
  // RoleBinding early and leave the keys, and the namespace, stuck).
  run('kubectl', ['-n', NS, 'delete', 'echonetnetwork', 'testnet', '--wait=true', '--timeout=90s'])
  run('kubectl', [
    '-n',
    NS,
    'wait',
    '--for=delete',
    'secret',
    '-l',
    'app.kubernetes.io/component=node-key',
    '--timeout=90s',
  ])
  run('kubectl', ['delete', 'namespace', NS, '--wait=true', '--timeout=90s'])
  run(HELM, ['uninstall', RELEASE, '-n', OP_NS, '--wait', '--timeout', '60s'])
  run('kubectl', ['delete', 'namespace', OP_NS, '--wait=false'])
  if (agent !== undefined && agent.exitCode === null) {
    const exited = new Promise((r) => agent?.once('exit', r))
    agent.kill('SIGTERM')
    await exited
  }
  run('kubectl', ['delete', 'node', NODE, '--ignore-not-found'])
  if (process.env.KEEP_E2E_STATE === undefined) await rm(stateDir, { recursive: true, force: true })
  else console.log(`state kept in ${stateDir}`)
}, 180_000)

describe('operator on the local cluster (helm install, example network)', () => {
  it('helm install runs the operator: two replicas, one leader holding the Lease', async () => {
    const holder = await waitFor('operator leader', () => {
      const ps = (json(['-n', OP_NS, 'get', 'pods']) as { items: PodJson[] }).items
      if (ps.length !== 2 || !ps.every(ready)) return undefined
      const h = kubectl([
        '-n',
        OP_NS,
        'get',
        'lease',
        `${RELEASE}-echonet-operator-leader`,
        '-o',
        'jsonpath={.spec.holderIdentity}',
      ])
      return ps.some((p) => p.metadata.name === h.split('_')[0]) ? h : undefined
    })
    expect(holder.startsWith(`${RELEASE}-echonet-operator-`)).toBe(true)
  })

  it('the example network comes up: 3 seeds, 4 witnesses, 2 standbys, 6 SSNs, Ready, finalizing events', async () => {
    const docs = yaml.loadAll(readFileSync(join(REPO, 'charts/echonet-operator/examples/network.yaml'), 'utf8')) as {
      kind: string
      spec: { genesis?: { accounts?: { did: string; balance: number }[] } }
    }[]
    // The example as shipped, plus one funded account so the test can submit an event.
    docs[0]!.spec.genesis!.accounts = [{ did: account.did, balance: 1_000_000 }]
    kubectl(['-n', NS, 'apply', '-f', '-'], docs.map((d) => yaml.dump(d)).join('---\n'))
    await waitFor('network Ready', () => condition('Ready') === 'True', 240_000)
    const all = pods('app.kubernetes.io/name=echonet-node')
    const byRole = (r: string) => all.filter((p) => p.metadata.labels?.['echonet.io/role'] === r && ready(p)).length
    expect([byRole('seed'), byRole('witness'), byRole('standby'), byRole('ssn')]).toEqual([3, 4, 2, 6])
    for (const c of ['QuorumAvailable', 'ConsensusHalted', 'StorageDegraded', 'DHTDegraded'])
      expect(`${c}=${condition(c)}`).toBe(`${c}=${c === 'QuorumAvailable' ? 'True' : 'False'}`)

    const table = kubectl(['-n', NS, 'get', 'echonet'])
    for (const col of ['READY', 'HEIGHT', 'POWER', 'NEEDED', 'SSNS']) expect(table).toContain(col)
    expect(kubectl(['-n', NS, 'get', 'echonetnetwork', '-o', 'wide'])).toContain('NETWORK-ID')
    expect(kubectl(['explain', 'echonetnetwork.spec'])).toContain('networkId')

    // An event submitted to one witness becomes final and visible at a standby.
    const w = pods('echonet.io/role=witness')[0]!.status!.podIP!
    const sb = pods('echonet.io/role=standby')[0]!.status!.podIP!
    const chainId = kubectl(['-n', NS, 'get', 'echonetnetwork', 'testnet', '-o', 'jsonpath={.spec.networkId}'])
    const to = NodeIdentity.generate().did
    const ev = signEvent(account.signer, account.did, {
      chainId,
      type: 'accounts.transfer',
      nonce: 1,
      fee: 1,
      payload: { to, amount: 42 },
    })
    const res = await fetch(`http://${w}:8080/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cbor' },
      body: encode([encodeEvent(ev)]),
    })
    expect(((await res.json()) as { results: { ok: boolean }[] }).results[0]?.ok).toBe(true)
    await waitFor(
      'transfer final at a standby',
      async () => {
        const r = (await (await fetch(`http://${sb}:8080/v1/accounts/${to}`)).json()) as { balance: number }
        return r.balance === 42
      },
      60_000,
    )
  })

  it('kubectl scale witnesspool/standbys --replicas=3 adds a standby that follows the chain; the pool counts it once the ledger knows its key', async () => {
    kubectl(['-n', NS, 'scale', 'witnesspool/standbys', '--replicas=3'])
    await waitFor('3 ready standbys', () => pods('echonet.io/pool=standbys').filter(ready).length === 3)
    const pool = (jsonpath: string) =>
      kubectl(['-n', NS, 'get', 'witnesspool', 'standbys', '-o', `jsonpath=${jsonpath}`])
    // Honest status (issue 14): a running pod whose key is neither in the committee nor on the
    // standby list cannot be promoted, so it is not a ready standby until its stake is bonded.
    await waitFor(
      'pool Ready=False (UnregisteredKeys)',
      () => pool('{.status.conditions[?(@.type=="Ready")].reason}') === 'UnregisteredKeys',
      60_000,
    )
    expect(pool('{.status.readyReplicas}')).toBe('2')
    const node = pool('{.status.conditions[?(@.type=="Ready")].message}').match(/; (\S+) runs a key/)?.[1]
    expect(node).toBeDefined()
    const did = kubectl([
      '-n',
      NS,
      'get',
      'secrets',
      '-l',
      `app.kubernetes.io/component=node-key,echonet.io/node=${node}`,
      '-o',
      'jsonpath={.items[0].metadata.annotations.echonet\\.io/did}',
    ])
    expect(did).toMatch(/^did:key:z6Mk/)
    // This network has no recovery agent, so the user funds the new key; the node bonds by itself.
    const w = pods('echonet.io/role=witness')[0]!.status!.podIP!
    const chainId = kubectl(['-n', NS, 'get', 'echonetnetwork', 'testnet', '-o', 'jsonpath={.spec.networkId}'])
    const ev = signEvent(account.signer, account.did, {
      chainId,
      type: 'accounts.transfer',
      nonce: 2,
      fee: 1,
      payload: { to: did as Did, amount: 1000 + 10_000 },
    })
    const res = await fetch(`http://${w}:8080/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cbor' },
      body: encode([encodeEvent(ev)]),
    })
    expect(((await res.json()) as { results: { ok: boolean }[] }).results[0]?.ok).toBe(true)
    await waitFor('pool status 3/3, Ready', () => pool('{.status.readyReplicas}') === '3', 120_000)
    await waitFor('pool Ready=True', () => pool('{.status.conditions[?(@.type=="Ready")].status}') === 'True', 60_000)
  })

  it('deleting a witness pod repeatedly never runs two processes with its key at once', async () => {
    const pod = 'testnet-witnesses-1'
    let maxSeen = 0
    let samples = 0
    const sampler = setInterval(() => {
      samples++
      for (const [p, pids] of nodeProcesses()) if (p === pod) maxSeen = Math.max(maxSeen, pids.length)
    }, 50)
    try {
      for (let i = 0; i < 4; i++) {
        const uid = (json(['-n', NS, 'get', 'pod', pod]) as PodJson).metadata.uid
        kubectl(['-n', NS, 'delete', 'pod', pod, '--wait=false'])
        await waitFor(`${pod} re-created (round ${i})`, () => {
          const p = json(['-n', NS, 'get', 'pod', pod]) as PodJson
          return p.metadata.uid !== uid && ready(p)
        })
      }
    } finally {
      clearInterval(sampler)
    }
    console.log(`witness key: ${samples} process samples, at most ${maxSeen} process at a time`)
    expect(samples).toBeGreaterThan(100)
    expect(maxSeen).toBe(1)
    await waitFor('quorum after the deletions', () => condition('QuorumAvailable') === 'True')
  })

  it('a killed SSN process is restarted; a deleted SSN volume gets a fresh pod and volume, repair restores redundancy, Events tell it', async () => {
    // Content on every SSN first (4+2 over 6 SSNs: each body has a shard on each).
    const api = `http://${pods('echonet.io/role=witness')[0]!.status!.podIP!}:8080`
    const bodies = [randomBytes(1 << 20), randomBytes(3 << 20), randomBytes(100_000)]
    const cids: string[] = []
    for (const b of bodies) {
      // Published as the funded test account (the creator pays the registration).
      const r = await publishAs(api, account, b)
      expect(r.status).toBe(201)
      cids.push(((await r.json()) as { cid: string; stored: number }).cid)
    }

    const pod = 'testnet-ssn-2'
    const [pid] = nodeProcesses().get(pod) ?? []
    expect(pid).toBeDefined()
    process.kill(pid!, 'SIGKILL')
    await waitFor('SSN restarted and ready', () => {
      const p = json(['-n', NS, 'get', 'pod', pod]) as PodJson
      return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && ready(p)
    })

    const pvc = 'testnet-ssn-3-data'
    const oldUid = (json(['-n', NS, 'get', 'pvc', pvc]) as PodJson).metadata.uid
    kubectl(['-n', NS, 'delete', 'pvc', pvc, '--wait=false'])
    await waitFor('fresh SSN volume and pod', () => {
      const v = json(['-n', NS, 'get', 'pvc', pvc]) as PodJson
      const p = json(['-n', NS, 'get', 'pod', 'testnet-ssn-3']) as PodJson
      return v.metadata.uid !== oldUid && ready(p)
    })
    const events = () => kubectl(['-n', NS, 'get', 'events', '--field-selector', 'involvedObject.kind=EchoNetNetwork'])
    expect(events()).toMatch(/SsnReplacing.*replacing ssn-3 with a fresh pod and volume/)
    await waitFor('repair asked for', () => /RepairTriggered/.test(events()))
    // Full redundancy again: the SSNs' scans find nothing under-replicated.
    await waitFor(
      'no under-replicated content, storage not degraded',
      () => {
        const st = (
          json(['-n', NS, 'get', 'echonetnetwork', 'testnet']) as { status?: { underReplicatedContent?: number } }
        ).status
        return st?.underReplicatedContent === 0 && condition('StorageDegraded') === 'False'
      },
      180_000,
    )
    for (const [i, cid] of cids.entries()) {
      const r = await fetch(`${api}/v1/content/${cid}`)
      expect(r.status).toBe(200)
      expect(Buffer.from(await r.arrayBuffer()).equals(bodies[i]!)).toBe(true)
    }
  }, 300_000)

  it('nothing changes → no writes by the operator for 60 s (audit log, Lease renewals excepted)', async () => {
    await waitFor('network settled', () => condition('Ready') === 'True' && condition('Progressing') === 'False')
    await new Promise((r) => setTimeout(r, 15_000)) // let in-flight reconciles finish
    const from = Date.now()
    await new Promise((r) => setTimeout(r, 60_000))
    const writes = operatorWrites(from, Date.now())
    expect(writes).toEqual([])
  }, 120_000)

  it('killing the leader mid-reconcile: the other replica takes over and the network converges', async () => {
    const lease = `${RELEASE}-echonet-operator-leader`
    const leader = kubectl(['-n', OP_NS, 'get', 'lease', lease, '-o', 'jsonpath={.spec.holderIdentity}'])
    // A change to reconcile, then the leader's process is killed while it works on it.
    kubectl(['-n', NS, 'scale', 'witnesspool/standbys', '--replicas=2'])
    const leaderPid = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .find((pid) => {
        try {
          return (
            readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('operator/src/main.ts') &&
            readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`POD_NAME=${leader.split('_')[0]}\0`)
          )
        } catch {
          return false
        }
      })
    expect(leaderPid).toBeDefined()
    process.kill(Number(leaderPid), 'SIGKILL')
    const t0 = Date.now()
    const next = await waitFor('a new leader', () => {
      const h = kubectl(['-n', OP_NS, 'get', 'lease', lease, '-o', 'jsonpath={.spec.holderIdentity}'])
      return h !== leader && h !== '' ? h : undefined
    })
    // The killed container restarts at once (as a kubelet does) with a new identity; after the
    // Lease expires either process may win — a fresh process, never the dead one's identity.
    console.log(`leader ${leader} killed; ${next} took over after ${Date.now() - t0} ms`)
    await waitFor('standbys scaled to 2', () => pods('echonet.io/pool=standbys').length === 2)
    await waitFor('network Ready', () => condition('Ready') === 'True')
  }, 180_000)

  it('deleting the network removes its pods, then releases the witness keys (finalizers) once no pod runs', async () => {
    kubectl(['-n', NS, 'delete', 'echonetnetwork', 'testnet', '--wait=false'])
    await waitFor('every node process gone', () => nodeProcesses().size === 0)
    await waitFor('key Secrets gone', () => kubectl(['-n', NS, 'get', 'secrets', '-o', 'name']).trim() === '')
  })
})
