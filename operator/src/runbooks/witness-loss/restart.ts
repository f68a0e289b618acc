/** PlanRestart, AuthorizeRestart and CoordinatedRestart: the manifest from plan to delivery (pure). */
import { HALT_WINDOW_MS } from '@echonet/node/admin'
import { verifyRestartAuthorization } from '@echonet/node/governance'
import type { CouncilSignature } from '@echonet/node/governance'
import { fail, finishStep, progress, remember, setPhase, startStep } from '../engine.ts'
import type { Effect, Observation, RunbookState, StepResult } from '../types.ts'
import {
  POLL_MS,
  COUNCIL_MANIFEST_MS,
  AGENT_MANIFEST_MS,
  MAX_ATTEMPTS,
  voter,
  restartOptions,
  epochOf,
  reachable,
  unb64,
  manifestOf,
  result,
  waiting,
  event,
} from './common.ts'

export function planRestart(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  const s = startStep(state, 'PlanRestart', now)
  const epoch = epochOf(obs)
  const height = state.runbook.restartHeight ?? 0
  const planner = obs.nodes.find(
    (n) =>
      voter(n) &&
      reachable(n, epoch) &&
      n.status.finalizedHeight === height &&
      n.status.finalizedHash === state.runbook.restartHash,
  )
  if (planner === undefined) return waiting(s, 'PlanRestart', `no reachable node holds block ${height} any more`)
  const ttl =
    obs.auth.mode === 'council'
      ? COUNCIL_MANIFEST_MS
      : Math.max(AGENT_MANIFEST_MS, restartOptions(obs).timeoutSeconds * 1000)
  return result(progress(s, 'PlanRestart', `asking ${planner.node} for the manifest`), [
    {
      kind: 'plan',
      node: planner.node,
      ip: planner.ip!,
      witnesses: (state.runbook.witnessSet ?? []).map((m) => m.did),
      expiresAtMs: now + ttl,
      dryRun: obs.dryRun,
    },
  ])
}

export function authorizeRestart(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  const m = manifestOf(state)!
  let s = startStep(state, 'AuthorizeRestart', now)
  if (obs.dryRun) {
    const how =
      obs.auth.mode === 'policy'
        ? 'would be signed by the recovery agent under the standing policy'
        : `would need ${obs.council?.threshold ?? '?'} council signatures over manifest ${state.runbook.manifestHash ?? ''}`
    return result(finishStep(s, 'AuthorizeRestart', now, 'Skipped', `dry run: ${how}`))
  }
  s = setPhase(s, 'Executing', now, 'authorizing the restart manifest')
  if (now >= m.expiresAtMs)
    return result(
      fail(s, 'AuthorizeRestart', now, `manifest ${state.runbook.manifestHash ?? ''} expired before it was authorized`),
    )
  if (obs.auth.mode === 'policy') {
    if (state.runbook.agentSignature !== undefined) {
      return result(
        finishStep(
          s,
          'AuthorizeRestart',
          now,
          'Succeeded',
          `signed by the recovery agent ${obs.auth.policy.agent} within the standing policy`,
        ),
      )
    }
    return result(s, [{ kind: 'agentSign', manifest: state.runbook.manifest! }])
  }
  const council = obs.council
  if (council === undefined) return waiting(s, 'AuthorizeRestart', 'no node answers: the council cannot be read')
  const sigs = obs.manifestSignatures.map((x) => ({ did: x.did as CouncilSignature['did'], sig: unb64(x.signature) }))
  const v = verifyRestartAuthorization(
    m,
    { kind: 'council', signatures: sigs },
    {
      council,
      currentWitnesses: obs.committee?.members.map((x) => x.did) ?? [],
      standbys: obs.registeredStandbys,
      nowMs: now,
    },
  )
  if (v.ok) {
    const signers = obs.manifestSignatures.map((x) => x.did).filter((d) => council.members.includes(d))
    return result(
      finishStep(s, 'AuthorizeRestart', now, 'Succeeded', `council signatures verified: ${signers.join(', ')}`),
      [
        event(
          'Normal',
          'ManifestAuthorized',
          `restart manifest ${state.runbook.manifestHash ?? ''} signed by ${signers.length} council member(s)`,
        ),
      ],
    )
  }
  const have = sigs.filter((x) => council.members.includes(x.did)).length
  const msg = `awaiting council signatures over manifest ${state.runbook.manifestHash ?? ''} (kubectl echonet council sign): ${have} of ${council.threshold}${v.code === 'BAD_SIGNATURE' ? `; ${v.message}` : ''}`
  const first = s.steps.find((x) => x.name === 'AuthorizeRestart')?.message === undefined
  return result(
    progress(s, 'AuthorizeRestart', msg),
    first ? [event('Normal', 'AwaitingSignatures', msg)] : [],
    POLL_MS,
  )
}

