import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { auditChain, doubleVotesIn, httpChainSource } from '../audit/index.ts'
import type { AuditResult, ChainSource } from '../audit/index.ts'
import { join } from 'node:path'
import type { TestnetState } from './testnet.ts'
import { killNode, nodeStatus, startNode, statusOf, waitFor, waitForHeight } from './testnet.ts'
import { runLoad } from './loadgen.ts'

/**
 * The witness-loss drill on a process testnet: load, kill 1 of 4 (finality continues), kill a
 * second (finality stops: < 2/3 of power), restart both (finality resumes), then invariants
 * checked from the outside: no height with two different blocks on any two nodes, and every
 * event seen final is still final at the same height everywhere.
 */

export interface Step {
  readonly atMs: number
  readonly what: string
}

export interface DrillReport {
  readonly passed: boolean
  readonly timeline: Step[]
  readonly checks: { name: string; ok: boolean; detail: string }[]
  readonly rtoMs: number
  readonly finalizedEventsLost: number
  readonly markdown: string
}

/** Every live node of the testnet as a chain source for the audit (its public API). */
async function liveSources(s: TestnetState): Promise<ChainSource[]> {
  const statuses = await Promise.all(s.nodes.map((n) => nodeStatus(s, n)))
  return s.nodes.filter((_, i) => statuses[i] !== undefined).map((n) => httpChainSource(n.name, n.api))
}

async function genesisOf(s: TestnetState): Promise<unknown> {
  return JSON.parse(await readFile(join(s.dir, 'genesis.json'), 'utf8')) as unknown
}

/**
 * The independent chain audit over every live node: certificates verified against the committee
 * from genesis (no node's hash trusted), events seen final looked up in the verified blocks.
 */
export async function auditTestnet(s: TestnetState, finalEvents?: ReadonlyMap<string, number>): Promise<AuditResult> {
  return auditChain(await genesisOf(s), await liveSources(s), finalEvents !== undefined ? { finalEvents } : {})
}

/**
 * Heights where two live nodes serve two different certified blocks, plus any node whose chain
 * does not verify (reported as a negative height so a caller's "no forks" check fails loudly).
 */
export async function findForks(s: TestnetState): Promise<number[]> {
  const a = await auditTestnet(s)
  if (!a.ok) console.error(`chain audit: ${a.message}`)
  return [
    ...a.forks,
    ...a.sources
      .filter((r) => r.problem !== undefined && r.problem.code !== 'UNREACHABLE')
      .map((r) => -r.problem!.height),
  ]
}

/**
 * Every vote any node saw (their vote logs, `--vote-log`): the slots (validator, epoch, height,
 * round, step) with two different signed block hashes. Empty means nobody double-signed.
 */
export async function doubleVotes(s: TestnetState): Promise<{ votes: number; doubles: string[] }> {
  return doubleVotesIn(s.nodes.map((n) => join(n.dir, 'votes.jsonl')))
}

/** Events seen final (id → height) that are not in the verified block at that height. */
export async function lostEvents(s: TestnetState, finalizedAt: ReadonlyMap<string, number>): Promise<number> {
  return (await auditTestnet(s, finalizedAt)).lostEvents
}

async function height(s: TestnetState, name: string): Promise<number> {
  return (await statusOf(s, name))?.finalizedHeight ?? -1
}

/** The checks table and the timeline of a drill report (Markdown). */
export function checksAndTimeline(checks: DrillReport['checks'], timeline: readonly string[]): string {
  return [
    '| check | ok | detail |',
    '|---|---|---|',
    ...checks.map((c) => `| ${c.name} | ${c.ok ? 'yes' : 'NO'} | ${c.detail} |`),
    '',
    '## Timeline',
    '',
    ...timeline.map((t) => `- ${t}`),
    '',
  ].join('\n')
}

