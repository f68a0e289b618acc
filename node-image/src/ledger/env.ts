import type { Did } from '../crypto/did.ts'
import { DEFAULT_PARAMS } from './params.ts'
import type { Params } from './params.ts'
import { KEYS } from './state.ts'
import type { ParamOverrides } from './state.ts'
import type { Overlay } from './store.ts'

export interface BlockContext {
  height: number
  epoch: number
  timeMs: number
  proposer: Did
  /** 32 bytes, from consensus (PoSR challenges are derived from it off-ledger). */
  randomness: Uint8Array
}

/**
 * What a module sees while a block executes: the overlay, the block context, the effective
 * parameters and the committee that is finalizing this block.
 */
export class Env {
  readonly ov: Overlay
  readonly ctx: BlockContext
  readonly chainId: string
  /** Active witnesses at the start of the block (they submit PoSR results). */
  readonly committee: ReadonlySet<string>
  /** Fees collected in this block, credited once at end of block (saves two writes per event). */
  pendingFees = { proposer: 0, treasury: 0 }
  #paramsFor: { base: unknown; overrides: unknown; value: Params } | undefined

  constructor(ov: Overlay, ctx: BlockContext, chainId: string, committee: ReadonlySet<string>) {
    this.ov = ov
    this.ctx = ctx
    this.chainId = chainId
    this.committee = committee
  }

  /** Effective parameters, memoized on the identity of the (immutable) stored objects. */
  params(): Params {
    const base = this.ov.get(KEYS.params)
    const overrides = this.ov.get(KEYS.overrides)
    const memo = this.#paramsFor
    if (memo !== undefined && memo.base === base && memo.overrides === overrides) return memo.value
    const value = effectiveParams(base as Params | undefined, overrides as ParamOverrides | undefined, this.ctx.timeMs)
    this.#paramsFor = { base, overrides, value }
    return value
  }
}

/** Base parameters with every unexpired override applied (an override ends at expiresAtMs). */
export function effectiveParams(
  base: Params | undefined,
  overrides: ParamOverrides | undefined,
  nowMs: number,
): Params {
  const out: Record<string, number> = { ...DEFAULT_PARAMS, ...base }
  if (overrides !== undefined) {
    for (const [name, o] of Object.entries(overrides)) {
      if (nowMs < o.expiresAtMs) out[name] = o.value
    }
  }
  return out as unknown as Params
}

/** floor(amount · bps / 10_000), exact for any safe amount (no intermediate above 2^53). */
export function mulBps(amount: number, bps: number): number {
  const q = Math.floor(amount / 10_000)
  const r = amount % 10_000
  return q * bps + Math.floor((r * bps) / 10_000)
}

/** ceil(amount · bps / 10_000), clamped to a safe integer. */
export function mulBpsCeil(amount: number, bps: number): number {
  const v = (BigInt(amount) * BigInt(bps) + 9_999n) / 10_000n
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v)
}
