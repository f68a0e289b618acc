/**
 * Ledger parameters: names, defaults and bounds. Pure data with no imports, because the
 * governance payloads (the operator's `@echonet/node/governance` subpath) validate `set-params`
 * against it. All values are safe integers; fractions are basis points (bps, 10_000 = 100 %).
 */
export interface ParamSpec {
  readonly default: number
  readonly min: number
  readonly max: number
  readonly doc: string
}

const MAX_AMOUNT = 2 ** 51

export const PARAM_SPECS = {
  minFee: { default: 1, min: 0, max: MAX_AMOUNT, doc: 'base fee every event must pay (before feeMultiplierBps)' },
  feeMultiplierBps: { default: 10_000, min: 1, max: 10_000_000, doc: 'multiplier on minFee (anti-spam, scenario D)' },
  feeProposerShareBps: { default: 5_000, min: 0, max: 10_000, doc: 'share of each fee paid to the block proposer' },
  minWitnessStake: { default: 1, min: 1, max: MAX_AMOUNT, doc: 'minimum bonded stake to bond as a witness' },
  minStandbyStake: { default: 1, min: 1, max: MAX_AMOUNT, doc: 'minimum bonded stake to bond as a standby' },
  minSsnStake: { default: 1, min: 1, max: MAX_AMOUNT, doc: 'minimum bonded stake to bond as an SSN' },
  stakeMultiplierBps: {
    default: 10_000,
    min: 1,
    max: 10_000_000,
    doc: 'multiplier on the minimum stakes for new bonds',
  },
  powerUnit: { default: 1, min: 1, max: MAX_AMOUNT, doc: 'stake per unit of consensus voting power' },
  committeeSize: { default: 100, min: 1, max: 1_000, doc: 'active witnesses: the top N witnesses by stake' },
  unbondingBlocks: { default: 100, min: 0, max: 100_000_000, doc: 'blocks before unbonded stake can be withdrawn' },
  newDidReputationWeight: { default: 10_000, min: 0, max: 10_000, doc: 'engagement weight cap (bps) of new DIDs' },
  reputationMaturityBlocks: { default: 1_000, min: 0, max: 100_000_000, doc: 'blocks after which a DID is not new' },
  payoutInterval: { default: 100, min: 1, max: 100_000_000, doc: 'blocks between PoE payouts' },
  payoutPoolBps: { default: 100, min: 0, max: 10_000, doc: 'share of the treasury distributed per payout' },
  posrChallengeRate: { default: 1, min: 0, max: 1_000, doc: 'PoSR challenges per SSN per checkpoint interval' },
  posrSlashFractionBps: { default: 1_000, min: 0, max: 10_000, doc: 'share of SSN stake slashed for wrong data' },
  posrResultWindow: { default: 100, min: 1, max: 1_000_000, doc: 'blocks within which a PoSR result is accepted' },
  dhtRefreshSeconds: { default: 600, min: 1, max: 86_400, doc: 'DHT routing-table refresh interval' },
  checkpointInterval: { default: 100, min: 1, max: 1_000_000, doc: 'blocks between state snapshots' },
  erasureK: { default: 4, min: 1, max: 255, doc: 'default data shards for new content' },
  erasureM: { default: 2, min: 1, max: 255, doc: 'default parity shards for new content' },
} as const satisfies Record<string, ParamSpec>

export type ParamName = keyof typeof PARAM_SPECS
export type Params = { readonly [K in ParamName]: number }

export const PARAM_NAMES = Object.keys(PARAM_SPECS).sort() as readonly ParamName[]

export const DEFAULT_PARAMS: Params = Object.fromEntries(
  PARAM_NAMES.map((n) => [n, PARAM_SPECS[n].default]),
) as unknown as Params

export function isParamName(s: string): s is ParamName {
  return Object.hasOwn(PARAM_SPECS, s)
}

/** Returns a readable problem with one parameter value, or undefined when it is acceptable. */
export function paramProblem(name: string, value: unknown): string | undefined {
  if (!isParamName(name)) return `unknown parameter "${name}"`
  const spec: ParamSpec = PARAM_SPECS[name]
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) return `${name} must be an integer`
  if (value < spec.min || value > spec.max) return `${name} must be between ${spec.min} and ${spec.max}, got ${value}`
  return undefined
}

/** Cross-parameter rules, checked on the merged result of a change. */
export function paramsProblem(p: Params): string | undefined {
  if (p.erasureK + p.erasureM > 256) return `erasureK + erasureM must be at most 256, got ${p.erasureK + p.erasureM}`
  return undefined
}
