/**
 * Image changes never take the network down (issue 9, deliverable 3), on the local cluster: the
 * chart's operator runs the example network (3 seeds, 6 SSNs with 4+2 erasure coding, 4 witnesses,
 * 2 standbys) as real echonet-node processes; its pod template is changed — the witness pool's
 * resources, then the node image's tag (the agent maps images to programs ignoring the tag, so
 * `echonet/echonet-node:other-tag` runs the same program) — and the operator must roll the change
 * out pod by pod within the BFT and erasure budgets (ADR 0020).
 *
 * What is measured comes from outside the operator: a separate observer process
 * (e2e/lib/finality-observer.ts) polls every witness's and standby's public API for the finalized
 * height and lists the pods once a second; afterwards the certified chain is read back and the
 * proposers' block times checked too. Finality must never stop for longer than one consensus
 * round's timeouts, and every pod must end up with the new template.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import yaml from 'js-yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_TIMEOUTS } from '../../node-image/src/consensus/engine.ts'
import { decode } from '../../node-image/src/crypto/encoding.ts'
import type { ChainPage } from '../../node-image/src/audit/index.ts'
import {
  KUBECONFIG,
  LocalMachine,
  REPO,
  installOperator,
  kubectl,
  kubectlJson,
  networkNodes,
  sh,
  uninstallOperator,
  waitFor,
} from '../lib/cluster-kit.ts'
import { NETWORK, waitForReadyExplained } from '../lib/scenario-a.ts'

if (!existsSync(KUBECONFIG) || !readFileSync(KUBECONFIG, 'utf8').includes('server:'))
  throw new Error(`no cluster in ${KUBECONFIG}`)

const suffix = Math.random().toString(36).slice(2, 7)
const NS = `echonet-rollout-${suffix}`
const OP_NS = `echonet-rollout-op-${suffix}`
const RELEASE = `ro-${suffix}`
const stateDir = mkdtempSync(join(tmpdir(), 'echonet-rollout-'))
const OBSERVED = join(stateDir, 'observed.jsonl')
/**
 * Timeouts of one consensus round (propose + prevote + precommit). A rollout takes one witness of
 * four down at a time; a height whose round-0 proposer is that witness is decided in round 1, so
 * finality pauses for at most one round's timeouts plus the time any height takes. The limit is
 * therefore ROUND_TIMEOUT_MS + the network's normal block interval (the longest gap measured while
 * all four witnesses were up: in the quiet baseline and between witness replacements). Two
 * witnesses down would stop finality until one came back (tens of seconds; a halt is 10 s).
 */
const ROUND_TIMEOUT_MS = DEFAULT_TIMEOUTS.proposeMs + DEFAULT_TIMEOUTS.prevoteMs + DEFAULT_TIMEOUTS.precommitMs
let baselineGapMs = 0
const COUNTS: Readonly<Record<string, number>> = { seed: 3, ssn: 6, witness: 4, standby: 2 }
/** The example network's PDBs: one seed, max(1, m-1) = 1 SSN, f = 1 witness; standbys one at a time. */
const BUDGET: Readonly<Record<string, number>> = { seed: 1, ssn: 1, witness: 1, standby: 1 }
const s = { ns: NS }

let machine: LocalMachine | undefined
let observer: ChildProcess | undefined

interface PodJson {
  metadata: {
    name: string
    uid: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    deletionTimestamp?: string
  }
  spec: { containers: { image: string; resources?: { requests?: Record<string, string> } }[] }
  status?: { conditions?: { type: string; status: string }[] }
}
interface NetworkJson {
  metadata: { generation: number }
  status?: {
    rollout?: { updated: number; total: number; waitingFor?: string }
    conditions?: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[]
  }
}
type PodTuple = [name: string, role: string, ready: boolean, terminating: boolean, uid: string, specHash: string]
interface Observed {
  heights: { t: number; height: number }[]
  pods: { t: number; pods: PodTuple[] }[]
}

