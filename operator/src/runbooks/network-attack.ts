/**
 * Scenario D (seed §2.D, DESIGN §4 "Attack defenses"): a sustained flood or Sybil wave. Pure.
 *
 *   Assess          which nodes are there and answer (the survey)
 *   SubmitToLedger  SetParameters only: the signed declaration onto the ledger (ledger-step.ts)
 *   ApplyDefences   push the declaration's rate limits and blocklist to every node; each node
 *                   validates and persists them and enforces them itself, with their expiry
 *   Hold            while they are in force: push them to nodes that appear later (a new pod of a
 *                   node gets them again), read back what the nodes throttled and refused; ends
 *                   when they lapse (Recovered), or when people resolve the declaration (they are
 *                   lifted from every node first)
 *
 * Limits and entries carry their expiry to the nodes, so they lapse even if the operator is gone.
 * Without durationSeconds they hold until the declaration is resolved (at most UNTIL_RESOLVED_MS).
 * SetParameters (ledger parameters with an expiry: fee multiplier, minimum stake, new-DID weight,
 * committee size, PoSR challenge rate, DHT refresh) goes onto the ledger in SubmitToLedger (the
 * council's signatures over the declaration authorize it there, ADR 0014) and lapses there.
 */
import type { BlocklistRequestEntry, RateLimits } from '@echonet/node/admin'
import type { DisasterAction } from '../api/v1alpha1/types.ts'
import {
  attempt,
  currentStep,
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
import type {
  DefencesRecord,
  Effect,
  EffectOutcome,
  NodeDefences,
  NodeView,
  Observation,
  Runbook,
  RunbookState,
  StepResult,
} from './types.ts'
import { ledgerActions, recordSubmission, submitToLedger, withLedger } from './ledger-step.ts'

export const NETWORK_ATTACK_STEPS = ['Assess', 'SubmitToLedger', 'ApplyDefences', 'Hold'] as const
type StepName = (typeof NETWORK_ATTACK_STEPS)[number]

/** How often Hold looks for new nodes and reads the nodes' counts. */
export const HOLD_POLL_MS = 10_000
/** "Until resolved": the nodes still get an expiry, so nothing stays forever if nobody resolves. */
export const UNTIL_RESOLVED_MS = 30 * 24 * 3600 * 1000

const live = (n: NodeView): n is NodeView & { ip: string } => n.ip !== undefined
const reachableNode = (n: NodeView): n is NodeView & { ip: string } => live(n) && n.status !== undefined
const tag = (n: { node: string; ip: string }): string => `${n.node}@${n.ip}`

/**
 * What the declaration's RateLimits and Blocklist actions mean for a node (pure). Later actions of
 * a kind override earlier ones field by field; blocklists add up.
 */
export function defencesFor(actions: readonly DisasterAction[], startedAtMs: number, reason: string): NodeDefences {
  const until = (seconds: number | undefined): number => startedAtMs + (seconds ?? UNTIL_RESOLVED_MS / 1000) * 1000
  let limits: { set: Partial<RateLimits>; expiresAtMs: number } | undefined
  const blocklist: BlocklistRequestEntry[] = []
  for (const a of actions) {
    if (a.type === 'RateLimits' && a.rateLimits !== undefined) {
      const r = a.rateLimits
      const bucket = (b: { ratePerSecond: number; burst: number } | undefined) =>
        b === undefined ? undefined : { ratePerSec: b.ratePerSecond, burst: b.burst }
      const set: Partial<RateLimits> = {
        ...(limits?.set ?? {}),
        ...(r.perIp !== undefined ? { httpPerIp: bucket(r.perIp)! } : {}),
        ...(r.perPeer !== undefined ? { framesPerPeer: bucket(r.perPeer)! } : {}),
        ...(r.perDid !== undefined ? { eventsPerDid: bucket(r.perDid)! } : {}),
        ...(r.maxConnectionsPerIp !== undefined ? { connectionsPerIp: r.maxConnectionsPerIp } : {}),
      }
      limits = { set, expiresAtMs: until(r.durationSeconds) }
    }
    if (a.type === 'Blocklist' && a.blocklist !== undefined) {
      const b = a.blocklist
      const expiresAtMs = until(b.durationSeconds)
      const entry = (kind: BlocklistRequestEntry['kind'], value: string): BlocklistRequestEntry => ({
        kind,
        value,
        expiresAtMs,
        reason: reason.slice(0, 200),
      })
      for (const v of b.cidrs ?? []) blocklist.push(entry('ip', v))
      for (const v of b.peerIds ?? []) blocklist.push(entry('peer', v))
      for (const v of b.dids ?? []) blocklist.push(entry('did', v))
    }
  }
  return { ...(limits !== undefined ? { limits } : {}), blocklist, reason: reason.slice(0, 200) }
}

function describe(d: NodeDefences): string {
  const parts: string[] = []
  if (d.limits !== undefined) {
    const l = Object.entries(d.limits.set).map(([k, v]) =>
      typeof v === 'number' ? `${k} ${v}` : `${k} ${v.ratePerSec}/s burst ${v.burst}`,
    )
    parts.push(`limits ${l.join(', ')} until ${iso(d.limits.expiresAtMs)}`)
  }
  if (d.blocklist.length > 0) {
    const last = Math.max(...d.blocklist.map((e) => e.expiresAtMs ?? 0))
    parts.push(`${d.blocklist.length} blocklist entries until ${iso(last)}`)
  }
  return parts.join('; ') || 'nothing'
}

function defencesOf(state: RunbookState): DefencesRecord {
  return state.runbook.defences ?? {}
}

function withDefences(state: RunbookState, patch: Partial<DefencesRecord>): RunbookState {
  return remember(state, { defences: { ...defencesOf(state), ...patch } })
}

function reasonOf(obs: Observation): string {
  return `NetworkAttack declaration (${obs.actions.map((a) => a.type).join(', ')})`
}

function pushed(state: RunbookState, obs: Observation): NodeDefences {
  const started = parseIso(defencesOf(state).startedAt) ?? obs.nowMs
  return defencesFor(obs.actions, started, reasonOf(obs))
}

function assess(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  let s = setPhase(state, 'Executing', now, 'assessing the nodes')
  s = startStep(s, 'Assess', now)
  const survey = surveyOf(obs)
  const up = survey.filter((x) => x.reachable).length
  s = remember(s, { survey })
  s = withLedger(s, { actions: ledgerActions(obs.actions) })
  const what = describe(defencesFor(obs.actions, now, reasonOf(obs)))
  if (obs.dryRun) {
    s = finishStep(s, 'Assess', now, 'Succeeded', `dry run; ${up} of ${survey.length} nodes answer`)
    s = remember(s, { touches: obs.nodes.filter(live).map((n) => `would push to ${n.node}: ${what}`) })
    s = skipRest(s, now, 'dry run: nothing pushed')
    return result(setPhase(s, 'Recovered', now, `dry run: would push ${what}`))
  }
  if (up === 0) return result(progress(s, 'Assess', 'no node answers its admin API yet'), [], HOLD_POLL_MS)
  return result(finishStep(s, 'Assess', now, 'Succeeded', `${up} of ${survey.length} nodes answer; will push ${what}`))
}

/** Apply effects for reachable nodes (at their current pod IP) that do not have the defences yet. */
function applyMissing(state: RunbookState, obs: Observation): Effect[] {
  const done = new Set(defencesOf(state).applied ?? [])
  const d = pushed(state, obs)
  return obs.nodes
    .filter(reachableNode)
    .filter((n) => !done.has(tag({ node: n.node, ip: n.ip })))
    .map((n) => ({ kind: 'applyDefences', node: n.node, ip: n.ip, defences: d }))
}

function applyDefences(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  let s = startStep(state, 'ApplyDefences', now)
  if (defencesOf(s).startedAt === undefined) {
    const d = defencesFor(obs.actions, now, reasonOf(obs))
    s = withDefences(s, {
      startedAt: iso(now),
      ...(d.limits !== undefined ? { limitsExpireAt: iso(d.limits.expiresAtMs) } : {}),
      ...(d.blocklist.length > 0
        ? { blocklistExpiresAt: iso(Math.max(...d.blocklist.map((e) => e.expiresAtMs ?? 0))) }
        : {}),
    })
  }
  const effects = applyMissing(s, obs)
  const applied = defencesOf(s).applied?.length ?? 0
  if (effects.length > 0) return result(s, effects, 1_000)
  if (applied === 0) return result(progress(s, 'ApplyDefences', 'no node took the defences yet'), [], 2_000)
  const msg = `${applied} nodes enforce ${describe(pushed(s, obs))}`
  s = finishStep(s, 'ApplyDefences', now, 'Succeeded', msg)
  s = withDefences(s, { message: msg })
  s = setPhase(s, 'Verifying', now, 'defences in force on every node that answers')
  return result(s, [{ kind: 'event', type: 'Normal', reason: 'DefencesApplied', note: msg }])
}

function lapseMs(state: RunbookState): number {
  const d = defencesOf(state)
  return Math.max(parseIso(d.limitsExpireAt) ?? 0, parseIso(d.blocklistExpiresAt) ?? 0)
}

function hold(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  let s = startStep(state, 'Hold', now)
  if (obs.resolveRequested) {
    const d = pushed(s, obs)
    const effects: Effect[] = obs.nodes
      .filter(live)
      .map((n) => ({ kind: 'liftDefences', node: n.node, ip: n.ip, defences: d }))
    const msg = `resolved by people: defences lifted from ${effects.length} nodes`
    s = withDefences(s, { lifted: true, message: msg })
    s = finishStep(s, 'Hold', now, 'Succeeded', msg)
    return result(setPhase(s, 'Recovered', now, msg), [
      ...effects,
      { kind: 'event', type: 'Normal', reason: 'DefencesLifted', note: msg },
    ])
  }
  if (now >= lapseMs(s)) {
    const msg = `the defences lapsed on the nodes at ${iso(lapseMs(s))}`
    s = finishStep(s, 'Hold', now, 'Succeeded', msg)
    s = withDefences(s, { message: `${defencesOf(s).message ?? ''}; ${msg}`.replace(/^; /, '') })
    return result(setPhase(s, 'Recovered', now, msg), [
      { kind: 'event', type: 'Normal', reason: 'DefencesLapsed', note: msg },
    ])
  }
  const read: Effect = {
    kind: 'readDefences',
    nodes: obs.nodes.filter(reachableNode).map((n) => ({ node: n.node, ip: n.ip })),
  }
  // Pods that are gone drop out of the record (it stays bounded); their new pods get the defences.
  const current = new Set(obs.nodes.filter(live).map((n) => tag({ node: n.node, ip: n.ip })))
  const applied = defencesOf(s).applied ?? []
  if (applied.some((t) => !current.has(t))) s = withDefences(s, { applied: applied.filter((t) => current.has(t)) })
  s = progress(s, 'Hold', `in force until ${iso(lapseMs(s))}`)
  return result(s, [...applyMissing(s, obs), read], HOLD_POLL_MS)
}

const STEP_FNS: Record<StepName, StepFn> = {
  Assess: assess,
  SubmitToLedger: submitToLedger,
  ApplyDefences: applyDefences,
  Hold: hold,
}

function step(state: RunbookState, obs: Observation): StepResult {
  return runStep(state, obs, STEP_FNS)
}

function record(state: RunbookState, effect: Effect, outcome: EffectOutcome, nowMs: number): RunbookState {
  switch (effect.kind) {
    case 'submitDeclaration':
      return recordSubmission(state, effect, outcome, nowMs)
    case 'applyDefences': {
      if (!outcome.ok) {
        const s = attempt(state, currentStep(state)?.name ?? 'ApplyDefences')
        return note(s, nowMs, `${effect.node}: defences not taken (${outcome.code}: ${outcome.message}); will retry`)
      }
      const applied = [...new Set([...(defencesOf(state).applied ?? []), tag(effect)])]
      return note(withDefences(state, { applied }), nowMs, `${effect.node}: defences in force`)
    }
    case 'readDefences': {
      const v = outcome.ok
        ? (outcome.value as { throttled?: number; blocked?: number; nodes?: number } | undefined)
        : undefined
      if (v?.throttled === undefined || v.blocked === undefined || v.nodes === undefined) return state
      const d = defencesOf(state)
      const base = d.message?.split(' — ')[0] ?? ''
      return withDefences(state, {
        throttled: v.throttled,
        blocked: v.blocked,
        message: `${base} — ${v.nodes} nodes report ${v.throttled} throttled, ${v.blocked} refused by the blocklist`,
      })
    }
    case 'liftDefences':
      return outcome.ok
        ? state
        : note(state, nowMs, `${effect.node}: could not lift (${outcome.code}); entries lapse at their expiry`)
    default:
      return state
  }
}

export const networkAttackRunbook: Runbook = {
  steps: NETWORK_ATTACK_STEPS,
  supports: ['RateLimits', 'Blocklist', 'SetParameters'],
  initial: () => initialState(NETWORK_ATTACK_STEPS),
  step,
  record,
}
