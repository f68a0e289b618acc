/** Assess and SelectWitnessSet: is quorum really lost, and who restarts the chain (pure). */
import { HALT_WINDOW_MS } from '@echonet/node/admin'
import { fail, finishStep, iso, remember, setPhase, skipRest, startStep } from '../engine.ts'
import type { Observation, RunbookState, StepResult, SurveyEntry, WitnessSetMember } from '../types.ts'
import { voter, action, epochOf, byDid, reachable, result, waiting, event } from './common.ts'

export function assess(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  const s = startStep(state, 'Assess', now)
  const epoch = epochOf(obs)
  const survey: SurveyEntry[] = obs.nodes.map((n) => ({
    node: n.node,
    ...(n.did !== undefined ? { did: n.did } : {}),
    role: n.role,
    reachable: n.status !== undefined,
    ...(n.status ? { epoch: n.status.epoch, height: n.status.finalizedHeight, hash: n.status.finalizedHash } : {}),
  }))
  const holders = obs.nodes.filter((n) => voter(n) && reachable(n, epoch))
  if (holders.length === 0) return waiting(s, 'Assess', 'no witness or standby answers its admin API yet')
  const top = Math.max(...holders.map((n) => n.status!.finalizedHeight))
  const atTop = new Set(holders.filter((n) => n.status!.finalizedHeight === top).map((n) => n.status!.finalizedHash))
  if (atTop.size > 1) {
    return result(
      fail(
        s,
        'Assess',
        now,
        `nodes disagree on block ${top}: ${[...atTop].join(', ')} — refusing to restart from a fork`,
      ),
      [event('Warning', 'ForkDetected', `nodes report different blocks at height ${top}`)],
    )
  }
  const faultMs = Math.max(...holders.map((n) => n.status!.lastBlockTimeMs))
  const recorded = remember(s, { survey, restartHeight: top, restartHash: [...atTop][0]!, faultAt: iso(faultMs) })
  const committee = obs.committee
  const lost = committee !== undefined && committee.powerOnline < committee.powerNeeded
  const stalled = obs.stalledMs >= HALT_WINDOW_MS
  const view =
    committee === undefined
      ? 'no committee view'
      : `committee power online ${committee.powerOnline} of ${committee.totalPower}, ${committee.powerNeeded} needed`
  if (obs.dryRun) {
    return result(
      finishStep(
        recorded,
        'Assess',
        now,
        'Succeeded',
        `dry run; ${stalled ? 'not finalizing' : 'finalizing'}; ${view}; highest certified block ${top}`,
      ),
    )
  }
  if (!stalled) {
    // Finality is back (a restarted pod, a healed partition): there is nothing to recover.
    const done = finishStep(
      recorded,
      'Assess',
      now,
      'Skipped',
      `blocks are being finalized (${view}): nothing to recover`,
    )
    return result(setPhase(skipRest(done, now, 'not needed'), 'Resolved', now, 'quorum available: no action taken'), [
      event('Normal', 'NotNeeded', 'the network finalizes again; the declaration ends without acting'),
    ])
  }
  if (!lost) {
    return result(
      fail(
        recorded,
        'Assess',
        now,
        `the committee is online but not finalizing (${view}): not a witness loss; see the network's ConsensusHalted condition`,
      ),
    )
  }
  if (obs.auth.mode === 'policy') {
    const since = now - faultMs
    const need = obs.auth.policy.quorumLossSeconds * 1000 + 1_000
    if (since < need) {
      return waiting(
        recorded,
        'Assess',
        `quorum lost ${Math.floor(since / 1000)} s ago; the standing policy allows a restart after ${obs.auth.policy.quorumLossSeconds} s`,
      )
    }
  }
  return result(
    finishStep(
      recorded,
      'Assess',
      now,
      'Succeeded',
      `quorum lost: ${view}; highest certified block ${top} (${[...atTop][0]!.slice(0, 16)}…)`,
    ),
  )
}

export function selectWitnessSet(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  const s = startStep(state, 'SelectWitnessSet', now)
  const epoch = epochOf(obs)
  const committee = obs.committee
  const members = new Set(committee?.members.map((m) => m.did) ?? [])
  const survivors: WitnessSetMember[] = (committee?.members ?? [])
    .filter((m) => {
      const n = byDid(obs, m.did)
      return m.online && n !== undefined && reachable(n, epoch)
    })
    .map((m) => ({ did: m.did, node: byDid(obs, m.did)!.node, power: m.power, promoted: false }))
  const promote = action(obs, 'PromoteStandbys')?.promoteStandbys
  const wantPromotion = action(obs, 'PromoteStandbys') !== undefined
  const registered = new Set(obs.registeredStandbys)
  const policy = obs.auth.mode === 'policy' ? obs.auth.policy : undefined
  const allowed = policy === undefined ? undefined : new Set(policy.standbys)
  const pools = promote?.pools === undefined ? undefined : new Set(promote.pools)
  const candidates = obs.nodes
    .filter(
      (n) =>
        n.did !== undefined &&
        !members.has(n.did) &&
        registered.has(n.did) &&
        reachable(n, epoch) &&
        (pools === undefined ? n.poolMode === 'Standby' : n.pool !== undefined && pools.has(n.pool)) &&
        (allowed === undefined || allowed.has(n.did)),
    )
    .sort(
      (a, b) =>
        (b.promotionPriority ?? 0) - (a.promotionPriority ?? 0) ||
        b.status!.finalizedHeight - a.status!.finalizedHeight ||
        (a.node < b.node ? -1 : 1),
    )
  // The committee holds at most committeeSize members: survivors keep their seats first.
  const room = Math.max(0, (obs.committeeSize ?? Number.MAX_SAFE_INTEGER) - survivors.length)
  const cap = Math.min(promote?.count ?? candidates.length, policy?.maxPromotions ?? Number.MAX_SAFE_INTEGER, room)
  const chosen = wantPromotion ? candidates.slice(0, cap) : []
  const set: WitnessSetMember[] = [...survivors, ...chosen.map((n) => ({ did: n.did!, node: n.node, promoted: true }))]
  if (set.length === 0)
    return result(fail(s, 'SelectWitnessSet', now, 'no live witness or registered standby to restart with'))
  const touches = obs.nodes
    .filter((n) => n.ip !== undefined && n.status !== undefined)
    .map((n) => `node ${n.node}: hand the restart manifest`)
  const msg = `${survivors.length} surviving member(s) (${survivors.map((m) => m.node).join(', ') || 'none'}) + ${chosen.length} promoted standby(s) (${chosen.map((n) => n.node).join(', ') || 'none'})${
    wantPromotion && chosen.length < (promote?.count ?? 0)
      ? `; only ${chosen.length} of the ${promote?.count ?? 0} asked for are live, registered and allowed`
      : ''
  }`
  return result(finishStep(remember(s, { witnessSet: set, touches }), 'SelectWitnessSet', now, 'Succeeded', msg))
}
