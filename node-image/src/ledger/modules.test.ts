import { describe, expect, it } from 'vitest'
import { toHex } from '../crypto/hash.ts'
import { signPosrAnswer } from './event.ts'
import type { CouncilActionBody } from './governance-payloads.ts'
import { Ledger } from './ledger.ts'
import type { Params } from './params.ts'
import { action, block, CHAIN, cidOf, hex32, id, Sender, sign, world } from './testkit.ts'

function setup(params: Partial<Params> = {}) {
  const w = world(params)
  const ledger = Ledger.fromGenesis(w.genesis)
  const s = (i: number) => new Sender(w.users[i]!, ledger.nonceOf(w.users[i]!.did))
  let councilNonce = 1
  const council = (body: CouncilActionBody) => {
    const a = action(body, { nonce: councilNonce++ })
    const sender = new Sender(w.users[3]!, ledger.nonceOf(w.users[3]!.did))
    return block(ledger, [sender.ev('governance.council-action', { action: a, signatures: sign(a, w.council) })])
      .results[0]!
  }
  return { w, ledger, s, council }
}

const content = (n: number) => ({ cid: cidOf(n), bodyHash: hex32(n), size: 1_000, k: 4, m: 2 })

describe('staking', () => {
  it('bonds from the balance, ranks witnesses by stake, honours committeeSize', () => {
    const { w, ledger } = setup({ committeeSize: 3 })
    expect(ledger.committee().map((m) => m.did)).toEqual([13, 12, 11].map((n) => id(n).did))
    const low = new Sender(w.witnesses[0]!)
    const balance = ledger.balanceOf(low.did)
    expect(block(ledger, [low.ev('staking.bond', { role: 'witness', amount: 5_000 })]).results[0]).toEqual({ ok: true })
    expect(ledger.balanceOf(low.did)).toBe(balance - 5_000 - 1)
    expect(ledger.committee()[0]).toEqual({ did: low.did, power: 6_000 })
    expect(ledger.committee()).toHaveLength(3)
  })

  it('enforces the minimum stake (times the temporary stake multiplier) and one role per DID', () => {
    const { s, ledger, council } = setup({ minSsnStake: 100 })
    const u = s(0)
    expect(block(ledger, [u.ev('staking.bond', { role: 'ssn', amount: 99 })]).results[0]!.code).toBe('STAKE_TOO_LOW')
    u.nonce = 0
    expect(
      council({ kind: 'set-params', params: { stakeMultiplierBps: 20_000 }, expiresAtMs: Date.now() * 2 }),
    ).toEqual({
      ok: true,
    })
    expect(block(ledger, [u.ev('staking.bond', { role: 'ssn', amount: 150 })]).results[0]!.code).toBe('STAKE_TOO_LOW')
    u.nonce = 0
    expect(block(ledger, [u.ev('staking.bond', { role: 'ssn', amount: 200 })]).results[0]).toEqual({ ok: true })
    expect(block(ledger, [u.ev('staking.bond', { role: 'witness', amount: 200 })]).results[0]!.code).toBe(
      'INVALID_PAYLOAD',
    )
  })

  it('unbonds into a locked amount, withdrawable after unbondingBlocks', () => {
    const { w, ledger } = setup({ unbondingBlocks: 3 })
    const wit = new Sender(w.witnesses[3]!)
    const balance = ledger.balanceOf(wit.did)
    expect(block(ledger, [wit.ev('staking.unbond', { amount: 1_300 })]).results[0]).toEqual({ ok: true })
    expect(ledger.stake(wit.did)).toMatchObject({ bonded: 0, unbonding: 1_300, releaseHeight: 4 })
    expect(ledger.committee().map((m) => m.did)).not.toContain(wit.did)
    expect(block(ledger, [wit.ev('staking.withdraw', {})]).results[0]!.code).toBe('STAKE_LOCKED')
    wit.nonce--
    block(ledger, [])
    expect(block(ledger, [wit.ev('staking.withdraw', {})]).results[0]).toEqual({ ok: true })
    expect(ledger.balanceOf(wit.did)).toBe(balance + 1_300 - 2)
    expect(ledger.stake(wit.did)).toBeUndefined()
  })
})

