import type { Did } from '../../crypto/did.ts'
import type { Env } from '../env.ts'
import { LedgerError } from '../errors.ts'
import type { EventPayloadMap } from '../event.ts'
import { KEYS } from '../state.ts'
import type { AdEscrow } from '../state.ts'
import type { Overlay } from '../store.ts'
import { credit, debit } from './accounts.ts'
import { getContent } from './content.ts'

/**
 * Ad escrow: an advertiser deposits for a content item; the campaign's attester (the advertiser
 * unless it named another DID, e.g. a measurement service) reports impressions, which release
 * count × price to the content's creator; the advertiser closes the campaign and gets the rest.
 */

export function escrowIdOf(sender: Did, nonce: number): string {
  return `${sender}/${nonce}`
}

export function getEscrow(ov: Overlay, id: string): AdEscrow | undefined {
  return ov.get(KEYS.ad(id)) as AdEscrow | undefined
}

export function open(env: Env, sender: Did, nonce: number, p: EventPayloadMap['ads.open']): string {
  const content = getContent(env.ov, p.cid)
  if (content === undefined) throw new LedgerError('NOT_FOUND', `content ${p.cid} is not registered`)
  debit(env, sender, p.deposit)
  const id = escrowIdOf(sender, nonce)
  const escrow: AdEscrow = {
    advertiser: sender,
    cid: p.cid,
    creator: content.creator,
    attester: p.attester ?? sender,
    pricePerImpression: p.pricePerImpression,
    remaining: p.deposit,
    released: 0,
    impressions: 0,
    openedAt: env.ctx.height,
  }
  env.ov.set(KEYS.ad(id), escrow)
  return id
}

export function impressions(env: Env, sender: Did, p: EventPayloadMap['ads.impressions']): void {
  const e = getEscrow(env.ov, p.escrowId)
  if (e === undefined) throw new LedgerError('NOT_FOUND', `no open campaign ${p.escrowId}`)
  if (e.attester !== sender) throw new LedgerError('UNAUTHORIZED', `only ${e.attester} reports impressions`)
  // count·price may exceed 2^53: compare against what the remainder can still pay for first.
  const affordable = Math.floor(e.remaining / e.pricePerImpression)
  const release = p.count >= affordable ? affordable * e.pricePerImpression : p.count * e.pricePerImpression
  credit(env, e.creator, release)
  env.ov.set(KEYS.ad(p.escrowId), {
    ...e,
    remaining: e.remaining - release,
    released: e.released + release,
    impressions: Math.min(Number.MAX_SAFE_INTEGER, e.impressions + p.count),
  })
}

export function close(env: Env, sender: Did, p: EventPayloadMap['ads.close']): void {
  const e = getEscrow(env.ov, p.escrowId)
  if (e === undefined) throw new LedgerError('NOT_FOUND', `no open campaign ${p.escrowId}`)
  if (e.advertiser !== sender) throw new LedgerError('UNAUTHORIZED', 'only the advertiser closes a campaign')
  credit(env, sender, e.remaining)
  env.ov.delete(KEYS.ad(p.escrowId))
}
