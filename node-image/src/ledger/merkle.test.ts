import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { toHex } from '../crypto/hash.ts'
import { encodeValue } from './cbor.ts'
import { verifyProof } from './merkle.ts'
import { Overlay, Store } from './store.ts'

function storeOf(entries: Map<string, unknown>): Store {
  const s = new Store()
  for (const [k, v] of entries) s.load(k, v, encodeValue(v))
  s.rebuild()
  return s
}

const key = fc.stringMatching(/^[a-z]{1,4}\/[\x21-\x7e]{1,12}$/)
const op = fc.oneof(
  fc.record({ k: key, v: fc.oneof(fc.integer(), fc.record({ n: fc.nat() })) }),
  fc.record({ k: key, del: fc.constant(true) }),
)

describe('incremental Merkle state root', () => {
  it('after random writes and deletes, the incremental root equals a from-scratch rebuild', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.array(op, { maxLength: 40 }), (first, second) => {
        const model = new Map<string, unknown>()
        const store = storeOf(model)
        for (const batch of [first, second]) {
          const ov = new Overlay(store)
          for (const o of batch) {
            if ('del' in o) {
              ov.delete(o.k)
              model.delete(o.k)
            } else {
              ov.set(o.k, o.v)
              model.set(o.k, o.v)
            }
          }
          const before = toHex(store.root())
          const prepared = store.prepare(ov.writes)
          expect(toHex(store.root())).toBe(before) // prepare never mutates
          store.apply(prepared)
          expect(toHex(store.root())).toBe(toHex(prepared.tree.root))
          expect(toHex(store.root())).toBe(toHex(storeOf(model).root()))
        }
      }),
      { numRuns: 40 },
    )
  })

  it('rolls back a journal mark exactly', () => {
    const store = storeOf(new Map([['a/1', { n: 1 }]]))
    const ov = new Overlay(store)
    ov.set('a/2', { n: 2 })
    const mark = ov.mark()
    ov.set('a/1', { n: 9 })
    ov.delete('a/2')
    ov.set('a/3', { n: 3 })
    ov.rollback(mark)
    expect(ov.get('a/1')).toEqual({ n: 1 })
    expect(ov.get('a/2')).toEqual({ n: 2 })
    expect(ov.get('a/3')).toBeUndefined()
    expect(ov.keys('a')).toEqual(['a/1', 'a/2'])
  })
})

describe('state proofs', () => {
  const model = new Map<string, unknown>(Array.from({ length: 300 }, (_, i) => [`acct/k${i}`, { balance: i }]))
  const store = storeOf(model)
  const root = store.root()

  it('verify present keys with their value and absent keys with undefined', () => {
    for (const k of ['acct/k0', 'acct/k17', 'acct/k299']) {
      const p = store.prove(k)
      expect(verifyProof(root, k, p.value, p.proof)).toBe(true)
      expect(p.value).toEqual(encodeValue(model.get(k)))
    }
    const absent = store.prove('acct/nobody')
    expect(absent.value).toBeUndefined()
    expect(verifyProof(root, 'acct/nobody', undefined, absent.proof)).toBe(true)
  })

  it('fail for a wrong value, a claimed absence, a dropped entry or a forged sibling', () => {
    const k = 'acct/k5'
    const p = store.prove(k)
    expect(verifyProof(root, k, encodeValue({ balance: 6 }), p.proof)).toBe(false)
    expect(verifyProof(root, k, undefined, p.proof)).toBe(false)
    const dropped = { ...p.proof, entries: p.proof.entries.filter((e) => e.key !== k) }
    expect(verifyProof(root, k, undefined, dropped)).toBe(false)
    const forged = { ...p.proof, siblings: p.proof.siblings.map((s, i) => (i === 7 ? new Uint8Array(32) : s)) }
    expect(verifyProof(root, k, p.value, forged)).toBe(false)
    expect(verifyProof(root, k, p.value, { ...p.proof, siblings: p.proof.siblings.slice(1) })).toBe(false)
    // A proof for one key does not prove another key's absence in a different bucket.
    expect(verifyProof(root, 'acct/other', undefined, p.proof)).toBe(false)
  })
})
