/**
 * The public chain page (`GET /v1/chain`): plain data shared by the node that serves it and the
 * auditors that read it. No node internals.
 */

export interface ChainHeader {
  readonly chainId: string
  readonly epoch: number
  readonly height: number
  readonly timeMs: number
  readonly prevHash: string
  readonly proposer: string
  readonly eventsHash: string
  readonly eventCount: number
  readonly stateRoot: string
  readonly validatorsHash: string
  readonly nextValidatorsHash: string
  readonly lastCommitHash: string
}

export interface ChainCertificate {
  readonly chainId: string
  readonly epoch: number
  readonly height: number
  readonly round: number
  readonly blockHash: string
  readonly signatures: readonly { readonly validator: string; readonly sig: Uint8Array }[]
}

export interface ChainItem {
  readonly header: ChainHeader
  readonly certificate: ChainCertificate
  /** sha256 of each encoded event, in block order. */
  readonly eventIds: readonly string[]
}

export interface ChainPage {
  readonly items: readonly ChainItem[]
  /** Validator sets named by a header's nextValidatorsHash where the committee changed. */
  readonly validatorSets: readonly (readonly [string, readonly { readonly did: string; readonly power: number }[]])[]
  /** Restart records (DAG-CBOR) of epochs whose first block is in the page. */
  readonly restarts: readonly (readonly [number, Uint8Array])[]
  /** The serving node's highest certified height. */
  readonly tip: number
}
