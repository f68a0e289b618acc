import type { Did } from '../../crypto/did.ts'
import type { Env } from '../env.ts'
import { LedgerError } from '../errors.ts'
import type { EventPayloadMap } from '../event.ts'
import { KEYS } from '../state.ts'
import type { BodyHashIndex, ContentRecord } from '../state.ts'
import type { Overlay } from '../store.ts'

/**
 * Content registry: ContentID (CIDv1 string) → {bodyHash, size, k, m, creator, height}, plus a
 * bodyHash index. A creator re-uploading a body it already registered (scenario B, "incentivized
 * re-uploads") is matched to the existing ContentID instead of creating a second one; someone
 * else registering the same body is refused (the first registration owns it).
 */

export function getContent(ov: Overlay, cid: string): ContentRecord | undefined {
  return ov.get(KEYS.content(cid)) as ContentRecord | undefined
}

export function contentByBodyHash(ov: Overlay, bodyHash: string): string | undefined {
  return (ov.get(KEYS.bodyHash(bodyHash)) as BodyHashIndex | undefined)?.cid
}

/** Returns the ContentID the body is registered under (the existing one for a re-upload). */
export function register(env: Env, sender: Did, p: EventPayloadMap['content.register']): string {
  const existing = contentByBodyHash(env.ov, p.bodyHash)
  if (existing !== undefined) {
    const rec = getContent(env.ov, existing)
    if (rec?.creator === sender) return existing
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
    creator: sender,
    height: env.ctx.height,
  }
  env.ov.set(KEYS.content(p.cid), rec)
  env.ov.set(KEYS.bodyHash(p.bodyHash), { cid: p.cid })
  return p.cid
}
