import { describe, expect, it } from 'vitest'
import type { CouncilAction, CouncilActionBody } from './governance-payloads.ts'
import { Ledger } from './ledger.ts'
import { action, block, CHAIN, cidOf, hex32, id, Sender, sign, T0, world } from './testkit.ts'

function setup(params = {}) {
  const w = world(params)
  const ledger = Ledger.fromGenesis(w.genesis)
  const submitter = new Sender(w.users[3]!)
  let nonce = 100
  /** Submits a council action signed by `signers` (default: the first two members) in one block. */
  const council = (body: CouncilActionBody, signers = w.council.slice(0, 2), over: Partial<CouncilAction> = {}) => {
    const a = action(body, { nonce: nonce++, ...over })
    submitter.nonce = ledger.nonceOf(submitter.did) // failed events do not consume a nonce
    return block(ledger, [submitter.ev('governance.council-action', { action: a, signatures: sign(a, signers) })])
      .results[0]!
  }
  return { w, ledger, council, submitter }
}

describe('council actions on the ledger', () => {
  it('applies an action with M signatures; refuses M-1, non-members, expired and replayed ones', () => {
    const { w, ledger, council, submitter } = setup()
    expect(council({ kind: 'declare-emergency', scenario: 'NetworkAttack', reason: 'ddos' })).toEqual({ ok: true })
    expect(ledger.emergency().declared).toMatchObject({ scenario: 'NetworkAttack', reason: 'ddos', sinceHeight: 1 })

    expect(council({ kind: 'halt' }, [w.council[0]!])).toMatchObject({ ok: false, code: 'COUNCIL_THRESHOLD_NOT_MET' })
    expect(council({ kind: 'halt' }, [w.council[0]!, id(99)])).toMatchObject({
      ok: false,
      code: 'COUNCIL_THRESHOLD_NOT_MET',
    })
    expect(council({ kind: 'halt' }, undefined, { expiresAtMs: T0 + 500 })).toMatchObject({
      ok: false,
      code: 'EXPIRED',
    })
    expect(council({ kind: 'halt' }, undefined, { chainId: 'other-net' })).toMatchObject({
      ok: false,
      code: 'WRONG_CHAIN',
    })
    expect(ledger.emergency().halted).toBeUndefined()

    // Replaying a council action (even in a new event from another sender) is refused.
    const a = action({ kind: 'resolve-emergency' }, { nonce: 5 })
    const payload = { action: a, signatures: sign(a, w.council.slice(1)) }
    submitter.nonce = ledger.nonceOf(submitter.did)
    expect(block(ledger, [submitter.ev('governance.council-action', payload)]).results[0]).toEqual({ ok: true })
    const other = new Sender(w.users[2]!)
    expect(block(ledger, [other.ev('governance.council-action', payload)]).results[0]).toMatchObject({
      ok: false,
      code: 'BAD_NONCE',
    })
    expect(ledger.emergency().declared).toBeUndefined()
  })

  it('mempool admission refuses what execution would: under threshold, forged, expired, another network, a used nonce; admits a valid action', () => {
    const { w, ledger, council, submitter } = setup()
    const ev = (a: CouncilAction, signers = w.council.slice(0, 2)) => {
      submitter.nonce = ledger.nonceOf(submitter.did)
      return submitter.ev('governance.council-action', { action: a, signatures: sign(a, signers) })
    }
    const halt = action({ kind: 'halt', reason: 'x' }, { nonce: 7 })
    expect(ledger.precheck(ev(halt, [w.council[0]!]))).toBe('COUNCIL_THRESHOLD_NOT_MET')
    // A member's DID over a signature made with another key.
    const forged = submitter.ev('governance.council-action', {
      action: halt,
      signatures: [...sign(halt, [w.council[0]!]), { did: w.council[1]!.did, sig: sign(halt, [id(77)])[0]!.sig }],
    })
    expect(ledger.precheck(forged)).toBe('BAD_SIGNATURE')
    expect(ledger.precheck(ev(action({ kind: 'halt' }, { nonce: 8, expiresAtMs: T0 })))).toBe('EXPIRED')
    expect(ledger.precheck(ev(action({ kind: 'halt' }, { nonce: 9, chainId: 'other-net' })))).toBe('WRONG_CHAIN')
    expect(ledger.precheck(ev(halt))).toBeUndefined()
    expect(council({ kind: 'resume' }, undefined, { nonce: 11 })).toEqual({ ok: true })
    expect(ledger.precheck(ev(action({ kind: 'halt' }, { nonce: 11 })))).toBe('BAD_NONCE')
    expect(CHAIN).not.toBe('other-net')
  })

  it('the council changes itself: the old council loses its authority', () => {
    const { ledger, council } = setup()
    const next = [id(3), id(4)]
    expect(council({ kind: 'council-change', members: next.map((n) => n.did), threshold: 2 })).toEqual({ ok: true })
    expect(ledger.council()).toEqual({ members: next.map((n) => n.did).sort(), threshold: 2 })
    expect(council({ kind: 'halt' })).toMatchObject({ ok: false, code: 'COUNCIL_THRESHOLD_NOT_MET' })
    expect(council({ kind: 'halt' }, next)).toEqual({ ok: true })
  })
})

