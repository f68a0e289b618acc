/**
 * Authorization of a DisasterDeclaration (DESIGN §5, §6), pure: checked before anything runs.
 * Either ≥ threshold signatures of the council as the ledger holds it now, over the declaration's
 * canonical payload; or the network's council-signed standing recovery policy plus the recovery
 * agent's signature, within the policy's bounds. Every refusal carries a reason a person can act
 * on, and says whether more signatures could still fix it (the declaration waits in Pending) or
 * not (it fails).
 */
import {
  decodeCouncilAction,
  verifyCouncilAuthorization,
  verifyDeclarationByAgent,
  verifyDeclarationByCouncil,
} from '@echonet/node/governance'
import type { CouncilAction, CouncilSignature, CouncilSpec, DeclarationPayload } from '@echonet/node/governance'
import { declarationPayload } from '../../api/v1alpha1/declaration-payload.ts'
import { STANDING_POLICY_ACTIONS } from '../../api/v1alpha1/schema.ts'
import type { DisasterDeclaration, EchoNetNetwork } from '../../api/v1alpha1/types.ts'

export const REFUSAL_REASONS = [
  'Unsigned',
  'ThresholdNotMet',
  'BadSignature',
  'Expired',
  'Replayed',
  'WrongNetwork',
  'OutsidePolicy',
  'NoStandingPolicy',
  'InvalidDeclaration',
  'NoCouncilView',
  'AnotherDeclarationActive',
] as const
export type RefusalReason = (typeof REFUSAL_REASONS)[number]

/** The parts of a standing recovery policy a runbook needs. */
export interface StandingPolicy {
  readonly action: CouncilAction
  readonly signatures: CouncilSignature[]
  readonly agent: string
  readonly maxPromotions: number
  readonly standbys: readonly string[]
  readonly quorumLossSeconds: number
  readonly expiresAtMs: number
}

export type Authorization =
  | {
      readonly ok: true
      readonly mode: 'council' | 'policy'
      readonly signers: readonly string[]
      readonly payload: DeclarationPayload
      readonly policy?: StandingPolicy
    }
  | {
      readonly ok: false
      readonly reason: RefusalReason
      readonly message: string
      /** More signatures (or a fixed signature) could still authorize it: keep it Pending. */
      readonly retryable: boolean
    }

export interface AuthorizationContext {
  /** The council as the most advanced node's ledger holds it now; undefined when no node answered. */
  readonly council: CouncilSpec | undefined
  readonly nowMs: number
  /** Nonces other declarations of this network used while unexpired, by declaration name. */
  readonly usedNonces: ReadonlyMap<number, string>
}

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'))

const refuse = (reason: RefusalReason, message: string, retryable = false): Authorization => ({
  ok: false,
  reason,
  message,
  retryable,
})

/** The network's standing recovery policy, verified against the council now; or why it is unusable. */
export function standingPolicy(
  network: EchoNetNetwork,
  council: CouncilSpec,
  nowMs: number,
): { policy: StandingPolicy } | { problem: string } | undefined {
  const sp = network.spec.recovery.standingPolicy
  if (sp === undefined) return undefined
  const decoded = decodeCouncilAction(b64(sp.payload))
  if ('problem' in decoded) return { problem: `recovery.standingPolicy.payload: ${decoded.problem}` }
  const action = decoded.action
  if (action.action.kind !== 'standing-recovery-policy') {
    return { problem: `recovery.standingPolicy.payload is a ${action.action.kind} action` }
  }
  if (action.chainId !== network.spec.networkId) {
    return { problem: `the standing policy is for network ${action.chainId}, not ${network.spec.networkId}` }
  }
  const signatures = sp.signatures.map((s) => ({ did: s.did as CouncilSignature['did'], sig: b64(s.signature) }))
  const v = verifyCouncilAuthorization(action, signatures, council, nowMs)
  if (!v.ok) return { problem: `the standing policy is not valid now (${v.code}): ${v.message}` }
  const body = action.action
  return {
    policy: {
      action,
      signatures,
      agent: body.agent,
      maxPromotions: body.maxPromotions,
      standbys: body.standbys,
      quorumLossSeconds: body.quorumLossSeconds,
      expiresAtMs: action.expiresAtMs,
    },
  }
}

