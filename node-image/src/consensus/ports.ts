/**
 * What consensus needs from the ledger, the store and the network: narrow interfaces, so the
 * engine is tested with fakes in unit tests and composed with the real parts in `node/`.
 */
import type { CommitCertificate, Proposal, RestartReady, Vote } from './messages.ts'

export interface DecodedEvent {
  readonly sender: string
  readonly nonce: number
  readonly fee: number
}

export interface LedgerExecution {
  readonly stateRoot: Uint8Array
  readonly results: readonly { readonly ok: boolean; readonly code?: string }[]
  /** Committee after this block (it finalizes the next height). */
  committee(): readonly { readonly did: string; readonly power: number }[]
  commit(): void
}

export interface LedgerBlockContext {
  readonly height: number
  readonly epoch: number
  readonly timeMs: number
  readonly proposer: string
  readonly randomness: Uint8Array
}

/** The event format and ledger, seen from consensus. `E` is the ledger's decoded event. */
export interface LedgerPort<E> {
  readonly chainId: string
  readonly height: number
  root(): Uint8Array
  committee(): readonly { readonly did: string; readonly power: number }[]
  /** Decode + shape checks only; `verifyMany` must follow before the event is trusted. */
  decode(bytes: Uint8Array): E
  /**
   * The remaining stateless checks, signatures above all (the expensive part, done after cheaper
   * stateful checks passed), for many events at once so they verify as one batch: an error code
   * per event, undefined when it passes.
   */
  verifyMany(events: readonly E[]): (string | undefined)[]
  describe(ev: E): DecodedEvent
  /** Stateful admission check for the mempool; returns an error code or undefined. */
  precheck(ev: E): string | undefined
  nonceOf(sender: string): number
  execute(ctx: LedgerBlockContext, events: readonly E[]): LedgerExecution
  snapshot(): Uint8Array
}

export type ConsensusMessage =
  | { readonly t: 'proposal'; readonly proposal: Proposal; readonly block: Uint8Array }
  | { readonly t: 'vote'; readonly vote: Vote }
  | { readonly t: 'events'; readonly events: readonly Uint8Array[] }
  | { readonly t: 'commit'; readonly block: Uint8Array; readonly certificate: CommitCertificate }
  | { readonly t: 'status'; readonly epoch: number; readonly height: number }
  | { readonly t: 'restart-ready'; readonly ready: RestartReady }

export interface Transport {
  broadcast(msg: ConsensusMessage): void
  send(peer: string, msg: ConsensusMessage): void
  /** Certified blocks [from, from+max) from a peer, for catching up. */
  fetchBlocks(peer: string, from: number, max: number): Promise<{ block: Uint8Array; certificate: CommitCertificate }[]>
}
