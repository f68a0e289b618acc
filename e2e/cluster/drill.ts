/**
 * `make up`'s drill: on the local cluster, with the operator (helm) and the example network
 * running, it loads the network, takes away half of the committee by force-deleting two witness
 * pods (below 2/3 of the power), and measures how long the operator's re-created pods take to
 * bring finality back; then it publishes content, deletes an SSN's volume, and waits for the
 * operator to replace it and the storage nodes to repair every body back to k+m shards.
 * Invariants are checked from outside the nodes, across every witness and standby: no finalized
 * event lost, no height with two different blocks. Report: .cluster/drill-report.{md,json}.
 *
 *   node e2e/cluster/drill.ts [--namespace echonet-demo] [--network testnet]
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { checksAndTimeline, findForks, lostEvents } from '../../node-image/src/cli/drill.ts'
import { runLoad } from '../../node-image/src/cli/loadgen.ts'
import { nodeStatus, waitFor } from '../../node-image/src/cli/testnet.ts'
import type { TestnetNode, TestnetState } from '../../node-image/src/cli/testnet.ts'

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

interface PodJson {
  metadata: { name: string; uid: string; labels?: Record<string, string> }
  status?: { podIP?: string; conditions?: { type: string; status: string }[] }
}

export interface ClusterDrillOptions {
  readonly namespace: string
  readonly network: string
  /** Funded testnet accounts in the network's genesis (testnetAccount(0..n-1)). */
  readonly accounts: number
  readonly outDir: string
}

