import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { toHex } from '../crypto/hash.ts'
import { signPosrAnswer } from './event.ts'
import type { SignedEvent } from './event.ts'
import { Ledger } from './ledger.ts'
import { action, block, CHAIN, cidOf, hex32, id, Sender, sign, world } from './testkit.ts'

/**
 * Property: whatever mix of events arrives (valid or failing), total supply — balances, bonded
 * and unbonding stake, open escrow, treasury — never changes, and replaying the same blocks on a
 * second ledger gives the same roots.
 */
const w = world({ payoutInterval: 3, payoutPoolBps: 2_500, unbondingBlocks: 2, posrSlashFractionBps: 3_000 })
const actors = [...w.users, ...w.witnesses, ...w.ssns]

type Step =
  | { t: 'transfer'; from: number; to: number; amount: number; fee: number }
  | { t: 'bond'; who: number; role: 'witness' | 'standby' | 'ssn'; amount: number }
  | { t: 'unbond'; who: number; amount: number }
  | { t: 'withdraw'; who: number }
  | { t: 'register'; who: number; n: number }
  | { t: 'interact'; who: number; n: number; kind: 'view' | 'like' | 'comment' | 'share' }
  | { t: 'adOpen'; who: number; n: number; deposit: number; price: number }
  | { t: 'adImpressions'; who: number; count: number }
  | { t: 'adClose'; who: number }
  | { t: 'posr'; ssn: number; outcome: 'pass' | 'wrong-data' | 'unreachable' }
  | { t: 'compensate'; to: number; amount: number }
  | { t: 'endBlock' }

const who = fc.nat({ max: actors.length - 1 })
const amount = fc.oneof(fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 1, max: 2_000_000 }))
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ t: fc.constant('transfer' as const), from: who, to: who, amount, fee: fc.nat({ max: 20 }) }),
  fc.record({
    t: fc.constant('bond' as const),
    who,
    role: fc.constantFrom('witness' as const, 'standby' as const, 'ssn' as const),
    amount,
  }),
  fc.record({ t: fc.constant('unbond' as const), who, amount }),
  fc.record({ t: fc.constant('withdraw' as const), who }),
  fc.record({ t: fc.constant('register' as const), who, n: fc.nat({ max: 3 }) }),
  fc.record({
    t: fc.constant('interact' as const),
    who,
    n: fc.nat({ max: 3 }),
    kind: fc.constantFrom('view' as const, 'like' as const, 'comment' as const, 'share' as const),
  }),
  fc.record({
    t: fc.constant('adOpen' as const),
    who,
    n: fc.nat({ max: 3 }),
    deposit: amount,
    price: fc.integer({ min: 1, max: 300 }),
  }),
  fc.record({ t: fc.constant('adImpressions' as const), who, count: fc.integer({ min: 1, max: 5_000 }) }),
  fc.record({ t: fc.constant('adClose' as const), who }),
  fc.record({
    t: fc.constant('posr' as const),
    ssn: fc.nat({ max: 1 }),
    outcome: fc.constantFrom('pass' as const, 'wrong-data' as const, 'unreachable' as const),
  }),
  fc.record({ t: fc.constant('compensate' as const), to: who, amount }),
  fc.constant({ t: 'endBlock' as const }),
)

