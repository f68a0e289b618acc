import { describe, expect, it } from 'vitest'
import {
  COUNCIL_ACTION_DOMAIN,
  encodeCouncilAction,
  signCouncilAction,
  signDeclaration,
} from '@echonet/node/governance'
import type { CouncilAction } from '@echonet/node/governance'
import { NodeIdentity } from '@echonet/node/identity'
import { declarationPayload } from '../../api/v1alpha1/declaration-payload.ts'
import { validateDisasterDeclaration, validateEchoNetNetwork } from '../../api/v1alpha1/validate.ts'
import type { DisasterDeclaration, DisasterDeclarationInput, EchoNetNetwork } from '../../api/v1alpha1/types.ts'
import { authorize } from './authorize.ts'

/**
 * Authorization is checked before anything runs. Each refusal below says what was tried; none of
 * them may authorize a declaration.
 */

const council = [1, 2, 3].map((i) => NodeIdentity.fromSeed(new Uint8Array(32).fill(i)))
const outsider = NodeIdentity.fromSeed(new Uint8Array(32).fill(9))
const agent = NodeIdentity.fromSeed(new Uint8Array(32).fill(7))
const standby = NodeIdentity.fromSeed(new Uint8Array(32).fill(8))
const COUNCIL = { members: council.map((c) => c.did), threshold: 2 }
const NOW = Date.parse('2026-12-06T12:00:00Z')
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')

function network(policy?: { action: CouncilAction; signers: NodeIdentity[] }): EchoNetNetwork {
  const r = validateEchoNetNetwork({
    apiVersion: 'echonet.io/v1alpha1',
    kind: 'EchoNetNetwork',
    metadata: { name: 'testnet', namespace: 'ns', uid: 'u1' },
    spec: {
      networkId: 'echonet-testnet',
      genesis: { council: { members: COUNCIL.members, threshold: 2 } },
      seeds: { replicas: 1 },
      storage: { replicas: 0, erasure: { k: 1, m: 1 } },
      recovery: {
        autoDeclare: true,
        ...(policy !== undefined
          ? {
              standingPolicy: {
                payload: b64(encodeCouncilAction(policy.action)),
                signatures: policy.signers.map((c) => ({
                  did: c.did,
                  signature: b64(signCouncilAction(c.signer, c.did as never, policy.action).sig),
                })),
              },
              agentKeySecretRef: { name: 'agent' },
            }
          : {}),
      },
    },
  })
  if (!r.ok) throw new Error(JSON.stringify(r.errors))
  return r.value
}

function declaration(over: Partial<DisasterDeclarationInput['spec']> = {}, name = 'wl'): DisasterDeclaration {
  const r = validateDisasterDeclaration({
    apiVersion: 'echonet.io/v1alpha1',
    kind: 'DisasterDeclaration',
    metadata: { name, namespace: 'ns' },
    spec: {
      networkRef: { name: 'testnet' },
      scenario: 'WitnessLoss',
      networkId: 'echonet-testnet',
      actions: [{ type: 'PromoteStandbys', promoteStandbys: { count: 2 } }, { type: 'CoordinatedRestart' }],
      nonce: 42,
      expiresAt: new Date(NOW + 3_600_000).toISOString(),
      ...over,
    },
  })
  if (!r.ok) throw new Error(JSON.stringify(r.errors))
  return r.value
}

function councilSigned(
  d: DisasterDeclaration,
  signers: NodeIdentity[],
  chainId = 'echonet-testnet',
): DisasterDeclaration {
  const p = declarationPayload(d.spec, chainId)
  const councilSignatures = signers.map((c) => ({
    did: c.did,
    signature: b64(signDeclaration(c.signer, c.did as never, p).sig),
  }))
  return { ...d, spec: { ...d.spec, councilSignatures } }
}

function agentSigned(d: DisasterDeclaration, by: NodeIdentity = agent): DisasterDeclaration {
  const p = declarationPayload(d.spec, 'echonet-testnet')
  return {
    ...d,
    spec: {
      ...d.spec,
      standingPolicy: { agentDid: by.did, signature: b64(signDeclaration(by.signer, by.did, p).sig) },
    },
  }
}

const ctx = { council: COUNCIL, nowMs: NOW, usedNonces: new Map<number, string>() }
const policyAction: CouncilAction = {
  domain: COUNCIL_ACTION_DOMAIN,
  chainId: 'echonet-testnet',
  nonce: 5,
  expiresAtMs: NOW + 86_400_000,
  action: {
    kind: 'standing-recovery-policy',
    agent: agent.did,
    quorumLossSeconds: 10,
    maxPromotions: 3,
    standbys: [standby.did],
    allowStateEdits: false,
  },
}

