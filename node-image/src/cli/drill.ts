import { mkdir, readFile, writeFile } from 'node:fs/promises'
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

async function blockHashAt(api: string, h: number): Promise<string | undefined> {
  try {
    const r = await fetch(`${api}/v1/blocks/${h}`, { signal: AbortSignal.timeout(5_000) })
    if (!r.ok) return undefined
    return ((await r.json()) as { hash: string }).hash
  } catch {
    return undefined
  }
}

/** Compares every height's block hash across all live nodes. Returns the conflicting heights. */
export async function findForks(s: TestnetState): Promise<number[]> {
  const statuses = await Promise.all(s.nodes.map((n) => nodeStatus(s, n)))
  const live = s.nodes.filter((_, i) => statuses[i] !== undefined)
  const top = Math.max(0, ...statuses.map((x) => x?.finalizedHeight ?? 0))
  const forks: number[] = []
  for (let h = 1; h <= top; h++) {
    const hashes = new Set<string>()
    for (const n of live) {
      const hash = await blockHashAt(n.api, h)
      if (hash) hashes.add(hash)
    }
    if (hashes.size > 1) forks.push(h)
  }
  return forks
}

/**
 * Every vote any node saw (their vote logs, `--vote-log`): the slots (validator, epoch, height,
 * round, step) with two different signed block hashes. Empty means nobody double-signed.
 */
export async function doubleVotes(s: TestnetState): Promise<{ votes: number; doubles: string[] }> {
  const slots = new Map<string, Set<string>>()
  let votes = 0
  for (const n of s.nodes) {
    const text = await readFile(join(n.dir, 'votes.jsonl'), 'utf8').catch(() => '')
    for (const line of text.split('\n')) {
      if (!line) continue
      const v = JSON.parse(line) as {
        validator: string
        epoch: number
        height: number
        round: number
        kind: string
        blockHash: string | null
      }
      const key = `${v.validator}/${v.epoch}/${v.height}/${v.round}/${v.kind}`
      const set = slots.get(key) ?? new Set<string>()
      set.add(String(v.blockHash))
      slots.set(key, set)
      votes++
    }
  }
  return { votes, doubles: [...slots].filter(([, set]) => set.size > 1).map(([k]) => k) }
}

/** Events seen final at a height that are no longer in that block on some live node. */
export async function lostEvents(s: TestnetState, finalizedAt: ReadonlyMap<string, number>): Promise<number> {
  const byHeight = new Map<number, string[]>()
  for (const [id, h] of finalizedAt) byHeight.set(h, [...(byHeight.get(h) ?? []), id])
  let lost = 0
  for (const n of s.nodes) {
    if (!(await nodeStatus(s, n))) continue
    for (const [h, ids] of byHeight) {
      try {
        const r = await fetch(`${n.api}/v1/blocks/${h}`, { signal: AbortSignal.timeout(5_000) })
        const b = (await r.json()) as { eventIds?: string[] }
        const have = new Set(b.eventIds ?? [])
        lost += ids.filter((id) => !have.has(id)).length
      } catch {
        lost += ids.length
      }
    }
  }
  return lost
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
