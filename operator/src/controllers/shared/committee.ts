/**
 * The committee as the nodes report it (pure). Membership and powers come from the most advanced
 * voter's ledger (highest epoch, then highest finalized height); a member counts as online when
 * any voter of that epoch heard from it directly. Nodes only report what came over the member's
 * own authenticated connection, so the union is still evidence only the member can produce.
 */
import type { AdminStatus } from '@echonet/node/admin'
import { powerNeededFor } from '@echonet/node/admin'
import type { NodeObservation } from './node-poller.ts'

export interface CommitteeMember {
  readonly did: string
  readonly power: number
  readonly online: boolean
}

export interface CommitteeView {
  readonly epoch: number
  /** Finalized height of the reference voter. */
  readonly height: number
  readonly members: readonly CommitteeMember[]
  readonly totalPower: number
  readonly powerNeeded: number
  readonly powerOnline: number
}

/** The voter whose ledger is furthest along (its committee is the current one). */
export function referenceVoter(obs: readonly NodeObservation[]): AdminStatus | undefined {
  let best: AdminStatus | undefined
  for (const o of obs) {
    const s = o.status
    if (s === undefined || (o.role !== 'witness' && o.role !== 'standby')) continue
    if (
      best === undefined ||
      s.epoch > best.epoch ||
      (s.epoch === best.epoch && s.finalizedHeight > best.finalizedHeight)
    )
      best = s
  }
  return best
}

export function committeeView(obs: readonly NodeObservation[]): CommitteeView | undefined {
  const ref = referenceVoter(obs)
  if (ref === undefined) return undefined
  const heard = new Set<string>()
  for (const o of obs) {
    const s = o.status
    if (s === undefined || s.epoch !== ref.epoch) continue
    for (const m of s.committee.members) if (m.online) heard.add(m.did)
  }
  const members = ref.committee.members.map((m) => ({ did: m.did, power: m.power, online: heard.has(m.did) }))
  const totalPower = ref.committee.totalPower
  return {
    epoch: ref.epoch,
    height: ref.finalizedHeight,
    members,
    totalPower,
    powerNeeded: powerNeededFor(totalPower),
    powerOnline: members.filter((m) => m.online).reduce((a, m) => a + m.power, 0),
  }
}
