/** Scenario A runbook: step names, limits and the helpers every step uses (pure). */
import type { RestartManifest } from '@echonet/node/governance'
import { decodeManifest } from '@echonet/node/restart'
import type { DisasterAction } from '../../api/v1alpha1/types.ts'
import { progress, result } from '../engine.ts'
import type { Effect, NodeView, Observation, RunbookState, StepResult } from '../types.ts'

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
export type StepName = (typeof WITNESS_LOSS_STEPS)[number]

/** How often a waiting step looks again; effects run at once. */
export const POLL_MS = 1_000
export const NOW = 0
/** A manifest the council must sign lives an hour; one the agent signs, ten minutes (or the timeout). */
export const COUNCIL_MANIFEST_MS = 3_600_000
export const AGENT_MANIFEST_MS = 600_000
/** Plans and deliveries that fail for a transient reason are tried again this often before the step fails. */
export const MAX_ATTEMPTS = 20
/** Restoring resilience waits this long for new keys to register before it reports what is missing. */
export const RESILIENCE_TIMEOUT_MS = 600_000
/** Blocks before the restart point that the independent check reads too. */
export const AUDIT_BEFORE = 32
/** A node refusing the manifest for one of these reasons will refuse it again: the step fails. */
export const TERMINAL_REFUSALS = new Set([
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

export const voter = (n: NodeView): boolean => n.role === 'witness' || n.role === 'standby'

export function action(obs: Observation, type: DisasterAction['type']): DisasterAction | undefined {
  return obs.actions.find((a) => a.type === type)
}

export function restartOptions(obs: Observation): { timeoutSeconds: number } {
  return { timeoutSeconds: action(obs, 'CoordinatedRestart')?.coordinatedRestart?.timeoutSeconds ?? 300 }
}

export function epochOf(obs: Observation): number {
  return obs.committee?.epoch ?? Math.max(0, ...obs.nodes.flatMap((n) => (n.status ? [n.status.epoch] : [])))
}

export function byDid(obs: Observation, did: string): NodeView | undefined {
  return obs.nodes.find((n) => n.did === did)
}

export function reachable(
  n: NodeView,
  epoch: number,
): n is NodeView & { ip: string; status: NonNullable<NodeView['status']> } {
  return n.ip !== undefined && n.status !== undefined && n.status.epoch === epoch
}

export const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')
export const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'))

export function manifestOf(state: RunbookState): RestartManifest | undefined {
  const m = state.runbook.manifest
  return m === undefined ? undefined : decodeManifest(unb64(m))
}

export { result }

export function waiting(state: RunbookState, step: StepName, message: string): StepResult {
  return result(progress(state, step, message), [], POLL_MS)
}

export function event(type: 'Normal' | 'Warning', reason: string, note: string): Effect {
  return { kind: 'event', type, reason, note }
}
