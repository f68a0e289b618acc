import type { Env } from '../env.ts'
import { effectiveParams } from '../env.ts'
import { LedgerError } from '../errors.ts'
import type { LedgerErrorCode } from '../errors.ts'
import type { EventPayloadMap } from '../event.ts'
import { verifyCouncilAuthorization } from '../governance-payloads.ts'
import type { CouncilActionBody } from '../governance-payloads.ts'
import { verifyDeclarationByCouncil } from '../declaration-payload.ts'
import type { DeclarationPayload } from '../declaration-payload.ts'
import { declarationLedgerActions } from '../declaration-actions.ts'
import { paramsProblem } from '../params.ts'
import type { ParamName, Params } from '../params.ts'
import { KEYS, NS } from '../state.ts'
import type { Overlay } from '../store.ts'
import type {
  AuthorizationRecord,
  AuthorizationRef,
  CouncilNonce,
  EmergencyState,
  ParamOverride,
  RecoveryPolicyRecord,
  UpgradePlan,
} from '../state.ts'
import { credit, debitTreasury, treasuryBalance } from './accounts.ts'
import { getAuthorizations, getCouncil, getEmergency, getOverrides, getPauses } from './governance-state.ts'
import { setReputation } from './reputation.ts'
import { changeWitnessSet } from './staking.ts'

/**
 * Governance: council actions, verified by the ledger itself (DESIGN §5): ≥ threshold distinct
 * current members signed the canonical payload, it is for this network, unexpired, and its nonce
 * unused. The council changes itself by council action.
 */
export function applyCouncilAction(env: Env, p: EventPayloadMap['governance.council-action']): CouncilActionBody {
  const a = p.action
  if (a.chainId !== env.chainId) {
    throw new LedgerError('WRONG_CHAIN', `council action is for ${a.chainId}, this is ${env.chainId}`)
  }
  const r = verifyCouncilAuthorization(a, p.signatures, getCouncil(env.ov), env.ctx.timeMs)
  if (!r.ok) throw new LedgerError(r.code, r.message)
  const nonceKey = KEYS.councilNonce(a.nonce)
  if (env.ov.get(nonceKey) !== undefined) throw new LedgerError('BAD_NONCE', `council nonce ${a.nonce} was used`)
  pruneNonces(env, NS.councilNonce)
  env.ov.set(nonceKey, { expiresAtMs: a.expiresAtMs })
  const ref = `c${a.nonce}`
  apply(env, a.action, a.expiresAtMs, a.nonce, ref)
  keepAuthorization(env, ref, { kind: 'council-action', height: env.ctx.height, payload: a, signatures: p.signatures })
  return a.action
}

/**
 * Mempool admission of a council action, against the committed state: the checks execution would
 * fail it on (network, council signatures and threshold, expiry at the last block's time, nonce
 * unused). Refusing here gives the sender the stable code at once instead of an event that pays
 * nothing and does nothing; execution checks everything again.
 */
export function councilActionAdmission(
  ov: Overlay,
  p: EventPayloadMap['governance.council-action'],
  at: { chainId: string; timeMs: number },
): LedgerErrorCode | undefined {
  if (p.action.chainId !== at.chainId) return 'WRONG_CHAIN'
  const r = verifyCouncilAuthorization(p.action, p.signatures, getCouncil(ov), at.timeMs)
  if (!r.ok) return r.code
  if (ov.get(KEYS.councilNonce(p.action.nonce)) !== undefined) return 'BAD_NONCE'
  return undefined
}

/**
 * A council-signed disaster declaration (declaration-actions.ts): its ledger actions are applied
 * together, or none of them. Only the council's own signatures count here — a standing policy's
 * agent can run a runbook but never change ledger state through a declaration.
 */
