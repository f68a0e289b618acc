import { describe, expect, it } from 'vitest'
import {
  DECLARATION_DOMAIN,
  declarationPayloadProblem,
  signDeclaration,
  verifyDeclarationByAgent,
  verifyDeclarationByCouncil,
} from './declaration-payload.ts'
import type { DeclarationPayload } from './declaration-payload.ts'
import { CHAIN, id, T0 } from './testkit.ts'

const [c0, c1, c2] = [id(0), id(1), id(2)]
const agent = id(7)
const outsider = id(99)
const council = { members: [c0.did, c1.did, c2.did], threshold: 2 }
const ctx = { chainId: CHAIN, nowMs: T0 }
const payload: DeclarationPayload = {
  domain: DECLARATION_DOMAIN,
  chainId: CHAIN,
  scenario: 'WitnessLoss',
  actions: [
    { type: 'PromoteStandbys', promoteStandbys: { pools: ['standbys'] } },
    { type: 'CoordinatedRestart', coordinatedRestart: { timeoutSeconds: 300 } },
  ],
  dryRun: false,
  nonce: 7,
  expiresAtMs: T0 + 3_600_000,
}
const signed = (p: DeclarationPayload, who: (typeof c0)[]) => who.map((m) => signDeclaration(m.signer, m.did, p))

describe('disaster declaration authorization', () => {
  it('2 of 3 council members: authorized, and the verdict names them', () => {
    expect(verifyDeclarationByCouncil(payload, signed(payload, [c2, c0]), council, ctx)).toEqual({
      ok: true,
      signers: [c0.did, c2.did].sort(),
    })
  })

  it('refuses, each with its code: unsigned, under threshold, a non-member, forged, expired, another network', () => {
    expect(verifyDeclarationByCouncil(payload, [], council, ctx)).toMatchObject({ code: 'COUNCIL_THRESHOLD_NOT_MET' })
    expect(verifyDeclarationByCouncil(payload, signed(payload, [c1]), council, ctx)).toMatchObject({
      code: 'COUNCIL_THRESHOLD_NOT_MET',
    })
    expect(verifyDeclarationByCouncil(payload, signed(payload, [c1, outsider]), council, ctx)).toMatchObject({
      code: 'COUNCIL_THRESHOLD_NOT_MET',
    })
    const forged = signed(payload, [c0, c1])
    forged[1] = { did: c1.did, sig: signDeclaration(outsider.signer, outsider.did, payload).sig }
    expect(verifyDeclarationByCouncil(payload, forged, council, ctx)).toMatchObject({ code: 'BAD_SIGNATURE' })
    expect(
      verifyDeclarationByCouncil(payload, signed(payload, [c0, c1]), council, { ...ctx, nowMs: payload.expiresAtMs }),
    ).toMatchObject({ code: 'EXPIRED' })
    const other = { ...payload, chainId: 'echonet-other' }
    expect(verifyDeclarationByCouncil(other, signed(other, [c0, c1]), council, ctx)).toMatchObject({
      code: 'WRONG_CHAIN',
    })
  })

  it('signatures cover every field: a changed action, nonce or dry-run flag invalidates them', () => {
    const sigs = signed(payload, [c0, c1])
    for (const changed of [
      { ...payload, nonce: 8 },
      { ...payload, dryRun: true },
      { ...payload, actions: [...payload.actions, { type: 'PausePoSRSlashing' }] },
      { ...payload, scenario: 'CriticalFlaw' as const },
    ]) {
      expect(verifyDeclarationByCouncil(changed, sigs, council, ctx)).toMatchObject({
        ok: false,
        code: 'BAD_SIGNATURE',
      })
    }
  })

  it('field order and undefined members do not matter (DAG-CBOR is canonical)', () => {
    const reordered = {
      expiresAtMs: payload.expiresAtMs,
      nonce: payload.nonce,
      dryRun: false,
      actions: [
        { promoteStandbys: { pools: ['standbys'], count: undefined }, type: 'PromoteStandbys' },
        { coordinatedRestart: { timeoutSeconds: 300 }, type: 'CoordinatedRestart' },
      ],
      scenario: 'WitnessLoss',
      chainId: CHAIN,
      domain: DECLARATION_DOMAIN,
    } as DeclarationPayload
    expect(verifyDeclarationByCouncil(reordered, signed(payload, [c0, c1]), council, ctx).ok).toBe(true)
  })

  it('the recovery agent: only its own signature counts', () => {
    const sig = signDeclaration(agent.signer, agent.did, payload)
    expect(verifyDeclarationByAgent(payload, agent.did, sig, ctx)).toEqual({ ok: true, signers: [agent.did] })
    expect(
      verifyDeclarationByAgent(payload, agent.did, signDeclaration(c0.signer, c0.did, payload), ctx),
    ).toMatchObject({
      code: 'UNAUTHORIZED',
    })
    expect(
      verifyDeclarationByAgent(
        payload,
        agent.did,
        { did: agent.did, sig: signDeclaration(c0.signer, c0.did, payload).sig },
        ctx,
      ),
    ).toMatchObject({ code: 'BAD_SIGNATURE' })
  })

  it('malformed payloads are refused before any signature is looked at', () => {
    expect(declarationPayloadProblem({ ...payload, actions: [] })).toMatch(/actions/)
    expect(declarationPayloadProblem({ ...payload, actions: [{ ratio: 0.5 }] })).toMatch(/integer/)
    expect(declarationPayloadProblem({ ...payload, scenario: 'Meteor' })).toMatch(/scenario/)
    expect(declarationPayloadProblem(null)).toMatch(/object/)
  })
})
