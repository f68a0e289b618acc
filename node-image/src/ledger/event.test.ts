import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { toHex } from '../crypto/hash.ts'
import { LedgerError } from './errors.ts'
import {
  checkEventStateless,
  checkEventsStateless,
  decodeEvent,
  encodeEvent,
  eventId,
  MAX_EVENT_BYTES,
  signEvent,
  signPosrAnswer,
} from './event.ts'
import type { SignedEvent } from './event.ts'
import { CHAIN, cidOf, hex32, id, Sender } from './testkit.ts'

const alice = id(40)
const bob = id(41)

function transfer(): SignedEvent {
  return new Sender(alice).ev('accounts.transfer', { to: bob.did, amount: 10, memo: 'hi' })
}

/** Only LedgerError may escape; returns its code, or 'ok'. */
function outcome(f: () => unknown): string {
  try {
    f()
    return 'ok'
  } catch (err) {
    if (!(err instanceof LedgerError)) throw new Error(`non-LedgerError escaped: ${String(err)}`)
    return err.code
  }
}

describe('event encoding', () => {
  it('round-trips, and the id is the hash of the canonical bytes', () => {
    const ev = transfer()
    const bytes = encodeEvent(ev)
    const back = decodeEvent(bytes)
    expect(back).toEqual(ev)
    expect(toHex(eventId(back))).toBe(toHex(eventId(ev)))
    expect(Buffer.from(encodeEvent(back)).equals(Buffer.from(dagCbor.encode(ev)))).toBe(true)
    checkEventStateless(back, CHAIN)
  })

  it('signEvent drops undefined optional fields and refuses a key that is not the sender', () => {
    const ev = signEvent(alice.signer, alice.did, {
      chainId: CHAIN,
      type: 'accounts.transfer',
      nonce: 1,
      fee: 1,
      payload: { to: bob.did, amount: 1, memo: undefined },
    })
    expect('memo' in ev.body.payload).toBe(false)
    expect(outcome(() => signEvent(bob.signer, alice.did, ev.body))).toBe('UNAUTHORIZED')
  })

  it('refuses oversized, non-canonical and unknown events with precise codes', () => {
    expect(outcome(() => decodeEvent(new Uint8Array(MAX_EVENT_BYTES + 1)))).toBe('PAYLOAD_TOO_LARGE')
    const ev = transfer()
    // Same content with the envelope's keys out of canonical order (body before sig): a second
    // encoding of one event would give it a second id, so it is refused.
    const parts = [new Uint8Array([0xa2]), dagCbor.encode('body'), dagCbor.encode(ev.body), dagCbor.encode('sig')]
    const nonCanonical = Buffer.concat([...parts, dagCbor.encode(ev.sig)])
    expect(outcome(() => decodeEvent(nonCanonical))).toBe('MALFORMED_EVENT')
    const unknown = dagCbor.encode({ body: { ...ev.body, type: 'accounts.mint' }, sig: ev.sig })
    expect(outcome(() => decodeEvent(unknown))).toBe('UNKNOWN_EVENT_TYPE')
    const badPayload = dagCbor.encode({ body: { ...ev.body, payload: { to: bob.did, amount: -5 } }, sig: ev.sig })
    expect(outcome(() => decodeEvent(badPayload))).toBe('INVALID_PAYLOAD')
    const extra = dagCbor.encode({ body: { ...ev.body, payload: { to: bob.did, amount: 5, x: 1 } }, sig: ev.sig })
    expect(outcome(() => decodeEvent(extra))).toBe('INVALID_PAYLOAD')
  })

  it('checkEventStateless: wrong network, forged signature, tampered body', () => {
    const ev = transfer()
    expect(outcome(() => checkEventStateless(ev, 'other-net'))).toBe('WRONG_CHAIN')
    const forged = { body: ev.body, sig: Uint8Array.from(ev.sig).fill(1, 0, 8) }
    expect(outcome(() => checkEventStateless(forged, CHAIN))).toBe('BAD_SIGNATURE')
    const tampered = { body: { ...ev.body, fee: 999 }, sig: ev.sig }
    expect(outcome(() => checkEventStateless(tampered, CHAIN))).toBe('BAD_SIGNATURE')
  })

  it('PoSR wrong-data results need a valid SSN signature on the answer', () => {
    const ssn = id(30)
    const witness = new Sender(id(10))
    const base = { ssn: ssn.did, cid: cidOf(1), shard: 0, segment: 3, challengeHeight: 5 }
    const dataHash = hex32(0xbad)
    const sig = signPosrAnswer(ssn.signer, { chainId: CHAIN, ...base, dataHash })
    const good = witness.ev('posr.result', { ...base, outcome: 'wrong-data', answer: { dataHash, sig } })
    expect(outcome(() => checkEventStateless(good, CHAIN))).toBe('ok')
    const lie = witness.ev('posr.result', { ...base, outcome: 'wrong-data', answer: { dataHash: hex32(1), sig } })
    expect(outcome(() => checkEventStateless(lie, CHAIN))).toBe('BAD_SIGNATURE')
    expect(outcome(() => witness.ev('posr.result', { ...base, outcome: 'wrong-data' }))).toBe('INVALID_PAYLOAD')
  })

  it('checkEventsStateless verifies a batch at once and names exactly the events that fail (what was tried: forged, tampered, wrong network, a lying PoSR answer, among good ones)', () => {
    const ssn = id(30)
    const witness = new Sender(id(10))
    const base = { ssn: ssn.did, cid: cidOf(1), shard: 0, segment: 3, challengeHeight: 5 }
    const dataHash = hex32(0xbad)
    const sig = signPosrAnswer(ssn.signer, { chainId: CHAIN, ...base, dataHash })
    const good = transfer()
    const events: SignedEvent[] = [
      good,
      { body: good.body, sig: Uint8Array.from(good.sig).fill(1, 0, 8) },
      transfer(),
      { body: { ...good.body, fee: 999 }, sig: good.sig },
      witness.ev('posr.result', { ...base, outcome: 'wrong-data', answer: { dataHash, sig } }),
      witness.ev('posr.result', { ...base, outcome: 'wrong-data', answer: { dataHash: hex32(1), sig } }),
      new Sender(bob).ev('accounts.transfer', { to: alice.did, amount: 1 }),
    ]
    const verdicts = checkEventsStateless(events, CHAIN).map((e) => e?.code ?? 'ok')
    expect(verdicts).toEqual(['ok', 'BAD_SIGNATURE', 'ok', 'BAD_SIGNATURE', 'ok', 'BAD_SIGNATURE', 'ok'])
    // The batch verdict is each event's verdict alone.
    expect(verdicts).toEqual(events.map((ev) => outcome(() => checkEventStateless(ev, CHAIN))))
    expect(checkEventsStateless([good, good], 'other-net').map((e) => e?.code)).toEqual(['WRONG_CHAIN', 'WRONG_CHAIN'])
    expect(checkEventsStateless([], CHAIN)).toEqual([])
  })

  it('validates payload schemas: CIDs, hashes, erasure bounds', () => {
    const s = new Sender(alice)
    const ok = { cid: cidOf(1), bodyHash: hex32(1), size: 10, k: 4, m: 2 }
    expect(outcome(() => s.ev('content.register', ok))).toBe('ok')
    expect(outcome(() => s.ev('content.register', { ...ok, cid: 'not-a-cid' }))).toBe('INVALID_PAYLOAD')
    expect(outcome(() => s.ev('content.register', { ...ok, bodyHash: 'AB' }))).toBe('INVALID_PAYLOAD')
    expect(outcome(() => s.ev('content.register', { ...ok, k: 200, m: 100 }))).toBe('INVALID_PAYLOAD')
    expect(outcome(() => s.ev('content.register', { ...ok, k: 0 }))).toBe('INVALID_PAYLOAD')
  })
})

