/** How each effect's outcome changes the runbook state (pure). */
import type { RestartManifest } from '@echonet/node/governance'
import { encodeManifest, manifestHash } from '@echonet/node/restart'
import { attempt, fail, finishStep, iso, note, progress, remember, setPhase } from '../engine.ts'
import type { AuditRecord, Effect, EffectOutcome, RunbookState } from '../types.ts'
import { MAX_ATTEMPTS, TERMINAL_REFUSALS, b64 } from './common.ts'

export function record(state: RunbookState, effect: Effect, outcome: EffectOutcome, nowMs: number): RunbookState {
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
    case 'deliver':
      return recordDelivery(state, effect, outcome, nowMs)
    case 'audit': {
      const s = recordAudit(state, outcome, nowMs, 'Verify')
      return s.phase === 'Failed' || s.steps.find((x) => x.name === 'Verify')?.phase !== 'Succeeded'
        ? s
        : setPhase(s, 'Recovered', nowMs, `chain checked: ${s.runbook.audit?.message ?? ''}`)
    }
    case 'restoreResilience':
      if (!outcome.ok) return fail(state, 'RestoreResilience', nowMs, `${outcome.code}: ${outcome.message}`)
      return note(
        state,
        nowMs,
        `RestoreResilience: rekey ${effect.plan.rekey.join(', ') || 'none'}; retire ${effect.plan.retire.join(', ') || 'none'}; standbys to replace ${effect.plan.promoted.join(', ') || 'none'}`,
      )
    case 'event':
    case 'applyDefences':
    case 'readDefences':
    case 'liftDefences':
    case 'submitDeclaration':
    case 'setNetworkImage':
    case 'previewFork':
    case 'dhtRebootstrap':
    case 'setRepairPriorities':
    case 'storageRepair':
      return state
  }
}

/** A restart record handed to a node: adopted, refused for good (the step fails), or retried. */
export function recordDelivery(
  state: RunbookState,
  effect: Extract<Effect, { kind: 'deliver' }>,
  outcome: EffectOutcome,
  nowMs: number,
): RunbookState {
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

/** The independent read-back of the chain: `step` succeeds when it checks out, fails when it does not. */
export function recordAudit(state: RunbookState, outcome: EffectOutcome, nowMs: number, step: string): RunbookState {
  if (!outcome.ok)
    return attempt(progress(state, step, `reading blocks back failed (${outcome.code}): ${outcome.message}`), step)
  const a = outcome.value as AuditRecord & { lost: number; ok: boolean }
  const { lost, ok, ...audit } = a
  const s = { ...remember(state, { audit }), finalizedEventsLost: lost }
  if (!ok) return fail(s, step, nowMs, audit.message)
  return finishStep(s, step, nowMs, 'Succeeded', audit.message)
}