describe('authorize: council signatures', () => {
  it('2 of 3 council members over the canonical payload authorize it, naming them', () => {
    const a = authorize(network(), councilSigned(declaration(), [council[0]!, council[2]!]), ctx)
    expect(a).toMatchObject({ ok: true, mode: 'council', signers: [council[0]!.did, council[2]!.did].sort() })
  })

  it('refuses: unsigned (waits), one of two (waits), a non-member (waits), a forged signature (waits)', () => {
    expect(authorize(network(), declaration(), ctx)).toMatchObject({ ok: false, reason: 'Unsigned', retryable: true })
    expect(authorize(network(), councilSigned(declaration(), [council[1]!]), ctx)).toMatchObject({
      ok: false,
      reason: 'ThresholdNotMet',
      retryable: true,
    })
    expect(authorize(network(), councilSigned(declaration(), [council[1]!, outsider]), ctx)).toMatchObject({
      reason: 'ThresholdNotMet',
    })
    const forged = councilSigned(declaration(), [council[0]!, council[1]!])
    forged.spec.councilSignatures![1]!.signature = councilSigned(declaration(), [
      outsider,
    ]).spec.councilSignatures![0]!.signature
    expect(authorize(network(), forged, ctx)).toMatchObject({ ok: false, reason: 'BadSignature' })
  })

  it('refuses for good: expired, replayed (nonce used by another declaration), signed for another network', () => {
    const expired = councilSigned(declaration({ expiresAt: new Date(NOW - 1_000).toISOString() }), [
      council[0]!,
      council[1]!,
    ])
    expect(authorize(network(), expired, ctx)).toMatchObject({ ok: false, reason: 'Expired', retryable: false })
    const replay = councilSigned(declaration({}, 'wl-copy'), [council[0]!, council[1]!])
    expect(authorize(network(), replay, { ...ctx, usedNonces: new Map([[42, 'wl']]) })).toMatchObject({
      ok: false,
      reason: 'Replayed',
      retryable: false,
    })
    // The same declaration under its own name is not a replay (a reconcile after authorization).
    expect(
      authorize(network(), councilSigned(declaration(), [council[0]!, council[1]!]), {
        ...ctx,
        usedNonces: new Map([[42, 'wl']]),
      }).ok,
    ).toBe(true)
    const elsewhere = councilSigned(
      declaration({ networkId: 'echonet-mainnet' }),
      [council[0]!, council[1]!],
      'echonet-mainnet',
    )
    expect(authorize(network(), elsewhere, ctx)).toMatchObject({ ok: false, reason: 'WrongNetwork' })
    // Signatures over another network's id do not verify here even without spec.networkId.
    const { networkId: _n, ...noId } = declaration().spec
    const unlabelled = councilSigned({ ...declaration(), spec: noId }, [council[0]!, council[1]!], 'echonet-mainnet')
    expect(authorize(network(), unlabelled, ctx)).toMatchObject({ ok: false, reason: 'BadSignature' })
  })

  it('without a council view (no node answers) it waits rather than guessing', () => {
    expect(authorize(network(), councilSigned(declaration(), council), { ...ctx, council: undefined })).toMatchObject({
      reason: 'NoCouncilView',
      retryable: true,
    })
  })
})

describe('authorize: the standing recovery policy', () => {
  const net = network({ action: policyAction, signers: [council[0]!, council[1]!] })

  it('the agent named by a council-signed policy authorizes a WitnessLoss declaration within bounds', () => {
    expect(authorize(net, agentSigned(declaration()), ctx)).toMatchObject({
      ok: true,
      mode: 'policy',
      signers: [agent.did],
    })
  })

  it('refuses what lies outside the policy: more promotions, a restart height, another scenario, another agent', () => {
    const more = agentSigned(
      declaration({
        actions: [{ type: 'PromoteStandbys', promoteStandbys: { count: 4 } }, { type: 'CoordinatedRestart' }],
      }),
    )
    expect(authorize(net, more, ctx)).toMatchObject({ ok: false, reason: 'OutsidePolicy' })
    const height = agentSigned(
      declaration({ actions: [{ type: 'CoordinatedRestart', coordinatedRestart: { height: 50 } }] }),
    )
    expect(authorize(net, height, ctx)).toMatchObject({ ok: false, reason: 'OutsidePolicy' })
    const storage = agentSigned(declaration({ scenario: 'DataUnavailability', actions: [{ type: 'RebootstrapDHT' }] }))
    expect(authorize(net, storage, ctx)).toMatchObject({ ok: false, reason: 'OutsidePolicy' })
    expect(authorize(net, agentSigned(declaration(), outsider), ctx)).toMatchObject({
      ok: false,
      reason: 'OutsidePolicy',
    })
  })

  it('refuses a forged agent signature, a policy whose council signature is forged, and a network without a policy', () => {
    const forged = agentSigned(declaration())
    forged.spec.standingPolicy!.signature = agentSigned(declaration({ nonce: 43 })).spec.standingPolicy!.signature
    expect(authorize(net, forged, ctx)).toMatchObject({ ok: false, reason: 'BadSignature' })
    // The CRD refuses fewer than threshold signatures; a forged one gets through the schema, not here.
    const weak = network({ action: policyAction, signers: [council[0]!, council[1]!] })
    weak.spec.recovery.standingPolicy!.signatures[1]!.signature = b64(
      signCouncilAction(outsider.signer, outsider.did, policyAction).sig,
    )
    expect(authorize(weak, agentSigned(declaration()), ctx)).toMatchObject({ ok: false, reason: 'NoStandingPolicy' })
    expect(authorize(network(), agentSigned(declaration()), ctx)).toMatchObject({
      ok: false,
      reason: 'NoStandingPolicy',
    })
  })
})
