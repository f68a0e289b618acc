/**
 * Scenario B.5/B.6: the community-shard window of the DataUnavailability runbook. Pure.
 *
 *   AcceptCommunityShards  opens a time-boxed, rate-limited intake window on every SSN that
 *                          answers (PUT /admin/v1/storage/shard-intake): anyone may then submit
 *                          shards of lost content (PUT /v1/content/<cid>/shards/<index>), each kept
 *                          only if it verifies against its ContentID. Only SSNs: they store the
 *                          shards (a submission to any node is placed on an SSN), and witnesses
 *                          keep their spool and hash work for consensus.
 *   hold (every later reconcile, whatever step runs)
 *                          new SSN pods, and SSNs that restarted (a restart closes a node's window),
 *                          get the same window; the counts are read from the nodes' admin status;
 *                          the window closes on every SSN (DELETE) when the declaration is
 *                          Recovered or Failed or people resolve it, and lapses on the nodes at
 *                          its expiry even if the operator is gone. The final counts stay.
 *
 * The step comes before Repair and does not wait for submissions: it is done once the window is
 * open. Repair then runs while the window holds — content below k shards cannot be rebuilt by
 * repair alone, and a verified community shard is what lets the next repair round rebuild it.
 */
import type { AdminStatus } from '@echonet/node/admin'
import { MAX_SHARD_INTAKE_SECONDS } from '@echonet/node/admin'
import type { DisasterAction } from '../../api/v1alpha1/types.ts'
import { answering } from '../ledger-step.ts'
import { attempt, fail, finishStep, iso, note, parseIso, progress, remember, result, startStep } from '../engine.ts'
import type {
  CommunityShardsRecord,
  Effect,
  EffectOutcome,
  NodeView,
  Observation,
  RunbookState,
  ShardCounts,
  StepResult,
} from '../types.ts'

export const COMMUNITY_SHARDS_STEP = 'AcceptCommunityShards'
const STEP = COMMUNITY_SHARDS_STEP
export const COMMUNITY_SHARDS_POLL_MS = 5_000
/** Refusals to open the window before the step fails with the last one. */
export const MAX_OPEN_ATTEMPTS = 10
/** The nodes refuse a window longer than 7 days by their clock: a minute under it, for skew. */
export const MAX_WINDOW_MS = MAX_SHARD_INTAKE_SECONDS * 1000 - 60_000
/** A window shorter than this is not worth opening (the declaration is about to expire). */
export const MIN_WINDOW_MS = 60_000
/** A node reporting the window closed this long after it was opened there has restarted. */
export const REOPEN_GRACE_MS = 30_000

type CommunityShardsAction = NonNullable<DisasterAction['acceptCommunityShards']>
type NodeCounts = NonNullable<CommunityShardsRecord['nodes']>[number]
type Answering = NodeView & { ip: string; status: AdminStatus }

const ZERO: ShardCounts = { accepted: 0, rejected: {}, reuploadsMatched: 0 }

function actionOf(obs: Observation): CommunityShardsAction | undefined {
  const a = obs.actions.find((x) => x.type === 'AcceptCommunityShards')
  return a === undefined
    ? undefined
    : (a.acceptCommunityShards ?? { perIpPerMinute: 30, totalPerMinute: 600, matchReuploads: true })
}

export const shardsOf = (s: RunbookState): CommunityShardsRecord => s.runbook.storage?.communityShards ?? {}
function withShards(s: RunbookState, p: Partial<CommunityShardsRecord>): RunbookState {
  const storage = s.runbook.storage ?? {}
  return remember(s, { storage: { ...storage, communityShards: { ...shardsOf(s), ...p } } })
}

/**
 * The window the declaration asks for, from `startMs`: durationSeconds, else until the signed
 * declaration expires — never unbounded, and never past what the nodes accept.
 */
export function windowFor(
  a: CommunityShardsAction,
  obs: Observation,
  startMs: number,
): { expiresAtMs: number; perIpPerMinute: number; totalPerMinute: number } {
  const asked =
    a.durationSeconds !== undefined ? startMs + a.durationSeconds * 1000 : (obs.expiresAtMs ?? startMs + MAX_WINDOW_MS)
  return {
    expiresAtMs: Math.min(asked, startMs + MAX_WINDOW_MS),
    perIpPerMinute: a.perIpPerMinute,
    totalPerMinute: a.totalPerMinute,
  }
}

