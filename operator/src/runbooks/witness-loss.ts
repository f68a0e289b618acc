/**
 * Scenario A (seed §2.A, DESIGN §4–§6): catastrophic loss of witnesses. Pure.
 *
 *   Assess            survey every node's finalized block; admit only if quorum is really lost
 *   SelectWitnessSet  survivors (members still heard from) + standbys to promote
 *   PlanRestart       the RestartManifest from the node holding the highest certified block,
 *                     recorded before anyone signs it: a new leader never plans another
 *   AuthorizeRestart  the recovery agent signs within the standing policy, or the council signs
 *   CoordinatedRestart  hand the signed record to every live node (each verifies it itself)
 *   WaitForFinality   > 2/3 of the new set ready, first block of the new epoch final (RTO)
 *   Verify            certified blocks read back from several nodes and checked independently
 *   RestoreResilience the spec'd number of active witnesses and standbys again
 *
 * Read-only steps run while the declaration is Authorized; it is Executing from the moment it
 * signs, Verifying once finality is back, Recovered when the chain checks out, Resolved after
 * resilience is restored. A dry run walks the same steps, plans, and touches nothing.
 */
import { HALT_WINDOW_MS } from '@echonet/node/admin'
import { verifyRestartAuthorization } from '@echonet/node/governance'
import type { CouncilSignature, RestartManifest } from '@echonet/node/governance'
import { decodeManifest, encodeManifest, manifestHash } from '@echonet/node/restart'
import type { DisasterAction } from '../api/v1alpha1/types.ts'
import {
  attempt,
  currentStep,
  fail,
  finishStep,
  initialState,
  iso,
  note,
  progress,
  remember,
  setPhase,
  skipRest,
  startStep,
} from './engine.ts'
import type {
  AuditRecord,
  Effect,
  EffectOutcome,
  NodeView,
  Observation,
  Runbook,
  RunbookState,
  StepResult,
  SurveyEntry,
  WitnessSetMember,
} from './types.ts'

export const WITNESS_LOSS_STEPS = [
  'Assess',
  'SelectWitnessSet',
  'PlanRestart',
  'AuthorizeRestart',
  'CoordinatedRestart',
  'WaitForFinality',
  'Verify',
  'RestoreResilience',
] as const
type StepName = (typeof WITNESS_LOSS_STEPS)[number]

/** How often a waiting step looks again; effects run at once. */
const POLL_MS = 1_000
const NOW = 0
/** A manifest the council must sign lives an hour; one the agent signs, ten minutes (or the timeout). */
const COUNCIL_MANIFEST_MS = 3_600_000
const AGENT_MANIFEST_MS = 600_000
/** Plans and deliveries that fail for a transient reason are tried again this often before the step fails. */
const MAX_ATTEMPTS = 20
/** Restoring resilience waits this long for new keys to register before it reports what is missing. */
const RESILIENCE_TIMEOUT_MS = 600_000
/** Blocks before the restart point that the independent check reads too. */
const AUDIT_BEFORE = 32
/** A node refusing the manifest for one of these reasons will refuse it again: the step fails. */
const TERMINAL_REFUSALS = new Set([
  'INVALID_RESTART_RECORD',
  'WRONG_CHAIN',
  'RESTART_STALE',
  'RESTART_BELOW_FINAL',
  'RESTART_MISMATCH',
  'INVALID_PAYLOAD',
  'EXPIRED',
  'BAD_SIGNATURE',
  'COUNCIL_THRESHOLD_NOT_MET',
  'POLICY_VIOLATION',
  'UNAUTHORIZED',
])

const voter = (n: NodeView): boolean => n.role === 'witness' || n.role === 'standby'

function action(obs: Observation, type: DisasterAction['type']): DisasterAction | undefined {
  return obs.actions.find((a) => a.type === type)
}

function restartOptions(obs: Observation): { timeoutSeconds: number } {
  return { timeoutSeconds: action(obs, 'CoordinatedRestart')?.coordinatedRestart?.timeoutSeconds ?? 300 }
}

function epochOf(obs: Observation): number {
  return obs.committee?.epoch ?? Math.max(0, ...obs.nodes.flatMap((n) => (n.status ? [n.status.epoch] : [])))
}

function byDid(obs: Observation, did: string): NodeView | undefined {
  return obs.nodes.find((n) => n.did === did)
}

