/**
 * `spec.recovery.autoDeclare` (DESIGN §6), pure: when the network has not finalized and has lacked
 * > 2/3 of its committee power for `quorumLossSeconds`, the operator declares a WitnessLoss
 * disaster itself — signed by its recovery agent when the council's standing policy allows it (it
 * then runs at once), unsigned otherwise (it waits in Pending, saying which signatures it needs).
 * Never two active declarations of one scenario for one network.
 */
import { signDeclaration } from '@echonet/node/governance'
import type { NodeIdentity } from '@echonet/node/identity'
import { declarationPayload } from '../../api/v1alpha1/declaration-payload.ts'
import { API_VERSION } from '../../api/v1alpha1/schema.ts'
import { Annotations, Labels, networkLabels } from '../../api/v1alpha1/labels.ts'
import type { DisasterDeclaration, DisasterDeclarationInput, EchoNetNetwork } from '../../api/v1alpha1/types.ts'
import type { CommitteeView } from '../shared/committee.ts'
import { controllerRef, metaName } from '../objects.ts'

/** How long an automatic declaration's signature is valid. */
const AUTO_DECLARATION_TTL_MS = 3_600_000

export interface AutoDeclareInputs {
  readonly network: EchoNetNetwork
  readonly committee: CommitteeView | undefined
  readonly stalledMs: number
  /** Declarations of this network that are not Resolved. */
  readonly active: readonly DisasterDeclaration[]
}

export type AutoDeclareDecision =
  { readonly declare: false; readonly why: string } | { readonly declare: true; readonly reason: string }

export function autoDeclareDecision(i: AutoDeclareInputs): AutoDeclareDecision {
  const r = i.network.spec.recovery
  if (!r.autoDeclare) return { declare: false, why: 'recovery.autoDeclare is off' }
  const c = i.committee
  if (c === undefined) return { declare: false, why: 'no committee view yet' }
  if (c.powerOnline >= c.powerNeeded) return { declare: false, why: 'quorum available' }
  // A network that has never finalized a block is starting (pods still coming up), not lost: a
  // declaration made then would be unsigned if the policy is not set yet, and would hold the one
  // WitnessLoss slot when a real loss comes (seen in the scenario A bench).
  if (c.height === 0) return { declare: false, why: 'no block final yet: the network is starting' }
  if (i.stalledMs < r.quorumLossSeconds * 1000)
    return { declare: false, why: 'quorum loss shorter than quorumLossSeconds' }
  // What blocks a new declaration: one waiting for signatures, one running, or one whose runbook
  // failed and awaits people. A dry run, or a declaration refused before it ran, does not.
  const open = i.active.find(
    (d) =>
      d.spec.scenario === 'WitnessLoss' &&
      !d.spec.dryRun &&
      (d.status?.phase !== 'Failed' || d.status.authorizedAt !== undefined),
  )
  if (open !== undefined) return { declare: false, why: `declaration ${open.metadata.name ?? ''} is still active` }
  return {
    declare: true,
    reason: `quorum lost: committee power online ${c.powerOnline} of ${c.totalPower} (${c.powerNeeded} needed), nothing final for ${Math.floor(i.stalledMs / 1000)} s`,
  }
}

/**
 * The declaration to create: promote standbys and restart from the highest certified height.
 * Its name is unique per network epoch and height, so a second leader (or reconcile) asking
 * for the same declaration gets AlreadyExists instead of a twin.
 */
export function autoDeclaration(
  network: EchoNetNetwork,
  committee: CommitteeView,
  reason: string,
  nowMs: number,
  agent: NodeIdentity | undefined,
): DisasterDeclarationInput {
  const net = metaName(network.metadata)
  const spec: DisasterDeclarationInput['spec'] = {
    networkRef: { name: net },
    scenario: 'WitnessLoss',
    networkId: network.spec.networkId,
    summary: `Declared by the operator (recovery.autoDeclare): ${reason}.`,
    actions: [{ type: 'PromoteStandbys' }, { type: 'CoordinatedRestart' }],
    nonce: nowMs,
    expiresAt: new Date(nowMs + AUTO_DECLARATION_TTL_MS).toISOString(),
  }
  const policy = network.spec.recovery.standingPolicy
  if (policy !== undefined && agent !== undefined) {
    const payload = declarationPayload(spec, network.spec.networkId)
    const sig = signDeclaration(agent.signer, agent.did, payload)
    spec.standingPolicy = { agentDid: agent.did, signature: Buffer.from(sig.sig).toString('base64') }
  }
  return {
    apiVersion: API_VERSION,
    kind: 'DisasterDeclaration',
    metadata: {
      name: `${net}-witness-loss-e${committee.epoch}-h${committee.height}`.slice(0, 253),
      ...(network.metadata.namespace !== undefined ? { namespace: network.metadata.namespace } : {}),
      labels: { ...networkLabels(net), [Labels.automatic]: 'true' },
      annotations: { [Annotations.autoDeclaredBy]: reason.slice(0, 1024) },
      ownerReferences: [{ ...controllerRef(network), controller: false }],
    },
    spec,
  }
}