// --- counts ------------------------------------------------------------------------------------

function countsOf(st: AdminStatus): ShardCounts {
  return {
    accepted: st.shardIntake?.accepted ?? 0,
    rejected: { ...(st.shardIntake?.rejected ?? {}) },
    reuploadsMatched: st.content?.reuploadsMatched ?? 0,
  }
}

function combine(a: ShardCounts, b: ShardCounts, sign: 1 | -1): ShardCounts {
  const codes = new Set([...Object.keys(a.rejected), ...Object.keys(b.rejected)])
  const rejected = Object.fromEntries(
    [...codes]
      .map((code) => [code, Math.max(0, (a.rejected[code] ?? 0) + sign * (b.rejected[code] ?? 0))] as const)
      .filter(([, n]) => n > 0),
  )
  return {
    accepted: Math.max(0, a.accepted + sign * b.accepted),
    rejected,
    reuploadsMatched: Math.max(0, a.reuploadsMatched + sign * b.reuploadsMatched),
  }
}

/** A counter went down: the node restarted (its counters count since it started). */
function regressed(now: ShardCounts, seen: ShardCounts): boolean {
  return (
    now.accepted < seen.accepted ||
    now.reuploadsMatched < seen.reuploadsMatched ||
    Object.entries(seen.rejected).some(([code, n]) => (now.rejected[code] ?? 0) < n)
  )
}

function describeCounts(c: ShardCounts): string {
  const rej = Object.entries(c.rejected)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([code, n]) => `${code} ${n}`)
  return `${c.accepted} shard(s) accepted, ${rej.length === 0 ? 'none' : rej.join(', ')} rejected, ${c.reuploadsMatched} creator re-upload(s) matched by bodyHash`
}

/**
 * Reads every answering node's counters into the record. A node first seen counts from there; a
 * new pod (another IP) or a restart (a counter went down) carries the old pod's counts over and
 * counts from zero — and has no window until it is opened again.
 */
function observeCounts(cs: CommunityShardsRecord, obs: Observation, matchReuploads: boolean): CommunityShardsRecord {
  let carried = cs.carried ?? ZERO
  const nodes = new Map((cs.nodes ?? []).map((n) => [n.node, n]))
  for (const n of obs.nodes.filter(answering)) {
    const now = countsOf(n.status)
    const prev = nodes.get(n.node)
    if (prev === undefined) nodes.set(n.node, { node: n.node, ip: n.ip, base: now, seen: now })
    else if (prev.ip !== n.ip || regressed(now, prev.seen)) {
      carried = combine(carried, combine(prev.seen, prev.base, -1), 1)
      nodes.set(n.node, { node: n.node, ip: n.ip, base: ZERO, seen: now })
    } else nodes.set(n.node, { ...prev, seen: now })
  }
  let counts = carried
  for (const n of nodes.values()) counts = combine(counts, combine(n.seen, n.base, -1), 1)
  if (!matchReuploads) counts = { ...counts, reuploadsMatched: 0 }
  const openOn = obs.nodes
    .filter((n): n is Answering => n.role === 'ssn' && answering(n) && n.status.shardIntake?.open === true)
    .map((n) => n.node)
  return {
    ...cs,
    nodes: [...nodes.values()].sort((a, b) => a.node.localeCompare(b.node)),
    ...(carried !== ZERO ? { carried } : {}),
    counts,
    openOn,
    message: `open on ${openOn.length} SSN(s) until ${cs.expiresAt ?? '?'}; ${describeCounts(counts)}`,
  }
}

// --- opening -----------------------------------------------------------------------------------

/** Answering SSNs without the window: never opened on this pod, or closed by a restart since. */
function toOpen(cs: CommunityShardsRecord, obs: Observation): Answering[] {
  const byNode = new Map((cs.nodes ?? []).map((n) => [n.node, n]))
  return obs.nodes.filter((n): n is Answering => {
    if (n.role !== 'ssn' || !answering(n)) return false
    const e = byNode.get(n.node)
    const opened = e?.ip === n.ip ? parseIso(e.openedAt) : undefined
    if (opened === undefined) return true
    return n.status.shardIntake?.open === false && obs.nowMs - opened >= REOPEN_GRACE_MS
  })
}

