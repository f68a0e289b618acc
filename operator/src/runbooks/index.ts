/**
 * One runbook per scenario (DESIGN §6). Scenarios without one yet are refused before anything
 * runs, with a message saying so: a declaration never pretends to do what no runbook does.
 */
import type { DisasterDeclarationSpec } from '../api/v1alpha1/types.ts'
import type { Runbook } from './types.ts'
import { witnessLossRunbook } from './witness-loss.ts'
import { networkAttackRunbook } from './network-attack.ts'
import { criticalFlawRunbook } from './critical-flaw.ts'
import { dataUnavailabilityRunbook } from './data-unavailability.ts'

export type { Runbook } from './types.ts'

const RUNBOOKS: Partial<Record<DisasterDeclarationSpec['scenario'], Runbook>> = {
  WitnessLoss: witnessLossRunbook,
  NetworkAttack: networkAttackRunbook,
  CriticalFlaw: criticalFlawRunbook,
  DataUnavailability: dataUnavailabilityRunbook,
}

export function runbookFor(scenario: DisasterDeclarationSpec['scenario']): Runbook | undefined {
  return RUNBOOKS[scenario]
}
