/**
 * Scoring of peers that send invalid data (DESIGN §4 "Attack defenses"): an honest peer only
 * relays events it verified itself, so an event from a peer that fails the checks every node
 * applies alike (malformed, bad signature, wrong chain) is evidence against that peer. Enough of
 * them within a window and the peer is cut off. Pure counting on the caller's clock.
 */

/** Admission codes that an honest relay can never produce. */
export const INVALID_GOSSIP_CODES: ReadonlySet<string> = new Set([
  'MALFORMED_EVENT',
  'BAD_SIGNATURE',
  'WRONG_CHAIN',
  'UNKNOWN_EVENT_TYPE',
  'INVALID_PAYLOAD',
  'PAYLOAD_TOO_LARGE',
])

export interface PeerScoreOptions {
  /** Invalid events within `windowMs` that get a peer cut off. */
  readonly maxInvalid: number
  readonly windowMs: number
  /** Peers remembered at most (the oldest are forgotten first). */
  readonly maxPeers: number
}

export const DEFAULT_PEER_SCORE: PeerScoreOptions = { maxInvalid: 64, windowMs: 60_000, maxPeers: 4_096 }

export class PeerScore {
  readonly #o: PeerScoreOptions
  readonly #seen = new Map<string, { count: number; since: number }>()

  constructor(o: PeerScoreOptions = DEFAULT_PEER_SCORE) {
    this.#o = o
  }

  /**
   * Records `codes` (the admission verdicts of a batch the peer gossiped); true when the peer has
   * now sent too many invalid events and must be cut off (its count starts over).
   */
  record(peer: string, codes: readonly (string | undefined)[], nowMs: number): boolean {
    const bad = codes.filter((c) => c !== undefined && INVALID_GOSSIP_CODES.has(c)).length
    if (bad === 0) return false
    let e = this.#seen.get(peer)
    if (e === undefined || nowMs - e.since > this.#o.windowMs) e = { count: 0, since: nowMs }
    e.count += bad
    this.#seen.delete(peer)
    if (e.count >= this.#o.maxInvalid) return true
    this.#seen.set(peer, e)
    if (this.#seen.size > this.#o.maxPeers) this.#seen.delete(this.#seen.keys().next().value!)
    return false
  }

  invalid(peer: string): number {
    return this.#seen.get(peer)?.count ?? 0
  }
}