describe('parameters with expiry', () => {
  it('a temporary override holds until its expiry block time, then reverts; a permanent change stays', () => {
    const { w, ledger, council } = setup({ minFee: 1 })
    const alice = new Sender(w.users[0]!)
    const to = w.users[1]!.did
    // Block times advance 1 s per block from T0.
    expect(council({ kind: 'set-params', params: { feeMultiplierBps: 50_000 }, expiresAtMs: T0 + 4_000 })).toEqual({
      ok: true,
    })
    expect(ledger.params().feeMultiplierBps).toBe(50_000)
    expect(ledger.paramOverrides().feeMultiplierBps).toMatchObject({ value: 50_000, expiresAtMs: T0 + 4_000 })
    // Fee 1 is now too low (needs 5); fee 5 passes.
    expect(block(ledger, [alice.ev('accounts.transfer', { to, amount: 1 }, 1)]).results[0]!.code).toBe('FEE_TOO_LOW')
    expect(block(ledger, [alice.ev('accounts.transfer', { to, amount: 1 }, 5, 1)]).results[0]!.ok).toBe(true)
    // Block 4 is at T0 + 4 s: the override has expired and is pruned from the state.
    block(ledger, [])
    expect(ledger.timeMs).toBe(T0 + 4_000)
    expect(ledger.params().feeMultiplierBps).toBe(10_000)
    expect(ledger.paramOverrides()).toEqual({})
    expect(block(ledger, [alice.ev('accounts.transfer', { to, amount: 1 }, 1, 2)]).results[0]!.ok).toBe(true)

    expect(council({ kind: 'set-params', params: { committeeSize: 3, newDidReputationWeight: 100 } })).toEqual({
      ok: true,
    })
    for (let i = 0; i < 3; i++) block(ledger, [])
    expect(ledger.params()).toMatchObject({ committeeSize: 3, newDidReputationWeight: 100 })
    expect(ledger.committee()).toHaveLength(3)
  })

  it('refuses unknown parameters and out-of-bounds values', () => {
    const { council } = setup()
    // The payload schema already refuses these: nobody can even sign such an event.
    expect(() => council({ kind: 'set-params', params: { committeeSize: 0 } })).toThrow(/committeeSize must be/)
    expect(() => council({ kind: 'set-params', params: { nope: 1 } as never })).toThrow(/unknown parameter "nope"/)
    // Each value in bounds, the combination not: refused by the ledger.
    expect(council({ kind: 'set-params', params: { erasureK: 200, erasureM: 100 } })).toMatchObject({
      code: 'INVALID_PAYLOAD',
    })
  })
})

