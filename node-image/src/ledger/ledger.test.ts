import { describe, expect, it } from 'vitest'
import { toHex } from '../crypto/hash.ts'
import { LedgerError } from './errors.ts'
import { Ledger, verifyProof } from './ledger.ts'
import { block, CHAIN, id, nextCtx, Sender, world } from './testkit.ts'

function fresh(params = {}) {
  const w = world(params)
  return { w, ledger: Ledger.fromGenesis(w.genesis) }
}

describe('transfers and fees', () => {
  it('moves the amount, charges the fee, advances the nonce, splits the fee proposer/treasury', () => {
    const { w, ledger } = fresh({ minFee: 10, feeProposerShareBps: 3_000 })
    const alice = new Sender(w.users[0]!)
    const bob = w.users[1]!.did
    const proposer = w.witnesses[0]!.did
    const before = { a: ledger.balanceOf(alice.did), b: ledger.balanceOf(bob), p: ledger.balanceOf(proposer) }
    const treasury = ledger.treasury()
    const supply = ledger.totalSupply()

    const x = block(ledger, [alice.ev('accounts.transfer', { to: bob, amount: 250, memo: 'rent' }, 15)], { proposer })

    expect(x.results).toEqual([{ ok: true }])
    expect(ledger.balanceOf(alice.did)).toBe(before.a - 250 - 15)
    expect(ledger.balanceOf(bob)).toBe(before.b + 250)
    expect(ledger.balanceOf(proposer)).toBe(before.p + 4) // floor(15 · 30 %)
    expect(ledger.treasury()).toBe(treasury + 11)
    expect(ledger.nonceOf(alice.did)).toBe(1)
    expect(ledger.height).toBe(1)
    expect(ledger.totalSupply()).toBe(supply)
  })

  it('creates the recipient account on first credit', () => {
    const { w, ledger } = fresh()
    const alice = new Sender(w.users[0]!)
    const stranger = id(999).did
    block(ledger, [alice.ev('accounts.transfer', { to: stranger, amount: 5 })])
    expect(ledger.account(stranger)).toMatchObject({ balance: 5, nonce: 0, createdAt: 1 })
  })

  it('refuses a fee below minFee × feeMultiplier with FEE_TOO_LOW', () => {
    const { w, ledger } = fresh({ minFee: 10, feeMultiplierBps: 25_000 })
    const alice = new Sender(w.users[0]!)
    const x = block(ledger, [alice.ev('accounts.transfer', { to: w.users[1]!.did, amount: 1 }, 24)])
    expect(x.results[0]).toMatchObject({ ok: false, code: 'FEE_TOO_LOW' })
    const y = block(ledger, [alice.ev('accounts.transfer', { to: w.users[1]!.did, amount: 1 }, 25, 1)])
    expect(y.results[0]).toEqual({ ok: true })
  })

  it('refuses a replayed nonce with BAD_NONCE and a skipped one with NONCE_GAP', () => {
    const { w, ledger } = fresh()
    const alice = new Sender(w.users[0]!)
    const first = alice.ev('accounts.transfer', { to: w.users[1]!.did, amount: 1 })
    expect(block(ledger, [first]).results[0]!.ok).toBe(true)
    const balance = ledger.balanceOf(alice.did)

    const replay = block(ledger, [first])
    expect(replay.results[0]).toMatchObject({ ok: false, code: 'BAD_NONCE' })
    const gap = block(ledger, [alice.ev('accounts.transfer', { to: w.users[1]!.did, amount: 1 }, 1, 3)])
    expect(gap.results[0]).toMatchObject({ ok: false, code: 'NONCE_GAP' })
    expect(ledger.balanceOf(alice.did)).toBe(balance)
    expect(ledger.nonceOf(alice.did)).toBe(1)
  })

  it('applies several events of one sender in nonce order within a block', () => {
    const { w, ledger } = fresh()
    const alice = new Sender(w.users[0]!)
    const evs = [1, 2, 3].map(() => alice.ev('accounts.transfer', { to: w.users[1]!.did, amount: 10 }))
    expect(block(ledger, evs).results.every((r) => r.ok)).toBe(true)
    expect(ledger.nonceOf(alice.did)).toBe(3)
  })

  it('refuses overspending with INSUFFICIENT_FUNDS and changes nothing, not even the nonce', () => {
    const { w, ledger } = fresh()
    const alice = new Sender(w.users[0]!)
    const root = toHex(ledger.root())
    const balance = ledger.balanceOf(alice.did)
    const x = ledger.execute(nextCtx(ledger), [alice.ev('accounts.transfer', { to: w.users[1]!.did, amount: balance })])
    expect(x.results[0]).toMatchObject({ ok: false, code: 'INSUFFICIENT_FUNDS' })
    x.commit()
    expect(ledger.balanceOf(alice.did)).toBe(balance)
    expect(ledger.nonceOf(alice.did)).toBe(0)
    // The block itself (meta) changed the root, but no account did.
    expect(toHex(ledger.root())).not.toBe(root)
    expect(ledger.account(alice.did).nonce).toBe(0)
  })

  it('a sender without funds cannot pay the fee', () => {
    const { ledger } = fresh()
    const pauper = new Sender(id(500))
    const x = block(ledger, [pauper.ev('accounts.transfer', { to: id(501).did, amount: 1 })])
    expect(x.results[0]).toMatchObject({ ok: false, code: 'INSUFFICIENT_FUNDS' })
  })
})