export function applyDeclaration(env: Env, p: EventPayloadMap['governance.declaration']): CouncilActionBody[] {
  const d = p.declaration
  const r = verifyDeclarationByCouncil(d, p.signatures, getCouncil(env.ov), {
    chainId: env.chainId,
    nowMs: env.ctx.timeMs,
  })
  if (!r.ok) throw new LedgerError(r.code, r.message)
  if (d.dryRun) throw new LedgerError('INVALID_PAYLOAD', 'a dry-run declaration authorizes nothing')
  const nonceKey = KEYS.declarationNonce(d.nonce)
  if (env.ov.get(nonceKey) !== undefined) throw new LedgerError('BAD_NONCE', `declaration nonce ${d.nonce} was used`)
  const actions = declarationLedgerActions(d, env.ctx.timeMs)
  if (!actions.ok) throw new LedgerError('INVALID_PAYLOAD', actions.problem)
  pruneNonces(env, NS.declarationNonce)
  env.ov.set(nonceKey, { expiresAtMs: d.expiresAtMs })
  const ref = `d${d.nonce}`
  for (const body of actions.actions) apply(env, body, d.expiresAtMs, d.nonce, ref)
  // A declaration's emergency lapses with it; its time-boxed actions carry their own ends.
  const em = getEmergency(env.ov)
  if (em.declared !== undefined) setEmergency(env, { ...em, declared: { ...em.declared, untilMs: d.expiresAtMs } })
  // So does a storage incident it declared (PoSR slashing paused), or sooner if it says how long.
  const incident = getEmergency(env.ov).storageIncident
  if (incident?.authorizedBy === ref) {
    setEmergency(env, {
      ...getEmergency(env.ov),
      storageIncident: { ...incident, untilMs: Math.min(d.expiresAtMs, incidentEnd(d, env.ctx.timeMs)) },
    })
  }
  keepAuthorization(env, ref, { kind: 'declaration', height: env.ctx.height, payload: d, signatures: p.signatures })
  return actions.actions
}

/** Block time + PausePoSRSlashing.durationSeconds, or never (the declaration's expiry bounds it). */
function incidentEnd(d: DeclarationPayload, timeMs: number): number {
  type Pause = { type?: unknown; pausePoSRSlashing?: { durationSeconds?: unknown } }
  const a = d.actions.find((x) => typeof x === 'object' && x !== null && (x as Pause).type === 'PausePoSRSlashing')
  const secs = (a as Pause | undefined)?.pausePoSRSlashing?.durationSeconds
  return typeof secs === 'number' && Number.isSafeInteger(secs) && secs > 0
    ? timeMs + secs * 1000
    : Number.MAX_SAFE_INTEGER
}

/** An expired payload can never verify again, so its nonce need not be remembered. */
function pruneNonces(env: Env, ns: string): void {
  for (const key of env.ov.keys(ns)) {
    if ((env.ov.get(key) as CouncilNonce).expiresAtMs <= env.ctx.timeMs) env.ov.delete(key)
  }
}

function keepAuthorization(env: Env, ref: AuthorizationRef, rec: AuthorizationRecord): void {
  env.ov.set(KEYS.authorizations, { ...getAuthorizations(env.ov), [ref]: rec })
}

function withReason<T extends object>(o: T, reason: string | undefined): T & { reason?: string } {
  return reason === undefined ? o : { ...o, reason }
}

function setEmergency(env: Env, e: EmergencyState): void {
  env.ov.set(KEYS.emergency, e)
}

function omit<T extends object, K extends keyof T & string>(o: T, ...keys: K[]): Omit<T, K> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !(keys as string[]).includes(k))) as Omit<T, K>
}