describe('module pauses', () => {
  it('a paused module rejects its events with MODULE_PAUSED until the pause expires; others go on', () => {
    const { w, ledger, council } = setup()
    const alice = new Sender(w.users[0]!)
    expect(council({ kind: 'pause-module', module: 'content', untilHeight: 4, reason: 'registry bug' })).toEqual({
      ok: true,
    })
    expect(ledger.isPaused('content')).toBe(true)
    const reg = alice.ev('content.register', { cid: cidOf(1), bodyHash: hex32(1), size: 1, k: 4, m: 2 })
    const x = block(ledger, [reg, alice.ev('accounts.transfer', { to: w.users[1]!.did, amount: 1 }, 1, 1)])
    expect(x.results[0]).toMatchObject({ ok: false, code: 'MODULE_PAUSED' })
    expect(x.results[1]).toEqual({ ok: true })
    expect(
      ledger.precheck(alice.ev('content.register', { cid: cidOf(1), bodyHash: hex32(1), size: 1, k: 4, m: 2 }, 1, 2)),
    ).toBe('MODULE_PAUSED')
    block(ledger, []) // height 3
    const y = block(ledger, [
      alice.ev('content.register', { cid: cidOf(1), bodyHash: hex32(1), size: 1, k: 4, m: 2 }, 1, 2),
    ])
    expect(y.height).toBe(4)
    expect(y.results[0]).toEqual({ ok: true })
    expect(ledger.pauses()).toEqual({})
  })

  it('a time-boxed pause expires by block time; unpause ends it early; a pause must be time-boxed', () => {
    const { w, ledger, council } = setup()
    expect(council({ kind: 'pause-module', module: 'accounts', untilMs: T0 + 60_000 })).toEqual({ ok: true })
    const alice = new Sender(w.users[0]!)
    expect(block(ledger, [alice.ev('accounts.transfer', { to: w.users[1]!.did, amount: 1 })]).results[0]!.code).toBe(
      'MODULE_PAUSED',
    )
    expect(
      block(ledger, [alice.ev('accounts.transfer', { to: w.users[1]!.did, amount: 1 }, 1, 1)], { timeMs: T0 + 60_000 })
        .results[0],
    ).toEqual({ ok: true })
    expect(council({ kind: 'pause-module', module: 'ads', untilHeight: 1_000 })).toEqual({ ok: true })
    expect(council({ kind: 'unpause-module', module: 'ads' })).toEqual({ ok: true })
    expect(ledger.isPaused('ads')).toBe(false)
    expect(council({ kind: 'pause-module', module: 'ads', untilHeight: 1 })).toMatchObject({ code: 'EXPIRED' })
  })
})