describe('execution is isolated until commit', () => {
  it('does not mutate the ledger before commit, and the same block gives the same root twice', () => {
    const { w, ledger } = fresh()
    const alice = new Sender(w.users[0]!)
    const evs = [alice.ev('accounts.transfer', { to: w.users[1]!.did, amount: 7 })]
    const root0 = toHex(ledger.root())
    const ctx = nextCtx(ledger)
    const a = ledger.execute(ctx, evs)
    const b = ledger.execute(ctx, evs)
    expect(toHex(a.stateRoot)).toBe(toHex(b.stateRoot))
    expect(toHex(a.stateRoot)).not.toBe(root0)
    expect(toHex(ledger.root())).toBe(root0)
    expect(ledger.height).toBe(0)
    expect(ledger.nonceOf(alice.did)).toBe(0)
    a.commit()
    expect(toHex(ledger.root())).toBe(toHex(a.stateRoot))
    expect(ledger.height).toBe(1)
    // The twin execution is now stale: committing it would double-apply.
    expect(() => {
      b.commit()
    }).toThrow(expect.objectContaining({ code: 'STALE_EXECUTION' }) as Error)
  })

  it('two ledgers from the same genesis agree on every root', () => {
    const w = world()
    const l1 = Ledger.fromGenesis(w.genesis)
    const l2 = Ledger.fromGenesis(w.genesis)
    const alice = new Sender(w.users[0]!)
    const evs = [alice.ev('accounts.transfer', { to: w.users[2]!.did, amount: 3 })]
    block(l1, evs)
    block(l2, evs)
    expect(toHex(l1.root())).toBe(toHex(l2.root()))
  })

  it('refuses a block context that does not follow the ledger', () => {
    const { ledger } = fresh()
    const bad = (over: Parameters<typeof nextCtx>[1]) => () => ledger.execute(nextCtx(ledger, over), [])
    expect(bad({ height: 2 })).toThrow(LedgerError)
    expect(bad({ timeMs: 0 })).toThrow(/before the previous/)
    expect(bad({ randomness: new Uint8Array(3) })).toThrow(/32 bytes/)
    expect(bad({ proposer: 'did:key:zNope' })).toThrow(/proposer/)
  })

  it('reports the committee after the block (it finalizes the next height)', () => {
    const { w, ledger } = fresh()
    const w0 = new Sender(w.witnesses[0]!)
    const x = ledger.execute(nextCtx(ledger), [w0.ev('staking.bond', { role: 'witness', amount: 10_000 })])
    expect(x.committee()[0]).toEqual({ did: w.witnesses[0]!.did, power: 11_000 })
    expect(ledger.committee()[0]!.did).toBe(w.witnesses[3]!.did)
  })
})

