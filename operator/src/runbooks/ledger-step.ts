/**
 * The SubmitToLedger step shared by the runbooks whose declarations change ledger state (ADR
 * 0014), pure: carry the council-signed declaration onto the ledger (the recovery agent pays the
 * fee; every node checks the council's signatures itself) until the nodes report it in force,
 * resending a bounded number of times. A declaration whose actions change nothing on the ledger
 * skips it.
 */
import type { DisasterAction } from '../api/v1alpha1/types.ts'
import {
  attempt,
  finishStep,
  iso,
  note,
  parseIso,
  progress,
  remember,
  result,
  setPhase,
  skipRest,
  startStep,
} from './engine.ts'
import type { EffectOutcome, NodeView, Observation, RunbookRecord, RunbookState, StepResult } from './types.ts'

/** Resend the declaration when the nodes do not report it in force after this long. */
export const RESUBMIT_MS = 20_000
export const MAX_SUBMISSIONS = 6
const POLL_MS = 5_000

export type LedgerRecord = NonNullable<RunbookRecord['ledger']>
type Answering = NodeView & { ip: string; status: NonNullable<NodeView['status']> }

export const answering = (n: NodeView): n is Answering => n.ip !== undefined && n.status !== undefined

export const ledgerOf = (s: RunbookState): LedgerRecord => s.runbook.ledger ?? {}
export const withLedger = (s: RunbookState, p: Partial<LedgerRecord>): RunbookState =>
  remember(s, { ledger: { ...ledgerOf(s), ...p } })

/** The most advanced witness or standby that answers: its ledger says what is in force. */
export function reference(obs: Observation): Answering | undefined {
  let best: Answering | undefined
  for (const n of obs.nodes.filter(answering)) {
    if (n.role !== 'witness' && n.role !== 'standby') continue
    if (best === undefined || n.status.finalizedHeight > best.status.finalizedHeight) best = n
  }
  return best
}

/** What the declaration does on the ledger, as the nodes will read it (node declaration-actions.ts). */
export function ledgerActions(actions: readonly DisasterAction[]): string[] {
  const out: string[] = []
  for (const a of actions) {
    if (a.type === 'PauseModules') for (const m of a.pauseModules?.modules ?? []) out.push(`pause-module ${m}`)
    if (a.type === 'SetParameters') out.push('set-params')
    if (a.type === 'ScheduledUpgrade') out.push('upgrade-plan')
    if (a.type === 'Compensate') out.push(`compensate ${a.compensate?.transfers.length ?? 0} transfer(s)`)
    if (a.type === 'StateEdit') out.push(`stop-at ${(a.stateEdit?.height ?? 0) + 1}`)
    if (a.type === 'PausePoSRSlashing') out.push('storage-incident')
  }
  return out
}

/** The nodes hold this declaration's emergency record: it was applied. */
function inForce(obs: Observation, nonce: number | undefined): { height: number } | undefined {
  for (const n of obs.nodes.filter(answering)) {
    const by = n.status.governance?.emergency?.declared?.authorizedBy
    if (nonce !== undefined && by === `d${nonce}`) return { height: n.status.finalizedHeight }
  }
  return undefined
}

export function submitToLedger(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  let s = startStep(state, 'SubmitToLedger', now)
  const l = ledgerOf(s)
  if ((l.actions ?? []).length === 0) {
    s = finishStep(s, 'SubmitToLedger', now, 'Skipped', 'the declaration changes nothing on the ledger')
    return result(s)
  }
  const applied = inForce(obs, obs.nonce)
  if (applied !== undefined) {
    const compensated = obs.actions.flatMap((a) => a.compensate?.transfers ?? []).reduce((sum, t) => sum + t.amount, 0)
    const msg = `in force on the ledger from height ${applied.height}: ${(l.actions ?? []).join(', ')}`
    s = withLedger(s, { appliedAtHeight: applied.height, message: msg, ...(compensated > 0 ? { compensated } : {}) })
    s = finishStep(s, 'SubmitToLedger', now, 'Succeeded', msg)
    return result(s, [{ kind: 'event', type: 'Normal', reason: 'LedgerActionsApplied', note: msg }])
  }
  const last = parseIso(l.submittedAt)
  if (last !== undefined && now - last < RESUBMIT_MS) {
    return result(progress(s, 'SubmitToLedger', 'waiting for the nodes to report it in force'), [], 2_000)
  }
  if ((l.attempts ?? 0) >= MAX_SUBMISSIONS) {
    const msg = `sent ${l.attempts ?? 0} times; no node reports it in force (see the Events for the nodes' verdicts)`
    s = finishStep(s, 'SubmitToLedger', now, 'Failed', msg)
    s = skipRest(s, now, msg)
    return result(setPhase(s, 'Failed', now, msg), [
      { kind: 'event', type: 'Warning', reason: 'LedgerActionsRefused', note: msg },
    ])
  }
  const ref = reference(obs)
  if (ref === undefined) return result(progress(s, 'SubmitToLedger', 'no witness answers'), [], POLL_MS)
  s = withLedger(s, { submittedAt: iso(now), attempts: (l.attempts ?? 0) + 1 })
  const fee = ref.status.governance?.eventFee ?? 1
  return result(s, [{ kind: 'submitDeclaration', node: ref.node, ip: ref.ip, fee }], 2_000)
}

/** How a submission's outcome changes the state (the runbooks' `record` for submitDeclaration). */
export function recordSubmission(
  state: RunbookState,
  effect: { readonly node: string },
  outcome: EffectOutcome,
  nowMs: number,
): RunbookState {
  if (outcome.ok) return note(state, nowMs, `declaration sent to the ledger through ${effect.node}`)
  return note(
    attempt(state, 'SubmitToLedger'),
    nowMs,
    `${effect.node} refused the declaration (${outcome.code}: ${outcome.message})`,
  )
}
