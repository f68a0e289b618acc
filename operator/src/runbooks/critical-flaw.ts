/**
 * Scenario C (seed §2.C, DESIGN §1): a critical flaw in ledger logic. Pure.
 *
 *   Assess           which nodes answer; what the declaration does on the ledger
 *   SubmitToLedger   carry the council-signed declaration onto the ledger (the recovery agent pays
 *                    the fee; every node checks the council's signatures itself): module pauses,
 *                    parameter overrides, the upgrade plan, compensation — until the nodes report
 *                    it in force
 *   FreezeChain …    StateEdit: a hard fork from the block the chain stopped on
 *   VerifyFork       (critical-flaw-fork.ts: preview, council-signed manifest, delivery, check)
 *   RollOut          ScheduledUpgrade: give the network the new image (the network controller
 *                    replaces pods one at a time within the BFT budget) and wait until enough
 *                    committee power runs the new build (version and digest) before the height
 *   VerifyUpgrade    past the flag height, blocks finalize on the new build
 *
 * The operator adds no authority: a declaration the council did not sign never reaches the
 * ledger (authorize.ts), and the nodes would refuse it if it did. What the ledger holds is
 * time-boxed there (pauses, overrides) and lapses even if the operator is gone.
 */
import type { DisasterAction } from '../api/v1alpha1/types.ts'
import {
  currentStep,
  finishStep,
  initialState,
  iso,
  note,
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
import type { Effect, EffectOutcome, Observation, Runbook, RunbookRecord, RunbookState, StepResult } from './types.ts'
import {
  answering,
  ledgerActions,
  ledgerOf,
  recordSubmission,
  reference,
  submitToLedger,
  withLedger,
} from './ledger-step.ts'

import { FORK_STEPS, freezeChain, planFork, recordPreview, verifyFork } from './critical-flaw-fork.ts'
import { waitForFinality } from './witness-loss/finality.ts'
import { recordAudit, recordDelivery } from './witness-loss/record.ts'
import { authorizeRestart, coordinatedRestart } from './witness-loss/restart.ts'

export { MAX_SUBMISSIONS, RESUBMIT_MS } from './ledger-step.ts'

export const CRITICAL_FLAW_STEPS = ['Assess', 'SubmitToLedger', ...FORK_STEPS, 'RollOut', 'VerifyUpgrade'] as const
type StepName = (typeof CRITICAL_FLAW_STEPS)[number]

const POLL_MS = 5_000
/** Blocks past the flag height that must finalize before the upgrade counts as done. */
export const BLOCKS_PAST_FLAG = 3

type UpgradeRecord = NonNullable<RunbookRecord['upgrade']>
type Upgrade = NonNullable<DisasterAction['scheduledUpgrade']>

function upgradeOf(obs: Observation): Upgrade | undefined {
  return obs.actions.find((a) => a.type === 'ScheduledUpgrade')?.scheduledUpgrade
}

const upgradeRecordOf = (s: RunbookState): UpgradeRecord => s.runbook.upgrade ?? {}
const withUpgrade = (s: RunbookState, p: Partial<UpgradeRecord>): RunbookState =>
  remember(s, { upgrade: { ...upgradeRecordOf(s), ...p } })

/** Share (percent, floored) of committee power whose node runs `digest` at ≥ the plan's version. */
export function upgradedPower(obs: Observation, digest: string): { percent: number; behind: string[] } {
  const c = obs.committee
  if (c === undefined || c.totalPower === 0) return { percent: 0, behind: [] }
  const byDid = new Map(obs.nodes.filter(answering).map((n) => [n.status.did, n]))
  let up = 0
  const behind: string[] = []
  for (const m of c.members) {
    const n = byDid.get(m.did)
    if (n?.status.binaryDigest === digest) up += m.power
    else behind.push(`${n?.node ?? m.did} (${n?.status.version ?? 'not answering'})`)
  }
  return { percent: Math.floor((up * 100) / c.totalPower), behind }
}

function assess(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  let s = setPhase(state, 'Executing', now, 'assessing the nodes')
  s = startStep(s, 'Assess', now)
  const up = obs.nodes.filter(answering)
  const actions = ledgerActions(obs.actions)
  s = remember(s, { survey: surveyOf(obs) })
  s = withLedger(s, { actions })
  const what = actions.length > 0 ? actions.join(', ') : 'nothing on the ledger'
  if (obs.dryRun) {
    s = finishStep(s, 'Assess', now, 'Succeeded', `dry run; ${up.length} of ${obs.nodes.length} nodes answer`)
    s = remember(s, { touches: [`would put on the ledger: ${what}`] })
    return result(skipRest(s, now, `dry run: would put on the ledger: ${what}`))
  }
  if (reference(obs) === undefined) return result(progress(s, 'Assess', 'no witness answers yet'), [], POLL_MS)
  return result(finishStep(s, 'Assess', now, 'Succeeded', `${up.length} of ${obs.nodes.length} nodes answer; ${what}`))
}

function rollOut(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  const up = upgradeOf(obs)
  let s = startStep(state, 'RollOut', now)
  if (up === undefined) {
    s = finishStep(s, 'RollOut', now, 'Skipped', 'no ScheduledUpgrade')
    return result(finishStep(s, 'VerifyUpgrade', now, 'Skipped', 'no ScheduledUpgrade'))
  }
  const effects: Effect[] = []
  if (upgradeRecordOf(s).imageSetAt === undefined) {
    s = withUpgrade(s, {
      image: up.image,
      height: up.height,
      binaryDigest: up.binaryDigest,
      minVersion: up.minVersion,
      imageSetAt: iso(now),
    })
    effects.push({ kind: 'setNetworkImage', image: up.image })
  }
  const { percent, behind } = upgradedPower(obs, up.binaryDigest)
  const height = obs.committee?.height ?? 0
  const need = up.minUpgradedPowerPercent
  s = withUpgrade(s, { upgradedPowerPercent: percent, finalizedHeight: height, behind: behind.slice(0, 1000) })
  if (percent >= need) {
    const msg = `${percent} % of committee power runs ${up.minVersion} (${up.binaryDigest.slice(0, 19)}…) at height ${height}, flag height ${up.height}`
    s = withUpgrade(s, { message: msg })
    s = finishStep(s, 'RollOut', now, 'Succeeded', msg)
    return result(s, [...effects, { kind: 'event', type: 'Normal', reason: 'UpgradeRolledOut', note: msg }])
  }
  const late = height >= up.height - 1
  const msg = late
    ? `the flag height ${up.height} is reached with only ${percent} % of power on the new build (${need} % wanted): the network waits for > 2/3 to upgrade; behind: ${behind.join(', ')}`
    : `${percent} % of committee power on the new build (${need} % wanted before height ${up.height}; now ${height}); behind: ${behind.join(', ')}`
  s = withUpgrade(s, { message: msg })
  return result(progress(s, 'RollOut', msg), effects, POLL_MS)
}

function verifyUpgrade(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  const up = upgradeOf(obs)!
  let s = setPhase(startStep(state, 'VerifyUpgrade', now), 'Verifying', now, `waiting for the flag height ${up.height}`)
  const height = obs.committee?.height ?? 0
  s = withUpgrade(s, { finalizedHeight: height, ...upgradedPowerRecord(obs, up) })
  if (height < up.height + BLOCKS_PAST_FLAG) {
    return result(
      progress(
        s,
        'VerifyUpgrade',
        `finalized ${height}; waiting for ${up.height + BLOCKS_PAST_FLAG} (flag ${up.height})`,
      ),
      [],
      POLL_MS,
    )
  }
  const stuck = obs.nodes
    .filter(answering)
    .filter((n) => n.status.haltCode === 'UPGRADE_REQUIRED')
    .map((n) => n.node)
  const msg = `blocks finalize past the flag height ${up.height} on ${up.minVersion} (now ${height})${stuck.length > 0 ? `; still on the old build and halted: ${stuck.join(', ')}` : ''}`
  s = withUpgrade(s, { message: msg })
  s = finishStep(s, 'VerifyUpgrade', now, 'Succeeded', msg)
  return result(s, [
    { kind: 'event', type: stuck.length > 0 ? 'Warning' : 'Normal', reason: 'UpgradeActivated', note: msg },
  ])
}

function upgradedPowerRecord(obs: Observation, up: Upgrade): Partial<UpgradeRecord> {
  const { percent, behind } = upgradedPower(obs, up.binaryDigest)
  return { upgradedPowerPercent: percent, behind }
}

const STEP_FNS: Record<StepName, StepFn> = {
  Assess: assess,
  SubmitToLedger: submitToLedger,
  FreezeChain: freezeChain,
  PlanRestart: planFork,
  AuthorizeRestart: authorizeRestart,
  CoordinatedRestart: (s, o) => coordinatedRestart(s, o, { frozen: true }),
  WaitForFinality: waitForFinality,
  VerifyFork: verifyFork,
  RollOut: rollOut,
  VerifyUpgrade: verifyUpgrade,
}

/** Every step is done: Executing → Verifying → Recovered, one status write each (the CRD's transition rule allows no jump). */
function finished(state: RunbookState, obs: Observation): StepResult {
  const last = [...state.steps].reverse().find((x) => x.phase === 'Succeeded') ?? state.steps[0]
  const why = upgradeRecordOf(state).message ?? ledgerOf(state).message ?? last?.message ?? 'done'
  return result(setPhase(state, state.phase === 'Verifying' ? 'Recovered' : 'Verifying', obs.nowMs, why))
}

function step(state: RunbookState, obs: Observation): StepResult {
  const r = runStep(state, obs, STEP_FNS, undefined, finished)
  // Without a StateEdit the fork steps are skipped at once: go on to the next step now.
  const skippedFork =
    currentStep(state)?.name === 'FreezeChain' &&
    r.next.steps.find((x) => x.name === 'FreezeChain')?.phase === 'Skipped'
  return skippedFork ? runStep(r.next, obs, STEP_FNS, undefined, finished) : r
}

function record(state: RunbookState, effect: Effect, outcome: EffectOutcome, nowMs: number): RunbookState {
  if (effect.kind === 'submitDeclaration') return recordSubmission(state, effect, outcome, nowMs)
  if (effect.kind === 'previewFork') return recordPreview(state, effect, outcome, nowMs)
  if (effect.kind === 'deliver') return recordDelivery(state, effect, outcome, nowMs)
  if (effect.kind === 'audit') return recordAudit(state, outcome, nowMs, 'VerifyFork')
  if (effect.kind === 'setNetworkImage') {
    return outcome.ok
      ? note(state, nowMs, `network image set to ${effect.image}; pods are replaced one at a time`)
      : withUpgrade(state, { imageSetAt: undefined, message: `could not set the image: ${outcome.message}` })
  }
  return state
}

export const criticalFlawRunbook: Runbook = {
  steps: CRITICAL_FLAW_STEPS,
  supports: ['PauseModules', 'SetParameters', 'ScheduledUpgrade', 'Compensate', 'StateEdit', 'CoordinatedRestart'],
  initial: () => initialState(CRITICAL_FLAW_STEPS),
  step,
  record,
}