describe('content registry', () => {
  it('registers a ContentID; a creator re-upload with the same bodyHash maps to the existing ContentID', () => {
    const { s, ledger } = setup()
    const creator = s(0)
    expect(block(ledger, [creator.ev('content.register', content(1))]).results[0]).toEqual({ ok: true })
    expect(ledger.content(cidOf(1))).toMatchObject({ bodyHash: hex32(1), k: 4, m: 2, creator: creator.did, height: 1 })
    // Re-upload (e.g. after scenario B) under a different manifest: same body, same ContentID.
    const again = { ...content(1), cid: cidOf(2), k: 6, m: 3 }
    expect(block(ledger, [creator.ev('content.register', again)]).results[0]).toEqual({ ok: true })
    expect(ledger.contentByBodyHash(hex32(1))).toBe(cidOf(1))
    expect(ledger.content(cidOf(2))).toBeUndefined()
    // Someone else claiming the same body is refused.
    expect(block(ledger, [s(1).ev('content.register', again)]).results[0]!.code).toBe('ALREADY_EXISTS')
  })
})

describe('engagement and payouts', () => {
  it('PoE scores weight interactions by reputation; new DIDs are capped by newDidReputationWeight', () => {
    const { w, ledger, s, council } = setup({ newDidReputationWeight: 1_000, reputationMaturityBlocks: 100 })
    const creator = s(0)
    block(ledger, [creator.ev('content.register', content(1))])
    // A fresh DID funded now is "new" for 100 blocks.
    const fresh = new Sender(id(77))
    block(ledger, [s(1).ev('accounts.transfer', { to: fresh.did, amount: 100 })])
    block(ledger, [
      s(2).ev('engagement.interact', { cid: cidOf(1), kind: 'like' }), // 2 × 10_000
      fresh.ev('engagement.interact', { cid: cidOf(1), kind: 'like' }), // 2 × min(10_000, 1_000)
    ])
    expect(ledger.poeScore(creator.did)).toBe(22_000)
    // The public account view carries it (what an observer reads from GET /v1/accounts/<did>).
    expect(ledger.account(creator.did).poe).toBe(22_000)
    expect(council({ kind: 'set-reputation', did: w.users[2]!.did, score: 5_000 })).toEqual({ ok: true })
    block(ledger, [s(2).ev('engagement.interact', { cid: cidOf(1), kind: 'share' })]) // 4 × 5_000
    expect(ledger.poeScore(creator.did)).toBe(42_000)
    // Creators earn nothing from their own content.
    expect(block(ledger, [creator.ev('engagement.interact', { cid: cidOf(1), kind: 'view' })]).results[0]!.code).toBe(
      'UNAUTHORIZED',
    )
  })

  it('pays payoutPoolBps of the treasury pro rata to PoE every payoutInterval blocks, deterministically', () => {
    const run = () => {
      const { ledger, s } = setup({ payoutInterval: 5, payoutPoolBps: 1_000, minFee: 0 })
      const [a, b, c] = [s(0), s(1), s(2)]
      block(ledger, [a.ev('content.register', content(1), 0), b.ev('content.register', content(2), 0)])
      block(ledger, [
        c.ev('engagement.interact', { cid: cidOf(1), kind: 'like' }, 0), // a: 20_000
        c.ev('engagement.interact', { cid: cidOf(2), kind: 'view' }, 0), // b: 10_000
      ])
      const before = { a: ledger.balanceOf(a.did), b: ledger.balanceOf(b.did), t: ledger.treasury() }
      const supply = ledger.totalSupply()
      while (ledger.height < 5) block(ledger, [])
      const pool = Math.floor(before.t / 10)
      expect(ledger.lastPayout()).toMatchObject({ height: 5, pool, recipients: 2, totalScore: 30_000 })
      expect(ledger.balanceOf(a.did) - before.a).toBe(Math.floor((pool * 2) / 3))
      expect(ledger.balanceOf(b.did) - before.b).toBe(Math.floor(pool / 3))
      expect(ledger.treasury()).toBe(before.t - Math.floor((pool * 2) / 3) - Math.floor(pool / 3))
      expect(ledger.totalSupply()).toBe(supply)
      expect(ledger.poeScores()).toEqual([])
      return toHex(ledger.root())
    }
    expect(run()).toBe(run())
  })

  it('skips payouts while the payouts module is paused (scores keep accumulating)', () => {
    const { ledger, s, council } = setup({ payoutInterval: 4, minFee: 0 })
    block(ledger, [s(0).ev('content.register', content(1), 0)])
    expect(council({ kind: 'pause-module', module: 'payouts', untilHeight: 100 })).toEqual({ ok: true })
    block(ledger, [s(1).ev('engagement.interact', { cid: cidOf(1), kind: 'view' }, 0)])
    block(ledger, [])
    expect(ledger.height).toBe(4)
    expect(ledger.lastPayout()).toBeUndefined()
    expect(ledger.poeScores()).toHaveLength(1)
  })
})

