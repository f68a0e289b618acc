import type { ValidatorSet } from './validators.ts'
import type { CommitCertificate, Proposal, Vote, VoteKind } from './messages.ts'

/**
 * One height of Tendermint BFT (Buchman, Kwon, Milosevic 2018, Algorithm 1) as a pure state
 * machine: inputs are messages (already signature-checked by the caller), proposal validity
 * (decided by the caller, who executes the block) and timeouts; outputs are effects the shell
 * carries out (sign + broadcast, schedule a timeout, commit). No clock, no I/O, no signing here,
 * so the simulated-network tests drive exactly the code that runs in a node.
 *
 * The machine counts only votes that are fed back to it, including its own: the shell signs a
 * vote only after its durable signing record allows it, and then feeds it in. A vote that the
 * record refused (after a crash) is therefore never counted.
 */

/** Tally marker for "votes for anything" (distinct from every block hash and nil). */
const ANY = Symbol('any')

export type Step = 'propose' | 'prevote' | 'precommit'
export type TimeoutKind = 'propose' | 'prevote' | 'precommit'

export type Effect =
  | { readonly type: 'request-value'; readonly height: number; readonly round: number }
  | {
      readonly type: 'broadcast-proposal'
      readonly height: number
      readonly round: number
      readonly blockHash: string
      readonly polRound: number
    }
  | {
      readonly type: 'broadcast-vote'
      readonly kind: VoteKind
      readonly height: number
      readonly round: number
      readonly blockHash: string | null
      /** Lock held when this vote is cast; persisted with the signing record. */
      readonly lock: { readonly round: number; readonly blockHash: string } | null
    }
  | { readonly type: 'schedule-timeout'; readonly kind: TimeoutKind; readonly height: number; readonly round: number }
  | { readonly type: 'decide'; readonly certificate: CommitCertificate }
  | {
      readonly type: 'evidence'
      readonly kind: 'equivocation'
      readonly first: Vote | Proposal
      readonly second: Vote | Proposal
    }
  | { readonly type: 'round-skip'; readonly round: number }

/**
 * Votes of one kind in one round. A validator's vote counts toward every value it signed: an
 * equivocator may have shown different peers different votes, and honest nodes must be able to
 * see the same polka once gossip relays them (Tendermint's peer-maj23). Safety is unaffected:
 * two quorums for different values still intersect in an honest validator, who signs only one.
 */
class VoteBook {
  readonly first = new Map<string, Vote>()
  readonly #byValue = new Map<string | null, Map<string, Vote>>()
  /** Returns the conflicting earlier vote when this one equivocates. */
  add(v: Vote): { added: boolean; conflict?: Vote } {
    let forValue = this.#byValue.get(v.blockHash)
    if (forValue?.has(v.validator)) return { added: false }
    if (!forValue) {
      forValue = new Map()
      this.#byValue.set(v.blockHash, forValue)
    }
    forValue.set(v.validator, v)
    const prior = this.first.get(v.validator)
    if (!prior) {
      this.first.set(v.validator, v)
      return { added: true }
    }
    return { added: true, conflict: prior }
  }
  forValue(blockHash: string | null): Iterable<Vote> {
    return this.#byValue.get(blockHash)?.values() ?? []
  }
  all(): Vote[] {
    const out: Vote[] = []
    for (const m of this.#byValue.values()) out.push(...m.values())
    return out
  }
}

interface RoundState {
  proposal?: Proposal
  proposalValid?: boolean
  /** A conflicting proposal from an equivocating proposer, kept so gossip spreads the evidence. */
  conflictingProposal?: Proposal
  readonly prevotes: VoteBook
  readonly precommits: VoteBook
  prevoteTimeoutScheduled: boolean
  precommitTimeoutScheduled: boolean
  polkaActed: boolean
}

export interface HeightInit {
  readonly chainId: string
  readonly epoch: number
  readonly height: number
  readonly validators: ValidatorSet
  readonly self: string | undefined
  /** Restored from the signing record after a restart at this same height. */
  readonly startRound?: number
  readonly lock?: { readonly round: number; readonly blockHash: string } | null
}

export class HeightMachine {
  readonly chainId: string
  readonly epoch: number
  readonly height: number
  readonly validators: ValidatorSet
  readonly self: string | undefined

  round = 0
  step: Step = 'propose'
  lockedRound = -1
  lockedValue: string | null = null
  validRound = -1
  validValue: string | null = null
  decided: CommitCertificate | undefined

  readonly #rounds = new Map<number, RoundState>()
  #effects: Effect[] = []
  #started = false
  readonly #startRound: number

  constructor(init: HeightInit) {
    this.chainId = init.chainId
    this.epoch = init.epoch
    this.height = init.height
    this.validators = init.validators
    this.self = init.self !== undefined && init.validators.has(init.self) ? init.self : undefined
    this.#startRound = init.startRound ?? 0
    if (init.lock) {
      this.lockedRound = init.lock.round
      this.lockedValue = init.lock.blockHash
      this.validRound = init.lock.round
      this.validValue = init.lock.blockHash
    }
  }