function deliveryAuth(state: RunbookState, obs: Observation): Extract<Effect, { kind: 'deliver' }>['record'] {
  const manifest = state.runbook.manifest!
  if (obs.auth.mode === 'policy') return { mode: 'policy', manifest, agentSignature: state.runbook.agentSignature! }
  return { mode: 'council', manifest, signatures: obs.manifestSignatures }
}

/**
 * `frozen`: the council stopped the chain on the restart block (a hard fork), so finality that
 * stopped is the plan, not a reason to doubt it; otherwise a network that finalizes again makes
 * the plan stale.
 */
export function coordinatedRestart(
  state: RunbookState,
  obs: Observation,
  o: { readonly frozen?: boolean } = {},
): StepResult {
  const now = obs.nowMs
  const m = manifestOf(state)!
  let s = startStep(state, 'CoordinatedRestart', now)
  const targets = obs.nodes.filter((n) => n.ip !== undefined && n.status !== undefined)
  if (obs.dryRun) {
    return result(
      finishStep(
        s,
        'CoordinatedRestart',
        now,
        'Skipped',
        `dry run: would hand manifest ${state.runbook.manifestHash ?? ''} (epoch ${m.epoch}, height ${m.height}) to ${targets.map((n) => n.node).join(', ')}`,
      ),
    )
  }
  const delivered = new Set(state.runbook.delivered ?? [])
  // Nodes that followed the restart from a peer have it already.
  for (const n of targets) if ((n.status?.epoch ?? 0) >= m.epoch && !delivered.has(n.node)) delivered.add(n.node)
  if (delivered.size !== (state.runbook.delivered ?? []).length) s = remember(s, { delivered: [...delivered].sort() })
  if (delivered.size === 0 && obs.stalledMs < HALT_WINDOW_MS && o.frozen !== true) {
    // Admission right before the first destructive act: quorum came back, so the plan is stale.
    return result(
      fail(s, 'CoordinatedRestart', now, 'blocks are being finalized again: the restart was not sent to any node'),
    )
  }
  const newSet = state.runbook.witnessSet ?? []
  const missing = newSet.filter((w) => w.node === undefined || !delivered.has(w.node))
  if (missing.length === 0) {
    return result(
      finishStep(
        s,
        'CoordinatedRestart',
        now,
        'Succeeded',
        `every member of the new set adopted manifest ${state.runbook.manifestHash ?? ''}; ${delivered.size} node(s) in all`,
      ),
      [event('Normal', 'ManifestDelivered', `restart manifest adopted by ${delivered.size} nodes`)],
    )
  }
  if ((s.steps.find((x) => x.name === 'CoordinatedRestart')?.attempts ?? 0) >= MAX_ATTEMPTS) {
    return result(
      fail(
        s,
        'CoordinatedRestart',
        now,
        `could not hand the manifest to ${missing.map((w) => w.node ?? w.did).join(', ')}`,
      ),
    )
  }
  const inSet = new Set(newSet.map((w) => w.node))
  const order = [...targets.filter((n) => inSet.has(n.node)), ...targets.filter((n) => !inSet.has(n.node))].filter(
    (n) => !delivered.has(n.node),
  )
  const auth = deliveryAuth(state, obs)
  return result(
    progress(s, 'CoordinatedRestart', `handing the manifest to ${order.map((n) => n.node).join(', ')}`),
    order.map((n) => ({ kind: 'deliver' as const, node: n.node, ip: n.ip!, record: auth })),
    POLL_MS,
  )
}