function opens(cs: CommunityShardsRecord, nodes: readonly Answering[]): Effect[] {
  const expiresAtMs = parseIso(cs.expiresAt) ?? 0
  return nodes.map((n) => ({
    kind: 'openShardIntake' as const,
    node: n.node,
    ip: n.ip,
    window: {
      expiresAtMs,
      perIpPerMinute: cs.perIpPerMinute ?? 1,
      totalPerMinute: cs.totalPerMinute ?? 1,
      reason: 'DataUnavailability declaration: community shards (B.5)',
    },
  }))
}

/** What a dry run would do (status.runbook.touches), or nothing without the action. */
export function communityShardsTouch(obs: Observation): string | undefined {
  const a = actionOf(obs)
  if (a === undefined) return undefined
  const w = windowFor(a, obs, obs.nowMs)
  const ssns = obs.nodes.filter((n) => n.role === 'ssn' && n.ip !== undefined).map((n) => n.node)
  return `would open the community-shard window on ${ssns.join(', ') || 'no SSN'} until ${iso(w.expiresAtMs)} (${w.perIpPerMinute} per IP, ${w.totalPerMinute} in total per minute)`
}

export function acceptCommunityShards(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  let s = startStep(state, STEP, now)
  const a = actionOf(obs)
  if (a === undefined) return result(finishStep(s, STEP, now, 'Skipped', 'no AcceptCommunityShards'))
  // Closed while it was still opening (people resolved the declaration): nothing more to open.
  const closed = shardsOf(s).closedAt !== undefined
  if (closed) return result(finishStep(s, STEP, now, 'Succeeded', shardsOf(s).message ?? 'window closed'))
  if (shardsOf(s).openedAt === undefined) {
    const w = windowFor(a, obs, now)
    if (w.expiresAtMs - now < MIN_WINDOW_MS) {
      const why = `the declaration expires at ${iso(w.expiresAtMs)}: no time left for a window`
      return result(finishStep(s, STEP, now, 'Skipped', why))
    }
    s = withShards(s, {
      openedAt: iso(now),
      expiresAt: iso(w.expiresAtMs),
      perIpPerMinute: w.perIpPerMinute,
      totalPerMinute: w.totalPerMinute,
    })
  }
  const cs = observeCounts(shardsOf(s), obs, a.matchReuploads)
  s = withShards(s, cs)
  const ssns = obs.nodes.filter((n) => n.role === 'ssn' && answering(n))
  const todo = toOpen(cs, obs)
  if (ssns.length > 0 && todo.length === 0) {
    const msg = `community-shard window open on ${ssns.length} SSN(s) until ${cs.expiresAt ?? '?'} (${cs.perIpPerMinute ?? '?'} per IP, ${cs.totalPerMinute ?? '?'} in total per minute); repair goes on while it holds`
    return result(finishStep(s, STEP, now, 'Succeeded', msg), [
      { kind: 'event', type: 'Normal', reason: 'CommunityShardsOpen', note: msg },
    ])
  }
  if (ssns.length === 0) return result(progress(s, STEP, 'waiting for an SSN to answer'), [], COMMUNITY_SHARDS_POLL_MS)
  if ((s.steps.find((x) => x.name === STEP)?.attempts ?? 0) >= MAX_OPEN_ATTEMPTS) {
    const why = cs.lastRefusal ?? 'no answer'
    return result(fail(s, STEP, now, `could not open the window on ${todo.map((n) => n.node).join(', ')}: ${why}`))
  }
  s = progress(s, STEP, `opening the window on ${todo.map((n) => n.node).join(', ')}`)
  return result(s, opens(cs, todo), COMMUNITY_SHARDS_POLL_MS)
}

// --- holding and closing -------------------------------------------------------------------------

const DONE: readonly RunbookState['phase'][] = ['Recovered', 'Failed', 'Resolved']

