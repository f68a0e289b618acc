import { describe, expect, it } from 'vitest'
import {
  RESTART_MANIFEST_DOMAIN,
  councilActionProblem,
  signRestartManifest,
  verifyCouncilAuthorization,
  verifyRestartAuthorization,
} from './governance-payloads.ts'
import type { RestartAuthorization, RestartManifest } from './governance-payloads.ts'
import { action, CHAIN, hex32, id, sign, T0 } from './testkit.ts'

const [c0, c1, c2] = [id(0), id(1), id(2)]
const outsider = id(99)
const council = { members: [c0.did, c1.did, c2.did], threshold: 2 }
const halt = action({ kind: 'halt', reason: 'critical flaw in payouts' }, { nonce: 1 })
const now = T0

describe('verifyCouncilAuthorization', () => {
  it('accepts M distinct member signatures', () => {
    expect(verifyCouncilAuthorization(halt, sign(halt, [c0, c2]), council, now)).toEqual({ ok: true })
  })

  it('refuses M-1 signatures with COUNCIL_THRESHOLD_NOT_MET', () => {
    const r = verifyCouncilAuthorization(halt, sign(halt, [c1]), council, now)
    expect(r).toMatchObject({ ok: false, code: 'COUNCIL_THRESHOLD_NOT_MET' })
  })

  it('counts a duplicate signer once', () => {
    const r = verifyCouncilAuthorization(halt, sign(halt, [c1, c1, c1]), council, now)
    expect(r).toMatchObject({ ok: false, code: 'COUNCIL_THRESHOLD_NOT_MET' })
  })

  it('ignores non-members (they carry no authority)', () => {
    const r = verifyCouncilAuthorization(halt, sign(halt, [c1, outsider]), council, now)
    expect(r).toMatchObject({ ok: false, code: 'COUNCIL_THRESHOLD_NOT_MET' })
    expect(verifyCouncilAuthorization(halt, sign(halt, [outsider, c1, c2]), council, now)).toEqual({ ok: true })
  })

  it('refuses a forged member signature with BAD_SIGNATURE', () => {
    const sigs = sign(halt, [c0, c1])
    sigs[1] = { did: c1.did, sig: sign(halt, [outsider])[0]!.sig } // c1's name, someone else's key
    expect(verifyCouncilAuthorization(halt, sigs, council, now)).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' })
    // A signature over a different action does not transfer either.
    const other = action({ kind: 'resume' }, { nonce: 2 })
    const mixed = [...sign(halt, [c0]), ...sign(other, [c1])]
    expect(verifyCouncilAuthorization(halt, mixed, council, now)).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' })
  })

  it('refuses an expired action with EXPIRED (expiry is exclusive)', () => {
    const sigs = sign(halt, [c0, c1])
    expect(verifyCouncilAuthorization(halt, sigs, council, halt.expiresAtMs)).toMatchObject({
      ok: false,
      code: 'EXPIRED',
    })
    expect(verifyCouncilAuthorization(halt, sigs, council, halt.expiresAtMs - 1)).toEqual({ ok: true })
  })

  it('treats undefined optional fields as absent (signs and verifies the same)', () => {
    const bare = action({ kind: 'resume' }, { nonce: 3 })
    const withUndef = action({ kind: 'resume', reason: undefined }, { nonce: 3, expiresAtMs: bare.expiresAtMs })
    expect(verifyCouncilAuthorization(bare, sign(withUndef, [c0, c1]), council, now)).toEqual({ ok: true })
    expect(councilActionProblem(withUndef)).toBeUndefined()
  })

  it('refuses malformed actions with a readable message', () => {
    const bad = action({ kind: 'pause-module', module: 'payouts' })
    expect(councilActionProblem(bad)).toMatch(/untilMs or untilHeight/)
    expect(verifyCouncilAuthorization(bad, sign(bad, [c0, c1]), council, now)).toMatchObject({
      ok: false,
      code: 'INVALID_PAYLOAD',
    })
    expect(councilActionProblem(action({ kind: 'set-params', params: { committeeSize: 0 } }))).toMatch(
      /committeeSize must be between 1 and 1000/,
    )
    expect(councilActionProblem(action({ kind: 'council-change', members: [c0.did], threshold: 2 }))).toMatch(
      /threshold must be between 1 and 1/,
    )
  })
})

