import { encode } from '../crypto/encoding.ts'
import { signingBytes } from '../crypto/signing.ts'

export type VoteKind = 'prevote' | 'precommit'

/** What a validator signs for a vote. `blockHash` null is a vote for nil. */
export interface VoteBody {
  readonly chainId: string
  readonly epoch: number
  readonly height: number
  readonly round: number
  readonly kind: VoteKind
  readonly blockHash: string | null
}

export interface Vote extends VoteBody {
  readonly validator: string
  readonly sig: Uint8Array
}

export interface ProposalBody {
  readonly chainId: string
  readonly epoch: number
  readonly height: number
  readonly round: number
  /** Round of the proof-of-lock the proposer re-proposes from, or -1. */
  readonly polRound: number
  readonly blockHash: string
}

export interface Proposal extends ProposalBody {
  readonly proposer: string
  readonly sig: Uint8Array
}

/** > 2/3 of power precommitted `blockHash` at (epoch, height, round): the block is final. */
export interface CommitCertificate {
  readonly chainId: string
  readonly epoch: number
  readonly height: number
  readonly round: number
  readonly blockHash: string
  readonly signatures: readonly { readonly validator: string; readonly sig: Uint8Array }[]
}

export function voteBody(v: VoteBody): VoteBody {
  return {
    chainId: v.chainId,
    epoch: v.epoch,
    height: v.height,
    round: v.round,
    kind: v.kind,
    blockHash: v.blockHash,
  }
}

export function proposalBody(p: ProposalBody): ProposalBody {
  return {
    chainId: p.chainId,
    epoch: p.epoch,
    height: p.height,
    round: p.round,
    polRound: p.polRound,
    blockHash: p.blockHash,
  }
}

export function voteSigningBytes(v: VoteBody): Uint8Array {
  return signingBytes('vote', voteBody(v))
}

export function proposalSigningBytes(p: ProposalBody): Uint8Array {
  return signingBytes('proposal', proposalBody(p))
}

/**
 * "I hold the state a restart manifest names and am ready to resume on it" (DESIGN §4): a member
 * of the manifest's witness set signs this; consensus resumes once > 2/3 of the new set's power
 * is ready on the same manifest.
 */
export interface RestartReadyBody {
  readonly chainId: string
  readonly epoch: number
  readonly height: number
  readonly manifestHash: string
}

export interface RestartReady extends RestartReadyBody {
  readonly validator: string
  readonly sig: Uint8Array
}

export function restartReadySigningBytes(r: RestartReadyBody): Uint8Array {
  return signingBytes('restart-ready', {
    chainId: r.chainId,
    epoch: r.epoch,
    height: r.height,
    manifestHash: r.manifestHash,
  })
}

export function encodeCertificate(c: CommitCertificate): Uint8Array {
  return encode(c)
}
