/** RestoreResilience and the post-mortem that resolves the declaration (pure). */
import { finishStep, iso, progress, remember, setPhase, startStep } from '../engine.ts'
import type { Effect, Observation, RunbookState, StepResult } from '../types.ts'
import { RESILIENCE_TIMEOUT_MS, manifestOf, result, event } from './common.ts'

/** What restoring resilience means for this network now (pure). */
export function resiliencePlan(
  state: RunbookState,
  obs: Observation,
): {
  rekey: string[]
  retire: string[]
  promoted: string[]
  activeWanted: number
  standbysWanted: number
} {
  // The committee the restart installed; before it is final (a dry run), the planned set.
  const epoch = manifestOf(state)?.epoch ?? 0
  const committee = new Set(
    obs.committee !== undefined && obs.committee.epoch >= epoch
      ? obs.committee.members.map((m) => m.did)
      : (state.runbook.witnessSet ?? []).map((w) => w.did),
  )
  const activePools = obs.pools.filter((p) => p.mode === 'Active')
  const activeWanted = Math.min(
    activePools.reduce((a, p) => a + p.replicas, 0),
    obs.committeeSize ?? Number.MAX_SAFE_INTEGER,
  )
  const standbysWanted = obs.pools.filter((p) => p.mode === 'Standby').reduce((a, p) => a + p.replicas, 0)
  const set = new Set((state.runbook.witnessSet ?? []).map((w) => w.node))
  const lost = obs.nodes
    .filter((n) => n.poolMode === 'Active' && n.did !== undefined && !committee.has(n.did) && !set.has(n.node))
    .map((n) => n.node)
    .sort()
  const deficit = Math.max(0, activeWanted - committee.size)
  const promoted = obs.nodes
    .filter((n) => n.poolMode === 'Standby' && n.did !== undefined && committee.has(n.did))
    .map((n) => n.node)
    .sort()
  return { rekey: lost.slice(0, deficit), retire: lost.slice(deficit), promoted, activeWanted, standbysWanted }
}

export function restoreResilience(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  let s = startStep(state, 'RestoreResilience', now)
  const plan = resiliencePlan(state, obs)
  const committee = obs.committee?.members.length ?? 0
  const registered = new Set(obs.registeredStandbys)
  const standbys = obs.nodes.filter(
    (n) => n.did !== undefined && registered.has(n.did) && n.status !== undefined,
  ).length
  const summary = `active witnesses ${committee} of ${plan.activeWanted} wanted; live standbys ${standbys} of ${plan.standbysWanted} wanted`
  const record = { activeWanted: plan.activeWanted, committee, standbysWanted: plan.standbysWanted, standbys }
  if (obs.dryRun) {
    const what = `dry run: would give ${plan.rekey.join(', ') || 'no node'} a fresh key; retire ${plan.retire.join(', ') || 'none'}; add standbys for ${plan.promoted.join(', ') || 'none'}`
    const done = finishStep(
      remember(s, { resilience: { ...record, message: what } }),
      'RestoreResilience',
      now,
      'Skipped',
      what,
    )
    return result(setPhase(done, 'Resolved', now, 'dry run complete: nothing was changed'))
  }
  if (committee >= plan.activeWanted && standbys >= plan.standbysWanted) {
    const done = finishStep(
      remember(s, { resilience: { ...record, message: summary } }),
      'RestoreResilience',
      now,
      'Succeeded',
      summary,
    )
    return result(resolve(done, now), [event('Normal', 'ResilienceRestored', summary)])
  }
  const requested = state.runbook.resilience !== undefined
  const started = Date.parse(s.steps.find((x) => x.name === 'RestoreResilience')?.startedAt ?? iso(now))
  if (requested && now - started > RESILIENCE_TIMEOUT_MS) {
    const msg = `not restored after ${RESILIENCE_TIMEOUT_MS / 60_000} min: ${summary} (new keys need funds from the recovery agent's account and a node to run on)`
    const done = finishStep(
      remember(s, { resilience: { ...record, message: msg } }),
      'RestoreResilience',
      now,
      'Failed',
      msg,
    )
    return result(resolve(done, now), [event('Warning', 'ResilienceNotRestored', msg)])
  }
  s = remember(s, { resilience: { ...record, message: summary } })
  const effects: Effect[] = requested
    ? []
    : [{ kind: 'restoreResilience', plan: { rekey: plan.rekey, retire: plan.retire, promoted: plan.promoted } }]
  return { next: progress(s, 'RestoreResilience', summary), effects, requeueAfterMs: 2_000 }
}

function resolve(state: RunbookState, now: number): RunbookState {
  const r = state.runbook
  const steps = state.steps.map((x) => `${x.name}: ${x.phase}${x.message !== undefined ? ` — ${x.message}` : ''}`)
  const postMortem = [
    `Scenario A (witness loss). Fault at ${r.faultAt ?? '?'} (last block final before it); finality resumed at ${r.resumedAt ?? '?'} (block ${r.resumedHeight ?? '?'}); RTO ${state.rtoSeconds ?? '?'} s; finalized events lost: ${state.finalizedEventsLost ?? '?'}.`,
    `Restart from block ${r.restartHeight ?? '?'} (${r.restartHash ?? '?'}) with ${r.witnessSet?.length ?? 0} witnesses (${(r.witnessSet ?? []).filter((w) => w.promoted).length} promoted standbys), manifest ${r.manifestHash ?? '?'}.`,
    `Independent check: ${r.audit?.message ?? 'not run'}.`,
    `Resilience: ${r.resilience?.message ?? 'not assessed'}.`,
    'Steps:',
    ...steps.map((x) => `- ${x}`),
    'Follow-up for people: find why the witnesses were lost (seed §2.A.5), and have the council re-sign the standing policy if new standbys should be covered by it.',
  ].join('\n')
  return setPhase(
    { ...state, postMortem: postMortem.slice(0, 32_000) },
    'Resolved',
    now,
    'recovered and resilience assessed',
  )
}
