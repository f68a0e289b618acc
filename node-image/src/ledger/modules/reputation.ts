import type { Env } from '../env.ts'
import { KEYS } from '../state.ts'
import type { Account, Reputation } from '../state.ts'
import type { Overlay } from '../store.ts'
import { getAccount } from './accounts.ts'

/**
 * Reputation: a score per DID in bps (0..10_000). DIDs without a record hold full reputation;
 * records exist only where something changed it (PoSR outcomes, the council). A DID is "new"
 * for reputationMaturityBlocks after its account appeared (genesis accounts never are), and a
 * new DID's weight is capped at newDidReputationWeight — the Sybil lever of scenario D.
 */
export const FULL_REPUTATION = 10_000

export function reputationScore(ov: Overlay, did: string): number {
  return (ov.get(KEYS.reputation(did)) as Reputation | undefined)?.score ?? FULL_REPUTATION
}

export function isNewDid(account: Account | undefined, height: number, maturityBlocks: number): boolean {
  if (account === undefined) return true
  return account.createdAt > 0 && height - account.createdAt < maturityBlocks
}

/** Weight (bps) of this DID's engagement right now. */
export function reputationWeight(env: Env, did: string): number {
  const score = reputationScore(env.ov, did)
  const p = env.params()
  return isNewDid(getAccount(env.ov, did), env.ctx.height, p.reputationMaturityBlocks)
    ? Math.min(score, p.newDidReputationWeight)
    : score
}

export function setReputation(env: Env, did: string, score: number): void {
  const s = Math.max(0, Math.min(FULL_REPUTATION, score))
  if (s === FULL_REPUTATION) env.ov.delete(KEYS.reputation(did))
  else env.ov.set(KEYS.reputation(did), { score: s })
}

export function adjustReputation(env: Env, did: string, delta: number): void {
  setReputation(env, did, reputationScore(env.ov, did) + delta)
}