const podList = (): PodJson[] =>
  (kubectlJson(['-n', NS, 'get', 'pods', '-l', `echonet.io/network=${NETWORK}`]) as { items: PodJson[] }).items
const ready = (p: PodJson): boolean =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true &&
  p.metadata.deletionTimestamp === undefined
const network = (): NetworkJson => kubectlJson(['-n', NS, 'get', 'echonetnetwork', NETWORK]) as NetworkJson
const cond = (n: NetworkJson, type: string) => n.status?.conditions?.find((c) => c.type === type)

function readObserved(): Observed {
  const out: Observed = { heights: [], pods: [] }
  for (const line of readFileSync(OBSERVED, 'utf8').split('\n')) {
    if (line === '') continue
    const x = JSON.parse(line) as { t: number; height?: number; pods?: PodTuple[] }
    if (x.height !== undefined) out.heights.push({ t: x.t, height: x.height })
    if (x.pods !== undefined) out.pods.push({ t: x.t, pods: x.pods })
  }
  return out
}

/** The longest time the highest finalized height stood still within [from, to], and where. */
function longestGap(o: Observed, from: number, to: number): { ms: number; afterHeight: number } {
  let best = { ms: 0, afterHeight: 0 }
  let prev = [...o.heights].reverse().find((h) => h.t <= from)
  for (const h of o.heights.filter((x) => x.t > from && x.t <= to)) {
    if (prev !== undefined && h.t - Math.max(prev.t, from) > best.ms)
      best = { ms: h.t - Math.max(prev.t, from), afterHeight: prev.height }
    prev = h
  }
  if (prev !== undefined && to - prev.t > best.ms) best = { ms: to - prev.t, afterHeight: prev.height }
  return best
}

/** Every pause of finality in [from, to] with the witnesses down around it (observer pod samples). */
function gaps(o: Observed, from: number, to: number): { ms: number; afterHeight: number; witnessDown: string[] }[] {
  const hs = o.heights.filter((h) => h.t >= from - 10_000 && h.t <= to)
  const out: { ms: number; afterHeight: number; witnessDown: string[] }[] = []
  for (let i = 1; i < hs.length; i++) {
    const [a, b] = [hs[i - 1]!, hs[i]!]
    if (b.t <= from) continue
    const down = new Set<string>()
    for (const sample of o.pods.filter((x) => x.t >= a.t - 1_000 && x.t <= b.t + 1_000))
      for (const [name, role, rd, term] of sample.pods) if (role === 'witness' && (!rd || term)) down.add(name)
    out.push({ ms: b.t - Math.max(a.t, from), afterHeight: a.height, witnessDown: [...down].sort() })
  }
  return out
}

const heightAt = (o: Observed, t: number): number => [...o.heights].reverse().find((h) => h.t <= t)?.height ?? 0

/** Per role, the most pods at once that were missing, not Ready or terminating, within [from, to]. */
function maxUnavailable(o: Observed, from: number, to: number): Record<string, number> {
  const worst: Record<string, number> = { seed: 0, ssn: 0, witness: 0, standby: 0 }
  for (const sample of o.pods.filter((x) => x.t >= from && x.t <= to)) {
    for (const role of Object.keys(COUNTS)) {
      const up = sample.pods.filter(([, r, rd, term]) => r === role && rd && !term).length
      worst[role] = Math.max(worst[role] ?? 0, COUNTS[role]! - up)
    }
  }
  return worst
}

