import type { Did } from '../../crypto/did.ts'
import type { Env } from '../env.ts'
import { mulBps, mulBpsCeil } from '../env.ts'
import { LedgerError } from '../errors.ts'
import type { EventPayloadMap } from '../event.ts'
import type { Params } from '../params.ts'
import { KEYS, keySuffix, NS } from '../state.ts'
import type { StakeRecord, StakeRole } from '../state.ts'
import type { Overlay } from '../store.ts'
import { credit, creditTreasury, debit } from './accounts.ts'

/**
 * Staking: witness, standby and SSN stake; bonding, unbonding, withdrawal; slashing; suspension;
 * the active committee. A DID holds one role at a time. Witnesses compete for the committee by
 * stake; standbys are a pre-vetted list that becomes active only through a council witness-set
 * change or a restart manifest.
 */

export interface CommitteeMember {
  did: Did
  power: number
}

export function getStake(ov: Overlay, did: string): StakeRecord | undefined {
  return ov.get(KEYS.stake(did)) as StakeRecord | undefined
}

function putStake(ov: Overlay, did: string, r: StakeRecord): void {
  if (r.bonded === 0 && r.unbonding === 0) ov.delete(KEYS.stake(did))
  else ov.set(KEYS.stake(did), r)
}

/** Minimum bonded stake for a new bond in `role` (raised temporarily by stakeMultiplierBps). */
export function minStake(role: StakeRole, p: Params): number {
  const base = role === 'witness' ? p.minWitnessStake : role === 'standby' ? p.minStandbyStake : p.minSsnStake
  return mulBpsCeil(base, p.stakeMultiplierBps)
}

export function bond(env: Env, sender: Did, p: EventPayloadMap['staking.bond']): void {
  const r = getStake(env.ov, sender)
  if (r !== undefined && r.role !== p.role) {
    throw new LedgerError('INVALID_PAYLOAD', `already staked as ${r.role}: unbond and withdraw before changing role`)
  }
  const bonded = (r?.bonded ?? 0) + p.amount
  const min = minStake(p.role, env.params())
  if (bonded < min) throw new LedgerError('STAKE_TOO_LOW', `${p.role} stake ${bonded} is below the minimum ${min}`)
  debit(env, sender, p.amount)
  putStake(env.ov, sender, {
    ...(r ?? { unbonding: 0, releaseHeight: 0, slashed: 0 }),
    role: p.role,
    bonded,
  })
}

export function unbond(env: Env, sender: Did, p: EventPayloadMap['staking.unbond']): void {
  const r = getStake(env.ov, sender)
  if (r === undefined || r.bonded < p.amount) {
    throw new LedgerError('INSUFFICIENT_FUNDS', `bonded stake ${r?.bonded ?? 0} is below ${p.amount}`)
  }
  const bonded = r.bonded - p.amount
  const params = env.params()
  const base =
    r.role === 'witness' ? params.minWitnessStake : r.role === 'standby' ? params.minStandbyStake : params.minSsnStake
  // A partial unbond may not leave a dust stake: either stay above the base minimum or leave.
  if (bonded > 0 && bonded < base) {
    throw new LedgerError('STAKE_TOO_LOW', `remaining stake ${bonded} would be below the minimum ${base}`)
  }
  putStake(env.ov, sender, {
    ...r,
    bonded,
    unbonding: r.unbonding + p.amount,
    releaseHeight: env.ctx.height + params.unbondingBlocks,
  })
}

export function withdraw(env: Env, sender: Did): void {
  const r = getStake(env.ov, sender)
  if (r === undefined || r.unbonding === 0) throw new LedgerError('NOT_FOUND', 'nothing is unbonding')
  if (env.ctx.height < r.releaseHeight) {
    throw new LedgerError('STAKE_LOCKED', `unbonding stake is released at height ${r.releaseHeight}`)
  }
  credit(env, sender, r.unbonding)
  putStake(env.ov, sender, { ...r, unbonding: 0 })
}

