import { describe, expect, it } from 'vitest'
import { NodeIdentity } from '@echonet/node/identity'
import { verifyDeclarationByAgent } from '@echonet/node/governance'
import type { DisasterDeclaration } from '../../api/v1alpha1/types.ts'
import { declarationPayload } from '../../api/v1alpha1/declaration-payload.ts'
import { exampleObjects } from './test-fixtures.ts'
import { autoDeclaration, autoDeclareDecision } from './auto-declare.ts'
import type { CommitteeView } from '../shared/committee.ts'

const lost: CommitteeView = { epoch: 0, height: 80, members: [], totalPower: 7, powerNeeded: 5, powerOnline: 2 }
const decl = (
  over: Partial<DisasterDeclaration['spec']>,
  status?: DisasterDeclaration['status'],
): DisasterDeclaration => ({
  apiVersion: 'echonet.io/v1alpha1',
  kind: 'DisasterDeclaration',
  metadata: { name: 'd' },
  spec: { networkRef: { name: 'testnet' }, scenario: 'WitnessLoss', actions: [], dryRun: false, ...over },
  ...(status !== undefined ? { status } : {}),
})

describe('recovery.autoDeclare', () => {
  const { network } = exampleObjects()
  it('declares only when quorum has been lost for quorumLossSeconds', () => {
    const qls = network.spec.recovery.quorumLossSeconds * 1000
    expect(autoDeclareDecision({ network, committee: lost, stalledMs: qls - 1, active: [] }).declare).toBe(false)
    expect(
      autoDeclareDecision({ network, committee: { ...lost, powerOnline: 5 }, stalledMs: qls, active: [] }).declare,
    ).toBe(false)
    expect(autoDeclareDecision({ network, committee: lost, stalledMs: qls, active: [] }).declare).toBe(true)
    // A network that has not finalized its first block is starting, whatever the power count says.
    expect(autoDeclareDecision({ network, committee: { ...lost, height: 0 }, stalledMs: qls, active: [] })).toEqual({
      declare: false,
      why: 'no block final yet: the network is starting',
    })
  })

  it('never two at once: a pending, running or failed-after-running declaration blocks; a dry run or a refused one does not', () => {
    const qls = network.spec.recovery.quorumLossSeconds * 1000
    const at = (d: DisasterDeclaration) =>
      autoDeclareDecision({ network, committee: lost, stalledMs: qls, active: [d] }).declare
    expect(at(decl({}, { phase: 'Pending' }))).toBe(false)
    expect(at(decl({}, { phase: 'Executing', authorizedAt: '2026-12-06T12:00:00Z' }))).toBe(false)
    expect(at(decl({}, { phase: 'Failed', authorizedAt: '2026-12-06T12:00:00Z' }))).toBe(false)
    expect(at(decl({}, { phase: 'Failed' }))).toBe(true)
    expect(at(decl({ dryRun: true }, { phase: 'Pending' }))).toBe(true)
    expect(at(decl({ scenario: 'NetworkAttack' }, { phase: 'Pending' }))).toBe(true)
  })

  it('the declaration is named by epoch and height (a second leader gets AlreadyExists), owned by the network, and signed by the agent only under a standing policy', () => {
    const agent = NodeIdentity.generate()
    const unsigned = autoDeclaration(network, lost, 'quorum lost', Date.parse('2026-12-06T12:00:00Z'), agent)
    expect(unsigned.metadata.name).toBe('testnet-witness-loss-e0-h80')
    expect(unsigned.metadata.labels?.['echonet.io/automatic']).toBe('true')
    expect(unsigned.spec.standingPolicy).toBeUndefined()
    const withPolicy = {
      ...network,
      spec: {
        ...network.spec,
        recovery: { ...network.spec.recovery, standingPolicy: { payload: 'AA==', signatures: [] } },
      },
    }
    const signed = autoDeclaration(withPolicy, lost, 'quorum lost', Date.parse('2026-12-06T12:00:00Z'), agent)
    const sp = signed.spec.standingPolicy!
    expect(sp.agentDid).toBe(agent.did)
    const payload = declarationPayload(signed.spec, network.spec.networkId)
    expect(
      verifyDeclarationByAgent(
        payload,
        agent.did,
        { did: agent.did, sig: new Uint8Array(Buffer.from(sp.signature, 'base64')) },
        {
          chainId: network.spec.networkId,
          nowMs: Date.parse('2026-12-06T12:00:01Z'),
        },
      ).ok,
    ).toBe(true)
  })
})
