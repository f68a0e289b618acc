/**
 * Scenario B (seed §2.B, DESIGN §1): large-scale storage unavailability or DHT failure. Pure.
 *
 *   Assess           classify from what the nodes report: SSNs lost, seeds lost, content below
 *                    full redundancy (status.runbook.storage)
 *   SubmitToLedger   PausePoSRSlashing: the council-signed declaration puts a storage incident on
 *                    the ledger (no honest SSN is slashed for what the incident destroyed); it
 *                    lapses after its duration or with the declaration (B.2)
 *   RebootstrapDHT   every node gets the seeds that answer now (or the declared ones) as its DHT
 *                    bootstrap peers and re-provides what it holds (B.3)
 *   RepairPriority   the declared ContentIDs go first in every SSN's repair queue (B.4)
 *   AcceptCommunityShards
 *                    a time-boxed, rate-limited community-shard window on every SSN, held (new
 *                    pods get it, counts read) while Repair runs, closed at the end (B.5, B.6;
 *                    data-unavailability/community-shards.ts)
 *   Repair           repair runs on every SSN until none reports content below k + m healthy
 *                    shards and every SSN the network has answers again (the network controller
 *                    replaces lost SSN pods and volumes; repair refills them)
 *
 * Then Verifying → Recovered. Nothing here adds authority: the storage incident is the council's
 * (the nodes check its signatures); the other steps call the nodes' admin APIs.
 */
import type { DhtPeerInfo, RepairRunResult } from '@echonet/node/admin'
import type { DisasterAction } from '../api/v1alpha1/types.ts'
import { P2P_PORT } from '../controllers/shared/ports.ts'
import {
  attempt,
  fail,
  finishStep,
  initialState,
  iso,
  note,
  parseIso,
  progress,
  remember,
  result,
  runStep,
  setPhase,
  skipRest,
  startStep,
  surveyOf,
} from './engine.ts'
import type { StepFn } from './engine.ts'
import { answering, ledgerActions, ledgerOf, recordSubmission, submitToLedger, withLedger } from './ledger-step.ts'
import {
  acceptCommunityShards,
  communityShardsTouch,
  holdCommunityShards,
  recordCommunityShards,
} from './data-unavailability/community-shards.ts'
import type {
  Effect,
  EffectOutcome,
  NodeView,
  Observation,
  Runbook,
  RunbookState,
  StepResult,
  StorageRecord,
} from './types.ts'

export const DATA_UNAVAILABILITY_STEPS = [
  'Assess',
  'SubmitToLedger',
  'RebootstrapDHT',
  'RepairPriority',
  'AcceptCommunityShards',
  'Repair',
] as const
type StepName = (typeof DATA_UNAVAILABILITY_STEPS)[number]

const POLL_MS = 5_000
/** A repair round on every SSN at most this often (a run rebuilds what its SSN leads). */
export const REPAIR_ROUND_MS = 15_000
/** Rounds before the step fails, saying what is still missing. */
export const MAX_REPAIR_ROUNDS = 40
/** Calls of one kind that fail for a transient reason before the step fails. */
const MAX_ATTEMPTS = 20

type Answering = NodeView & { ip: string; status: NonNullable<NodeView['status']> }

const storageOf = (s: RunbookState): StorageRecord => s.runbook.storage ?? {}
const withStorage = (s: RunbookState, p: Partial<StorageRecord>): RunbookState =>
  remember(s, { storage: { ...storageOf(s), ...p } })

function action(obs: Observation, type: DisasterAction['type']): DisasterAction | undefined {
  return obs.actions.find((a) => a.type === type)
}

/** What the nodes report about storage and the DHT, now. */
export function storageView(
  obs: Observation,
): Required<
  Pick<
    StorageRecord,
    'classification' | 'ssns' | 'ssnsReachable' | 'seeds' | 'seedsReachable' | 'underReplicated' | 'quarantined'
  >