describe('decodeEvent on hostile input (property tests)', () => {
  it('random bytes never throw anything but LedgerError', () => {
    // Tried: arbitrary byte strings up to 2 KiB (mostly not CBOR at all).
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        expect(outcome(() => decodeEvent(bytes))).not.toBe('ok')
      }),
      { numRuns: 400 },
    )
  })

  it('random well-formed DAG-CBOR values never throw anything but LedgerError', () => {
    // Tried: arbitrary JSON-like values and envelopes {body, sig} with random bodies, encoded as
    // valid DAG-CBOR so that decoding succeeds and validation has to do the refusing.
    const anyValue = fc.jsonValue()
    const envelope = fc.record({
      body: fc.record(
        {
          chainId: fc.oneof(fc.constant(CHAIN), fc.string()),
          type: fc.oneof(
            fc.constantFrom('accounts.transfer', 'staking.bond', 'governance.council-action'),
            fc.string(),
          ),
          sender: fc.oneof(fc.constant(alice.did), fc.string()),
          nonce: fc.oneof(fc.nat(), fc.integer()),
          fee: fc.oneof(fc.nat(), fc.double({ noNaN: true, noDefaultInfinity: true })),
          payload: fc.oneof(anyValue, fc.record({ to: fc.constant(bob.did), amount: fc.integer() })),
        },
        { requiredKeys: [] },
      ),
      sig: fc.oneof(fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.uint8Array({ maxLength: 70 })),
    })
    fc.assert(
      fc.property(fc.oneof(anyValue, envelope), (v) => {
        let bytes: Uint8Array
        try {
          bytes = dagCbor.encode(v)
        } catch {
          return // not encodable (e.g. -0 or undefined): nothing to feed the decoder
        }
        const code = outcome(() => decodeEvent(bytes))
        expect(code).not.toBe('INTERNAL_ERROR')
      }),
      { numRuns: 400 },
    )
  })

  it('single-byte mutations of a valid event are refused or decode to a different, still valid event', () => {
    // Tried: flipping / replacing / truncating one byte anywhere in a valid signed event.
    const bytes = encodeEvent(transfer())
    fc.assert(
      fc.property(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.boolean(), (at, b, cut) => {
        const m = cut ? bytes.slice(0, at) : Uint8Array.from(bytes)
        if (!cut) m[at] = b
        const code = outcome(() => {
          const ev = decodeEvent(m)
          checkEventStateless(ev, CHAIN)
        })
        if (Buffer.from(m).equals(Buffer.from(bytes))) expect(code).toBe('ok')
        else expect(code).not.toBe('ok') // any change breaks structure, canonicity or the signature
      }),
      { numRuns: 300 },
    )
  })
})
