/**
 * Scenario A on the local cluster, as a drill with a report (`make up`) or as the benchmark
 * (`make bench`): four machines, the operator from the Helm chart, 7 active witnesses (5 on machine
 * a), 4 standbys, a council-signed standing recovery policy; machine a is lost for good and the
 * operator recovers by itself. The report (Markdown and JSON) has the checks — made from outside
 * the operator: the certified chain read back and verified from genesis, every final event looked
 * up, votes read from the volumes — the timeline and the RTO.
 *
 *   node e2e/cluster/scenario-a-drill.ts                 # make up: leaves the network running
 *   node e2e/cluster/scenario-a-drill.ts --bench --runs 3  # make bench: docs/bench/scenario-a-cluster.*
 */
import { mkdirSync, existsSync, readdirSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { LocalMachine, REPO, kubectl, sh } from '../lib/cluster-kit.ts'
import {
  nodeDids,
  runPolicyRecovery,
  setUpScenarioA,
  signStandingPolicy,
  tearDownScenarioA,
} from '../lib/scenario-a.ts'
import type { RecoveryResult, ScenarioA } from '../lib/scenario-a.ts'

const { values } = parseArgs({
  options: {
    bench: { type: 'boolean' },
    runs: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
})
const bench = values.bench === true
const runs = Number(values.runs)
const clusterDir = process.env.ECHONET_CLUSTER_DIR ?? join(REPO, '.cluster')
const root = join(clusterDir, bench ? 'bench-scenario-a' : 'scenario-a')

interface Check {
  name: string
  ok: boolean
  detail: string
}

function checks(r: RecoveryResult): Check[] {
  const d = r.declaration
  const steps = d.status?.steps ?? []
  return [
    {
      name: 'the operator declared and resolved the disaster with nobody acting',
      ok: d.status?.phase === 'Resolved',
      detail: d.metadata.name,
    },
    {
      name: 'every runbook step succeeded',
      ok: steps.length > 0 && steps.every((x) => x.phase === 'Succeeded'),
      detail: steps.map((x) => `${x.name} ${x.phase}`).join(', '),
    },
    {
      name: 'finality resumed (RTO from the last block before the fault, by the operator)',
      ok: (d.status?.rtoSeconds ?? 0) > 0,
      detail: `${d.status?.rtoSeconds ?? '?'} s; seen by the drill ${((r.resumedAtMs - r.lostAtMs) / 1000).toFixed(1)} s after the machine was lost`,
    },
    {
      name: 'no final event lost (looked up in the verified chain)',
      ok: r.audit.lostEvents === 0,
      detail: `${r.audit.lostEvents} lost; operator says ${d.status?.finalizedEventsLost ?? '?'}`,
    },
    {
      name: 'no fork, every certificate valid (chain verified from genesis)',
      ok: r.audit.forks.length === 0 && r.audit.badCertificates === 0,
      detail: r.audit.message,
    },
    {
      name: 'no witness signed two different votes for one slot',
      ok: r.doubleVotes.doubles.length === 0,
      detail: `${r.doubleVotes.votes} votes read from the volumes`,
    },
    { name: 'the committee has its 7 active witnesses again', ok: r.committee === 7, detail: String(r.committee) },
    {
      name: '4 warm standbys besides the 4 promoted',
      ok: r.standbys.promoted === 4 && (r.standbys.readyReplicas ?? 0) >= 8,
      detail: `promoted ${r.standbys.promoted ?? '?'}, ready ${r.standbys.readyReplicas ?? '?'}`,
    },
  ]
}

function markdown(title: string, runsOut: { r: RecoveryResult; c: Check[] }[]): string {
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? cpus()[0]?.model ?? '?'
  const lines = [
    `# ${title}`,
    '',
    `Machine: ${cpu}, ${cpus().length} cores, Node ${process.version}, ${new Date().toISOString()}; load average at the end ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}.`,
    'The control plane (etcd, kube-apiserver, controller-manager, scheduler), five node agents, two operator replicas and 13 echonet-node processes share these cores.',
    '',
    'Target (DESIGN §8): finality resumes ≤ 30 s after the loss, 0 finalized events lost.',
    '',
    '| run | RTO (operator) s | first epoch-1 block seen by the drill, s after the loss | events lost | checks |',
    '|--:|--:|--:|--:|---|',
    ...runsOut.map(
      ({ r, c }, i) =>
        `| ${i + 1} | ${r.declaration.status?.rtoSeconds ?? '?'} | ${((r.resumedAtMs - r.lostAtMs) / 1000).toFixed(1)} | ${r.audit.lostEvents} | ${
          c.every((x) => x.ok)
            ? 'all passed'
            : `FAILED: ${c
                .filter((x) => !x.ok)
                .map((x) => x.name)
                .join('; ')}`
        } |`,
    ),
    '',
  ]
  const last = runsOut[runsOut.length - 1]
  if (last !== undefined) {
    lines.push('## Checks (last run)', '', '| check | ok | detail |', '|---|---|---|')
    for (const x of last.c) lines.push(`| ${x.name} | ${x.ok ? 'yes' : 'NO'} | ${x.detail.replace(/\|/g, '/')} |`)
    lines.push('', '## What the drill saw', '', ...last.r.notes.map((n) => `- ${n}`), '')
    lines.push(
      '## The declaration (timeline)',
      '',
      ...(last.r.declaration.status?.timeline ?? []).map((t) => `- ${t.time} ${t.event}`),
      '',
    )
    if (last.r.declaration.status?.postMortem !== undefined)
      lines.push('## Post-mortem', '', '```', last.r.declaration.status.postMortem, '```', '')
  }
  return lines.join('\n')
}

/** `make up` again: machines of an earlier drill are stopped and its namespaces removed first. */
async function clearEarlier(): Promise<void> {
  if (!existsSync(root)) return
  for (const d of readdirSync(root).filter((x) => x.startsWith('machine-'))) {
    const dir = join(root, d)
    if (existsSync(join(dir, 'agent.pid'))) await LocalMachine.attach(d, dir).stop()
  }
  for (const ns of kubectl(['get', 'ns', '-o', 'name'])
    .split('\n')
    .filter((n) => n.startsWith('namespace/scenario-a-'))) {
    sh('kubectl', ['delete', ns, '--wait=false'])
  }
  sh('kubectl', ['delete', 'node', '-l', 'echonet.io/local-agent=true', '--wait=false'])
}

async function one(run: number): Promise<{ r: RecoveryResult; c: Check[]; s: ScenarioA }> {
  const dir = join(root, bench ? `run-${run}` : '')
  mkdirSync(dir, { recursive: true })
  const holder: { s?: ScenarioA } = {}
  try {
    const s = await setUpScenarioA(
      { stateDir: dir, cidrBase: 40, detached: !bench, ...(bench ? {} : { suffix: 'demo' }) },
      holder,
    )
    const dids = nodeDids(s)
    signStandingPolicy(
      s,
      [0, 1, 2, 3].map((i) => dids.get(`standbys-${i}`)!),
    )
    console.log(`run ${run}: network up in namespace ${s.ns}; standing policy signed by 2 of 3 council members`)
    const r = await runPolicyRecovery(s, new Map(), {
      podCidr: '127.44.0.0/16',
      stateDir: join(dir, 'machine-a2'),
      detached: !bench,
    })
    return { r, c: checks(r), s }
  } catch (err) {
    if (bench && holder.s !== undefined) await tearDownScenarioA(holder.s)
    throw err
  }
}

if (!bench) await clearEarlier()
const out: { r: RecoveryResult; c: Check[] }[] = []
for (let i = 1; i <= runs; i++) {
  const { r, c, s } = await one(i)
  out.push({ r, c })
  console.log(
    `run ${i}: RTO ${r.declaration.status?.rtoSeconds ?? '?'} s; ${c.filter((x) => x.ok).length}/${c.length} checks passed`,
  )
  if (bench) await tearDownScenarioA(s)
}
const title = bench
  ? 'Scenario A on the local cluster, driven by the operator (benchmark)'
  : 'Drill: scenario A on the local cluster'
const md = markdown(title, out)
const outDir = values.out ?? (bench ? join(REPO, 'docs/bench') : clusterDir)
const base = bench ? 'scenario-a-cluster' : 'drill-report'
mkdirSync(outDir, { recursive: true })
await writeFile(join(outDir, `${base}.md`), md)
await writeFile(
  join(outDir, `${base}.json`),
  JSON.stringify(
    out.map(({ r, c }) => ({
      rtoSeconds: r.declaration.status?.rtoSeconds,
      observedResumeMs: r.resumedAtMs - r.lostAtMs,
      eventsLost: r.audit.lostEvents,
      checks: c,
      timeline: r.declaration.status?.timeline,
      notes: r.notes,
    })),
    null,
    2,
  ),
)
console.log(md)
if (out.some(({ c }) => c.some((x) => !x.ok))) process.exitCode = 1
