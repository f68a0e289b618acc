/**
 * Standard conditions (metav1.Condition semantics, as controller-runtime's `meta.SetStatusCondition`):
 * pure helpers that return new arrays, never mutate, and keep `lastTransitionTime` while the status
 * does not change, so that an unchanged reconcile produces an identical status (no API write).
 */
import type { Condition } from './types.ts'

export type ConditionStatus = Condition['status']

export interface ConditionInput {
  readonly type: string
  readonly status: ConditionStatus
  /** CamelCase, e.g. `QuorumLost`. */
  readonly reason: string
  readonly message: string
}

/** Condition types of EchoNetNetwork (DESIGN §6). */
export const NetworkCondition = {
  Ready: 'Ready',
  Progressing: 'Progressing',
  Degraded: 'Degraded',
  QuorumAvailable: 'QuorumAvailable',
  ConsensusHalted: 'ConsensusHalted',
  StorageDegraded: 'StorageDegraded',
  DHTDegraded: 'DHTDegraded',
  /** The council's records on the ledger: a halt, module pauses, a scheduled upgrade, a declared scenario. */
  EmergencyInForce: 'EmergencyInForce',
} as const

/** Condition types of WitnessPool. */
export const PoolCondition = { Ready: 'Ready', Progressing: 'Progressing', Degraded: 'Degraded' } as const

/** Condition types of DisasterDeclaration. */
export const DeclarationCondition = {
  Authorized: 'Authorized',
  Progressing: 'Progressing',
  Recovered: 'Recovered',
  Failed: 'Failed',
} as const

/** Kubernetes' limit on condition messages. */
export const MAX_CONDITION_MESSAGE = 32_768
const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/

/** RFC 3339 with second precision, as metav1.Time serializes. */
export function toK8sTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/**
 * Returns `conditions` with `input` set for `generation`. `lastTransitionTime` becomes `now` only
 * when the condition is new or its status changes; reason, message and observedGeneration are
 * always updated. Returns the same array (identity) when nothing changes.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  generation: number | undefined,
  now: Date,
): Condition[] {
  if (!REASON.test(input.reason)) throw new Error(`condition reason must be CamelCase: ${JSON.stringify(input.reason)}`)
  const list = conditions ?? []
  const message =
    input.message.length > MAX_CONDITION_MESSAGE
      ? `${input.message.slice(0, MAX_CONDITION_MESSAGE - 1)}…`
      : input.message
  const existing = list.find((c) => c.type === input.type)
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message,
    lastTransitionTime:
      existing !== undefined && existing.status === input.status ? existing.lastTransitionTime : toK8sTime(now),
  }
  if (generation !== undefined) next.observedGeneration = generation
  if (existing !== undefined && sameCondition(existing, next)) return list as Condition[]
  return existing === undefined ? [...list, next] : list.map((c) => (c.type === input.type ? next : c))
}

function sameCondition(a: Condition, b: Condition): boolean {
  return (
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.lastTransitionTime === b.lastTransitionTime &&
    a.observedGeneration === b.observedGeneration
  )
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type)
}

/** True when the condition exists with status True (and, if given, is not stale for `generation`). */
export function isConditionTrue(
  conditions: readonly Condition[] | undefined,
  type: string,
  generation?: number,
): boolean {
  const c = getCondition(conditions, type)
  if (c?.status !== 'True') return false
  return generation === undefined || c.observedGeneration === undefined || c.observedGeneration >= generation
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  const list = conditions ?? []
  return list.some((c) => c.type === type) ? list.filter((c) => c.type !== type) : (list as Condition[])
}
