/**
 * DisasterDeclaration status, pure: the runbook state plus the conditions (Authorized,
 * Progressing, Recovered, Failed) with observedGeneration, and the Events a change deserves.
 */
import { DeclarationCondition, setCondition } from '../../api/v1alpha1/conditions.ts'
import type { ConditionInput } from '../../api/v1alpha1/conditions.ts'
import type { DisasterDeclaration, DisasterDeclarationStatus } from '../../api/v1alpha1/types.ts'
import type { RunbookState } from '../../runbooks/types.ts'

export interface AuthorizationView {
  readonly ok: boolean
  readonly reason: string
  readonly message: string
}

/** The runbook state stored in `status` (a fresh runbook's when there is none yet). */
export function stateOf(decl: DisasterDeclaration, initial: () => RunbookState): RunbookState {
  const s = decl.status
  if (s?.steps === undefined || s.steps.length === 0) {
    const fresh = initial()
    return { ...fresh, phase: s?.phase ?? 'Pending' }
  }
  return {
    phase: s.phase ?? 'Pending',
    steps: s.steps,
    timeline: s.timeline ?? [],
    runbook: s.runbook ?? {},
    ...(s.rtoSeconds !== undefined ? { rtoSeconds: s.rtoSeconds } : {}),
    ...(s.finalizedEventsLost !== undefined ? { finalizedEventsLost: s.finalizedEventsLost } : {}),
    ...(s.postMortem !== undefined ? { postMortem: s.postMortem } : {}),
  }
}

export function declarationStatus(
  decl: DisasterDeclaration,
  state: RunbookState,
  auth: AuthorizationView | undefined,
  extra: { authorizedAt?: string; verifiedSigners?: readonly string[] },
  now: Date,
): DisasterDeclarationStatus {
  const prev = decl.status ?? {}
  const gen = decl.metadata.generation
  const running = state.steps.find((s) => s.phase === 'Running')
  const conds: ConditionInput[] = []
  if (auth !== undefined) {
    conds.push({
      type: DeclarationCondition.Authorized,
      status: auth.ok ? 'True' : 'False',
      reason: auth.reason,
      message: auth.message,
    })
  }
  const active = ['Authorized', 'Executing', 'Verifying', 'Recovered'].includes(state.phase)
  conds.push(
    active && running !== undefined
      ? {
          type: DeclarationCondition.Progressing,
          status: 'True',
          reason: running.name,
          message: running.message ?? `${running.name} is running`,
        }
      : {
          type: DeclarationCondition.Progressing,
          status: 'False',
          reason: state.phase === 'Pending' ? 'WaitingForAuthorization' : 'NotRunning',
          message: `phase ${state.phase}`,
        },
  )
  const recovered = state.rtoSeconds !== undefined && (state.phase === 'Recovered' || state.phase === 'Resolved')
  conds.push(
    recovered
      ? {
          type: DeclarationCondition.Recovered,
          status: 'True',
          reason: 'FinalityResumed',
          message: `finality resumed ${state.rtoSeconds ?? '?'} s after the fault; finalized events lost: ${state.finalizedEventsLost ?? '?'}`,
        }
      : {
          type: DeclarationCondition.Recovered,
          status: 'False',
          reason: 'NotRecovered',
          message: `phase ${state.phase}`,
        },
  )
  const failedStep = state.steps.find((s) => s.phase === 'Failed')
  conds.push(
    state.phase === 'Failed'
      ? {
          type: DeclarationCondition.Failed,
          status: 'True',
          reason: failedStep?.name ?? auth?.reason ?? 'Failed',
          message: failedStep?.message ?? auth?.message ?? 'failed',
        }
      : { type: DeclarationCondition.Failed, status: 'False', reason: 'NotFailed', message: `phase ${state.phase}` },
  )
  let conditions = prev.conditions
  for (const c of conds) conditions = setCondition(conditions, c, gen, now)
  return {
    ...prev,
    ...(gen !== undefined ? { observedGeneration: gen } : {}),
    conditions: conditions ?? [],
    phase: state.phase,
    steps: [...state.steps],
    timeline: [...state.timeline],
    runbook: state.runbook,
    ...(extra.authorizedAt !== undefined ? { authorizedAt: extra.authorizedAt } : {}),
    ...(extra.verifiedSigners !== undefined ? { verifiedSigners: [...extra.verifiedSigners] } : {}),
    ...(state.rtoSeconds !== undefined ? { rtoSeconds: state.rtoSeconds } : {}),
    ...(state.finalizedEventsLost !== undefined ? { finalizedEventsLost: state.finalizedEventsLost } : {}),
    ...(state.postMortem !== undefined ? { postMortem: state.postMortem } : {}),
  }
}

/** One Event per step that changed phase, and per declaration phase change. */
export function transitions(
  before: RunbookState,
  after: RunbookState,
): { type: 'Normal' | 'Warning'; reason: string; note: string }[] {
  const out: { type: 'Normal' | 'Warning'; reason: string; note: string }[] = []
  const was = new Map(before.steps.map((s) => [s.name, s.phase]))
  for (const s of after.steps) {
    if (was.get(s.name) === s.phase) continue
    out.push({
      type: s.phase === 'Failed' ? 'Warning' : 'Normal',
      reason: `Step${s.phase}`,
      note: `${s.name}: ${s.phase}${s.message !== undefined ? ` — ${s.message}` : ''}`,
    })
  }
  if (before.phase !== after.phase) {
    out.push({
      type: after.phase === 'Failed' ? 'Warning' : 'Normal',
      reason: after.phase,
      note: `declaration is ${after.phase}`,
    })
  }
  return out
}
