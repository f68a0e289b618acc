import { describe, expect, it } from 'vitest'
import { NodeIdentity } from '../crypto/identity.ts'
import { decodeEvent } from '../ledger/event.ts'
import { DEFAULT_PARAMS } from '../ledger/params.ts'
import { EventSendError, EventSender } from './event-sender.ts'

const id = NodeIdentity.fromSeed(new Uint8Array(32).fill(11))
const payload = {
  cid: 'bafyreieb7zsryr25xgmka74hbcxqbkd33dfbifeb6bnwzr26gwkmybkuc4',
  bodyHash: 'a'.repeat(64),
  size: 1,
  k: 1,
  m: 1,
}

describe('EventSender', () => {
  it('numbers pending events above the ledger nonce and rewinds after a rejection', () => {
    let ledgerNonce = 4
    const seen: number[] = []
    let reject = false
    const sender = new EventSender(
      id,
      () => ({ chainId: 'c', nonceOf: () => ledgerNonce, params: () => DEFAULT_PARAMS }),
      (evs) =>
        evs.map((bytes) => {
          const ev = decodeEvent(bytes)
          seen.push(ev.body.nonce)
          expect(ev.body.sender).toBe(id.did)
          return reject ? { id: 'x', ok: false, code: 'NONCE_TOO_HIGH' } : { id: String(ev.body.nonce), ok: true }
        }),
    )
    sender.send('content.register', payload)
    sender.send('content.register', payload)
    expect(seen).toEqual([5, 6])
    reject = true
    expect(() => sender.send('content.register', payload)).toThrow(EventSendError)
    reject = false
    ledgerNonce = 6
    sender.send('content.register', payload)
    expect(seen).toEqual([5, 6, 7, 7])
  })
})