> {
  const ssns = obs.nodes.filter((n) => n.role === 'ssn')
  const seeds = obs.nodes.filter((n) => n.role === 'seed')
  const ssnsUp = ssns.filter(answering)
  const seedsUp = seeds.filter(answering)
  const underReplicated = Math.max(0, ...ssnsUp.map((n) => n.status.storage?.underReplicated ?? 0))
  // Corrupt shards the SSNs found (scrub or read) and quarantined: counted per volume since it was
  // created, so only content below full redundancy makes them the incident's cause.
  const quarantined = ssnsUp.reduce((sum, n) => sum + (n.status.storage?.quarantined ?? 0), 0)
  const ssnLoss = ssnsUp.length < ssns.length
  const dhtLoss = seeds.length > 0 && seedsUp.length === 0
  const classification =
    ssnLoss && dhtLoss
      ? 'SSNAndDHTFailure'
      : ssnLoss
        ? 'SSNFailure'
        : dhtLoss
          ? 'DHTFailure'
          : underReplicated > 0
            ? quarantined > 0
              ? 'Corruption'
              : 'UnderReplicated'
            : 'None'
  return {
    classification,
    ssns: ssns.length,
    ssnsReachable: ssnsUp.length,
    seeds: seeds.length,
    seedsReachable: seedsUp.length,
    underReplicated,
    quarantined,
  }
}

function describe(v: ReturnType<typeof storageView>): string {
  return `${v.classification}: ${v.ssnsReachable} of ${v.ssns} SSNs and ${v.seedsReachable} of ${v.seeds} seeds answer; ${v.underReplicated} content below full redundancy; ${v.quarantined} corrupt shard(s) quarantined on the SSNs that answer`
}

function assess(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  let s = setPhase(state, 'Executing', now, 'assessing storage and the DHT')
  s = startStep(s, 'Assess', now)
  const v = storageView(obs)
  const actions = ledgerActions(obs.actions)
  s = remember(s, { survey: surveyOf(obs) })
  s = withLedger(withStorage(s, { ...v, message: describe(v) }), { actions })
  if (obs.dryRun) {
    s = finishStep(s, 'Assess', now, 'Succeeded', `dry run; ${describe(v)}`)
    const window = communityShardsTouch(obs)
    s = remember(s, {
      touches: [
        `would put on the ledger: ${actions.join(', ') || 'nothing'}`,
        ...(window !== undefined ? [window] : []),
      ],
    })
    return result(skipRest(s, now, 'dry run'))
  }
  return result(finishStep(s, 'Assess', now, 'Succeeded', describe(v)), [
    {
      kind: 'event',
      type: v.classification === 'None' ? 'Normal' : 'Warning',
      reason: 'StorageAssessed',
      note: describe(v),
    },
  ])
}

/** The seeds to hand out: the declared multiaddrs, or the network's seed pods that answer. */
export function seedPeers(obs: Observation): DhtPeerInfo[] {
  const declared = action(obs, 'RebootstrapDHT')?.rebootstrapDHT?.seeds
  if (declared !== undefined && declared.length > 0) {
    const byPeer = new Map<string, string[]>()
    for (const addr of declared) {
      const m = /\/p2p\/([^/]+)$/.exec(addr)
      if (m === null) continue
      byPeer.set(m[1]!, [...(byPeer.get(m[1]!) ?? []), addr.slice(0, m.index)])
    }
    return [...byPeer].map(([peerId, addrs]) => ({ peerId, addrs }))
  }
  return obs.nodes
    .filter((n): n is Answering => n.role === 'seed' && answering(n))
    .map((n) => ({ peerId: n.status.peerId, addrs: [`/ip4/${n.ip}/tcp/${P2P_PORT}`] }))
}

function rebootstrapDHT(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  let s = startStep(state, 'RebootstrapDHT', now)
  if (action(obs, 'RebootstrapDHT') === undefined) {
    return result(finishStep(s, 'RebootstrapDHT', now, 'Skipped', 'no RebootstrapDHT'))
  }
  const seeds = seedPeers(obs)
  if (seeds.length === 0) return result(progress(s, 'RebootstrapDHT', 'waiting for a seed to answer'), [], POLL_MS)
  const done = new Set(storageOf(s).rebootstrapped ?? [])
  const todo = obs.nodes.filter((n): n is Answering => n.role !== 'seed' && answering(n) && !done.has(n.node))
  if (todo.length === 0) {
    const msg = `${done.size} node(s) bootstrap from ${seeds.map((x) => x.peerId.slice(-8)).join(', ')} and re-provided what they hold`
    s = withStorage(s, { message: msg })
    return result(finishStep(s, 'RebootstrapDHT', now, 'Succeeded', msg), [
      { kind: 'event', type: 'Normal', reason: 'DHTRebootstrapped', note: msg },
    ])
  }
  if ((s.steps.find((x) => x.name === 'RebootstrapDHT')?.attempts ?? 0) >= MAX_ATTEMPTS) {
    return result(fail(s, 'RebootstrapDHT', now, `could not rebootstrap ${todo.map((n) => n.node).join(', ')}`))
  }
  s = progress(s, 'RebootstrapDHT', `giving ${todo.length} node(s) ${seeds.length} seed(s)`)
  return result(
    s,
    todo.map((n) => ({ kind: 'dhtRebootstrap' as const, node: n.node, ip: n.ip, seeds })),
    POLL_MS,
  )
}