describe('ad escrow', () => {
  it('releases count × price to the creator on attested impressions and refunds the rest on close', () => {
    const { ledger, s } = setup({ minFee: 0 })
    const creator = s(0)
    const advertiser = s(1)
    const attester = s(2)
    block(ledger, [creator.ev('content.register', content(1), 0)])
    const before = { c: ledger.balanceOf(creator.did), a: ledger.balanceOf(advertiser.did) }
    const open = advertiser.ev(
      'ads.open',
      { cid: cidOf(1), deposit: 1_000, pricePerImpression: 3, attester: attester.did },
      0,
    )
    block(ledger, [open])
    const escrowId = `${advertiser.did}/${open.body.nonce}`
    expect(ledger.escrow(escrowId)).toMatchObject({ remaining: 1_000, creator: creator.did })
    // Only the attester reports impressions.
    expect(block(ledger, [advertiser.ev('ads.impressions', { escrowId, count: 10 }, 0)]).results[0]!.code).toBe(
      'UNAUTHORIZED',
    )
    advertiser.nonce--
    block(ledger, [attester.ev('ads.impressions', { escrowId, count: 100 }, 0)])
    expect(ledger.balanceOf(creator.did)).toBe(before.c + 300)
    // More impressions than the deposit can pay: release what is left in whole impressions.
    block(ledger, [attester.ev('ads.impressions', { escrowId, count: 1_000_000 }, 0)])
    expect(ledger.escrow(escrowId)).toMatchObject({ remaining: 1, released: 999 })
    block(ledger, [advertiser.ev('ads.close', { escrowId }, 0)])
    expect(ledger.escrow(escrowId)).toBeUndefined()
    expect(ledger.balanceOf(advertiser.did)).toBe(before.a - 999)
    expect(ledger.balanceOf(creator.did)).toBe(before.c + 999)
  })
})

