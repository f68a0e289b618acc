import type { Did } from '../../crypto/did.ts'
import type { Env } from '../env.ts'
import { mulBps } from '../env.ts'
import { KEYS, keySuffix, NS } from '../state.ts'
import type { LastPayout, PoeScore } from '../state.ts'
import { credit, debitTreasury, treasuryBalance } from './accounts.ts'

/**
 * Payouts: every payoutInterval blocks, payoutPoolBps of the treasury is shared among creators
 * pro rata to their PoE scores of the round. Each share is floor(pool · score / total) (exact,
 * in BigInt), in DID order; the rounding remainder stays in the treasury, so supply is conserved.
 * Scores are cleared whether or not anything was paid: a round is a round.
 */
export function isPayoutHeight(height: number, interval: number): boolean {
  return height % interval === 0
}

export function distribute(env: Env): LastPayout {
  const keys = env.ov.keys(NS.poe)
  const scores: { did: Did; score: number }[] = keys.map((k) => ({
    did: keySuffix(k) as Did,
    score: (env.ov.get(k) as PoeScore).score,
  }))
  for (const k of keys) env.ov.delete(k)
  let total = 0n
  for (const s of scores) total += BigInt(s.score)
  const pool = mulBps(treasuryBalance(env.ov), env.params().payoutPoolBps)
  let paid = 0
  let recipients = 0
  if (total > 0n && pool > 0) {
    const bigPool = BigInt(pool)
    for (const s of scores) {
      const share = Number((bigPool * BigInt(s.score)) / total)
      if (share === 0) continue
      credit(env, s.did, share)
      paid += share
      recipients++
    }
    debitTreasury(env, paid)
  }
  const record: LastPayout = {
    height: env.ctx.height,
    pool,
    paid,
    recipients,
    totalScore: Number(total > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : total),
  }
  env.ov.set(KEYS.lastPayout, record)
  return record
}
