/**
 * The durable signing record's decision, pure: may this validator sign `next`? It signs only
 * strictly forward in (epoch, height, round, step); asked again for exactly what it signed last,
 * it re-sends the stored signature. Anything else is refused, so no crash, restart or replayed
 * input can make it sign two different messages for one slot.
 */

export type SignStep = 'proposal' | 'prevote' | 'precommit'

const STEP_RANK: Record<SignStep, number> = { proposal: 0, prevote: 1, precommit: 2 }

export interface SignSlot {
  readonly epoch: number
  readonly height: number
  readonly round: number
  readonly step: SignStep
  readonly blockHash: string | null
}

export interface SigningRecord extends SignSlot {
  readonly sig: Uint8Array
  /** The lock held when signing (restored after a restart so the validator keeps it). */
  readonly lock: { readonly round: number; readonly blockHash: string } | null
}

export type GuardDecision =
  | { readonly kind: 'sign' }
  | { readonly kind: 'resend'; readonly sig: Uint8Array }
  | { readonly kind: 'refuse'; readonly reason: string }

function compareSlots(a: SignSlot, b: SignSlot): number {
  return a.epoch - b.epoch || a.height - b.height || a.round - b.round || STEP_RANK[a.step] - STEP_RANK[b.step]
}

export function guard(record: SigningRecord | undefined, next: SignSlot): GuardDecision {
  if (record === undefined) return { kind: 'sign' }
  const c = compareSlots(next, record)
  if (c > 0) return { kind: 'sign' }
  if (c === 0 && next.blockHash === record.blockHash) return { kind: 'resend', sig: record.sig }
  return {
    kind: 'refuse',
    reason: `already signed ${record.step} e${record.epoch}/h${record.height}/r${record.round} for ${record.blockHash ?? 'nil'}`,
  }
}