function kubectl(args: string[]): string {
  return execFileSync('kubectl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** kubectl for polling: '' when it fails (e.g. the object is being re-created). */
function poll(args: string[]): string {
  try {
    return kubectl(args)
  } catch {
    return ''
  }
}

/** A field of the network object (a jsonpath), '' when unreadable. */
function networkField(o: ClusterDrillOptions, jsonpath: string): string {
  return poll(['-n', o.namespace, 'get', 'echonetnetwork', o.network, '-o', `jsonpath={${jsonpath}}`])
}

function condition(o: ClusterDrillOptions, type: string): string {
  return networkField(o, `.status.conditions[?(@.type=="${type}")].status`)
}

/** The witnesses and standbys of the network as a testnet view (what loadgen and the checks use). */
function clusterView(o: ClusterDrillOptions): TestnetState {
  const pods = (
    JSON.parse(kubectl(['-n', o.namespace, 'get', 'pods', '-l', `echonet.io/network=${o.network}`, '-o', 'json'])) as {
      items: PodJson[]
    }
  ).items
  const token = Buffer.from(
    kubectl(['-n', o.namespace, 'get', 'secret', `${o.network}-admin-token`, '-o', 'jsonpath={.data.token}']),
    'base64',
  ).toString('utf8')
  const chainId = kubectl(['-n', o.namespace, 'get', 'echonetnetwork', o.network, '-o', 'jsonpath={.spec.networkId}'])
  const nodes: TestnetNode[] = pods.flatMap((p) => {
    const role = p.metadata.labels?.['echonet.io/role']
    const ip = p.status?.podIP
    if ((role !== 'witness' && role !== 'standby') || ip === undefined) return []
    return [
      {
        name: p.metadata.name,
        role,
        ip,
        did: '',
        peerId: '',
        dir: '',
        api: `http://${ip}:8080`,
        admin: `http://${ip}:9090`,
      },
    ]
  })
  nodes.sort((a, b) => (a.name < b.name ? -1 : 1))
  return { chainId, dir: o.outDir, adminToken: token, nodes, accounts: o.accounts }
}

async function finalized(s: TestnetState, name: string): Promise<number> {
  const n = s.nodes.find((x) => x.name === name)
  return n === undefined ? -1 : ((await nodeStatus(s, n))?.finalizedHeight ?? -1)
}

export async function runClusterDrill(o: ClusterDrillOptions): Promise<boolean> {
  const t0 = Date.now()
  const timeline: string[] = []
  const note = (what: string): void => {
    timeline.push(`+${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`)
    console.log(`[drill] ${what}`)
  }
  const checks: { name: string; ok: boolean; detail: string }[] = []
  const s = clusterView(o)
  const witnesses = s.nodes.filter((n) => n.role === 'witness').map((n) => n.name)
  const observer = witnesses[0]
  if (observer === undefined || witnesses.length < 4) throw new Error('the drill needs at least 4 witnesses')

  note(`load: 200 events/s for 4 s on ${witnesses.length} witnesses`)
  const before = await runLoad(s, { rate: 200, seconds: 4, senders: 16 })
  checks.push({
    name: 'events final before faults',
    ok: before.accepted > 0 && before.finalized === before.accepted,
    detail: `${before.finalized}/${before.accepted}, p50 ${before.finalityMs.p50} ms, p99 ${before.finalityMs.p99} ms`,
  })

  const victims = witnesses.slice(-2)
  const h0 = await finalized(s, observer)
  note(`force-delete pods ${victims.join(', ')} (2 of ${witnesses.length}: below 2/3 of the power)`)
  const killedAt = Date.now()
  kubectl(['-n', o.namespace, 'delete', 'pod', ...victims, '--grace-period=0', '--force', '--wait=false'])
  // Watched alongside the recovery, not before it (the RTO clock runs from the deletion).
  const quorumLostSeenP = waitFor(
    'QuorumAvailable=False on the network',
    () => Promise.resolve(condition(o, 'QuorumAvailable') === 'False'),
    30_000,
    200,
  ).then(
    () => true,
    () => false,
  )
  await waitFor('finality to resume', async () => (await finalized(s, observer)) >= h0 + 2, 120_000, 200)
  const rtoMs = Date.now() - killedAt
  note(`finality resumed ${rtoMs} ms after the pods were deleted (operator re-created them)`)
  const quorumLostSeen = await quorumLostSeenP
  // Informational: the operator polls every 10 s and may see the pods back before it sees the loss.
  note(
    quorumLostSeen
      ? 'the operator had reported QuorumAvailable=False'
      : 'the operator did not see the quorum loss (shorter than its 10 s poll)',
  )
  await waitFor('network Ready', () => Promise.resolve(condition(o, 'Ready') === 'True'), 120_000, 500)
  note('network Ready again')
  checks.push({ name: 'finality resumes after losing 2 of 4 witnesses', ok: true, detail: `RTO ${rtoMs} ms` })

  // Content on every SSN (4+2 over 6), to be checked byte for byte after an SSN loses its volume.
  const api = s.nodes.find((n) => n.role === 'witness')?.api ?? ''
  const bodies = [randomBytes(4 << 20), randomBytes(1 << 20), randomBytes(200_000)]
  const cids: string[] = []
  for (const b of bodies) {
    const r = await fetch(`${api}/v1/content`, { method: 'POST', body: b })
    if (r.status !== 201) throw new Error(`publish failed: ${r.status} ${await r.text()}`)
    cids.push(((await r.json()) as { cid: string }).cid)
  }
  note(
    `published ${bodies.length} bodies (${bodies.reduce((a, b) => a + b.length, 0)} bytes), erasure-coded over the SSNs`,
  )

  const pvc = `${o.network}-ssn-1-data`
  const oldPvc = kubectl(['-n', o.namespace, 'get', 'pvc', pvc, '-o', 'jsonpath={.metadata.uid}'])
  note(`delete the volume ${pvc} of a storage node`)
  const pvcAt = Date.now()
  kubectl(['-n', o.namespace, 'delete', 'pvc', pvc, '--wait=false'])
  await waitFor(
    'a fresh SSN volume and a ready pod',
    () => {
      const uid = poll(['-n', o.namespace, 'get', 'pvc', pvc, '-o', 'jsonpath={.metadata.uid}'])
      const text = poll(['-n', o.namespace, 'get', 'pod', `${o.network}-ssn-1`, '-o', 'json'])
      const pod = (text === '' ? {} : JSON.parse(text)) as Partial<PodJson>
      const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
      return Promise.resolve(uid !== '' && uid !== oldPvc && ready)
    },
    120_000,
    500,
  )
  const ssnMs = Date.now() - pvcAt
  note(`SSN replaced with a fresh volume in ${ssnMs} ms`)
  checks.push({ name: 'a lost SSN volume is replaced', ok: true, detail: `${ssnMs} ms to a ready pod on a new volume` })

  await waitFor(
    'full redundancy (no under-replicated content)',
    () => Promise.resolve(networkField(o, '.status.underReplicatedContent') === '0'),
    300_000,
    1_000,
  )
  const repairMs = Date.now() - pvcAt
  note(`full redundancy restored ${repairMs} ms after the volume was deleted`)
  let intact = 0
  for (const [i, cid] of cids.entries()) {
    const r = await fetch(`${api}/v1/content/${cid}`)
    if (r.ok && Buffer.from(await r.arrayBuffer()).equals(bodies[i]!)) intact++
  }
  checks.push({
    name: 'content intact after the SSN volume loss, redundancy restored',
    ok: intact === bodies.length,
    detail: `${intact}/${bodies.length} bodies byte-identical; full redundancy after ${repairMs} ms`,
  })

  const after = await runLoad(clusterView(o), { rate: 200, seconds: 3, senders: 16 })
  checks.push({
    name: 'events final after recovery',
    ok: after.accepted > 0 && after.finalized === after.accepted,
    detail: `${after.finalized}/${after.accepted}`,
  })
  const view = clusterView(o)
  const lost = await lostEvents(view, new Map([...before.finalizedAt, ...after.finalizedAt]))
  checks.push({
    name: 'no finalized event lost',
    ok: lost === 0,
    detail: `${lost} missing on ${view.nodes.length} nodes`,
  })
  const forks = await findForks(view)
  checks.push({
    name: 'no height has two different final blocks',
    ok: forks.length === 0,
    detail: forks.length > 0 ? `forks at ${forks.join(', ')}` : `checked on ${view.nodes.length} nodes`,
  })

  const passed = checks.every((c) => c.ok)
  const md = [
    `# Drill on the local cluster: network ${o.namespace}/${o.network}`,
    '',
    `Result: **${passed ? 'PASSED' : 'FAILED'}** — RTO ${rtoMs} ms (2 of 4 witness pods force-deleted → finality), SSN volume replaced in ${ssnMs} ms, finalized events lost: ${lost}.`,
    '',
    checksAndTimeline(checks, timeline),
  ].join('\n')
  await mkdir(o.outDir, { recursive: true })
  await writeFile(join(o.outDir, 'drill-report.md'), md)
  await writeFile(
    join(o.outDir, 'drill-report.json'),
    JSON.stringify({ passed, rtoMs, ssnMs, lost, checks, timeline }, null, 2),
  )
  console.log(md)
  return passed
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      namespace: { type: 'string', default: 'echonet-demo' },
      network: { type: 'string', default: 'testnet' },
      accounts: { type: 'string', default: '16' },
    },
  })
  const ok = await runClusterDrill({
    namespace: values.namespace,
    network: values.network,
    accounts: Number(values.accounts),
    outDir: join(REPO, '.cluster'),
  })
  process.exit(ok ? 0 : 1)
}