function repairPriority(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  let s = startStep(state, 'RepairPriority', now)
  const cids = action(obs, 'RepairPriority')?.repairPriority?.contentIds ?? []
  if (cids.length === 0) return result(finishStep(s, 'RepairPriority', now, 'Skipped', 'no ContentIDs to put first'))
  const done = new Set(storageOf(s).prioritized ?? [])
  const todo = obs.nodes.filter((n): n is Answering => n.role === 'ssn' && answering(n) && !done.has(n.node))
  if (todo.length === 0 && done.size > 0) {
    const msg = `${cids.length} ContentID(s) first in the repair queue of ${done.size} SSN(s)`
    return result(finishStep(s, 'RepairPriority', now, 'Succeeded', msg))
  }
  if (todo.length === 0) return result(progress(s, 'RepairPriority', 'waiting for an SSN to answer'), [], POLL_MS)
  if ((s.steps.find((x) => x.name === 'RepairPriority')?.attempts ?? 0) >= MAX_ATTEMPTS) {
    return result(fail(s, 'RepairPriority', now, `could not set priorities on ${todo.map((n) => n.node).join(', ')}`))
  }
  // The declared order is the repair order: the first ContentID gets the highest priority.
  const priorities = cids.map((cid, i) => ({ cid, priority: cids.length - i }))
  s = progress(s, 'RepairPriority', `putting ${cids.length} ContentID(s) first on ${todo.length} SSN(s)`)
  return result(
    s,
    todo.map((n) => ({ kind: 'setRepairPriorities' as const, node: n.node, ip: n.ip, priorities })),
    POLL_MS,
  )
}

/**
 * Done when a whole round — one repair run on every SSN the network has, all answering — found
 * nothing below full redundancy and failed nothing. The runs scan as they go, so their answers
 * are fresh; an SSN's last periodic scan may predate the loss and is only shown.
 */
function repair(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  let s = startStep(state, 'Repair', now)
  const { classification: _now, ...v } = storageView(obs)
  s = withStorage(s, v)
  const st = storageOf(s)
  const round = st.round
  const clean =
    round !== undefined &&
    v.ssns > 0 &&
    round.nodes.length === v.ssns &&
    v.ssnsReachable === v.ssns &&
    round.underReplicated === 0 &&
    round.failed === 0
  if (clean) {
    const msg = `a repair round on all ${v.ssns} SSNs found nothing below full redundancy (${st.repairRuns ?? 0} repair run(s), ${st.repairedContent ?? 0} content repaired)`
    s = withStorage(s, { message: msg })
    return result(finishStep(s, 'Repair', now, 'Succeeded', msg), [
      { kind: 'event', type: 'Normal', reason: 'RedundancyRestored', note: msg },
    ])
  }
  const ssns = obs.nodes.filter((n): n is Answering => n.role === 'ssn' && answering(n))
  const last = parseIso(st.lastRepairAt)
  const where =
    round === undefined
      ? describe({ ...v, classification: st.classification ?? 'None' })
      : `last round: ${round.nodes.length} of ${v.ssns} SSNs ran, ${round.underReplicated} content below full redundancy, ${round.failed} failed; ${v.ssnsReachable} of ${v.ssns} SSNs answer`
  s = withStorage(s, { message: where })
  if (ssns.length === 0 || (last !== undefined && now - last < REPAIR_ROUND_MS)) {
    return result(progress(s, 'Repair', `waiting: ${where}`), [], POLL_MS)
  }
  if ((st.repairRuns ?? 0) >= MAX_REPAIR_ROUNDS * Math.max(1, v.ssns)) {
    return result(fail(s, 'Repair', now, `redundancy not restored after ${st.repairRuns ?? 0} repair runs: ${where}`))
  }
  s = withStorage(s, { lastRepairAt: iso(now), round: { nodes: [], underReplicated: 0, failed: 0 } })
  s = progress(s, 'Repair', `repair round on ${ssns.map((n) => n.node).join(', ')}; ${where}`)
  return result(
    s,
    ssns.map((n) => ({ kind: 'storageRepair' as const, node: n.node, ip: n.ip })),
    POLL_MS,
  )
}

