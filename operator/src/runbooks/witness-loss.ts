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
import { initialState, runStep } from './engine.ts'
import type { Observation, Runbook, RunbookState, StepResult } from './types.ts'
import { assess, selectWitnessSet } from './witness-loss/assess.ts'
import { WITNESS_LOSS_STEPS } from './witness-loss/common.ts'
import type { StepName } from './witness-loss/common.ts'
import { verify, waitForFinality } from './witness-loss/finality.ts'
import { record } from './witness-loss/record.ts'
import { restoreResilience } from './witness-loss/resilience.ts'
import { authorizeRestart, coordinatedRestart, planRestart } from './witness-loss/restart.ts'

export { WITNESS_LOSS_STEPS } from './witness-loss/common.ts'
export { resiliencePlan } from './witness-loss/resilience.ts'

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
  return runStep(state, obs, STEP_FNS, ['Resolved', 'Failed'])
}

export const witnessLossRunbook: Runbook = {
  steps: WITNESS_LOSS_STEPS,
  // PausePoSRSlashing is satisfied by the ledger itself in this scenario (see assess).
  supports: ['PromoteStandbys', 'CoordinatedRestart', 'PausePoSRSlashing'],
  initial: () => initialState(WITNESS_LOSS_STEPS),
  step,
  record,
}
