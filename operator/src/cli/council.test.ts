import { describe, expect, it } from 'vitest'
import { NodeIdentity } from '@echonet/node/identity'
import { RESTART_MANIFEST_DOMAIN } from '@echonet/node/governance'
import type { RestartManifest } from '@echonet/node/governance'
import { encodeManifest } from '@echonet/node/restart'
import { validateDisasterDeclaration } from '../api/v1alpha1/validate.ts'
import type { DisasterDeclaration } from '../api/v1alpha1/types.ts'
import { sign, signTarget, verify, withSignature } from './council.ts'
import { report, reportText } from './render.ts'

const members = [1, 2, 3].map((i) => NodeIdentity.fromSeed(new Uint8Array(32).fill(i)))
const council = { members: members.map((m) => m.did), threshold: 2 }
const outsider = NodeIdentity.fromSeed(new Uint8Array(32).fill(9))

function decl(): DisasterDeclaration {
  const r = validateDisasterDeclaration({
    apiVersion: 'echonet.io/v1alpha1',
    kind: 'DisasterDeclaration',
    metadata: { name: 'wl', namespace: 'ns' },
    spec: {
      networkRef: { name: 'testnet' },
      scenario: 'WitnessLoss',
      networkId: 'echonet-testnet',
      actions: [{ type: 'PromoteStandbys' }, { type: 'CoordinatedRestart' }],
      nonce: 7,
      expiresAt: '2099-01-01T00:00:00Z',
    },
  })
  if (!r.ok) throw new Error(JSON.stringify(r.errors))
  return r.value
}

describe('kubectl echonet council sign / verify', () => {
  it('two members sign a Pending declaration; verify counts them and flags an outsider and a forged entry', () => {
    const d = decl()
    expect(signTarget(d)).toBe('declaration')
    let sigs = withSignature(undefined, sign(d, 'echonet-testnet', members[0]!, 'declaration').entry)
    sigs = withSignature(sigs, sign(d, 'echonet-testnet', members[2]!, 'declaration').entry)
    // Signing again replaces the member's entry rather than adding one.
    sigs = withSignature(sigs, sign(d, 'echonet-testnet', members[2]!, 'declaration').entry)
    expect(sigs).toHaveLength(2)
    const signed = { ...d, spec: { ...d.spec, councilSignatures: sigs } }
    expect(verify(signed, 'echonet-testnet', council).declaration.enough).toBe(true)
    const withOutsider = {
      ...d,
      spec: { ...d.spec, councilSignatures: [sigs[0]!, sign(d, 'echonet-testnet', outsider, 'declaration').entry] },
    }
    const v = verify(withOutsider, 'echonet-testnet', council)
    expect(v.declaration.enough).toBe(false)
    expect(v.declaration.signatures.map((s) => [s.member, s.valid])).toEqual([
      [true, true],
      [false, true],
    ])
    const forged = {
      ...d,
      spec: { ...d.spec, councilSignatures: [sigs[0]!, { did: members[1]!.did, signature: sigs[1]!.signature }] },
    }
    expect(verify(forged, 'echonet-testnet', council).declaration).toMatchObject({ enough: false })
    // A signature for another network's id does not verify for this one.
    const elsewhere = {
      ...d,
      spec: { ...d.spec, councilSignatures: [sign(d, 'echonet-mainnet', members[0]!, 'declaration').entry, sigs[1]!] },
    }
    expect(verify(elsewhere, 'echonet-testnet', council).declaration.enough).toBe(false)
  })

  it('once the runbook planned a manifest, sign targets the manifest and verify checks it', () => {
    const manifest: RestartManifest = {
      domain: RESTART_MANIFEST_DOMAIN,
      chainId: 'echonet-testnet',
      epoch: 1,
      height: 10,
      blockHash: 'ab'.repeat(32),
      stateRoot: 'cd'.repeat(32),
      witnesses: [{ did: members[0]!.did, power: 1 }],
      expiresAtMs: 4_000_000_000_000,
    }
    const d: DisasterDeclaration = {
      ...decl(),
      status: {
        phase: 'Executing',
        runbook: { manifest: Buffer.from(encodeManifest(manifest)).toString('base64'), manifestHash: 'h' },
      },
    }
    expect(signTarget(d)).toBe('manifest')
    const a = sign(d, 'echonet-testnet', members[0]!, 'manifest')
    const b = sign(d, 'echonet-testnet', members[1]!, 'manifest')
    expect(a.field).toBe('manifestSignatures')
    expect(() => sign(d, 'echonet-other', members[0]!, 'manifest')).toThrow(/for network echonet-testnet/)
    const signed = { ...d, spec: { ...d.spec, manifestSignatures: [a.entry, b.entry] } }
    expect(verify(signed, 'echonet-testnet', council).manifest?.enough).toBe(true)
  })
})

describe('kubectl echonet report', () => {
  it('prints phase, RTO, events lost, the witness set, steps with attempts and the timeline', () => {
    const d: DisasterDeclaration = {
      ...decl(),
      status: {
        phase: 'Resolved',
        rtoSeconds: 18.4,
        finalizedEventsLost: 0,
        verifiedSigners: [members[0]!.did],
        authorizedAt: '2026-12-06T12:00:00Z',
        steps: [
          {
            name: 'CoordinatedRestart',
            phase: 'Succeeded',
            attempts: 1,
            startedAt: '2026-12-06T12:00:01Z',
            finishedAt: '2026-12-06T12:00:02Z',
            message: 'every member adopted',
          },
        ],
        timeline: [{ time: '2026-12-06T12:00:01Z', event: 'CoordinatedRestart: started' }],
        runbook: {
          restartHeight: 10,
          witnessSet: [{ did: members[0]!.did, node: 'w5', promoted: false }],
          audit: {
            heights: 12,
            nodes: ['w5'],
            forks: 0,
            badCertificates: 0,
            missing: [],
            message: '12 certified heights verified',
          },
        },
        postMortem: 'Scenario A.',
      },
    }
    const text = reportText(report(d))
    for (const want of [
      'Phase Resolved',
      'RTO 18.4 s',
      'finalized events lost 0',
      'w5',
      'attempts 1',
      'CoordinatedRestart: started',
      '12 certified heights verified',
      'Scenario A.',
    ])
      expect(text).toContain(want)
  })
})
