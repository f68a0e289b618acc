import { describe, expect, it } from 'vitest'
import { verify } from '../crypto/ed25519.ts'
import { publicKeyFromDid } from '../crypto/did.ts'
import { DECLARATION_DOMAIN, declarationBytes, signDeclaration } from './declaration-payload.ts'
import type { DeclarationPayload } from './declaration-payload.ts'
import { Ledger } from './ledger.ts'
import { mulBps } from './env.ts'
import { block, CHAIN, cidOf, id, Sender, T0, world } from './testkit.ts'
import type { NodeIdentity } from '../crypto/identity.ts'

/** Scenario C on the ledger: a council-signed DisasterDeclaration applies its ledger actions itself. */

const DIGEST = `sha256:${'ab'.repeat(32)}`

function setup() {
  const w = world()
  const ledger = Ledger.fromGenesis(w.genesis)
  const submitter = new Sender(w.users[3]!)
  let nonce = 1
  const decl = (actions: unknown[], over: Partial<DeclarationPayload> = {}): DeclarationPayload => ({
    domain: DECLARATION_DOMAIN,
    chainId: CHAIN,
    scenario: 'CriticalFlaw',
    actions,
    dryRun: false,
    nonce: nonce++,
    expiresAtMs: T0 + 3_600_000,
    ...over,
  })
  /** Submits `d` signed by `signers` (default: 2 of the 3 members) in one block; its result. */
  const submit = (d: DeclarationPayload, signers: NodeIdentity[] = w.council.slice(0, 2)) => {
    submitter.nonce = ledger.nonceOf(submitter.did)
    const signatures = signers.map((s) => signDeclaration(s.signer, s.did, d))
    return block(ledger, [submitter.ev('governance.declaration', { declaration: d, signatures })]).results[0]!
  }
  return { w, ledger, decl, submit, submitter }
}

