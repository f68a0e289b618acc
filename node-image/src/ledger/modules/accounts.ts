import type { Did } from '../../crypto/did.ts'
import type { Env } from '../env.ts'
import { mulBpsCeil } from '../env.ts'
import { LedgerError } from '../errors.ts'
import type { EventPayloadMap } from '../event.ts'
import type { Params } from '../params.ts'
import { MAX_AMOUNT } from '../schema.ts'
import { KEYS } from '../state.ts'
import type { Account, Treasury } from '../state.ts'
import type { Overlay } from '../store.ts'

/** Accounts: balances, per-sender sequential nonces, fees, transfers, the treasury. */

export function getAccount(ov: Overlay, did: string): Account | undefined {
  return ov.get(KEYS.account(did)) as Account | undefined
}

export function treasuryBalance(ov: Overlay): number {
  return (ov.get(KEYS.treasury) as Treasury | undefined)?.balance ?? 0
}

export function credit(env: Env, did: string, amount: number): void {
  if (amount === 0) return
  const a = getAccount(env.ov, did)
  const balance = (a?.balance ?? 0) + amount
  // Unreachable while supply ≤ MAX_AMOUNT (conserved), but a bug must not mint silently.
  if (balance > MAX_AMOUNT) throw new LedgerError('INTERNAL_ERROR', 'balance overflow')
  env.ov.set(KEYS.account(did), { balance, nonce: a?.nonce ?? 0, createdAt: a?.createdAt ?? env.ctx.height })
}

export function debit(env: Env, did: string, amount: number): void {
  const a = getAccount(env.ov, did)
  if (a === undefined || a.balance < amount) {
    throw new LedgerError('INSUFFICIENT_FUNDS', `balance ${a?.balance ?? 0} is below ${amount}`)
  }
  env.ov.set(KEYS.account(did), { balance: a.balance - amount, nonce: a.nonce, createdAt: a.createdAt })
}

export function creditTreasury(env: Env, amount: number): void {
  if (amount === 0) return
  env.ov.set(KEYS.treasury, { balance: treasuryBalance(env.ov) + amount })
}

export function debitTreasury(env: Env, amount: number): void {
  const balance = treasuryBalance(env.ov)
  if (balance < amount) throw new LedgerError('INSUFFICIENT_FUNDS', `treasury holds ${balance}, ${amount} requested`)
  env.ov.set(KEYS.treasury, { balance: balance - amount })
}

/** Minimum fee of any event under the current parameters. */
export function requiredFee(p: Params): number {
  return mulBpsCeil(p.minFee, p.feeMultiplierBps)
}

/** How far ahead of the account nonce the mempool admits an event (bounds queued work per sender). */
export const MAX_NONCE_AHEAD = 256

export function nonceProblem(account: Account | undefined, nonce: number, exact: boolean): LedgerError | undefined {
  const current = account?.nonce ?? 0
  if (nonce <= current) return new LedgerError('BAD_NONCE', `nonce ${nonce} already used (account nonce ${current})`)
  const limit = exact ? current + 1 : current + MAX_NONCE_AHEAD
  if (nonce > limit) {
    return new LedgerError('NONCE_GAP', `nonce ${nonce} is ahead of the next expected nonce ${current + 1}`)
  }
  return undefined
}

/**
 * Takes the fee and advances the nonce in one write. The fee is split between proposer and
 * treasury at end of block (Env.pendingFees). `payer` (default the sender) is whose balance pays:
 * a creator's authorized content.register is paid by the creator, numbered by the sending node.
 */
export function chargeFeeAndNonce(
  env: Env,
  sender: Did,
  nonce: number,
  fee: number,
  minFee: number,
  payer: Did = sender,
): void {
  const a = getAccount(env.ov, sender)
  const np = nonceProblem(a, nonce, true)
  if (np !== undefined) throw np
  if (fee < minFee) throw new LedgerError('FEE_TOO_LOW', `fee ${fee} is below the minimum ${minFee}`)
  const pays = payer === sender ? a : getAccount(env.ov, payer)
  const balance = pays?.balance ?? 0
  if (balance < fee)
    throw new LedgerError('INSUFFICIENT_FUNDS', `balance ${balance} of ${payer} cannot pay the fee ${fee}`)
  if (payer === sender) {
    env.ov.set(KEYS.account(sender), { balance: balance - fee, nonce, createdAt: a?.createdAt ?? env.ctx.height })
    return
  }
  // A payer without an account can only have paid a zero fee: nothing to write for it.
  if (pays !== undefined) env.ov.set(KEYS.account(payer), { ...pays, balance: balance - fee })
  env.ov.set(KEYS.account(sender), {
    balance: a?.balance ?? 0,
    nonce,
    createdAt: a?.createdAt ?? env.ctx.height,
  })
}

export function transfer(env: Env, sender: Did, p: EventPayloadMap['accounts.transfer']): void {
  debit(env, sender, p.amount)
  credit(env, p.to, p.amount)
}
