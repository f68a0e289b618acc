/**
 * Scenario A drill at the process tier (DESIGN §8): 7 active witnesses, 5 SIGKILLed, 4 standbys.
 * Nobody is awake: before the fault the council signed a standing recovery policy (DESIGN §5) for
 * an agent key. The agent does what the operator's runbook will: it watches the survivors' admin
 * status until they report `halted` (quorum lost), asks the node holding the highest finalized
 * block for the restart plan (2 survivors + 4 promoted standbys), signs it under the policy, hands
 * the record to every live node (each checks the policy's bounds itself), and waits for finality.
 * Target: finality resumes ≤ 30 s after the kill, 0 finalized events lost.
 * Writes docs/bench/scenario-a.{json,md}. Run: `make bench` (or `node node-image/bench/scenario-a.ts`).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  councilSign,
  downTestnet,
  killNode,
  launchTestnet,
  nodeNamed,
  statusOf,
  waitForHalted,
  waitForHeight,
  LOOPBACK_TIMEOUTS,
} from '../src/cli/testnet.ts'
import type { TestnetNode, TestnetState } from '../src/cli/testnet.ts'
import { runLoad } from '../src/cli/loadgen.ts'
import { checksAndTimeline, doubleVotes, findForks, lostEvents } from '../src/cli/drill.ts'
import type { DrillReport, Step } from '../src/cli/drill.ts'
import { AdminClient } from '../src/api/admin-contract.ts'
import type { AdminStatus } from '../src/api/admin-contract.ts'
import { NodeIdentity } from '../src/crypto/identity.ts'
import { COUNCIL_ACTION_DOMAIN, signCouncilAction, signRestartManifest } from '../src/ledger/governance-payloads.ts'
import type { CouncilAction, RestartManifest } from '../src/ledger/governance-payloads.ts'
import type { Did } from '../src/crypto/did.ts'
import { encodeRestartRecord } from '../src/ledger/restart-record.ts'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const killed = ['w0', 'w1', 'w2', 'w3', 'w4']
const newSet = ['w5', 'w6', 's0', 's1', 's2', 's3']

const s: TestnetState = await launchTestnet(
  {
    witnesses: 7,
    standbys: 4,
    accounts: 32,
    ipPrefix: '127.0.31.',
    checkpointInterval: 50,
    voteLog: true,
    timeouts: LOOPBACK_TIMEOUTS,
  },
  { tmpPrefix: 'echonet-scenario-a-', height: 2, timeoutMs: 90_000 },
)
const node = (name: string): TestnetNode => nodeNamed(s, name)
const admin = (name: string): AdminClient => new AdminClient(node(name).admin, s.adminToken, { timeoutMs: 30_000 })
const status = (name: string): Promise<AdminStatus | undefined> => statusOf(s, name)

const t0 = Date.now()
const timeline: Step[] = []
const note = (what: string): void => {
  timeline.push({ atMs: Date.now() - t0, what })
  console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s  ${what}`)
}
const checks: DrillReport['checks'] = []
const finalized = new Map<string, number>()
let rto = { detectMs: 0, adoptMs: 0, resumeMs: 0 }
try {
  // The council's standing recovery policy for the agent (signed ahead of time, 2 of 3 members).
  const agent = NodeIdentity.generate()
  const policy: CouncilAction = {
    domain: COUNCIL_ACTION_DOMAIN,
    chainId: s.chainId,
    nonce: 1,
    expiresAtMs: Date.now() + 24 * 3600_000,
    action: {
      kind: 'standing-recovery-policy',
      agent: agent.did,
      quorumLossSeconds: 3,
      maxPromotions: 4,
      standbys: ['s0', 's1', 's2', 's3'].map((n) => node(n).did as Did),
      allowStateEdits: false,
    },
  }
  const policySignatures = await councilSign(s, ['w0', 'w1'], (id) => signCouncilAction(id.signer, id.did, policy))
  note(
    'council signed a standing recovery policy: the agent may promote up to 4 listed standbys after 3 s without quorum',
  )

  note('load: 200 events/s for 4 s on the 7 witnesses')
  const before = await runLoad(s, { rate: 200, seconds: 4, senders: 16 })
  for (const [id, h] of before.finalizedAt) finalized.set(id, h)
  checks.push({
    name: 'events final before the fault',
    ok: before.finalized === before.accepted && before.accepted > 0,
    detail: `${before.finalized}/${before.accepted}`,
  })

  // Load keeps arriving at the survivors through the fault: it must queue, not be lost.
  const during = runLoad(s, { rate: 50, seconds: 12, senders: 8, targets: ['w5', 'w6'], drainSeconds: 30 })
  await new Promise((r) => setTimeout(r, 1_000))
  const killAt = Date.now()
  note(`SIGKILL ${killed.join(', ')} (5 of 7 witnesses)`)
  await Promise.all(killed.map((n) => killNode(s, n)))

  const halted = await waitForHalted(s, 'w5')
  rto = { ...rto, detectMs: Date.now() - killAt }
  note(`w5 reports halted: ${halted.haltReason ?? ''}`)

  const live = await Promise.all(newSet.map(status))
  const top = live.reduce((a, b) => ((b?.finalizedHeight ?? 0) > (a?.finalizedHeight ?? 0) ? b : a))!
  const holder = newSet[live.indexOf(top)]!
  const manifest = await admin(holder).restartPlan<RestartManifest>(
    newSet.map((n) => node(n).did),
    Date.now() + 10 * 60_000,
  )
  const record = encodeRestartRecord({
    manifest,
    authorization: {
      kind: 'policy',
      policy,
      policySignatures,
      agentSignature: signRestartManifest(agent.signer, agent.did, manifest),
    },
  })
  note(`restart plan from ${holder}: height ${manifest.height}, epoch ${manifest.epoch}; signed by the policy agent`)
  await Promise.all(newSet.map((n) => admin(n).restart(record)))
  rto = { ...rto, adoptMs: Date.now() - killAt }
  note('manifest adopted by the 2 survivors and 4 standbys; waiting for supermajority')
  await waitForHeight(s, newSet, manifest.height + 1, 60_000)
  rto = { ...rto, resumeMs: Date.now() - killAt }
  note(`first block of epoch 1 final: finality resumed ${rto.resumeMs} ms after the kill`)
  checks.push({
    name: 'finality resumed ≤ 30 s after the kill (target)',
    ok: rto.resumeMs <= 30_000,
    detail: `${(rto.resumeMs / 1000).toFixed(1)} s`,
  })

  const queued = await during
  for (const [id, h] of queued.finalizedAt) finalized.set(id, h)
  checks.push({
    name: 'events submitted to the survivors during the outage: final after the restart',
    ok: queued.finalized === queued.accepted,
    detail: `${queued.finalized}/${queued.accepted}`,
  })
  const after = await runLoad(s, { rate: 200, seconds: 4, senders: 16, targets: newSet })
  for (const [id, h] of after.finalizedAt) finalized.set(id, h)
  checks.push({
    name: 'events final on the new committee (2 survivors + 4 promoted standbys)',
    ok: after.finalized === after.accepted && after.accepted > 0,
    detail: `${after.finalized}/${after.accepted}, p50 ${after.finalityMs.p50} ms`,
  })
  const lost = await lostEvents(s, finalized)
  checks.push({ name: 'finalized events lost', ok: lost === 0, detail: String(lost) })
  const forks = await findForks(s)
  checks.push({ name: 'heights with two final blocks', ok: forks.length === 0, detail: JSON.stringify(forks) })
  const dv = await doubleVotes(s)
  checks.push({
    name: 'double-signed vote slots',
    ok: dv.doubles.length === 0,
    detail: `${dv.doubles.length} of ${dv.votes} votes seen`,
  })
} finally {
  await downTestnet(s.dir, true)
}

const cpu = (await readFile('/proc/cpuinfo', 'utf8')).match(/model name\s*:\s*(.*)/)?.[1] ?? cpus()[0]?.model ?? '?'
const machine = { cpu, cores: cpus().length, node: process.version, date: new Date().toISOString(), loadavg: loadavg() }
const ok = checks.every((c) => c.ok)
const md = [
  '# Scenario A drill: 7 witnesses, 5 killed, 4 standbys (process tier)',
  '',
  `Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}; load average at the end ${machine.loadavg.map((x) => x.toFixed(2)).join(' ')}.`,
  '11 node processes on loopback plus the load generator and the recovery agent, all on the same 2 cores.',
  '',
  'Target (DESIGN §8): finality resumes ≤ 30 s after the kill, 0 finalized events lost.',
  '',
  `Result: **${ok ? 'PASSED' : 'FAILED'}**`,
  '',
  '| phase (from the kill) | ms |',
  '|---|--:|',
  `| survivors report halted (quorum lost) | ${rto.detectMs} |`,
  `| manifest planned, signed by the policy agent, adopted by all 6 live nodes | ${rto.adoptMs} |`,
  `| **first block of epoch 1 final (RTO)** | **${rto.resumeMs}** |`,
  '',
  checksAndTimeline(
    checks,
    timeline.map((t) => `${(t.atMs / 1000).toFixed(1)} s — ${t.what}`),
  ),
].join('\n')
await mkdir(join(root, 'docs/bench'), { recursive: true })
await writeFile(join(root, 'docs/bench/scenario-a.md'), md)
await writeFile(
  join(root, 'docs/bench/scenario-a.json'),
  JSON.stringify({ machine, ok, rto, checks, timeline }, null, 2),
)
console.log(md)
if (!ok) process.exitCode = 1