describe('verifyRestartAuthorization', () => {
  const [w0, w1, w2, w3] = [10, 11, 12, 13].map(id)
  const [s0, s1, s2] = [20, 21, 22].map(id)
  const agent = id(50)
  const currentWitnesses = [w0!.did, w1!.did, w2!.did, w3!.did]
  const standbys = [s0!.did, s1!.did, s2!.did]
  const policy = action(
    {
      kind: 'standing-recovery-policy',
      agent: agent.did,
      quorumLossSeconds: 30,
      maxPromotions: 2,
      standbys: [s0!.did, s1!.did],
      allowStateEdits: false,
    },
    { nonce: 7, expiresAtMs: T0 + 30 * 86_400_000 },
  )
  const policySignatures = sign(policy, [c0, c1])

  function manifest(over: Partial<RestartManifest> = {}): RestartManifest {
    return {
      domain: RESTART_MANIFEST_DOMAIN,
      chainId: CHAIN,
      epoch: 1,
      height: 120,
      blockHash: hex32(0xb10c),
      stateRoot: hex32(0x5747e),
      // Two witnesses survived (w0, w1); two standbys promoted.
      witnesses: [w0!, w1!, s0!, s1!].map((x) => ({ did: x.did, power: 1_000 })),
      expiresAtMs: T0 + 600_000,
      ...over,
    }
  }
  const byPolicy = (m: RestartManifest, signer = agent): RestartAuthorization => ({
    kind: 'policy',
    policy,
    policySignatures,
    agentSignature: signRestartManifest(signer.signer, signer.did, m),
  })
  const ctx = { council, currentWitnesses, standbys, nowMs: T0 + 60_000, lastFinalizedMs: T0 }

  it('accepts a manifest within the policy: listed standbys, ≤ N promoted, survivors from the set', () => {
    const m = manifest()
    const r = verifyRestartAuthorization(m, byPolicy(m), ctx)
    expect(r).toEqual({
      ok: true,
      promoted: [s0!.did, s1!.did].sort(),
      demoted: [w2!.did, w3!.did].sort(),
    })
  })

  it('refuses a standby outside the policy list, too many promotions, or a stranger as witness', () => {
    const notListed = manifest({ witnesses: [w0!, s2!].map((x) => ({ did: x.did, power: 1 })) })
    expect(verifyRestartAuthorization(notListed, byPolicy(notListed), ctx)).toMatchObject({
      ok: false,
      code: 'POLICY_VIOLATION',
      message: expect.stringMatching(/not in the policy/) as string,
    })
    const tooMany = manifest({ witnesses: [s0!, s1!].map((x) => ({ did: x.did, power: 1 })) })
    const p2 = { ...ctx, currentWitnesses: [w0!.did] }
    expect(verifyRestartAuthorization(tooMany, byPolicy(tooMany), p2)).toMatchObject({ ok: true })
    const three = action({ ...policy.action, maxPromotions: 1 } as typeof policy.action, { nonce: 8 })
    const auth: RestartAuthorization = {
      kind: 'policy',
      policy: three,
      policySignatures: sign(three, [c0, c1]),
      agentSignature: signRestartManifest(agent.signer, agent.did, tooMany),
    }
    expect(verifyRestartAuthorization(tooMany, auth, p2)).toMatchObject({
      ok: false,
      code: 'POLICY_VIOLATION',
      message: expect.stringMatching(/promotes 2 standbys, the policy allows 1/) as string,
    })
    const stranger = manifest({ witnesses: [w0!, outsider].map((x) => ({ did: x.did, power: 1 })) })
    expect(verifyRestartAuthorization(stranger, byPolicy(stranger), ctx)).toMatchObject({
      ok: false,
      code: 'POLICY_VIOLATION',
    })
  })

  it('refuses state edits under a policy but accepts them with full council signatures', () => {
    const m = manifest({
      stateEdits: [{ op: 'delete', key: 'content/x' }],
      resultingStateRoot: hex32(0xf0),
    })
    expect(verifyRestartAuthorization(m, byPolicy(m), ctx)).toMatchObject({ ok: false, code: 'POLICY_VIOLATION' })
    const sigs = [c0, c2].map((c) => signRestartManifest(c.signer, c.did, m))
    expect(verifyRestartAuthorization(m, { kind: 'council', signatures: sigs }, ctx)).toMatchObject({ ok: true })
    expect(verifyRestartAuthorization(m, { kind: 'council', signatures: sigs.slice(1) }, ctx)).toMatchObject({
      ok: false,
      code: 'COUNCIL_THRESHOLD_NOT_MET',
    })
  })

  it('refuses a manifest not signed by the policy agent, an expired one, or before the quorum-loss time', () => {
    const m = manifest()
    expect(verifyRestartAuthorization(m, byPolicy(m, outsider), ctx)).toMatchObject({
      ok: false,
      code: 'UNAUTHORIZED',
    })
    const forged = { ...byPolicy(m), agentSignature: { did: agent.did, sig: new Uint8Array(64) } }
    expect(verifyRestartAuthorization(m, forged, ctx)).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' })
    expect(verifyRestartAuthorization(m, byPolicy(m), { ...ctx, nowMs: m.expiresAtMs })).toMatchObject({
      ok: false,
      code: 'EXPIRED',
    })
    expect(verifyRestartAuthorization(m, byPolicy(m), { ...ctx, lastFinalizedMs: ctx.nowMs - 10_000 })).toMatchObject({
      ok: false,
      code: 'POLICY_VIOLATION',
      message: expect.stringMatching(/requires 30 s/) as string,
    })
    // A signature by the agent over another manifest does not carry over.
    const other = manifest({ epoch: 2 })
    expect(verifyRestartAuthorization(m, byPolicy(other), ctx)).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' })
  })

  it('refuses a policy the council did not sign (or signed by too few)', () => {
    const m = manifest()
    const auth = { ...byPolicy(m), policySignatures: sign(policy, [c0]) }
    expect(verifyRestartAuthorization(m, auth, ctx)).toMatchObject({ ok: false, code: 'COUNCIL_THRESHOLD_NOT_MET' })
    const expired = { ...ctx, nowMs: policy.expiresAtMs }
    const late = manifest({ expiresAtMs: policy.expiresAtMs + 1 })
    expect(verifyRestartAuthorization(late, byPolicy(late), expired)).toMatchObject({ ok: false, code: 'EXPIRED' })
  })
})