/** Largest interval between consecutive certified blocks (proposers' clocks) in [from, to], read from a live voter. */
async function longestBlockInterval(from: number, to: number): Promise<{ ms: number; height: number }> {
  const ip = networkNodes(NS, NETWORK).find((n) => n.role === 'witness' && n.ready && n.ip !== undefined)?.ip
  if (ip === undefined) throw new Error('no live witness')
  let best = { ms: 0, height: 0 }
  let prevTime: number | undefined
  for (let h = Math.max(1, from); h <= to;) {
    const r = await fetch(`http://${ip}:8080/v1/chain?from=${h}&max=256`, { signal: AbortSignal.timeout(10_000) })
    const page = decode(new Uint8Array(await r.arrayBuffer())) as ChainPage
    if (page.items.length === 0) break
    for (const item of page.items) {
      if (item.header.height > to) break
      if (prevTime !== undefined && item.header.timeMs - prevTime > best.ms)
        best = { ms: item.header.timeMs - prevTime, height: item.header.height }
      prevTime = item.header.timeMs
    }
    h = page.items[page.items.length - 1]!.header.height + 1
  }
  return best
}

interface RollingEvent {
  time: number
  role: string
  node: string
}

/**
 * The operator's ReplacingPod Events since `fromMs`, oldest first. The recorder folds a repeated
 * Event into a series (same pod, same note), so the time is the series' last one when it has one.
 */
function replacingEvents(fromMs: number): RollingEvent[] {
  const items = (
    kubectlJson(['-n', NS, 'get', 'events.events.k8s.io']) as {
      items: { reason?: string; note?: string; eventTime?: string; series?: { lastObservedTime?: string } }[]
    }
  ).items
  return items
    .map((e) => ({ e, time: Date.parse(e.series?.lastObservedTime ?? e.eventTime ?? '') }))
    .filter(({ e, time }) => e.reason === 'ReplacingPod' && time >= fromMs - 1_000)
    .map(({ e, time }) => {
      const m = /replacing pod \S+ \((\w+) ([\w-]+)\)/.exec(e.note ?? '')
      return { time, role: m?.[1] ?? '', node: m?.[2] ?? '' }
    })
    .sort((a, b) => a.time - b.time)
}

interface RolloutResult {
  readonly t0: number
  readonly t1: number
  readonly before: Map<string, PodJson>
  readonly after: Map<string, PodJson>
  readonly progressMessages: string[]
}

/** Makes `change`, then waits until every pod named by `expected` was replaced and the rollout is over. */
async function rollOut(what: string, change: () => void, expected: (p: PodJson) => boolean): Promise<RolloutResult> {
  const before = new Map(podList().map((p) => [p.metadata.name, p]))
  const targets = [...before.values()].filter(expected).map((p) => p.metadata.name)
  const progressMessages: string[] = []
  const staleGeneration: string[] = []
  const rolloutStatus: string[] = []
  const t0 = Date.now()
  change()
  await waitFor(
    `${what}: every pod of ${targets.join(', ')} replaced and the rollout over`,
    () => {
      const n = network()
      const p = cond(n, 'Progressing')
      if (p?.reason === 'RollingUpdate') {
        if (progressMessages.at(-1) !== p.message) progressMessages.push(p.message)
        // Checked after the wait (a failed expect here would only be retried).
        if (p.observedGeneration !== n.metadata.generation) staleGeneration.push(p.message)
        if (n.status?.rollout?.total !== 15) rolloutStatus.push(JSON.stringify(n.status?.rollout))
      }
      const now = new Map(podList().map((x) => [x.metadata.name, x]))
      const replaced = targets.every((t) => {
        const x = now.get(t)
        return x !== undefined && x.metadata.uid !== before.get(t)?.metadata.uid && ready(x)
      })
      return replaced && n.status?.rollout === undefined && p?.status === 'False' && cond(n, 'Ready')?.status === 'True'
    },
    900_000,
    1_000,
  )
  const t1 = Date.now()
  expect(staleGeneration, 'Progressing=RollingUpdate carries the generation it was computed for').toEqual([])
  expect(rolloutStatus, 'status.rollout counts all 15 pods while it runs').toEqual([])
  return { t0, t1, before, after: new Map(podList().map((p) => [p.metadata.name, p])), progressMessages }
}

