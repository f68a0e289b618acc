import type { Env } from '../env.ts'
import { effectiveParams } from '../env.ts'
import { LedgerError } from '../errors.ts'
import type { EventPayloadMap } from '../event.ts'
import { verifyCouncilAuthorization } from '../governance-payloads.ts'
import type { CouncilActionBody } from '../governance-payloads.ts'
import { paramsProblem } from '../params.ts'
import type { ParamName, Params } from '../params.ts'
import { KEYS, NS } from '../state.ts'
import type { CouncilNonce, EmergencyState, ParamOverride, RecoveryPolicyRecord, UpgradePlan } from '../state.ts'
import { credit, debitTreasury, treasuryBalance } from './accounts.ts'
import { getCouncil, getEmergency, getOverrides, getPauses } from './governance-state.ts'
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
  pruneCouncilNonces(env)
  env.ov.set(nonceKey, { expiresAtMs: a.expiresAtMs })
  apply(env, a.action, a.expiresAtMs, a.nonce)
  return a.action
}

/** An expired action can never verify again, so its nonce need not be remembered. */
function pruneCouncilNonces(env: Env): void {
  for (const key of env.ov.keys(NS.councilNonce)) {
    if ((env.ov.get(key) as CouncilNonce).expiresAtMs <= env.ctx.timeMs) env.ov.delete(key)
  }
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

function apply(env: Env, b: CouncilActionBody, expiresAtMs: number, nonce: number): void {
  const { height, timeMs } = env.ctx
  const em = getEmergency(env.ov)
  switch (b.kind) {
    case 'declare-emergency':
      setEmergency(env, {
        ...em,
        declared: withReason({ scenario: b.scenario, sinceMs: timeMs, sinceHeight: height }, b.reason),
      })
      return
    case 'resolve-emergency':
      setEmergency(env, omit(em, 'declared'))
      return
    case 'halt':
      setEmergency(env, { ...em, halted: withReason({ sinceHeight: height }, b.reason) })
      return
    case 'resume':
      setEmergency(env, omit(em, 'halted'))
      return
    case 'storage-incident':
      setEmergency(
        env,
        b.active
          ? { ...em, storageIncident: withReason({ sinceHeight: height }, b.reason) }
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
      setParams(env, b.params, b.expiresAtMs)
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
function setParams(env: Env, changes: Partial<Record<ParamName, number>>, expiresAtMs: number | undefined): void {
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
      added[name] = { value, expiresAtMs, setAtHeight: height }
    }
    overrides = { ...overrides, ...added }
  }
  // Both what holds now and what holds once the overrides expire must be coherent.
  const problem = paramsProblem(effectiveParams(nextBase, overrides, timeMs)) ?? paramsProblem(nextBase)
  if (problem !== undefined) throw new LedgerError('INVALID_PAYLOAD', problem)
  env.ov.set(KEYS.params, nextBase)
  env.ov.set(KEYS.overrides, overrides)
}