function reachable(
  n: NodeView,
  epoch: number,
): n is NodeView & { ip: string; status: NonNullable<NodeView['status']> } {
  return n.ip !== undefined && n.status !== undefined && n.status.epoch === epoch
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'))

function manifestOf(state: RunbookState): RestartManifest | undefined {
  const m = state.runbook.manifest
  return m === undefined ? undefined : decodeManifest(unb64(m))
}

function result(next: RunbookState, effects: readonly Effect[] = [], requeueAfterMs = NOW): StepResult {
  return { next, effects, requeueAfterMs }
}

function waiting(state: RunbookState, step: StepName, message: string): StepResult {
  return result(progress(state, step, message), [], POLL_MS)
}

function event(type: 'Normal' | 'Warning', reason: string, note: string): Effect {
  return { kind: 'event', type, reason, note }
}

// ---------------------------------------------------------------------------------------------

function assess(state: RunbookState, obs: Observation): StepResult {
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

function selectWitnessSet(state: RunbookState, obs: Observation): StepResult {
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

function planRestart(state: RunbookState, obs: Observation): StepResult {
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

function authorizeRestart(state: RunbookState, obs: Observation): StepResult {
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

function coordinatedRestart(state: RunbookState, obs: Observation): StepResult {
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
  if (delivered.size === 0 && obs.stalledMs < HALT_WINDOW_MS) {
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

function waitForFinality(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  const m = manifestOf(state)!
  const s = startStep(state, 'WaitForFinality', now)
  if (obs.dryRun) return result(finishStep(s, 'WaitForFinality', now, 'Skipped', 'dry run'))
  const resumed = obs.nodes
    .filter(
      (n) => voter(n) && n.status !== undefined && n.status.epoch >= m.epoch && n.status.finalizedHeight > m.height,
    )
    .sort((a, b) => b.status!.finalizedHeight - a.status!.finalizedHeight)[0]
  if (resumed !== undefined) {
    const fault = Date.parse(state.runbook.faultAt ?? iso(now))
    const rto = Math.round((now - fault) / 100) / 10
    const done = remember(s, { resumedAt: iso(now), resumedHeight: resumed.status!.finalizedHeight })
    return result(
      {
        ...finishStep(
          done,
          'WaitForFinality',
          now,
          'Succeeded',
          `block ${resumed.status!.finalizedHeight} of epoch ${m.epoch} is final (${resumed.node}); RTO ${rto} s`,
        ),
        rtoSeconds: rto,
      },
      [event('Normal', 'FinalityResumed', `finality resumed in epoch ${m.epoch}, ${rto} s after the fault`)],
    )
  }
  const started = Date.parse(s.steps.find((x) => x.name === 'WaitForFinality')?.startedAt ?? iso(now))
  if (now - started > restartOptions(obs).timeoutSeconds * 1000) {
    return result(
      fail(
        s,
        'WaitForFinality',
        now,
        `no block of epoch ${m.epoch} final after ${restartOptions(obs).timeoutSeconds} s`,
      ),
    )
  }
  const ready = obs.nodes.find((n) => n.status?.restart?.manifestHash === state.runbook.manifestHash)?.status?.restart
  return waiting(
    s,
    'WaitForFinality',
    ready ? `ready power ${ready.readyPower} of ${ready.totalPower}` : 'waiting for the new set to be ready',
  )
}

function verify(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  let s = startStep(state, 'Verify', now)
  if (obs.dryRun) return result(finishStep(s, 'Verify', now, 'Skipped', 'dry run'))
  s = setPhase(s, 'Verifying', now, 'finality resumed; checking the chain independently')
  const m = manifestOf(state)!
  const epoch = m.epoch
  const readers = obs.nodes
    .filter((n) => voter(n) && n.ip !== undefined && n.status !== undefined && n.status.epoch >= epoch)
    .slice(0, 3)
  if (readers.length === 0) return waiting(s, 'Verify', 'no node of the new epoch answers')
  if ((s.steps.find((x) => x.name === 'Verify')?.attempts ?? 0) >= MAX_ATTEMPTS) {
    return result(fail(s, 'Verify', now, 'the chain could not be read back from the nodes'))
  }
  return result(
    s,
    [
      {
        kind: 'audit',
        nodes: readers.map((n) => ({ node: n.node, ip: n.ip! })),
        fromHeight: Math.max(1, m.height - AUDIT_BEFORE),
        toHeight: state.runbook.resumedHeight ?? m.height + 1,
        expect: { height: m.height, hash: m.blockHash },
      },
    ],
    POLL_MS,
  )
}

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

function restoreResilience(state: RunbookState, obs: Observation): StepResult {
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

// ---------------------------------------------------------------------------------------------

const STEP_FNS: Record<StepName, (s: RunbookState, o: Observation) => StepResult> = {
  Assess: assess,
  SelectWitnessSet: selectWitnessSet,
  PlanRestart: planRestart,
  AuthorizeRestart: authorizeRestart,
  CoordinatedRestart: coordinatedRestart,
  WaitForFinality: waitForFinality,
  Verify: verify,
  RestoreResilience: restoreResilience,
}

function step(state: RunbookState, obs: Observation): StepResult {
  if (state.phase === 'Resolved' || state.phase === 'Failed') return result(state, [], 0)
  const cur = currentStep(state)
  if (cur === undefined) return result(state, [], 0)
  return STEP_FNS[cur.name as StepName](state, obs)
}

function record(state: RunbookState, effect: Effect, outcome: EffectOutcome, nowMs: number): RunbookState {
  switch (effect.kind) {
    case 'plan': {
      if (!outcome.ok) {
        const s = attempt(
          progress(state, 'PlanRestart', `${effect.node} refused to plan (${outcome.code}): ${outcome.message}`),
          'PlanRestart',
        )
        const n = s.steps.find((x) => x.name === 'PlanRestart')?.attempts ?? 0
        return n >= MAX_ATTEMPTS
          ? fail(s, 'PlanRestart', nowMs, `no manifest after ${n} attempts: ${outcome.message}`)
          : s
      }
      const m = outcome.value as RestartManifest
      const moved = m.height !== state.runbook.restartHeight || m.blockHash !== state.runbook.restartHash
      if (moved && !effect.dryRun) {
        return fail(
          state,
          'PlanRestart',
          nowMs,
          `${effect.node} planned from block ${m.height} (${m.blockHash}), not the surveyed ${state.runbook.restartHeight ?? '?'}: the chain moved`,
        )
      }
      const power = new Map(m.witnesses.map((w) => [w.did as string, w.power]))
      // The ledger seats the top committeeSize by stake: the manifest names who is in.
      const witnessSet = (state.runbook.witnessSet ?? [])
        .filter((w) => power.has(w.did))
        .map((w) => ({ ...w, power: power.get(w.did) ?? 0 }))
      const hash = manifestHash(m)
      const s = remember(state, {
        restartHeight: m.height,
        restartHash: m.blockHash,
        manifest: b64(encodeManifest(m)),
        manifestHash: hash,
        manifestExpiresAt: iso(m.expiresAtMs),
        witnessSet,
      })
      return finishStep(
        s,
        'PlanRestart',
        nowMs,
        'Succeeded',
        `manifest ${hash}: epoch ${m.epoch}, restart from block ${m.height}, ${m.witnesses.length} witnesses, planned by ${effect.node}`,
      )
    }
    case 'agentSign':
      if (!outcome.ok)
        return fail(
          state,
          'AuthorizeRestart',
          nowMs,
          `the recovery agent could not sign (${outcome.code}): ${outcome.message}`,
        )
      return remember(state, { agentSignature: outcome.value as string })
    case 'deliver': {
      if (outcome.ok) {
        const delivered = [...new Set([...(state.runbook.delivered ?? []), effect.node])].sort()
        return note(remember(state, { delivered }), nowMs, `CoordinatedRestart: ${effect.node} adopted the manifest`)
      }
      if (TERMINAL_REFUSALS.has(outcome.code)) {
        const inSet = (state.runbook.witnessSet ?? []).some((w) => w.node === effect.node)
        const msg = `${effect.node} refused the manifest (${outcome.code}): ${outcome.message}`
        return inSet ? fail(state, 'CoordinatedRestart', nowMs, msg) : note(state, nowMs, `CoordinatedRestart: ${msg}`)
      }
      return attempt(
        progress(state, 'CoordinatedRestart', `${effect.node}: ${outcome.code} — ${outcome.message}; retrying`),
        'CoordinatedRestart',
      )
    }
    case 'audit': {
      if (!outcome.ok)
        return attempt(
          progress(state, 'Verify', `reading blocks back failed (${outcome.code}): ${outcome.message}`),
          'Verify',
        )
      const a = outcome.value as AuditRecord & { lost: number; ok: boolean }
      const { lost, ok, ...audit } = a
      const s = { ...remember(state, { audit }), finalizedEventsLost: lost }
      if (!ok) return fail(s, 'Verify', nowMs, audit.message)
      return setPhase(
        finishStep(s, 'Verify', nowMs, 'Succeeded', audit.message),
        'Recovered',
        nowMs,
        `chain checked: ${audit.message}`,
      )
    }
    case 'restoreResilience':
      if (!outcome.ok) return fail(state, 'RestoreResilience', nowMs, `${outcome.code}: ${outcome.message}`)
      return note(
        state,
        nowMs,
        `RestoreResilience: rekey ${effect.plan.rekey.join(', ') || 'none'}; retire ${effect.plan.retire.join(', ') || 'none'}; standbys to replace ${effect.plan.promoted.join(', ') || 'none'}`,
      )
    case 'event':
      return state
  }
}

export const witnessLossRunbook: Runbook = {
  steps: WITNESS_LOSS_STEPS,
  // PausePoSRSlashing is satisfied by the ledger itself in this scenario (see assess).
  supports: ['PromoteStandbys', 'CoordinatedRestart', 'PausePoSRSlashing'],
  initial: () => initialState(WITNESS_LOSS_STEPS),
  step,
  record,
}