function run(steps: Step[]): { roots: string[]; supply: number[] } {
  const ledger = Ledger.fromGenesis(w.genesis)
  const senders = actors.map((a) => new Sender(a))
  const witness = new Sender(w.witnesses[3]!)
  const escrows: string[] = []
  let pending: SignedEvent[] = []
  let councilNonce = 1
  let challenge = 0
  const roots: string[] = []
  const supply: number[] = [ledger.totalSupply()]
  const flush = () => {
    const x = block(ledger, pending)
    pending = []
    roots.push(toHex(x.stateRoot))
    supply.push(ledger.totalSupply())
    // Failed events did not consume nonces: resynchronize every sender with the ledger.
    for (const s of [...senders, witness]) s.nonce = ledger.nonceOf(s.did)
  }
  // Content exists from block 1 on, so engagement, ads and PoSR steps mostly succeed.
  pending = [0, 1, 2, 3].map((n) =>
    senders[n]!.ev('content.register', { cid: cidOf(n), bodyHash: hex32(n), size: 1, k: 1, m: 1 }),
  )
  flush()
  for (const st of steps) {
    const s = 'who' in st ? senders[st.who]! : 'from' in st ? senders[st.from]! : senders[0]!
    switch (st.t) {
      case 'transfer':
        pending.push(s.ev('accounts.transfer', { to: actors[st.to]!.did, amount: st.amount }, st.fee))
        break
      case 'bond':
        pending.push(s.ev('staking.bond', { role: st.role, amount: st.amount }))
        break
      case 'unbond':
        pending.push(s.ev('staking.unbond', { amount: st.amount }))
        break
      case 'withdraw':
        pending.push(s.ev('staking.withdraw', {}))
        break
      case 'register':
        pending.push(s.ev('content.register', { cid: cidOf(st.n), bodyHash: hex32(st.n), size: 1, k: 1, m: 1 }))
        break
      case 'interact':
        pending.push(s.ev('engagement.interact', { cid: cidOf(st.n), kind: st.kind }))
        break
      case 'adOpen': {
        const ev = s.ev('ads.open', { cid: cidOf(st.n), deposit: st.deposit, pricePerImpression: st.price })
        escrows.push(`${s.did}/${ev.body.nonce}`)
        pending.push(ev)
        break
      }
      case 'adImpressions':
      case 'adClose': {
        const escrowId = escrows[st.who % Math.max(1, escrows.length)]
        if (escrowId === undefined) break
        const owner = senders.find((x) => escrowId.startsWith(x.did))!
        pending.push(
          st.t === 'adClose'
            ? owner.ev('ads.close', { escrowId })
            : owner.ev('ads.impressions', { escrowId, count: st.count }),
        )
        break
      }
      case 'posr': {
        const ssn = w.ssns[st.ssn]!
        const base = {
          ssn: ssn.did,
          cid: cidOf(0),
          shard: 0,
          segment: 0,
          challengeHeight: Math.max(1, ledger.height - (challenge++ % 2)),
        }
        const dataHash = hex32(9)
        const answer = { dataHash, sig: signPosrAnswer(ssn.signer, { chainId: CHAIN, ...base, dataHash }) }
        pending.push(
          witness.ev(
            'posr.result',
            st.outcome === 'wrong-data' ? { ...base, outcome: st.outcome, answer } : { ...base, outcome: st.outcome },
          ),
        )
        break
      }
      case 'compensate': {
        const a = action(
          { kind: 'compensate', transfers: [{ to: actors[st.to]!.did, amount: st.amount }] },
          { nonce: councilNonce++ },
        )
        pending.push(
          senders[0]!.ev('governance.council-action', { action: a, signatures: sign(a, w.council.slice(0, 2)) }),
        )
        break
      }
      case 'endBlock':
        flush()
        break
    }
  }
  flush()
  return { roots, supply }
}

describe('total supply', () => {
  it('is conserved across random event sequences, and execution is deterministic', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        const a = run(steps)
        for (const s of a.supply) expect(s).toBe(a.supply[0])
        expect(run(steps).roots).toEqual(a.roots)
      }),
      { numRuns: 25 },
    )
  })

  it('is the genesis sum', () => {
    const l = Ledger.fromGenesis(w.genesis)
    const g = w.genesis
    const sum =
      g.treasury +
      g.accounts.reduce((t, a) => t + a.balance, 0) +
      [...g.witnesses, ...g.standbys, ...(g.ssns ?? [])].reduce((t, s) => t + s.stake, 0)
    expect(l.totalSupply()).toBe(sum)
    expect(id(0).did).toBe(g.council.members[0])
  })
})
