import { describe, expect, it } from 'vitest'
import { encodeValue } from '../ledger/cbor.ts'
import { MAX_STATE_EDITS, MAX_STATE_EDIT_VALUE_BYTES } from '../ledger/governance-payloads.ts'
import { parseRestartPreview, stateValueJson } from './restart-preview.ts'

const DID = 'did:key:z6MkhTxE4qWWUJyG6Rp76KRukmU8etBqBixS7YBbRxeisD7J'
const body = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))

function refusal(v: unknown): string {
  try {
    parseRestartPreview(body(v))
    return 'accepted'
  } catch (err) {
    const e = err as { status: number; code: string; message: string }
    return `${e.status} ${e.code}: ${e.message}`
  }
}

describe('hard-fork preview request', () => {
  it('takes JSON values and base64 DAG-CBOR alike, into the same canonical bytes', () => {
    const value = { balance: 10, nonce: 2, createdAt: 0 }
    const cbor = Buffer.from(encodeValue(value)).toString('base64')
    const a = parseRestartPreview(body({ edits: [{ op: 'put', key: `acct/${DID}`, value }] }))
    const b = parseRestartPreview(body({ edits: [{ op: 'put', key: `acct/${DID}`, valueCbor: cbor }] }))
    expect(a.edits).toEqual(b.edits)
    expect(a.edits[0]).toEqual({ op: 'put', key: `acct/${DID}`, value: encodeValue(value) })
    expect(parseRestartPreview(body({ edits: [{ op: 'delete', key: 'x/y' }], witnesses: [DID] }))).toEqual({
      edits: [{ op: 'delete', key: 'x/y' }],
      witnesses: [DID],
    })
  })

  it('refuses what is not a list of edits with INVALID_PAYLOAD, naming the problem', () => {
    expect(refusal('[')).toMatch(/^400 MALFORMED_JSON/)
    expect(refusal([])).toMatch(/^400 INVALID_PAYLOAD: body must be/)
    expect(refusal({ edits: [] })).toMatch(/^400 INVALID_PAYLOAD: edits must list 1 to/)
    expect(refusal({ edits: [{ op: 'delete', key: 'k' }], extra: 1 })).toMatch(/body.extra is not a known field/)
    expect(
      refusal({ edits: Array.from({ length: MAX_STATE_EDITS + 1 }, (_, i) => ({ op: 'delete', key: `k${i}` })) }),
    ).toMatch(/^400 INVALID_PAYLOAD/)
    expect(refusal({ edits: [{ op: 'move', key: 'k' }] })).toMatch(/edits\[0\].op must be put or delete/)
    expect(refusal({ edits: [{ op: 'put', key: 'k' }] })).toMatch(/exactly one of value, valueCbor/)
    expect(refusal({ edits: [{ op: 'put', key: 'k', value: 1, valueCbor: 'AQ==' }] })).toMatch(/exactly one of/)
    expect(refusal({ edits: [{ op: 'put', key: 'k', valueCbor: 'not base64!' }] })).toMatch(/valueCbor must be base64/)
    expect(refusal({ edits: [{ op: 'delete', key: 'k', value: 1 }] })).toMatch(/edits\[0\].value is not a known field/)
    expect(refusal({ edits: [{ op: 'delete', key: 'with space' }] })).toMatch(/key must be printable ASCII/)
    expect(refusal({ edits: [{ op: 'delete', key: '' }] })).toMatch(/key must be printable ASCII/)
    expect(
      refusal({
        edits: [
          { op: 'delete', key: 'k' },
          { op: 'put', key: 'k', value: 1 },
        ],
      }),
    ).toMatch(/edits list k twice/)
    expect(refusal({ edits: [{ op: 'put', key: 'k', value: 'x'.repeat(MAX_STATE_EDIT_VALUE_BYTES) }] })).toMatch(
      /^400 INVALID_PAYLOAD: edits\[0\].value must be DAG-CBOR bytes of at most/,
    )
    expect(refusal({ edits: [{ op: 'delete', key: 'k' }], witnesses: ['did:key:nope'] })).toMatch(/witnesses must list/)
    expect(refusal({ edits: [{ op: 'delete', key: 'k' }], witnesses: [DID, DID] })).toMatch(/lists a DID twice/)
  })

  it('refuses values outside the ledger’s data model with INVALID_STATE_EDIT', () => {
    expect(refusal({ edits: [{ op: 'put', key: 'k', value: 1.5 }] })).toMatch(
      /^400 INVALID_STATE_EDIT: edits\[0\].value: not a safe integer/,
    )
    expect(refusal({ edits: [{ op: 'put', key: 'k', value: 2 ** 60 }] })).toMatch(/^400 INVALID_STATE_EDIT/)
    // 0x18 0x01: the integer 1 in a two-byte form, not canonical.
    expect(
      refusal({ edits: [{ op: 'put', key: 'k', valueCbor: Buffer.from([0x18, 0x01]).toString('base64') }] }),
    ).toMatch(/^400 INVALID_STATE_EDIT: edits\[0\].valueCbor/)
  })

  it('renders state values as JSON for people, bytes in DAG-JSON form', () => {
    expect(stateValueJson({ a: [1, 'x', null, true], b: new Uint8Array([1, 2, 3]) })).toEqual({
      a: [1, 'x', null, true],
      b: { '/': { bytes: 'AQID' } },
    })
  })
})
