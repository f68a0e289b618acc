/**
 * The canonical, domain-separated payload of a disaster declaration (DESIGN §5, §6): what council
 * members sign to authorize the operator to run a runbook, and what the operator's recovery agent
 * signs when it declares under the council's standing recovery policy. Deterministic DAG-CBOR, so
 * a signature made offline from the declaration's YAML verifies wherever the same fields are read.
 */
import { isDid, publicKeyFromDid } from '../crypto/did.ts'
import type { Did } from '../crypto/did.ts'
import { verify } from '../crypto/ed25519.ts'
import type { Signer } from '../crypto/ed25519.ts'
import { signingBytes } from '../crypto/signing.ts'
import { checkSignatures } from './council-signatures.ts'
import type { CouncilSpec, SignersResult } from './council-signatures.ts'

export const DECLARATION_DOMAIN = 'echonet/disaster-declaration/v1'

export type DeclarationScenario = 'WitnessLoss' | 'DataUnavailability' | 'CriticalFlaw' | 'NetworkAttack'

export interface DeclarationPayload {
  domain: typeof DECLARATION_DOMAIN
  /** The network id: a signature for one network is worthless on another. */
  chainId: string
  scenario: DeclarationScenario
  /** The ordered actions, with every default filled in (what will run, not what was typed). */
  actions: unknown[]
  /** Part of what is signed: a dry run's signatures never authorize a real run. */
  dryRun: boolean
  /** Unique per declaration of a network: a replayed declaration is refused. */
  nonce: number
  expiresAtMs: number
}

export interface DeclarationSignature {
  did: Did
  sig: Uint8Array
}

const CHAIN_ID = /^[a-z0-9][a-z0-9-]{0,62}$/
const SCENARIOS: readonly string[] = ['WitnessLoss', 'DataUnavailability', 'CriticalFlaw', 'NetworkAttack']

/** Drops `undefined` (DAG-CBOR cannot encode it) and checks that only plain JSON values remain. */
function plain(v: unknown, path: string): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new TypeError(`${path} must be an integer (declarations carry no floats)`)
    return v
  }
  if (Array.isArray(v)) return v.map((x, i) => plain(x, `${path}[${i}]`))
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v as Record<string, unknown>))
      if (x !== undefined) out[k] = plain(x, `${path}.${k}`)
    return out
  }
  throw new TypeError(`${path} is not a plain JSON value`)
}

/** A readable problem with the payload's shape, or undefined. */
export function declarationPayloadProblem(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null) return 'the declaration payload must be an object'
  const p = input as Partial<Record<keyof DeclarationPayload, unknown>>
  if (p.domain !== DECLARATION_DOMAIN) return `domain must be ${DECLARATION_DOMAIN}`
  if (typeof p.chainId !== 'string' || !CHAIN_ID.test(p.chainId)) return 'chainId is not a valid network id'
  if (typeof p.scenario !== 'string' || !SCENARIOS.includes(p.scenario))
    return `scenario must be one of ${SCENARIOS.join(', ')}`
  if (!Array.isArray(p.actions) || p.actions.length === 0 || p.actions.length > 32)
    return 'actions must list 1 to 32 actions'
  if (typeof p.dryRun !== 'boolean') return 'dryRun must be a boolean'
  if (typeof p.nonce !== 'number' || !Number.isSafeInteger(p.nonce) || p.nonce < 0)
    return 'nonce must be a non-negative integer'
  if (typeof p.expiresAtMs !== 'number' || !Number.isSafeInteger(p.expiresAtMs) || p.expiresAtMs <= 0)
    return 'expiresAtMs must be a positive integer'
  try {
    plain(p.actions, 'actions')
  } catch (err) {
    return (err as Error).message
  }
  return undefined
}

export function declarationBytes(p: DeclarationPayload): Uint8Array {
  return signingBytes('disaster-declaration', plain(p, 'declaration'))
}

export function signDeclaration(signer: Signer, did: Did, p: DeclarationPayload): DeclarationSignature {
  return { did, sig: signer.sign(declarationBytes(p)) }
}

/**
 * ≥ threshold distinct members of `council` (as the ledger holds it now) signed the payload, it is
 * for `chainId`, and it has not expired. A forged member signature refuses the whole set.
 */
export function verifyDeclarationByCouncil(
  p: DeclarationPayload,
  signatures: readonly DeclarationSignature[],
  council: CouncilSpec,
  ctx: { chainId: string; nowMs: number },
): SignersResult {
  const problem = declarationPayloadProblem(p)
  if (problem !== undefined) return { ok: false, code: 'INVALID_PAYLOAD', message: problem }
  if (p.chainId !== ctx.chainId) {
    return {
      ok: false,
      code: 'WRONG_CHAIN',
      message: `declaration is for network ${p.chainId}, this is ${ctx.chainId}`,
    }
  }
  if (ctx.nowMs >= p.expiresAtMs) {
    return { ok: false, code: 'EXPIRED', message: `declaration expired at ${new Date(p.expiresAtMs).toISOString()}` }
  }
  if (signatures.length === 0) {
    return {
      ok: false,
      code: 'COUNCIL_THRESHOLD_NOT_MET',
      message: `unsigned: ${council.threshold} council signatures required`,
    }
  }
  return checkSignatures(declarationBytes(p), signatures, council, 'declaration')
}

/** The recovery agent named by a standing policy signed the payload (the policy itself is checked apart). */
export function verifyDeclarationByAgent(
  p: DeclarationPayload,
  agent: string,
  signature: DeclarationSignature,
  ctx: { chainId: string; nowMs: number },
): SignersResult {
  const problem = declarationPayloadProblem(p)
  if (problem !== undefined) return { ok: false, code: 'INVALID_PAYLOAD', message: problem }
  if (p.chainId !== ctx.chainId) {
    return {
      ok: false,
      code: 'WRONG_CHAIN',
      message: `declaration is for network ${p.chainId}, this is ${ctx.chainId}`,
    }
  }
  if (ctx.nowMs >= p.expiresAtMs) {
    return { ok: false, code: 'EXPIRED', message: `declaration expired at ${new Date(p.expiresAtMs).toISOString()}` }
  }
  if (!isDid(agent) || signature.did !== agent) {
    return { ok: false, code: 'UNAUTHORIZED', message: `the declaration must be signed by the policy agent ${agent}` }
  }
  if (!verify(publicKeyFromDid(agent), declarationBytes(p), signature.sig)) {
    return { ok: false, code: 'BAD_SIGNATURE', message: 'the agent signature over the declaration does not verify' }
  }
  return { ok: true, signers: [agent] }
}