const STEP_FNS: Record<StepName, StepFn> = {
  Assess: assess,
  SubmitToLedger: submitToLedger,
  RebootstrapDHT: rebootstrapDHT,
  RepairPriority: repairPriority,
  AcceptCommunityShards: acceptCommunityShards,
  Repair: repair,
}

function finished(state: RunbookState, obs: Observation): StepResult {
  const why = storageOf(state).message ?? ledgerOf(state).message ?? 'done'
  return result(setPhase(state, state.phase === 'Verifying' ? 'Recovered' : 'Verifying', obs.nowMs, why))
}

function step(state: RunbookState, obs: Observation): StepResult {
  return holdCommunityShards(runStep(state, obs, STEP_FNS, undefined, finished), obs)
}

function record(state: RunbookState, effect: Effect, outcome: EffectOutcome, nowMs: number): RunbookState {
  switch (effect.kind) {
    case 'submitDeclaration':
      return recordSubmission(state, effect, outcome, nowMs)
    case 'dhtRebootstrap': {
      const dialled = outcome.ok ? ((outcome.value as { dialled?: number } | undefined)?.dialled ?? 0) : 0
      if (outcome.ok && dialled > 0) {
        const s = withStorage(state, {
          rebootstrapped: [...new Set([...(storageOf(state).rebootstrapped ?? []), effect.node])].sort(),
        })
        return note(s, nowMs, `RebootstrapDHT: ${effect.node} reached ${dialled} seed(s)`)
      }
      const why = outcome.ok ? 'reached none of the seeds' : `${outcome.code}: ${outcome.message}`
      return attempt(progress(state, 'RebootstrapDHT', `${effect.node} ${why}; retrying`), 'RebootstrapDHT')
    }
    case 'setRepairPriorities':
      if (outcome.ok) {
        return withStorage(state, {
          prioritized: [...new Set([...(storageOf(state).prioritized ?? []), effect.node])].sort(),
        })
      }
      return attempt(
        progress(state, 'RepairPriority', `${effect.node}: ${outcome.code} — ${outcome.message}; retrying`),
        'RepairPriority',
      )
    case 'openShardIntake':
    case 'closeShardIntake':
      return recordCommunityShards(state, effect, outcome, nowMs)
    case 'storageRepair': {
      const st = storageOf(state)
      const run = outcome.ok ? (outcome.value as Partial<RepairRunResult> | undefined) : undefined
      const round = st.round ?? { nodes: [], underReplicated: 0, failed: 0 }
      const s = withStorage(state, {
        repairRuns: (st.repairRuns ?? 0) + 1,
        repairedContent: (st.repairedContent ?? 0) + (run?.repaired ?? 0),
        round: outcome.ok
          ? {
              nodes: [...new Set([...round.nodes, effect.node])].sort(),
              underReplicated: Math.max(round.underReplicated, run?.underReplicated ?? 0),
              failed: round.failed + (run?.failed ?? 0),
            }
          : round,
      })
      return outcome.ok ? s : note(s, nowMs, `Repair: ${effect.node} (${outcome.code}): ${outcome.message}`)
    }
    default:
      return state
  }
}

export const dataUnavailabilityRunbook: Runbook = {
  steps: DATA_UNAVAILABILITY_STEPS,
  supports: ['PausePoSRSlashing', 'RebootstrapDHT', 'RepairPriority', 'AcceptCommunityShards'],
  initial: () => initialState(DATA_UNAVAILABILITY_STEPS),
  step,
  record,
}