/** The checks and numbers every rollout must give: finality, budgets, the new template everywhere. */
async function judge(what: string, r: RolloutResult, replaced: (p: PodJson) => boolean): Promise<void> {
  await new Promise((res) => setTimeout(res, 2_500)) // the observer's last samples
  const o = readObserved()
  const gap = longestGap(o, r.t0, r.t1)
  const all = gaps(o, r.t0, r.t1)
  const normal = Math.max(baselineGapMs, ...all.filter((g) => g.witnessDown.length === 0).map((g) => g.ms))
  const limit = ROUND_TIMEOUT_MS + normal
  const worst = [...all].sort((a, b) => b.ms - a.ms).slice(0, 5)
  const blocks = await longestBlockInterval(heightAt(o, r.t0), heightAt(o, r.t1))
  const down = maxUnavailable(o, r.t0, r.t1)
  const events = replacingEvents(r.t0)
  console.log(
    [
      `${what}: rolled out in ${((r.t1 - r.t0) / 1000).toFixed(1)} s, heights ${heightAt(o, r.t0)} → ${heightAt(o, r.t1)}`,
      `  longest finality gap seen by the observer: ${gap.ms} ms (after height ${gap.afterHeight}); limit ${limit} ms = round timeouts ${ROUND_TIMEOUT_MS} ms + normal block interval ${normal} ms`,
      `  longest gaps: ${worst.map((g) => `${g.ms} ms after ${g.afterHeight} (${g.witnessDown.join(' ') || 'all witnesses up'})`).join('; ')}`,
      `  longest interval between certified blocks (proposer clocks): ${blocks.ms} ms (before height ${blocks.height})`,
      `  most pods down at once per role: ${JSON.stringify(down)}`,
      `  replacements (Events): ${events.map((e) => e.node).join(', ')}`,
      `  progress seen: ${r.progressMessages.slice(0, 4).join(' | ')}${r.progressMessages.length > 4 ? ` | … (${r.progressMessages.length} messages)` : ''}`,
    ].join('\n'),
  )
  expect(gap.ms).toBeLessThanOrEqual(limit)
  expect(blocks.ms).toBeLessThanOrEqual(limit)
  for (const role of Object.keys(BUDGET)) expect(down[role], role).toBeLessThanOrEqual(BUDGET[role]!)
  // Every pod meant to change was replaced once, with a new template; no other pod was touched.
  for (const [name, p] of r.after) {
    const old = r.before.get(name)!
    if (replaced(old)) {
      expect(p.metadata.uid, name).not.toBe(old.metadata.uid)
      expect(p.metadata.annotations?.['echonet.io/spec-hash'], name).not.toBe(
        old.metadata.annotations?.['echonet.io/spec-hash'],
      )
    } else expect(p.metadata.uid, name).toBe(old.metadata.uid)
  }
  expect(events.map((e) => e.node).sort()).toEqual(
    [...r.before.values()]
      .filter(replaced)
      .map((p) => p.metadata.labels?.['echonet.io/node'])
      .sort(),
  )
  expect(r.progressMessages.length).toBeGreaterThan(0)
  // Nothing looked like a disaster to the operator.
  expect((kubectlJson(['-n', NS, 'get', 'disasterdeclarations']) as { items: unknown[] }).items).toEqual([])
}

beforeAll(async () => {
  machine = await LocalMachine.start({
    name: `rollout-${suffix}`,
    podCidr: '127.91.0.0/16',
    labels: {},
    stateDir: join(stateDir, 'machine'),
    provisioner: true,
  })
  kubectl(['create', 'namespace', NS])
  // Helm installs a chart's CRDs only when absent: bring the cluster's up to this tree's (status.rollout).
  kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO, 'crds')])
  installOperator({
    release: RELEASE,
    namespace: OP_NS,
    watch: [NS],
    replicas: 1,
    values: { nodePollInterval: '1s' },
    stateDir,
  })
  const docs = yaml.loadAll(readFileSync(join(REPO, 'charts/echonet-operator/examples/network.yaml'), 'utf8'))
  kubectl(['-n', NS, 'apply', '-f', '-'], docs.map((d) => yaml.dump(d)).join('---\n'))
  await waitForReadyExplained(s, 300_000)
  const log = openSync(join(stateDir, 'observer.log'), 'a')
  observer = spawn(
    process.execPath,
    [join(REPO, 'e2e/lib/finality-observer.ts'), '--namespace', NS, '--network', NETWORK, '--out', OBSERVED],
    {
      stdio: ['ignore', log, log],
      env: { ...process.env, KUBECONFIG, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    },
  )
  await waitFor('the observer sees finality', () => existsSync(OBSERVED) && readObserved().heights.length >= 3, 60_000)
}, 420_000)

