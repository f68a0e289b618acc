/**
 * Funding keys that are not in the genesis (pure): a witness or standby node whose key has no stake
 * and too little balance to bond gets its stake and an operating balance from the recovery agent's
 * account. The transfer is recorded on the node's key Secret before it is sent; a node is funded
 * again only if, a while later, the ledger still shows it unfunded (the transfer was lost).
 */
import type { SelfRegistration } from '@echonet/node/admin'

/** Wait this long for a transfer to land before sending another to the same key. */
export const FUNDING_RETRY_MS = 60_000

export interface FundingCandidate {
  readonly node: string
  readonly did: string
  readonly stake: number
  /** The node's own view of its registration (admin status), when it answered. */
  readonly self?: SelfRegistration
  /** The last transfer recorded for this key (the `funded` annotation). */
  readonly funded?: { readonly nonce: number; readonly atMs: number }
}

export function needsFunding(c: FundingCandidate, fee: number, nowMs: number): boolean {
  if (c.self === undefined || c.self.role !== undefined) return false
  if (c.self.balance >= c.stake + fee) return false
  return c.funded === undefined || nowMs - c.funded.atMs >= FUNDING_RETRY_MS
}

/** `<nonce>:<event id>:<ms>` on the key Secret. */
export function parseFunded(v: string | undefined): { nonce: number; atMs: number } | undefined {
  if (v === undefined) return undefined
  const [nonce, , at] = v.split(':')
  const n = Number(nonce)
  const a = Number(at)
  return Number.isSafeInteger(n) && Number.isFinite(a) ? { nonce: n, atMs: a } : undefined
}
