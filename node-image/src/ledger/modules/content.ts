import type { Did } from '../../crypto/did.ts'
import type { Env } from '../env.ts'
import { LedgerError } from '../errors.ts'
import type { EventPayloadMap } from '../event.ts'
import { publishAuthorizationProblem } from '../publish-authorization.ts'
import { KEYS, NS } from '../state.ts'
import type { BodyHashIndex, ContentRecord, PublishNonce } from '../state.ts'
import type { Overlay } from '../store.ts'

/**
 * Content registry: ContentID (CIDv1 string) → {bodyHash, size, k, m, creator, height}, plus a
 * bodyHash index. A creator re-uploading a body it already registered (scenario B, "incentivized
 * re-uploads") is matched to the existing ContentID instead of creating a second one; someone
 * else registering the same body is refused (the first registration owns it). The creator is the
 * DID whose publish authorization the event carries (ADR 0016), not the node that sends it.
 */

export function getContent(ov: Overlay, cid: string): ContentRecord | undefined {
  return ov.get(KEYS.content(cid)) as ContentRecord | undefined
}

export function contentByBodyHash(ov: Overlay, bodyHash: string): string | undefined {
  return (ov.get(KEYS.bodyHash(bodyHash)) as BodyHashIndex | undefined)?.cid
}

/**
 * The creator of a registration: the one its publish authorization names (checked here: signed by
 * that creator for this network, unexpired, for exactly this body and erasure, within its maxFee,
 * nonce unused — then consumed), or the sender itself when it carries none.
 */
function creatorOf(env: Env, sender: Did, p: EventPayloadMap['content.register'], fee: number): Did {
  const s = p.auth
  if (s === undefined) return sender
  const problem = publishAuthorizationProblem(s, { chainId: env.chainId, nowMs: env.ctx.timeMs })
  if (problem !== undefined) throw new LedgerError(problem.code, problem.message)
  const a = s.auth
  if (a.bodyHash !== p.bodyHash || a.size !== p.size || a.k !== p.k || a.m !== p.m) {
    throw new LedgerError('INVALID_PAYLOAD', "the registered content is not what the creator's authorization names")
  }
  if (fee > a.maxFee) throw new LedgerError('FEE_ABOVE_MAX', `fee ${fee} is above the authorized ${a.maxFee}`)
  const key = KEYS.publishNonce(a.creator, a.nonce)
  if (env.ov.get(key) !== undefined) {
    throw new LedgerError('BAD_NONCE', `publish authorization nonce ${a.nonce} of ${a.creator} was used`)
  }
  // Expired nonces can go: an expired authorization is refused before its nonce is looked at.
  for (const k of env.ov.keys(NS.publishNonce)) {
    if ((env.ov.get(k) as PublishNonce).expiresAtMs <= env.ctx.timeMs) env.ov.delete(k)
  }
  env.ov.set(key, { expiresAtMs: a.expiresAtMs } satisfies PublishNonce)
  return a.creator
}

/** Returns the ContentID the body is registered under (the existing one for a re-upload). */
export function register(env: Env, sender: Did, p: EventPayloadMap['content.register'], fee = 0): string {
  const creator = creatorOf(env, sender, p, fee)
  const existing = contentByBodyHash(env.ov, p.bodyHash)
  if (existing !== undefined) {
    const rec = getContent(env.ov, existing)
    if (rec?.creator === creator) return existing
    throw new LedgerError('ALREADY_EXISTS', `body ${p.bodyHash} is already registered as ${existing}`)
  }
  if (getContent(env.ov, p.cid) !== undefined) {
    throw new LedgerError('ALREADY_EXISTS', `${p.cid} is already registered with another body`)
  }
  const rec: ContentRecord = {
    bodyHash: p.bodyHash,
    size: p.size,
    k: p.k,
    m: p.m,
    creator,
    height: env.ctx.height,
  }
  env.ov.set(KEYS.content(p.cid), rec)
  env.ov.set(KEYS.bodyHash(p.bodyHash), { cid: p.cid })
  return p.cid
}