describe('snapshots', () => {
  it('round-trips: fromSnapshot(snapshot()) has the same root, height and balances', () => {
    const { w, ledger } = fresh()
    const alice = new Sender(w.users[0]!)
    block(ledger, [alice.ev('accounts.transfer', { to: w.users[1]!.did, amount: 42 })])
    const bytes = ledger.snapshot()
    const copy = Ledger.fromSnapshot(bytes)
    expect(toHex(copy.root())).toBe(toHex(ledger.root()))
    expect(copy.height).toBe(1)
    expect(copy.chainId).toBe(CHAIN)
    expect(copy.balanceOf(w.users[1]!.did)).toBe(ledger.balanceOf(w.users[1]!.did))
    expect(Buffer.from(copy.snapshot()).equals(Buffer.from(bytes))).toBe(true)
    // And it keeps executing identically.
    const next = [alice.ev('accounts.transfer', { to: w.users[2]!.did, amount: 1 })]
    expect(toHex(block(copy, next).stateRoot)).toBe(toHex(block(ledger, next).stateRoot))
  })

  it('refuses a tampered snapshot (one byte of one balance changed)', () => {
    const { w, ledger } = fresh({})
    const bytes = ledger.snapshot()
    const balance = ledger.balanceOf(w.users[0]!.did)
    // 1_000_000 is encoded as 0x1a 000f4240; find it and change it.
    const needle = Buffer.from([0x1a, 0x00, 0x0f, 0x42, 0x40])
    expect(balance).toBe(1_000_000)
    const at = Buffer.from(bytes).indexOf(needle)
    expect(at).toBeGreaterThan(0)
    const tampered = Uint8Array.from(bytes)
    tampered[at + 4] = 0x41
    expect(() => Ledger.fromSnapshot(tampered)).toThrow(
      expect.objectContaining({
        code: 'INVALID_SNAPSHOT',
        message: expect.stringMatching(/root mismatch/) as string,
      }) as Error,
    )
  })

  it('refuses garbage with INVALID_SNAPSHOT', () => {
    expect(() => Ledger.fromSnapshot(new Uint8Array([1, 2, 3]))).toThrow(
      expect.objectContaining({ code: 'INVALID_SNAPSHOT' }) as Error,
    )
  })
})

describe('state proofs', () => {
  it('verify for present and absent keys and fail for wrong values or another root', () => {
    const { w, ledger } = fresh()
    const key = `acct/${w.users[0]!.did}`
    const p = ledger.prove(key)
    expect(p.value).toBeDefined()
    const root = ledger.root()
    expect(verifyProof(root, key, p.value, p.proof)).toBe(true)
    expect(verifyProof(root, key, undefined, p.proof)).toBe(false)
    const wrong = Uint8Array.from(p.value!)
    wrong[wrong.length - 1]! ^= 1
    expect(verifyProof(root, key, wrong, p.proof)).toBe(false)

    const absent = `acct/${id(777).did}`
    const q = ledger.prove(absent)
    expect(q.value).toBeUndefined()
    expect(verifyProof(root, absent, undefined, q.proof)).toBe(true)
    expect(verifyProof(root, absent, p.value, q.proof)).toBe(false)

    block(ledger, [new Sender(w.users[0]!).ev('accounts.transfer', { to: w.users[1]!.did, amount: 1 })])
    expect(verifyProof(ledger.root(), key, p.value, p.proof)).toBe(false)
  })
})

describe('precheck (mempool admission)', () => {
  it('admits a good event and names what is wrong with a bad one', () => {
    const { w, ledger } = fresh({ minFee: 5 })
    const alice = new Sender(w.users[0]!)
    const to = w.users[1]!.did
    expect(ledger.precheck(alice.ev('accounts.transfer', { to, amount: 1 }, 5))).toBeUndefined()
    // Ahead of the next nonce is fine for the mempool (queued), too far ahead is not.
    expect(ledger.precheck(alice.ev('accounts.transfer', { to, amount: 1 }, 5, 9))).toBeUndefined()
    expect(ledger.precheck(alice.ev('accounts.transfer', { to, amount: 1 }, 5, 10_000))).toBe('NONCE_GAP')
    expect(ledger.precheck(alice.ev('accounts.transfer', { to, amount: 1 }, 4, 2))).toBe('FEE_TOO_LOW')
    expect(ledger.precheck(new Sender(id(600)).ev('accounts.transfer', { to, amount: 1 }, 5))).toBe(
      'INSUFFICIENT_FUNDS',
    )
    block(ledger, [alice.ev('accounts.transfer', { to, amount: 1 }, 5, 1)])
    expect(ledger.precheck(alice.ev('accounts.transfer', { to, amount: 1 }, 5, 1))).toBe('BAD_NONCE')
  })
})