  proposer(round: number): string {
    return this.validators.proposer(this.epoch, this.height, round)
  }

  start(): Effect[] {
    if (!this.#started) {
      this.#started = true
      this.#startRound_(this.#startRound)
      this.#evaluate()
    }
    return this.#drain()
  }

  /** Our own value for a round we propose in (after request-value). */
  proposeValue(round: number, blockHash: string): Effect[] {
    if (round === this.round && this.step === 'propose' && this.self === this.proposer(round) && !this.decided) {
      this.#effects.push({ type: 'broadcast-proposal', height: this.height, round, blockHash, polRound: -1 })
    }
    return this.#drain()
  }

  /** A proposal from the network (or our own, fed back after signing), with the caller's validity verdict. */
  onProposal(p: Proposal, valid: boolean): Effect[] {
    if (p.height !== this.height || p.epoch !== this.epoch || p.chainId !== this.chainId) return []
    if (p.proposer !== this.proposer(p.round)) return []
    const rs = this.#roundState(p.round)
    if (rs.proposal) {
      if ((rs.proposal.blockHash !== p.blockHash || rs.proposal.polRound !== p.polRound) && !rs.conflictingProposal) {
        rs.conflictingProposal = p
        this.#effects.push({ type: 'evidence', kind: 'equivocation', first: rs.proposal, second: p })
      }
      return this.#drain()
    }
    rs.proposal = p
    rs.proposalValid = valid
    this.#evaluate()
    return this.#drain()
  }

  onVote(v: Vote): Effect[] {
    if (v.height !== this.height || v.epoch !== this.epoch || v.chainId !== this.chainId) return []
    if (!this.validators.has(v.validator)) return []
    const rs = this.#roundState(v.round)
    const book = v.kind === 'prevote' ? rs.prevotes : rs.precommits
    const { added, conflict } = book.add(v)
    if (!added) return []
    if (conflict) this.#effects.push({ type: 'evidence', kind: 'equivocation', first: conflict, second: v })
    this.#evaluate()
    return this.#drain()
  }

  onTimeout(kind: TimeoutKind, height: number, round: number): Effect[] {
    if (height !== this.height || this.decided) return []
    if (round === this.round) {
      if (kind === 'propose' && this.step === 'propose') {
        this.#vote('prevote', null)
        this.step = 'prevote'
      } else if (kind === 'prevote' && this.step === 'prevote') {
        this.#vote('precommit', null)
        this.step = 'precommit'
      } else if (kind === 'precommit') {
        this.#startRound_(this.round + 1)
      }
      this.#evaluate()
    }
    return this.#drain()
  }

  /** Votes collected for a round (for the certificate and for peers that ask). */
  votes(round: number, kind: VoteKind): Vote[] {
    const rs = this.#rounds.get(round)
    if (!rs) return []
    return (kind === 'prevote' ? rs.prevotes : rs.precommits).all()
  }

  /**
   * Every proposal and vote this machine holds for the height. Tendermint's liveness assumes
   * messages are eventually delivered to everyone; the shell re-gossips these while the height
   * is stalled, so a peer that missed some (a partition, a restart, an equivocator showing it
   * something else) sees the same polkas and certificates.
   */
  gossipMessages(): (Proposal | Vote)[] {
    const out: (Proposal | Vote)[] = []
    for (const rs of this.#rounds.values()) {
      if (rs.proposal) out.push(rs.proposal)
      if (rs.conflictingProposal) out.push(rs.conflictingProposal)
      out.push(...rs.prevotes.all(), ...rs.precommits.all())
    }
    return out
  }

  proposalFor(round: number): Proposal | undefined {
    return this.#rounds.get(round)?.proposal
  }

  // --- internals -----------------------------------------------------------------------------

  #drain(): Effect[] {
    const out = this.#effects
    this.#effects = []
    return out
  }

