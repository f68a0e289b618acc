import type { Did } from '../../crypto/did.ts'
import type { Env } from '../env.ts'
import { LedgerError } from '../errors.ts'
import type { EventPayloadMap } from '../event.ts'
import { KEYS } from '../state.ts'
import type { PosrLast, PosrRecord } from '../state.ts'
import type { Overlay } from '../store.ts'
import { getContent } from './content.ts'
import { getEmergency } from './governance-state.ts'
import { adjustReputation } from './reputation.ts'
import { getStake, slash, suspend, unsuspend } from './staking.ts'

/**
 * PoSR results, submitted by active witnesses. Offline is not wrong data (Storj's lesson):
 * - pass: counted; lifts a suspension;
 * - unreachable: the SSN is suspended (no new placements, its shards get repaired) — not slashed;
 * - wrong-data (with the SSN's signed answer as evidence): posrSlashFractionBps of its stake is
 *   slashed to the treasury — except while the council's storage-incident flag is set or the
 *   ledger is halted, when the slash is skipped and the record says why.
 * One result per SSN per challenge height, in increasing order, within posrResultWindow blocks.
 */

export function getPosr(ov: Overlay, ssn: string): PosrRecord | undefined {
  return ov.get(KEYS.posr(ssn)) as PosrRecord | undefined
}

const EMPTY = { passes: 0, wrongData: 0, unreachable: 0, slashedTotal: 0, skippedSlashes: 0, lastChallengeHeight: 0 }

export function recordResult(env: Env, witness: Did, p: EventPayloadMap['posr.result']): PosrLast {
  if (!env.committee.has(witness)) throw new LedgerError('UNAUTHORIZED', 'only active witnesses submit PoSR results')
  const h = env.ctx.height
  const window = env.params().posrResultWindow
  if (p.challengeHeight >= h) throw new LedgerError('INVALID_PAYLOAD', 'challenge height must be a past block')
  if (h - p.challengeHeight > window) {
    throw new LedgerError('EXPIRED', `challenge of height ${p.challengeHeight} is older than ${window} blocks`)
  }
  const stake = getStake(env.ov, p.ssn)
  if (stake?.role !== 'ssn') throw new LedgerError('NOT_FOUND', `${p.ssn} is not a registered SSN`)
  const content = getContent(env.ov, p.cid)
  if (content === undefined) throw new LedgerError('NOT_FOUND', `content ${p.cid} is not registered`)
  if (p.shard >= content.k + content.m) {
    throw new LedgerError('INVALID_PAYLOAD', `shard ${p.shard} does not exist (k + m = ${content.k + content.m})`)
  }
  const prev = getPosr(env.ov, p.ssn) ?? EMPTY
  if (p.challengeHeight <= prev.lastChallengeHeight) {
    throw new LedgerError('ALREADY_EXISTS', `a result for ${p.ssn} at height ≥ ${p.challengeHeight} is recorded`)
  }

  let slashed = 0
  let skipped: PosrLast['skipped']
  const counts = { passes: prev.passes, wrongData: prev.wrongData, unreachable: prev.unreachable }
  switch (p.outcome) {
    case 'pass':
      counts.passes++
      unsuspend(env, p.ssn)
      break
    case 'unreachable':
      counts.unreachable++
      suspend(env, p.ssn, `unreachable for PoSR challenge at height ${p.challengeHeight}`)
      break
    case 'wrong-data': {
      counts.wrongData++
      const em = getEmergency(env.ov)
      if (em.storageIncident !== undefined) skipped = 'storage-incident'
      else if (em.halted !== undefined) skipped = 'halted'
      else {
        slashed = slash(env, p.ssn, env.params().posrSlashFractionBps)
        adjustReputation(env, p.ssn, -2_500)
      }
      break
    }
  }
  const last: PosrLast = {
    height: h,
    challengeHeight: p.challengeHeight,
    witness,
    cid: p.cid,
    shard: p.shard,
    segment: p.segment,
    outcome: p.outcome,
    slashed,
    ...(skipped === undefined ? {} : { skipped }),
  }
  env.ov.set(KEYS.posr(p.ssn), {
    ...counts,
    slashedTotal: prev.slashedTotal + slashed,
    skippedSlashes: prev.skippedSlashes + (skipped === undefined ? 0 : 1),
    lastChallengeHeight: p.challengeHeight,
    last,
  })
  return last
}