describe('a council-signed disaster declaration on the ledger', () => {
  it('applies its ledger actions together: emergency, pauses, upgrade plan, compensation; each record names the signed payload, served with its signatures', () => {
    const { w, ledger, decl, submit } = setup()
    const treasury = ledger.treasury()
    const [a, b] = [w.users[0]!.did, w.users[1]!.did]
    const before = [ledger.balanceOf(a), ledger.balanceOf(b)]
    const d = decl([
      { type: 'PauseModules', pauseModules: { modules: ['engagement', 'payouts'], durationSeconds: 60 } },
      {
        type: 'ScheduledUpgrade',
        scheduledUpgrade: {
          image: 'echonet/echonet-node:0.2.0',
          height: 50,
          binaryDigest: DIGEST,
          minVersion: '0.2.0',
          minUpgradedPowerPercent: 67,
        },
      },
      {
        type: 'Compensate',
        compensate: {
          transfers: [
            { to: a, amount: 1_234 },
            { to: b, amount: 5 },
          ],
        },
      },
      // Acts on pods, not on the ledger: ignored here.
      { type: 'RateLimits', rateLimits: { perIp: { ratePerSecond: 10, burst: 20 } } },
    ])
    expect(submit(d)).toEqual({ ok: true })
    const em = ledger.emergency()
    expect(em.declared).toMatchObject({ scenario: 'CriticalFlaw', untilMs: d.expiresAtMs, authorizedBy: 'd1' })
    const blockTime = ledger.timeMs
    expect(ledger.pauses()).toMatchObject({
      engagement: { untilMs: blockTime + 60_000, authorizedBy: 'd1' },
      payouts: { untilMs: blockTime + 60_000, authorizedBy: 'd1' },
    })
    expect(ledger.upgradePlan()).toMatchObject({
      name: 'upgrade-0.2.0',
      height: 50,
      binaryDigest: DIGEST,
      minVersion: '0.2.0',
      authorizedBy: 'd1',
    })
    // Exactly the signed amounts move from the treasury (the submitter's fee goes the other way).
    expect([ledger.balanceOf(a) - before[0]!, ledger.balanceOf(b) - before[1]!]).toEqual([1_234, 5])
    const feeToTreasury = 1 - mulBps(1, ledger.params().feeProposerShareBps)
    expect(treasury - ledger.treasury()).toBe(1_239 - feeToTreasury)
    // Anyone can check the records against the council: the payload and signatures are kept.
    const auth = ledger.authorizations()['d1']!
    expect(auth.kind).toBe('declaration')
    expect(auth.payload).toEqual(d)
    for (const s of auth.signatures) {
      expect(verify(publicKeyFromDid(s.did), declarationBytes(auth.payload as DeclarationPayload), s.sig)).toBe(true)
    }
  })

  it('a paused module refuses its events with MODULE_PAUSED while transfers finalize; the pause lapses on its own', () => {
    const { w, ledger, decl, submit } = setup()
    expect(
      submit(decl([{ type: 'PauseModules', pauseModules: { modules: ['engagement'], durationSeconds: 5 } }])),
    ).toEqual({ ok: true })
    const u = new Sender(w.users[0]!)
    const x = block(ledger, [
      u.ev('engagement.interact', { cid: cidOf(1), kind: 'like' }),
      u.ev('accounts.transfer', { to: w.users[1]!.did, amount: 10 }, 1, 1),
    ])
    expect(x.results[0]).toMatchObject({ ok: false, code: 'MODULE_PAUSED' })
    expect(x.results[1]).toEqual({ ok: true })
    expect(ledger.precheck(u.ev('engagement.interact', { cid: cidOf(1), kind: 'like' }, 1, 2))).toBe('MODULE_PAUSED')
    block(ledger, [], { timeMs: ledger.timeMs + 10_000 })
    expect(ledger.pauses()).toEqual({})
    // Nothing authorized by d1 is in force any more except the emergency itself.
    expect(Object.keys(ledger.authorizations())).toEqual(['d1'])
  })

  it('when the flag height is reached the plan becomes the protocol in force', () => {
    const { ledger, decl, submit } = setup()
    const up = { image: 'x', height: 4, binaryDigest: DIGEST, minVersion: '0.2.0', minUpgradedPowerPercent: 67 }
    expect(submit(decl([{ type: 'ScheduledUpgrade', scheduledUpgrade: up }]))).toEqual({ ok: true })
    expect(ledger.protocol()).toBeUndefined()
    while (ledger.height < 3) block(ledger, [])
    expect(ledger.upgradePlan()?.height).toBe(4)
    block(ledger, [])
    expect(ledger.upgradePlan()).toBeUndefined()
    expect(ledger.protocol()).toEqual({ name: 'upgrade-0.2.0', version: '0.2.0', binaryDigest: DIGEST, sinceHeight: 4 })
  })

  it('a StateEdit stops the chain right after the block the edits apply on (the edits come later, in a council-signed manifest); a height already passed is refused', () => {
    const { ledger, decl, submit } = setup()
    const edit = (height: number) => ({
      type: 'StateEdit',
      stateEdit: { height, edits: [{ op: 'delete', key: 'x' }] },
    })
    const h = ledger.height
    expect(submit(decl([edit(h + 5), { type: 'CoordinatedRestart', coordinatedRestart: {} }]))).toEqual({ ok: true })
    expect(ledger.emergency().stopAt).toMatchObject({ height: h + 6, authorizedBy: 'd1' })
    expect(ledger.emergency().stopAt?.reason).toContain(`state edit on block ${h + 5}`)
    // The chain is past it: the stop would be in the past, so nothing of the declaration applies.
    expect(submit(decl([edit(1)]))).toMatchObject({ ok: false, code: 'INVALID_PAYLOAD' })
    expect(ledger.emergency().stopAt?.authorizedBy).toBe('d1')
    expect(submit(decl([{ type: 'StateEdit', stateEdit: { height: -3 } }]))).toMatchObject({
      ok: false,
      code: 'INVALID_PAYLOAD',
    })
  })

  it('a declared storage incident (PoSR slashing paused) lapses after its duration, or with the declaration', () => {
    const { ledger, decl, submit } = setup()
    expect(
      submit(
        decl([{ type: 'PausePoSRSlashing', pausePoSRSlashing: { durationSeconds: 30 } }], {
          scenario: 'DataUnavailability',
        }),
      ),
    ).toEqual({ ok: true })
    expect(ledger.emergency().storageIncident).toMatchObject({ authorizedBy: 'd1', untilMs: ledger.timeMs + 30_000 })
    block(ledger, [], { timeMs: ledger.timeMs + 29_000 })
    expect(ledger.emergency().storageIncident).toBeDefined()
    block(ledger, [], { timeMs: ledger.timeMs + 2_000 })
    expect(ledger.emergency().storageIncident).toBeUndefined()
    // Without a duration: until the declaration expires.
    const d = decl([{ type: 'PausePoSRSlashing', pausePoSRSlashing: {} }], {
      scenario: 'DataUnavailability',
      expiresAtMs: ledger.timeMs + 60_000,
    })
    expect(submit(d)).toEqual({ ok: true })
    expect(ledger.emergency().storageIncident?.untilMs).toBe(d.expiresAtMs)
    block(ledger, [], { timeMs: d.expiresAtMs })
    expect(ledger.emergency().storageIncident).toBeUndefined()
  })

  it('refuses (and applies nothing of) an under-threshold, non-member, forged, expired, replayed, dry-run or wrong-network declaration, and one whose compensation exceeds the treasury', () => {
    const { w, ledger, decl, submit, submitter } = setup()
    const pause = [{ type: 'PauseModules', pauseModules: { modules: ['ads'], durationSeconds: 60 } }]
    // One member of a threshold of two.
    expect(submit(decl(pause), [w.council[0]!])).toMatchObject({ ok: false, code: 'COUNCIL_THRESHOLD_NOT_MET' })
    // A member and a non-member (the recovery agent, say).
    expect(submit(decl(pause), [w.council[0]!, id(77)])).toMatchObject({
      ok: false,
      code: 'COUNCIL_THRESHOLD_NOT_MET',
    })
    // A member's DID with someone else's signature.
    const d = decl(pause)
    const forged = [
      signDeclaration(w.council[0]!.signer, w.council[0]!.did, d),
      signDeclaration(id(77).signer, w.council[1]!.did, d),
    ]
    submitter.nonce = ledger.nonceOf(submitter.did)
    const r = block(ledger, [submitter.ev('governance.declaration', { declaration: d, signatures: forged })]).results[0]
    expect(r).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' })
    expect(submit(decl(pause, { expiresAtMs: T0 + 1 }))).toMatchObject({ ok: false, code: 'EXPIRED' })
    expect(submit(decl(pause, { dryRun: true }))).toMatchObject({ ok: false, code: 'INVALID_PAYLOAD' })
    expect(submit(decl(pause, { chainId: 'other-net' }))).toMatchObject({ ok: false, code: 'WRONG_CHAIN' })
    const tooMuch = decl([
      ...pause,
      { type: 'Compensate', compensate: { transfers: [{ to: w.users[0]!.did, amount: 10 ** 12 }] } },
    ])
    expect(submit(tooMuch)).toMatchObject({ ok: false, code: 'INSUFFICIENT_FUNDS' })
    expect(ledger.pauses()).toEqual({})
    expect(ledger.emergency()).toEqual({})
    // A malformed ledger action refuses the whole declaration.
    expect(
      submit(decl([{ type: 'PauseModules', pauseModules: { modules: ['nope'], durationSeconds: 60 } }])),
    ).toMatchObject({
      ok: false,
      code: 'INVALID_PAYLOAD',
    })
    // Replayed: the same signed declaration twice (from another sender the second time).
    const once = decl(pause)
    expect(submit(once)).toEqual({ ok: true })
    const other = new Sender(w.users[2]!)
    other.nonce = ledger.nonceOf(other.did)
    const sigs = w.council.slice(0, 2).map((s) => signDeclaration(s.signer, s.did, once))
    const again = block(ledger, [other.ev('governance.declaration', { declaration: once, signatures: sigs })])
    expect(again.results[0]).toMatchObject({ ok: false, code: 'BAD_NONCE' })
  })
})
