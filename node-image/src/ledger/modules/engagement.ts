import type { Did } from '../../crypto/did.ts'
import type { Env } from '../env.ts'
import { LedgerError } from '../errors.ts'
import type { EventPayloadMap, InteractionKind } from '../event.ts'
import { KEYS } from '../state.ts'
import type { PoeScore } from '../state.ts'
import type { Overlay } from '../store.ts'
import { getContent } from './content.ts'
import { reputationWeight } from './reputation.ts'

/**
 * Engagement / Proof-of-Engagement: interactions on content add to the creator's PoE score for
 * the current payout round, weighted by the interactor's reputation (bps). A round ends at each
 * payout (every payoutInterval blocks), which pays and clears the scores.
 */
export const INTERACTION_WEIGHTS: Readonly<Record<InteractionKind, number>> = {
  view: 1,
  like: 2,
  comment: 3,
  share: 4,
}

export function poeScore(ov: Overlay, did: string): number {
  return (ov.get(KEYS.poe(did)) as PoeScore | undefined)?.score ?? 0
}

export function interact(env: Env, sender: Did, p: EventPayloadMap['engagement.interact']): void {
  const content = getContent(env.ov, p.cid)
  if (content === undefined) throw new LedgerError('NOT_FOUND', `content ${p.cid} is not registered`)
  if (content.creator === sender) throw new LedgerError('UNAUTHORIZED', 'creators earn nothing from their own content')
  const add = INTERACTION_WEIGHTS[p.kind] * reputationWeight(env, sender)
  if (add === 0) return
  env.ov.set(KEYS.poe(content.creator), { score: poeScore(env.ov, content.creator) + add })
}