/** Slashes a fraction of bonded and unbonding stake into the treasury; returns the amount. */
export function slash(env: Env, did: string, fractionBps: number): number {
  const r = getStake(env.ov, did)
  if (r === undefined) return 0
  const fromBonded = mulBps(r.bonded, fractionBps)
  const fromUnbonding = mulBps(r.unbonding, fractionBps)
  const total = fromBonded + fromUnbonding
  if (total === 0) return 0
  putStake(env.ov, did, {
    ...r,
    bonded: r.bonded - fromBonded,
    unbonding: r.unbonding - fromUnbonding,
    slashed: r.slashed + total,
  })
  creditTreasury(env, total)
  return total
}

export function suspend(env: Env, did: string, reason: string): void {
  const r = getStake(env.ov, did)
  if (r === undefined || r.suspended !== undefined) return
  putStake(env.ov, did, { ...r, suspended: { sinceHeight: env.ctx.height, reason } })
}

export function unsuspend(env: Env, did: string): void {
  const r = getStake(env.ov, did)
  if (r?.suspended === undefined) return
  const { suspended: _dropped, ...rest } = r
  putStake(env.ov, did, rest)
}

function recordsWithRole(ov: Overlay, role: StakeRole): { did: Did; r: StakeRecord }[] {
  const out: { did: Did; r: StakeRecord }[] = []
  for (const key of ov.keys(NS.stake)) {
    const r = ov.get(key) as StakeRecord
    if (r.role === role) out.push({ did: keySuffix(key) as Did, r })
  }
  return out
}

const byStakeThenDid = (a: { did: string; stake: number }, b: { did: string; stake: number }): number =>
  b.stake - a.stake || (a.did < b.did ? -1 : a.did > b.did ? 1 : 0)

/**
 * The active committee: the top `committeeSize` unsuspended witnesses by bonded stake (ties by
 * DID), each with power floor(bonded / powerUnit) > 0. Ordered by power, then DID.
 */
export function computeCommittee(ov: Overlay, p: Params): CommitteeMember[] {
  const candidates = recordsWithRole(ov, 'witness')
    .filter(({ r }) => r.suspended === undefined && Math.floor(r.bonded / p.powerUnit) > 0)
    .map(({ did, r }) => ({ did, stake: r.bonded }))
    .sort(byStakeThenDid)
    .slice(0, p.committeeSize)
  return candidates.map(({ did, stake }) => ({ did, power: Math.floor(stake / p.powerUnit) }))
}

export function listRole(ov: Overlay, role: StakeRole): { did: Did; stake: number; suspended: boolean }[] {
  return recordsWithRole(ov, role)
    .map(({ did, r }) => ({ did, stake: r.bonded, suspended: r.suspended !== undefined }))
    .sort(byStakeThenDid)
}

/**
 * Promotes standbys to witnesses and demotes witnesses to standbys (stake is kept). Used by the
 * council's witness-set change and by a restart manifest. Refuses a change that would leave no
 * active witness.
 */
export function changeWitnessSet(env: Env, promote: readonly string[], demote: readonly string[]): void {
  for (const did of promote) {
    const r = getStake(env.ov, did)
    if (r?.role !== 'standby') throw new LedgerError('NOT_FOUND', `${did} is not a registered standby`)
    const { suspended: _s, ...rest } = r
    putStake(env.ov, did, { ...rest, role: 'witness' })
  }
  for (const did of demote) {
    const r = getStake(env.ov, did)
    if (r?.role !== 'witness') throw new LedgerError('NOT_FOUND', `${did} is not a witness`)
    putStake(env.ov, did, { ...r, role: 'standby' })
  }
  if (computeCommittee(env.ov, env.params()).length === 0) {
    throw new LedgerError('INVALID_PAYLOAD', 'the change would leave no active witness')
  }
}