describe('emergency halt, storage incident, upgrade plan, compensation, witness set', () => {
  it('halt stops every event except council actions; resume restores service', () => {
    const { w, ledger, council } = setup()
    const alice = new Sender(w.users[0]!)
    expect(council({ kind: 'halt', reason: 'exploit in ad escrow' })).toEqual({ ok: true })
    expect(ledger.emergency().halted).toMatchObject({ reason: 'exploit in ad escrow' })
    const ev = alice.ev('accounts.transfer', { to: w.users[1]!.did, amount: 1 })
    expect(ledger.precheck(ev)).toBe('LEDGER_HALTED')
    expect(block(ledger, [ev]).results[0]).toMatchObject({ ok: false, code: 'LEDGER_HALTED' })
    expect(council({ kind: 'resume' })).toEqual({ ok: true })
    expect(block(ledger, [ev]).results[0]).toEqual({ ok: true })
  })

  it('compensates from the treasury, never beyond it', () => {
    const { w, ledger, council } = setup()
    const victim = w.users[2]!.did
    const before = ledger.balanceOf(victim)
    const treasury = ledger.treasury()
    const supply = ledger.totalSupply()
    expect(council({ kind: 'compensate', transfers: [{ to: victim, amount: 700 }], reason: 'exploit' })).toEqual({
      ok: true,
    })
    expect(ledger.balanceOf(victim)).toBe(before + 700)
    // The treasury also received the submitter's fee (1; the proposer's half rounds down to 0).
    expect(ledger.treasury()).toBe(treasury - 700 + 1)
    expect(ledger.totalSupply()).toBe(supply)
    expect(council({ kind: 'compensate', transfers: [{ to: victim, amount: 2 ** 40 }] })).toMatchObject({
      code: 'INSUFFICIENT_FUNDS',
    })
  })

  it('records an upgrade plan for a future height and cancels it by name', () => {
    const { ledger, council } = setup()
    const plan = { name: 'v1.2.0', height: 50, binaryDigest: `sha256:${hex32(0xabc)}`, minVersion: '1.2.0' }
    expect(council({ kind: 'upgrade-plan', ...plan })).toEqual({ ok: true })
    expect(ledger.upgradePlan()).toMatchObject({ ...plan, setAtHeight: 1 })
    expect(council({ kind: 'upgrade-plan', ...plan, height: 1 })).toMatchObject({ code: 'INVALID_PAYLOAD' })
    expect(council({ kind: 'cancel-upgrade', name: 'v9' })).toMatchObject({ code: 'NOT_FOUND' })
    expect(council({ kind: 'cancel-upgrade', name: 'v1.2.0' })).toEqual({ ok: true })
    expect(ledger.upgradePlan()).toBeUndefined()
  })

  it('promotes standbys into the committee and demotes witnesses by council witness-set change', () => {
    const { w, ledger, council } = setup()
    const s0 = w.standbys[0]!.did
    const w0 = w.witnesses[0]!.did
    expect(ledger.committee().map((m) => m.did)).not.toContain(s0)
    expect(ledger.standbys().map((s) => s.did)).toContain(s0)
    expect(council({ kind: 'witness-set-change', promote: [s0], demote: [w0] })).toEqual({ ok: true })
    const active = ledger.committee().map((m) => m.did)
    expect(active).toContain(s0)
    expect(active).not.toContain(w0)
    expect(ledger.standbys().map((s) => s.did)).toContain(w0)
    // Promoting someone who is not a registered standby is refused.
    expect(council({ kind: 'witness-set-change', promote: [id(98).did], demote: [] })).toMatchObject({
      code: 'NOT_FOUND',
    })
    // Demoting everyone would leave no committee.
    const all = ledger.committee().map((m) => m.did)
    expect(council({ kind: 'witness-set-change', promote: [], demote: all })).toMatchObject({
      code: 'INVALID_PAYLOAD',
    })
  })

  it('records a standing recovery policy on the ledger', () => {
    const { w, ledger, council } = setup()
    const body = {
      kind: 'standing-recovery-policy' as const,
      agent: id(50).did,
      quorumLossSeconds: 30,
      maxPromotions: 2,
      standbys: w.standbys.map((s) => s.did),
      allowStateEdits: false as const,
    }
    expect(council(body)).toEqual({ ok: true })
    expect(ledger.recoveryPolicy()).toMatchObject({ agent: id(50).did, maxPromotions: 2, setAtHeight: 1 })
    expect(CHAIN).toBe(ledger.chainId)
  })

  it('stop-at: refused unless in the future; recorded with what authorized it; resume before the height cancels it', () => {
    const { ledger, council } = setup()
    // The block this runs in is ledger.height + 1: a stop there is not in the future.
    expect(council({ kind: 'stop-at', height: ledger.height + 1 })).toMatchObject({
      ok: false,
      code: 'INVALID_PAYLOAD',
    })
    expect(council({ kind: 'stop-at', height: ledger.height + 10, reason: 'freeze for a hard fork' })).toEqual({
      ok: true,
    })
    expect(ledger.emergency().stopAt).toMatchObject({
      reason: 'freeze for a hard fork',
      authorizedBy: expect.stringMatching(/^c\d+$/) as string,
    })
    const ref = ledger.emergency().stopAt!.authorizedBy!
    expect(ledger.authorizations()[ref]?.kind).toBe('council-action')
    expect(council({ kind: 'resume' })).toEqual({ ok: true })
    expect(ledger.emergency().stopAt).toBeUndefined()
  })
})
