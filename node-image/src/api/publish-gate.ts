import { publishAuthorizationProblem } from '../ledger/publish-authorization.ts'
import type { SignedPublishAuthorization } from '../ledger/publish-authorization.ts'
import { CodedError } from '../util/coded-error.ts'

/**
 * The node's checks of a creator's publish authorization (ADR 0016), made before the body is read
 * (signature, network, expiry, fee, funds, nonce) and after it was spooled (the body is the one
 * authorized). Pure decisions; the content service and the HTTP route act on them.
 */

export const PUBLISH_GATE_CODES = [
  /** No authorization came with the upload (HTTP 401). */
  'PUBLISH_UNAUTHENTICATED',
  /** The authorization is malformed (HTTP 400). */
  'INVALID_AUTHORIZATION',
  /** Its signature does not verify for the creator it names (HTTP 401). */
  'BAD_SIGNATURE',
  /** It has expired (HTTP 401). */
  'EXPIRED',
  /** It is for another network (HTTP 403). */
  'WRONG_CHAIN',
  /** The registration fee now is above the authorization's maxFee (HTTP 402). */
  'FEE_ABOVE_MAX',
  /** The creator's balance cannot pay the registration fee (HTTP 402). */
  'INSUFFICIENT_FUNDS',
  /** Its nonce was used already, or is in use by an upload in progress (HTTP 409). */
  'AUTHORIZATION_USED',
  /** The uploaded body is not the one authorized (bodyHash or size; HTTP 422). */
  'BODY_NOT_AUTHORIZED',
] as const

export type PublishGateCode = (typeof PUBLISH_GATE_CODES)[number]

export class PublishGateError extends CodedError<PublishGateCode> {}

export interface PublishGateView {
  readonly chainId: string
  readonly nowMs: number
  /** The fee the node will put on the content.register event. */
  readonly fee: number
  balanceOf(did: string): number
  nonceUsed(creator: string, nonce: number): boolean
}

/** Why `s` may not start a publish now, or undefined when it may. */
export function publishGateProblem(s: SignedPublishAuthorization, v: PublishGateView): PublishGateError | undefined {
  const p = publishAuthorizationProblem(s, { chainId: v.chainId, nowMs: v.nowMs })
  if (p !== undefined)
    return new PublishGateError(p.code === 'INVALID_PAYLOAD' ? 'INVALID_AUTHORIZATION' : p.code, p.message)
  const a = s.auth
  if (v.fee > a.maxFee)
    return new PublishGateError(
      'FEE_ABOVE_MAX',
      `the registration fee is ${v.fee}, the authorization allows ${a.maxFee}`,
    )
  const balance = v.balanceOf(a.creator)
  if (balance < v.fee)
    return new PublishGateError(
      'INSUFFICIENT_FUNDS',
      `creator ${a.creator} holds ${balance}, the registration fee is ${v.fee}`,
    )
  if (v.nonceUsed(a.creator, a.nonce))
    return new PublishGateError('AUTHORIZATION_USED', `authorization nonce ${a.nonce} of ${a.creator} was used`)
  return undefined
}

/** Whether the spooled body is the authorized one; the error when it is not. */
export function bodyProblem(
  s: SignedPublishAuthorization,
  got: { bodyHash: string; size: number },
): PublishGateError | undefined {
  const a = s.auth
  if (got.size !== a.size || got.bodyHash !== a.bodyHash)
    return new PublishGateError(
      'BODY_NOT_AUTHORIZED',
      `the body (${got.size} bytes, sha-256 ${got.bodyHash}) is not the authorized one (${a.size} bytes, ${a.bodyHash})`,
    )
  return undefined
}

/**
 * Authorizations in use on this node (uploads in progress, and publishes done whose nonce the
 * ledger may not have yet), each until it expires: the same authorization cannot start twice.
 */
export class AuthorizationsInUse {
  readonly #until = new Map<string, number>()

  /** Claims `s`; false if it is in use. */
  claim(s: SignedPublishAuthorization, nowMs: number): boolean {
    for (const [k, t] of this.#until) if (t <= nowMs) this.#until.delete(k)
    const key = `${s.auth.creator}/${s.auth.nonce}`
    if (this.#until.has(key)) return false
    this.#until.set(key, s.auth.expiresAtMs)
    return true
  }

  /** Gives back a claim whose upload failed before anything was registered. */
  release(s: SignedPublishAuthorization): void {
    this.#until.delete(`${s.auth.creator}/${s.auth.nonce}`)
  }
}