export async function runDrill(s: TestnetState, outDir = s.dir): Promise<DrillReport> {
  const t0 = Date.now()
  const timeline: Step[] = []
  const note = (what: string): void => {
    timeline.push({ atMs: Date.now() - t0, what })
  }
  const checks: DrillReport['checks'] = []
  const witnesses = s.nodes.filter((n) => n.role === 'witness').map((n) => n.name)
  const [a, b] = [witnesses[witnesses.length - 1]!, witnesses[witnesses.length - 2]!]
  const observer = witnesses[0]!

  note('load: 200 events/s for 4 s on all witnesses')
  const before = await runLoad(s, { rate: 200, seconds: 4, senders: 16 })
  checks.push({
    name: 'events final before faults',
    ok: before.finalized === before.accepted && before.accepted > 0,
    detail: `${before.finalized}/${before.accepted}, p50 ${before.finalityMs.p50} ms`,
  })

  note(`SIGKILL ${a} (1 of ${witnesses.length} witnesses)`)
  await killNode(s, a)
  const oneDown = await runLoad(s, { rate: 100, seconds: 4, senders: 16, targets: witnesses.filter((w) => w !== a) })
  checks.push({
    name: 'finality continues with 1 witness down',
    ok: oneDown.finalized === oneDown.accepted && oneDown.accepted > 0,
    detail: `${oneDown.finalized}/${oneDown.accepted}`,
  })

  note(`SIGKILL ${b} (2 of ${witnesses.length}: below 2/3 of power)`)
  await killNode(s, b)
  const stuckAt = await height(s, observer)
  await new Promise((r) => setTimeout(r, 4_000))
  const stillAt = await height(s, observer)
  checks.push({
    name: 'no finality without > 2/3 of power',
    ok: stillAt <= stuckAt + 1,
    detail: `height ${stuckAt} → ${stillAt} in 4 s`,
  })

  note(`restart ${a} and ${b}`)
  const restartAt = Date.now()
  await startNode(s, a)
  await startNode(s, b)
  await waitForHeight(s, [observer], stillAt + 2, 60_000)
  const rtoMs = Date.now() - restartAt
  note(`finality resumed after ${rtoMs} ms`)
  await waitFor(
    'restarted witnesses to catch up',
    async () => (await height(s, a)) >= stillAt && (await height(s, b)) >= stillAt,
    60_000,
  )
  const after = await runLoad(s, { rate: 200, seconds: 3, senders: 16 })
  checks.push({
    name: 'finality after restart',
    ok: after.finalized === after.accepted && after.accepted > 0,
    detail: `${after.finalized}/${after.accepted}`,
  })

  const all = new Map([...before.finalizedAt, ...oneDown.finalizedAt, ...after.finalizedAt])
  const lost = await lostEvents(s, all)
  checks.push({
    name: 'no finalized event lost',
    ok: lost === 0,
    detail: `${all.size} events checked on every node, ${lost} missing`,
  })
  const forks = await findForks(s)
  checks.push({
    name: 'no height has two different final blocks',
    ok: forks.length === 0,
    detail: forks.length ? `forks at ${forks.join(',')}` : `checked on ${s.nodes.length} nodes`,
  })
  const standby = s.nodes.find((n) => n.role === 'standby')
  if (standby) {
    const sh = await height(s, standby.name)
    const wh = await height(s, observer)
    checks.push({ name: 'standby follows the chain', ok: sh >= wh - 2, detail: `standby ${sh}, witness ${wh}` })
  }
  const passed = checks.every((c) => c.ok)
  const markdown = [
    `# Drill: witness loss on testnet ${s.chainId}`,
    '',
    `Result: **${passed ? 'PASSED' : 'FAILED'}** — RTO ${rtoMs} ms (restart → finality), finalized events lost: ${lost}.`,
    `Finality before faults: p50 ${before.finalityMs.p50} ms, p99 ${before.finalityMs.p99} ms.`,
    '',
    checksAndTimeline(
      checks,
      timeline.map((t) => `+${(t.atMs / 1000).toFixed(1)} s: ${t.what}`),
    ),
  ].join('\n')
  await mkdir(outDir, { recursive: true })
  await writeFile(join(outDir, 'drill-report.md'), markdown)
  await writeFile(
    join(outDir, 'drill-report.json'),
    JSON.stringify({ passed, timeline, checks, rtoMs, finalizedEventsLost: lost }, null, 2),
  )
  return { passed, timeline, checks, rtoMs, finalizedEventsLost: lost, markdown }
}