describe('PoSR results', () => {
  function posrSetup() {
    const x = setup({ posrSlashFractionBps: 2_000 })
    block(x.ledger, [x.s(0).ev('content.register', content(1))])
    const witness = new Sender(x.w.witnesses[3]!)
    const ssn = x.w.ssns[0]!
    let challengeHeight = 0
    const result = (outcome: 'pass' | 'unreachable' | 'wrong-data') => {
      const base = { ssn: ssn.did, cid: cidOf(1), shard: 2, segment: 0, challengeHeight: ++challengeHeight }
      const dataHash = hex32(0xbad)
      const answer = { dataHash, sig: signPosrAnswer(ssn.signer, { chainId: CHAIN, ...base, dataHash }) }
      witness.nonce = x.ledger.nonceOf(witness.did)
      return block(x.ledger, [
        witness.ev('posr.result', outcome === 'wrong-data' ? { ...base, outcome, answer } : { ...base, outcome }),
      ]).results[0]!
    }
    return { ...x, ssn, witness, result }
  }

  it('wrong data slashes posrSlashFractionBps of the SSN stake into the treasury', () => {
    const { ledger, ssn, result } = posrSetup()
    const treasury = ledger.treasury()
    const supply = ledger.totalSupply()
    expect(result('wrong-data')).toEqual({ ok: true })
    expect(ledger.stake(ssn.did)).toMatchObject({ bonded: 8_000, slashed: 2_000 })
    expect(ledger.treasury()).toBeGreaterThanOrEqual(treasury + 2_000)
    expect(ledger.posr(ssn.did)).toMatchObject({
      wrongData: 1,
      slashedTotal: 2_000,
      last: { outcome: 'wrong-data', slashed: 2_000 },
    })
    expect(ledger.account(ssn.did).reputation).toBe(7_500)
    expect(ledger.totalSupply()).toBe(supply)
  })

  it('unreachable suspends without slashing; a later pass lifts the suspension', () => {
    const { ledger, ssn, result } = posrSetup()
    expect(result('unreachable')).toEqual({ ok: true })
    expect(ledger.stake(ssn.did)).toMatchObject({ bonded: 10_000, slashed: 0, suspended: { sinceHeight: 2 } })
    expect(ledger.ssns().find((x) => x.did === ssn.did)?.suspended).toBe(true)
    expect(result('pass')).toEqual({ ok: true })
    expect(ledger.stake(ssn.did)?.suspended).toBeUndefined()
    expect(ledger.posr(ssn.did)).toMatchObject({ passes: 1, unreachable: 1 })
  })

  it('skips (and records skipping) the slash during a storage incident or a halt', () => {
    const { ledger, ssn, result, council } = posrSetup()
    expect(council({ kind: 'storage-incident', active: true, reason: 'DHT down' })).toEqual({ ok: true })
    expect(result('wrong-data')).toEqual({ ok: true })
    expect(ledger.stake(ssn.did)).toMatchObject({ bonded: 10_000, slashed: 0 })
    expect(ledger.posr(ssn.did)).toMatchObject({ skippedSlashes: 1, last: { skipped: 'storage-incident', slashed: 0 } })
    expect(council({ kind: 'storage-incident', active: false })).toEqual({ ok: true })
    expect(council({ kind: 'halt' })).toEqual({ ok: true })
    expect(result('wrong-data')).toEqual({ ok: true }) // recorded even while halted
    expect(ledger.posr(ssn.did)).toMatchObject({ skippedSlashes: 2, last: { skipped: 'halted' } })
    expect(ledger.stake(ssn.did)).toMatchObject({ bonded: 10_000 })
  })

  it('accepts results only from active witnesses, once per challenge, within the window', () => {
    const { ledger, s, ssn, result } = posrSetup()
    const outsider = s(1)
    const ev = outsider.ev('posr.result', {
      ssn: ssn.did,
      cid: cidOf(1),
      shard: 0,
      segment: 0,
      challengeHeight: 1,
      outcome: 'pass',
    })
    expect(block(ledger, [ev]).results[0]!.code).toBe('UNAUTHORIZED')
    expect(result('pass')).toEqual({ ok: true })
    const w = new Sender(id(13), ledger.nonceOf(id(13).did))
    const dup = w.ev('posr.result', {
      ssn: ssn.did,
      cid: cidOf(1),
      shard: 0,
      segment: 0,
      challengeHeight: 1,
      outcome: 'pass',
    })
    expect(block(ledger, [dup]).results[0]!.code).toBe('ALREADY_EXISTS')
    w.nonce--
    const noShard = w.ev('posr.result', {
      ssn: ssn.did,
      cid: cidOf(1),
      shard: 6,
      segment: 0,
      challengeHeight: 3,
      outcome: 'pass',
    })
    expect(block(ledger, [noShard]).results[0]!.code).toBe('INVALID_PAYLOAD')
  })
})