function apply(env: Env, b: CouncilActionBody, expiresAtMs: number, nonce: number, auth: AuthorizationRef): void {
  const { height, timeMs } = env.ctx
  const em = getEmergency(env.ov)
  switch (b.kind) {
    case 'declare-emergency':
      setEmergency(env, {
        ...em,
        declared: withReason(
          { scenario: b.scenario, sinceMs: timeMs, sinceHeight: height, authorizedBy: auth },
          b.reason,
        ),
      })
      return
    case 'resolve-emergency':
      setEmergency(env, omit(em, 'declared'))
      return
    case 'halt':
      setEmergency(env, { ...em, halted: withReason({ sinceHeight: height, authorizedBy: auth }, b.reason) })
      return
    case 'stop-at':
      if (b.height <= height) throw new LedgerError('INVALID_PAYLOAD', `stop height ${b.height} is not in the future`)
      setEmergency(env, {
        ...em,
        stopAt: withReason({ height: b.height, sinceHeight: height, authorizedBy: auth }, b.reason),
      })
      return
    case 'resume':
      setEmergency(env, omit(em, 'halted', 'stopAt'))
      return
    case 'storage-incident':
      setEmergency(
        env,
        b.active
          ? { ...em, storageIncident: withReason({ sinceHeight: height, authorizedBy: auth }, b.reason) }
          : omit(em, 'storageIncident'),
      )
      return
    case 'pause-module': {
      if (
        (b.untilMs !== undefined && b.untilMs <= timeMs) ||
        (b.untilHeight !== undefined && b.untilHeight <= height)
      ) {
        throw new LedgerError('EXPIRED', 'the pause would already be over')
      }
      const rec = withReason(
        {
          sinceHeight: height,
          authorizedBy: auth,
          ...(b.untilMs === undefined ? {} : { untilMs: b.untilMs }),
          ...(b.untilHeight === undefined ? {} : { untilHeight: b.untilHeight }),
        },
        b.reason,
      )
      env.ov.set(KEYS.pauses, { ...getPauses(env.ov), [b.module]: rec })
      return
    }
    case 'unpause-module':
      env.ov.set(KEYS.pauses, omit(getPauses(env.ov), b.module))
      return
    case 'set-params':
      setParams(env, b.params, b.expiresAtMs, auth)
      return
    case 'witness-set-change':
      changeWitnessSet(env, b.promote, b.demote)
      return
    case 'upgrade-plan': {
      if (b.height <= height)
        throw new LedgerError('INVALID_PAYLOAD', `upgrade height ${b.height} is not in the future`)
      const plan: UpgradePlan = {
        name: b.name,
        height: b.height,
        binaryDigest: b.binaryDigest,
        minVersion: b.minVersion,
        setAtHeight: height,
        authorizedBy: auth,
      }
      env.ov.set(KEYS.upgrade, plan)
      return
    }
    case 'cancel-upgrade': {
      const plan = env.ov.get(KEYS.upgrade) as UpgradePlan | undefined
      if (plan?.name !== b.name) throw new LedgerError('NOT_FOUND', `no upgrade plan named ${b.name}`)
      env.ov.delete(KEYS.upgrade)
      return
    }
    case 'compensate': {
      const available = treasuryBalance(env.ov)
      let total = 0
      for (const t of b.transfers) {
        total += t.amount
        if (total > available) {
          throw new LedgerError('INSUFFICIENT_FUNDS', `treasury holds ${available}, compensation exceeds it`)
        }
      }
      debitTreasury(env, total)
      for (const t of b.transfers) credit(env, t.to, t.amount)
      return
    }
    case 'council-change':
      env.ov.set(KEYS.council, { members: [...b.members].sort(), threshold: b.threshold })
      return
    case 'set-reputation':
      setReputation(env, b.did, b.score)
      return
    case 'standing-recovery-policy': {
      const rec: RecoveryPolicyRecord = {
        agent: b.agent,
        quorumLossSeconds: b.quorumLossSeconds,
        maxPromotions: b.maxPromotions,
        standbys: [...b.standbys].sort(),
        expiresAtMs,
        nonce,
        setAtHeight: height,
      }
      env.ov.set(KEYS.recoveryPolicy, rec)
      return
    }
  }
}

/**
 * Without expiresAtMs the change is permanent (and replaces any override of the same name);
 * with it, each value is a temporary override that reverts at that block time.
 */
function setParams(
  env: Env,
  changes: Partial<Record<ParamName, number>>,
  expiresAtMs: number | undefined,
  auth: AuthorizationRef,
): void {
  const { height, timeMs } = env.ctx
  const base = env.ov.get(KEYS.params) as Params
  let overrides = getOverrides(env.ov)
  let nextBase = base
  if (expiresAtMs === undefined) {
    nextBase = { ...base, ...changes }
    overrides = omit(overrides, ...(Object.keys(changes) as ParamName[]))
  } else {
    if (expiresAtMs <= timeMs) throw new LedgerError('EXPIRED', 'the override would already have expired')
    const added: Partial<Record<ParamName, ParamOverride>> = {}
    for (const [name, value] of Object.entries(changes) as [ParamName, number][]) {
      added[name] = { value, expiresAtMs, setAtHeight: height, authorizedBy: auth }
    }
    overrides = { ...overrides, ...added }
  }
  // Both what holds now and what holds once the overrides expire must be coherent.
  const problem = paramsProblem(effectiveParams(nextBase, overrides, timeMs)) ?? paramsProblem(nextBase)
  if (problem !== undefined) throw new LedgerError('INVALID_PAYLOAD', problem)
  env.ov.set(KEYS.params, nextBase)
  env.ov.set(KEYS.overrides, overrides)
}