/**
 * Runs after every step of the runbook while the window is open (see the module comment): counts,
 * new pods, and closing. Adds to the step's result; never holds the runbook up.
 */
export function holdCommunityShards(r: StepResult, obs: Observation): StepResult {
  const a = actionOf(obs)
  const before = shardsOf(r.next)
  if (a === undefined || before.openedAt === undefined || before.closedAt !== undefined) return r
  const now = obs.nowMs
  const cs = observeCounts(before, obs, a.matchReuploads)
  let s = withShards(r.next, cs)
  const expires = parseIso(cs.expiresAt) ?? 0
  const closing = DONE.includes(s.phase) || obs.resolveRequested
  if (now >= expires || closing) {
    const ssns = obs.nodes.filter((n): n is NodeView & { ip: string } => n.role === 'ssn' && n.ip !== undefined)
    const lapsed = now >= expires
    const why = lapsed
      ? `lapsed on the nodes at ${cs.expiresAt ?? '?'}`
      : `closed on ${ssns.length} SSN(s): ${obs.resolveRequested ? 'resolved by people' : `the declaration is ${s.phase}`}`
    const msg = `community-shard window ${why}; ${describeCounts(cs.counts ?? ZERO)}`
    s = withShards(s, { closedAt: lapsed ? (cs.expiresAt ?? iso(now)) : iso(now), message: msg })
    s = note(s, now, `${STEP}: ${msg}`)
    const closes: Effect[] = lapsed
      ? []
      : ssns.map((n) => ({ kind: 'closeShardIntake' as const, node: n.node, ip: n.ip }))
    return {
      ...r,
      next: s,
      // An open the step asked for in this same reconcile would come after the decision to close.
      effects: [
        ...r.effects.filter((e) => e.kind !== 'openShardIntake'),
        ...closes,
        { kind: 'event', type: 'Normal', reason: 'CommunityShardsClosed', note: msg },
      ],
    }
  }
  // While the step runs it opens the window itself; afterwards new and restarted SSNs get it here.
  if (s.steps.find((x) => x.name === STEP)?.phase === 'Running') return { ...r, next: s }
  const more = opens(cs, toOpen(cs, obs))
  const requeue = r.requeueAfterMs === 0 ? 0 : Math.min(r.requeueAfterMs, COMMUNITY_SHARDS_POLL_MS)
  return { next: s, effects: [...r.effects, ...more], requeueAfterMs: requeue }
}

/** Records the outcome of an open or a close (the runbook's `record` for those effects). */
export function recordCommunityShards(
  state: RunbookState,
  effect: Extract<Effect, { kind: 'openShardIntake' | 'closeShardIntake' }>,
  outcome: EffectOutcome,
  nowMs: number,
): RunbookState {
  const cs = shardsOf(state)
  const running = state.steps.find((x) => x.name === STEP)?.phase === 'Running'
  if (effect.kind === 'closeShardIntake') {
    if (outcome.ok) return withShards(state, { openOn: (cs.openOn ?? []).filter((n) => n !== effect.node) })
    return note(
      state,
      nowMs,
      `${STEP}: could not close the window on ${effect.node} (${outcome.code}); it lapses there at ${cs.expiresAt ?? '?'}`,
    )
  }
  if (outcome.ok) {
    const nodes = (cs.nodes ?? []).map((n): NodeCounts =>
      n.node === effect.node && n.ip === effect.ip ? { ...n, openedAt: iso(nowMs) } : n,
    )
    const s = withShards(state, {
      nodes,
      openOn: [...new Set([...(cs.openOn ?? []), effect.node])].sort(),
    })
    return running ? s : note(s, nowMs, `${STEP}: window opened on ${effect.node} (${effect.ip})`)
  }
  const refusal = `${effect.node} refused (${outcome.code}): ${outcome.message}`.slice(0, 1024)
  const s = withShards(state, { lastRefusal: refusal })
  if (running) return attempt(progress(s, STEP, `${refusal}; retrying`), STEP)
  // Later (a new pod): retried at the next reconcile; the timeline gets each new refusal once.
  return cs.lastRefusal === refusal ? s : note(s, nowMs, `${STEP}: ${refusal}; retrying`)
}
