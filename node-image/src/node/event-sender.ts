import type { NodeIdentity } from '../crypto/identity.ts'
import { encodeEvent, signEvent } from '../ledger/event.ts'
import type { EventPayloadMap, EventType } from '../ledger/event.ts'
import { requiredFee } from '../ledger/modules/accounts.ts'
import type { Params } from '../ledger/params.ts'
import { CodedError } from '../util/coded-error.ts'

/**
 * Events the node itself sends (content registration, PoSR results): signs them with the node's
 * key and numbers them. Nonces are tracked locally above the ledger's, so several can be pending
 * at once; a rejected submission rewinds to the ledger's nonce so no later event waits on a gap.
 */

export class EventSendError extends CodedError {}

export interface EventSenderLedger {
  readonly chainId: string
  nonceOf(did: string): number
  params(): Params
}

export type SubmitFn = (events: Uint8Array[]) => { id: string; ok: boolean; code?: string }[]

export class EventSender {
  readonly #id: NodeIdentity
  readonly #ledger: () => EventSenderLedger
  readonly #submit: SubmitFn
  #last = 0

  constructor(identity: NodeIdentity, ledger: () => EventSenderLedger, submit: SubmitFn) {
    this.#id = identity
    this.#ledger = ledger
    this.#submit = submit
  }

  /** Submits one event; returns its id once the mempool accepted it. */
  send<T extends EventType>(type: T, payload: EventPayloadMap[T]): string {
    const ledger = this.#ledger()
    const nonce = Math.max(this.#last, ledger.nonceOf(this.#id.did)) + 1
    const ev = signEvent(this.#id.signer, this.#id.did, {
      chainId: ledger.chainId,
      type,
      nonce,
      fee: requiredFee(ledger.params()),
      payload,
    })
    const [r] = this.#submit([encodeEvent(ev)])
    if (r?.ok !== true) {
      this.#last = 0
      throw new EventSendError(r?.code ?? 'REJECTED', `${type} event was not accepted (${r?.code ?? 'no result'})`)
    }
    this.#last = nonce
    return r.id
  }
}