  #roundState(round: number): RoundState {
    let rs = this.#rounds.get(round)
    if (!rs) {
      rs = {
        prevotes: new VoteBook(),
        precommits: new VoteBook(),
        prevoteTimeoutScheduled: false,
        precommitTimeoutScheduled: false,
        polkaActed: false,
      }
      this.#rounds.set(round, rs)
    }
    return rs
  }

  #startRound_(round: number): void {
    if (round > this.round) this.#effects.push({ type: 'round-skip', round })
    this.round = round
    this.step = 'propose'
    this.#roundState(round)
    if (this.self !== undefined && this.self === this.proposer(round)) {
      if (this.validValue !== null) {
        this.#effects.push({
          type: 'broadcast-proposal',
          height: this.height,
          round,
          blockHash: this.validValue,
          polRound: this.validRound,
        })
      } else {
        this.#effects.push({ type: 'request-value', height: this.height, round })
      }
    }
    this.#effects.push({ type: 'schedule-timeout', kind: 'propose', height: this.height, round })
  }

  #vote(kind: VoteKind, blockHash: string | null): void {
    if (this.self === undefined) return
    const lock = this.lockedValue !== null ? { round: this.lockedRound, blockHash: this.lockedValue } : null
    this.#effects.push({ type: 'broadcast-vote', kind, height: this.height, round: this.round, blockHash, lock })
  }

  #tally(votes: VoteBook, blockHash: string | null | typeof ANY): number {
    let p = 0
    for (const v of blockHash === ANY ? votes.first.values() : votes.forValue(blockHash)) {
      p += this.validators.powerOf(v.validator)
    }
    return p
  }

  /** Applies every rule of Algorithm 1 until none fires. */
  #evaluate(): void {
    for (let guard = 0; guard < 64; guard++) {
      if (!this.#evaluateOnce()) return
    }
  }

  #evaluateOnce(): boolean {
    if (this.decided) return false
    const vs = this.validators

    // Line 49: a proposal with > 2/3 precommits in any round is decided.
    for (const [r, rs] of this.#rounds) {
      const p = rs.proposal
      if (p && rs.proposalValid === true && vs.isQuorum(this.#tally(rs.precommits, p.blockHash))) {
        const signatures = [...rs.precommits.forValue(p.blockHash)].map((v) => ({ validator: v.validator, sig: v.sig }))
        this.decided = {
          chainId: this.chainId,
          epoch: this.epoch,
          height: this.height,
          round: r,
          blockHash: p.blockHash,
          signatures,
        }
        this.#effects.push({ type: 'decide', certificate: this.decided })
        return false
      }
    }

    // Line 55: > 1/3 of power already in a higher round: skip to it.
    for (const [r, rs] of this.#rounds) {
      if (r <= this.round) continue
      const voters = new Set<string>([...rs.prevotes.first.keys(), ...rs.precommits.first.keys()])
      if (rs.proposal) voters.add(rs.proposal.proposer)
      if (vs.isOneThird(vs.powerOfSet(voters))) {
        this.#startRound_(r)
        return true
      }
    }

    const rs = this.#roundState(this.round)
    const p = rs.proposal

    if (this.step === 'propose' && p) {
      // Line 22: fresh proposal.
      if (p.polRound === -1) {
        const ok = rs.proposalValid === true && (this.lockedRound === -1 || this.lockedValue === p.blockHash)
        this.#vote('prevote', ok ? p.blockHash : null)
        this.step = 'prevote'
        return true
      }
      // Line 28: re-proposal backed by a polka from polRound.
      if (p.polRound >= 0 && p.polRound < this.round) {
        const pol = this.#rounds.get(p.polRound)
        if (pol && vs.isQuorum(this.#tally(pol.prevotes, p.blockHash))) {
          const ok = rs.proposalValid === true && (this.lockedRound <= p.polRound || this.lockedValue === p.blockHash)
          this.#vote('prevote', ok ? p.blockHash : null)
          this.step = 'prevote'
          return true
        }
      }
    }

    // Line 34: > 2/3 prevotes for anything: start the prevote timeout (once).
    if (this.step === 'prevote' && !rs.prevoteTimeoutScheduled && vs.isQuorum(this.#tally(rs.prevotes, ANY))) {
      rs.prevoteTimeoutScheduled = true
      this.#effects.push({ type: 'schedule-timeout', kind: 'prevote', height: this.height, round: this.round })
      return true
    }

    // Line 36: a valid proposal with a polka in this round: lock and precommit (once).
    if (
      p &&
      rs.proposalValid === true &&
      this.step !== 'propose' &&
      !rs.polkaActed &&
      vs.isQuorum(this.#tally(rs.prevotes, p.blockHash))
    ) {
      rs.polkaActed = true
      if (this.step === 'prevote') {
        this.lockedValue = p.blockHash
        this.lockedRound = this.round
        this.#vote('precommit', p.blockHash)
        this.step = 'precommit'
      }
      this.validValue = p.blockHash
      this.validRound = this.round
      return true
    }

    // Line 44: > 2/3 prevotes for nil: precommit nil.
    if (this.step === 'prevote' && vs.isQuorum(this.#tally(rs.prevotes, null))) {
      this.#vote('precommit', null)
      this.step = 'precommit'
      return true
    }

    // Line 47: > 2/3 precommits for anything: start the precommit timeout (once).
    if (!rs.precommitTimeoutScheduled && vs.isQuorum(this.#tally(rs.precommits, ANY))) {
      rs.precommitTimeoutScheduled = true
      this.#effects.push({ type: 'schedule-timeout', kind: 'precommit', height: this.height, round: this.round })
      return true
    }
    return false
  }
}
