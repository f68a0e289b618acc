/**
 * `spec.recovery.autoDeclare` for scenario B (seed §2.B.1), pure: when the network's
 * StorageDegraded or DHTDegraded condition has been True for `storageIncidentSeconds`, the operator
 * declares a DataUnavailability disaster: PoSR slashing paused for an hour (honest SSNs are not
 * slashed for what the incident did to them) and, if the DHT is degraded, a re-bootstrap from the
 * seeds that answer. A standing recovery policy covers WitnessLoss only, so the declaration is
 * unsigned: it waits for council signatures (`kubectl echonet council sign`), saying so in its
 * status. Never two active declarations of the scenario for one network, and none before the
 * operator has seen the network's storage healthy once (after an operator restart in the middle of
 * an incident, people declare it: `kubectl echonet declare DataUnavailability`).
 */
import { API_VERSION } from '../../api/v1alpha1/schema.ts'
import { Annotations, Labels, networkLabels } from '../../api/v1alpha1/labels.ts'
import type {
  DisasterAction,
  DisasterDeclaration,
  DisasterDeclarationInput,
  EchoNetNetwork,
} from '../../api/v1alpha1/types.ts'
import { controllerRef, metaName } from '../objects.ts'

/** How long the declaration's signatures may be gathered. */
const STORAGE_DECLARATION_TTL_MS = 3_600_000
/** How long the declared slashing pause lasts (the council can declare again). */
const SLASHING_PAUSE_SECONDS = 3_600

export type StorageAutoDeclareDecision =
  | { readonly declare: false; readonly why: string }
  | { readonly declare: true; readonly reason: string; readonly sinceMs: number; readonly dht: boolean }

export function storageAutoDeclareDecision(i: {
  readonly network: EchoNetNetwork
  readonly nowMs: number
  /**
   * This operator has seen the network with storage and DHT healthy: a network still coming up
   * (SSNs and seeds not ready yet) is starting, not in an incident.
   */
  readonly seenHealthy: boolean
  /** Declarations of this network that are not Resolved. */
  readonly active: readonly DisasterDeclaration[]
}): StorageAutoDeclareDecision {
  const r = i.network.spec.recovery
  if (!r.autoDeclare) return { declare: false, why: 'recovery.autoDeclare is off' }
  const conds = i.network.status?.conditions ?? []
  const degraded = conds.filter(
    (c) => (c.type === 'StorageDegraded' || c.type === 'DHTDegraded') && c.status === 'True',
  )
  if (degraded.length === 0) return { declare: false, why: 'storage and DHT are not degraded' }
  if (!i.seenHealthy) return { declare: false, why: 'storage and DHT were not healthy yet: the network is starting' }
  const since = Math.min(...degraded.map((c) => Date.parse(c.lastTransitionTime)).filter(Number.isFinite))
  if (!Number.isFinite(since)) return { declare: false, why: 'no transition time on the degraded conditions' }
  const threshold = r.storageIncidentSeconds * 1000
  if (i.nowMs - since < threshold)
    return { declare: false, why: 'degraded for less than recovery.storageIncidentSeconds' }
  // Like WitnessLoss: one waiting for signatures, running, or failed after it ran blocks a new one.
  const open = i.active.find(
    (d) =>
      d.spec.scenario === 'DataUnavailability' &&
      !d.spec.dryRun &&
      (d.status?.phase !== 'Failed' || d.status.authorizedAt !== undefined),
  )
  if (open !== undefined) return { declare: false, why: `declaration ${open.metadata.name ?? ''} is still active` }
  const what = degraded.map((c) => `${c.type} (${c.reason}: ${c.message})`).join('; ')
  return {
    declare: true,
    reason: `${what} for ${Math.floor((i.nowMs - since) / 1000)} s`,
    sinceMs: since,
    dht: degraded.some((c) => c.type === 'DHTDegraded'),
  }
}

/**
 * The declaration to create. Its name is unique per network and onset of the degradation, so a
 * second leader (or reconcile) asking for the same one gets AlreadyExists instead of a twin.
 */
export function storageAutoDeclaration(
  network: EchoNetNetwork,
  d: { readonly reason: string; readonly sinceMs: number; readonly dht: boolean },
  nowMs: number,
): DisasterDeclarationInput {
  const net = metaName(network.metadata)
  const actions: DisasterAction[] = [
    { type: 'PausePoSRSlashing', pausePoSRSlashing: { durationSeconds: SLASHING_PAUSE_SECONDS } },
    ...(d.dht ? [{ type: 'RebootstrapDHT' as const, rebootstrapDHT: {} }] : []),
  ]
  return {
    apiVersion: API_VERSION,
    kind: 'DisasterDeclaration',
    metadata: {
      name: `${net}-data-unavailability-${Math.floor(d.sinceMs / 1000)}`.slice(0, 253),
      ...(network.metadata.namespace !== undefined ? { namespace: network.metadata.namespace } : {}),
      labels: { ...networkLabels(net), [Labels.automatic]: 'true' },
      annotations: { [Annotations.autoDeclaredBy]: d.reason.slice(0, 1024) },
      ownerReferences: [{ ...controllerRef(network), controller: false }],
    },
    spec: {
      networkRef: { name: net },
      scenario: 'DataUnavailability',
      networkId: network.spec.networkId,
      summary: `Declared by the operator (recovery.autoDeclare): ${d.reason}.`.slice(0, 4096),
      actions,
      nonce: nowMs,
      expiresAt: new Date(nowMs + STORAGE_DECLARATION_TTL_MS).toISOString(),
    },
  }
}