afterAll(async () => {
  if (observer !== undefined && observer.exitCode === null) observer.kill('SIGTERM')
  sh('kubectl', ['-n', NS, 'delete', 'echonetnetwork', NETWORK, '--wait=true', '--timeout=90s'])
  sh('kubectl', [
    '-n',
    NS,
    'wait',
    '--for=delete',
    'secret',
    '-l',
    'app.kubernetes.io/component=node-key',
    '--timeout=90s',
  ])
  uninstallOperator({ release: RELEASE, namespace: OP_NS, stateDir })
  await machine?.stop()
  sh('kubectl', ['delete', 'namespace', NS, OP_NS, '--wait=false'])
  if (machine !== undefined) sh('kubectl', ['delete', 'node', machine.name, '--ignore-not-found'])
  if (process.env.KEEP_E2E_STATE === undefined) await rm(stateDir, { recursive: true, force: true })
  else console.log(`state kept in ${stateDir}`)
}, 240_000)

describe('pod-template changes roll out pod by pod (example network: 3 seeds, 6 SSNs, 4 witnesses, 2 standbys)', () => {
  it('baseline: how long finality pauses when nothing changes', async () => {
    const t0 = Date.now()
    await new Promise((r) => setTimeout(r, 30_000))
    const o = readObserved()
    baselineGapMs = longestGap(o, t0, Date.now()).ms
    console.log(`baseline (30 s, nothing changing): longest finality gap ${baselineGapMs} ms`)
    expect(baselineGapMs).toBeLessThan(ROUND_TIMEOUT_MS)
  }, 60_000)

  it('the witness pool gets resources: its 4 witnesses are replaced one at a time, finality never pauses longer than a round', async () => {
    const isWitness = (p: PodJson): boolean => p.metadata.labels?.['echonet.io/role'] === 'witness'
    const r = await rollOut(
      'witness resources',
      () =>
        kubectl([
          '-n',
          NS,
          'patch',
          'witnesspool',
          'witnesses',
          '--type=merge',
          '-p',
          JSON.stringify({ spec: { resources: { requests: { cpu: '50m', memory: '128Mi' } } } }),
        ]),
      isWitness,
    )
    await judge('witness resources', r, isWitness)
    for (const p of [...r.after.values()].filter(isWitness))
      expect(p.spec.containers[0]?.resources?.requests).toEqual({ cpu: '50m', memory: '128Mi' })
  }, 900_000)

  it('the node image tag changes: all 15 pods are replaced, non-voters first, witnesses last and one at a time', async () => {
    const image = 'echonet/echonet-node:other-tag'
    const r = await rollOut(
      'node image',
      () =>
        kubectl([
          '-n',
          NS,
          'patch',
          'echonetnetwork',
          NETWORK,
          '--type=merge',
          '-p',
          JSON.stringify({ spec: { image } }),
        ]),
      () => true,
    )
    await judge('node image', r, () => true)
    for (const p of r.after.values()) expect(p.spec.containers[0]?.image, p.metadata.name).toBe(image)
    // Standbys prove the template first, then seeds, SSNs, and the committee last.
    const order = replacingEvents(r.t0).map((e) => e.role)
    const rank = { standby: 0, seed: 1, ssn: 2, witness: 3 } as Record<string, number>
    expect(order.map((x) => rank[x])).toEqual([...order.map((x) => rank[x])].sort())
  }, 1_200_000)
})
