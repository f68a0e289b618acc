import { sha256 } from '../crypto/hash.ts'
import { encode } from '../crypto/encoding.ts'

export interface Validator {
  readonly did: string
  readonly power: number
}

/**
 * The committee for one height. Quorum arithmetic is in integer power: a set of votes is a
 * quorum when 3·power > 2·total (> 2/3), and "some honest" when 3·power > total (> 1/3).
 */
export class ValidatorSet {
  readonly validators: readonly Validator[]
  readonly totalPower: number
  readonly #power: Map<string, number>
  readonly #cumulative: number[]

  constructor(validators: readonly Validator[]) {
    if (validators.length === 0) throw new Error('empty validator set')
    // Deterministic order regardless of how the ledger listed them.
    this.validators = [...validators].sort((a, b) => (a.did < b.did ? -1 : a.did > b.did ? 1 : 0))
    this.#power = new Map()
    this.#cumulative = []
    let total = 0
    for (const v of this.validators) {
      if (!Number.isSafeInteger(v.power) || v.power <= 0) throw new Error(`validator ${v.did} has invalid power`)
      if (this.#power.has(v.did)) throw new Error(`validator ${v.did} listed twice`)
      this.#power.set(v.did, v.power)
      total += v.power
      this.#cumulative.push(total)
    }
    this.totalPower = total
  }

  has(did: string): boolean {
    return this.#power.has(did)
  }

  powerOf(did: string): number {
    return this.#power.get(did) ?? 0
  }

  isQuorum(power: number): boolean {
    return 3 * power > 2 * this.totalPower
  }

  /** > 1/3 of power: at least one honest validator is among them. */
  isOneThird(power: number): boolean {
    return 3 * power > this.totalPower
  }

  /** Power of a set of DIDs (members only, each counted once). */
  powerOfSet(dids: Iterable<string>): number {
    let p = 0
    const seen = new Set<string>()
    for (const d of dids) {
      if (seen.has(d)) continue
      seen.add(d)
      p += this.powerOf(d)
    }
    return p
  }

  /**
   * Proposer rotation weighted by voting power: a position on the power line is drawn from
   * hash(epoch, height) and then advanced by total/n per round, so consecutive rounds of one
   * height rotate through validators (a dead proposer costs one round, not several) while each
   * validator proposes in proportion to its power across heights. (ADR 0002.)
   */
  proposer(epoch: number, height: number, round: number): string {
    const seed = sha256(encode(['proposer', epoch, height]))
    const base = (seed[0]! * 2 ** 24 + seed[1]! * 2 ** 16 + seed[2]! * 2 ** 8 + seed[3]!) % this.totalPower
    const stride = Math.max(1, Math.floor(this.totalPower / this.validators.length))
    const pos = (base + round * stride) % this.totalPower
    // First validator whose cumulative power exceeds pos.
    let lo = 0
    let hi = this.#cumulative.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.#cumulative[mid]! > pos) hi = mid
      else lo = mid + 1
    }
    return this.validators[lo]!.did
  }

  hash(): Uint8Array {
    return sha256(encode(this.validators.map((v) => [v.did, v.power])))
  }
}