export function authorize(
  network: EchoNetNetwork,
  decl: DisasterDeclaration,
  ctx: AuthorizationContext,
): Authorization {
  const spec = decl.spec
  const chainId = network.spec.networkId
  if (spec.networkId !== undefined && spec.networkId !== chainId) {
    return refuse(
      'WrongNetwork',
      `the declaration was signed for network ${spec.networkId}; ${network.metadata.name ?? ''} is ${chainId}`,
    )
  }
  let payload: DeclarationPayload
  try {
    payload = declarationPayload(spec, chainId)
  } catch (err) {
    return refuse('InvalidDeclaration', (err as Error).message)
  }
  if (ctx.nowMs >= payload.expiresAtMs) return refuse('Expired', `the declaration expired at ${spec.expiresAt ?? ''}`)
  const previous = ctx.usedNonces.get(payload.nonce)
  if (previous !== undefined && previous !== decl.metadata.name) {
    return refuse('Replayed', `nonce ${payload.nonce} was already used by declaration ${previous} of this network`)
  }
  if (ctx.council === undefined) {
    return refuse('NoCouncilView', 'no witness or standby answered: the council cannot be read from the ledger', true)
  }
  const signed = { chainId, nowMs: ctx.nowMs }

  if (spec.standingPolicy !== undefined) {
    const found = standingPolicy(network, ctx.council, ctx.nowMs)
    if (found === undefined) return refuse('NoStandingPolicy', 'the network has no recovery.standingPolicy')
    if ('problem' in found) return refuse('NoStandingPolicy', found.problem)
    const policy = found.policy
    if (spec.standingPolicy.agentDid !== policy.agent) {
      return refuse(
        'OutsidePolicy',
        `signed by ${spec.standingPolicy.agentDid}; the policy names the agent ${policy.agent}`,
      )
    }
    if (spec.scenario !== 'WitnessLoss') {
      return refuse('OutsidePolicy', `a standing recovery policy covers WitnessLoss only, not ${spec.scenario}`)
    }
    const outside = spec.actions.find((a) => !STANDING_POLICY_ACTIONS.includes(a.type))
    if (outside !== undefined) return refuse('OutsidePolicy', `${outside.type} needs council signatures`)
    const count = spec.actions.find((a) => a.type === 'PromoteStandbys')?.promoteStandbys?.count
    if (count !== undefined && count > policy.maxPromotions) {
      return refuse('OutsidePolicy', `promotes ${count} standbys; the policy allows ${policy.maxPromotions}`)
    }
    if (spec.actions.some((a) => a.type === 'CoordinatedRestart' && a.coordinatedRestart?.height !== undefined)) {
      return refuse('OutsidePolicy', 'the policy restarts from the highest certified height only')
    }
    const v = verifyDeclarationByAgent(
      payload,
      policy.agent,
      { did: spec.standingPolicy.agentDid as CouncilSignature['did'], sig: b64(spec.standingPolicy.signature) },
      signed,
    )
    if (!v.ok) return refuse(v.code === 'EXPIRED' ? 'Expired' : 'BadSignature', v.message)
    return { ok: true, mode: 'policy', signers: v.signers, payload, policy }
  }

  const sigs = (spec.councilSignatures ?? []).map((s) => ({
    did: s.did as CouncilSignature['did'],
    sig: b64(s.signature),
  }))
  if (sigs.length === 0) {
    return refuse(
      'Unsigned',
      `unsigned: ${ctx.council.threshold} of the ${ctx.council.members.length} council members must sign (kubectl echonet council sign)`,
      true,
    )
  }
  const v = verifyDeclarationByCouncil(payload, sigs, ctx.council, signed)
  if (v.ok) return { ok: true, mode: 'council', signers: v.signers, payload }
  switch (v.code) {
    case 'COUNCIL_THRESHOLD_NOT_MET':
      return refuse('ThresholdNotMet', v.message, true)
    case 'BAD_SIGNATURE':
      return refuse('BadSignature', v.message, true)
    case 'EXPIRED':
      return refuse('Expired', v.message)
    case 'WRONG_CHAIN':
      return refuse('WrongNetwork', v.message)
    default:
      return refuse('InvalidDeclaration', v.message)
  }
}
