/**
 * EchoNetNetwork status, pure part: aggregates what the nodes' admin APIs report (and which pods
 * are ready) into the status fields and conditions of DESIGN §6. `now` is only used for a
 * condition's lastTransitionTime when its status changes (setCondition keeps it otherwise), so an
 * unchanged network yields an identical status and no API write.
 */
import type { AdminStatus } from '@echonet/node/admin'
import { HALT_WINDOW_MS } from '@echonet/node/admin'
import { NetworkCondition, setCondition } from '../../api/v1alpha1/conditions.ts'
import type { ConditionInput } from '../../api/v1alpha1/conditions.ts'
import type { Condition, EchoNetNetwork, EchoNetNetworkStatus } from '../../api/v1alpha1/types.ts'
import { stableJson } from '../objects.ts'
import { committeeView, referenceVoter } from '../shared/committee.ts'
import { emergencyCondition } from './emergency-condition.ts'
import type { NodeObservation } from '../shared/node-poller.ts'
import type { RolloutProgress } from './rollout.ts'

export type { NodeObservation } from '../shared/node-poller.ts'

export interface StatusInputs {
  readonly nodes: readonly NodeObservation[]
  /** Desired pods not produced yet, with the reason (from desiredNetworkObjects). */
  readonly waiting: readonly string[]
  /** How many nodes the spec asks for (all roles). */
  readonly desiredNodes: number
  /** How many seeds and SSNs the spec asks for (DHTDegraded, StorageDegraded). */
  readonly desiredSeeds?: number
  readonly desiredSsns?: number
  /**
   * How long the network has not finalized, by the observer (shared/node-poller.ts `stalledMs`);
   * undefined when not known yet. Finality is the truth; who is online only explains it.
   */
  readonly stalledMs?: number
  /** The network's declarations that are not Resolved (dry runs are left out: they change nothing). */
  readonly declarations?: readonly ActiveDeclaration[]
  /** A pod-template change being rolled out (rollout.ts); undefined when every pod runs the current one. */
  readonly rollout?: RolloutProgress
  readonly now: Date
}

export interface ActiveDeclaration {
  readonly name: string
  readonly scenario: string
  readonly phase: string
  /** The step running now, if any. */
  readonly step?: string
  readonly dryRun: boolean
}

/** Phases of a declaration whose runbook is acting on the network. */
const RECOVERING = new Set(['Authorized', 'Executing', 'Verifying', 'Recovered'])

function describe(d: ActiveDeclaration): string {
  return `declaration ${d.name} (${d.scenario}) ${d.phase}${d.step !== undefined ? `, step ${d.step}` : ''}`
}

export function aggregateNetworkStatus(network: EchoNetNetwork, inputs: StatusInputs): EchoNetNetworkStatus {
  const prev = network.status ?? {}
  const generation = network.metadata.generation
  const { nodes, now } = inputs
  const statuses = nodes.flatMap((n) => (n.status === undefined ? [] : [n.status]))
  const witnesses = nodes.filter((n) => n.role === 'witness')
  const witnessStatuses = witnesses.flatMap((n) => (n.status === undefined ? [] : [n.status]))

  const out: EchoNetNetworkStatus = { ...prev }
  if (generation !== undefined) out.observedGeneration = generation
  if (witnessStatuses.length > 0) out.finalizedHeight = Math.max(...witnessStatuses.map((s) => s.finalizedHeight))
  let certified: AdminStatus | undefined
  for (const s of statuses) {
    if (certified === undefined || s.highestCertifiedHeight > certified.highestCertifiedHeight) certified = s
  }
  if (certified !== undefined) {
    out.certifiedHeight = certified.highestCertifiedHeight
    out.certifiedBlockHash = certified.highestCertifiedHash
    out.certifiedStateRoot = certified.highestCertifiedStateRoot
  }
  if (statuses.length > 0) out.epoch = Math.max(...statuses.map((s) => s.epoch))
  const view = committeeView(nodes)
  if (view !== undefined) {
    out.powerOnline = view.powerOnline
    out.powerNeeded = view.powerNeeded
    out.powerTotal = view.totalPower
  }
  const stalled = view !== undefined && (inputs.stalledMs ?? 0) >= HALT_WINDOW_MS
  out.seedsReady = nodes.filter((n) => n.role === 'seed' && n.ready).length
  out.ssnsReady = nodes.filter((n) => n.role === 'ssn' && n.ready).length
  // Every SSN scans all registered content; the highest count is the least stale pessimistic view.
  const scans = nodes.flatMap((n) =>
    n.role === 'ssn' && n.status?.storage?.holdsShards === true ? [n.status.storage.underReplicated] : [],
  )
  if (scans.length > 0) out.underReplicatedContent = Math.max(...scans)
  const rollout = inputs.rollout
  if (rollout !== undefined) {
    out.rollout = {
      updated: rollout.updated,
      total: rollout.total,
      ...(rollout.waitingFor !== undefined ? { waitingFor: rollout.waitingFor } : {}),
    }
  } else delete out.rollout

  // Conditions. Messages carry no clock values, so an unchanged situation writes nothing.
  // A council halt or stop is the council's decision, not a node's fault: EmergencyInForce reports it.
  const halted = nodes.filter(
    (n) => n.status?.mode === 'halted' && n.status.haltCode !== 'COUNCIL_HALT' && n.status.haltCode !== 'COUNCIL_STOP',
  )
  const notReady = nodes.filter((n) => !n.ready).map((n) => n.node)
  const unreachable = nodes.filter((n) => n.status === undefined).map((n) => n.node)
  const missingPods = Math.max(0, inputs.desiredNodes - nodes.length)
  const power =
    view === undefined
      ? ''
      : `committee power online ${view.powerOnline} of ${view.totalPower}, ${view.powerNeeded} needed`
  const silent = view?.members.filter((m) => !m.online).map((m) => m.did) ?? []
  const quorumLost = view !== undefined && view.powerOnline < view.powerNeeded
  const noFinality = `no block final since height ${view?.height ?? 0} for over ${HALT_WINDOW_MS / 1000} s`
  const quorum: ConditionInput =
    view === undefined
      ? {
          type: NetworkCondition.QuorumAvailable,
          status: witnesses.length === 0 ? 'False' : 'Unknown',
          reason: witnesses.length === 0 ? 'NoWitnesses' : 'NoWitnessStatus',
          message:
            witnesses.length === 0
              ? 'the network has no witness nodes'
              : `no witness or standby answered its admin API (${witnesses.length} witnesses)`,
        }
      : stalled
        ? {
            type: NetworkCondition.QuorumAvailable,
            status: 'False',
            reason: quorumLost ? 'QuorumLost' : 'NotFinalizing',
            message: `${noFinality}; ${power}${silent.length > 0 ? `; not heard from: ${silent.join(', ')}` : ''}`,
          }
        : {
            type: NetworkCondition.QuorumAvailable,
            status: 'True',
            reason: 'QuorumAvailable',
            message: `blocks are being finalized; ${power}`,
          }
  const restartWait = halted.some((n) => n.status?.haltCode === 'RESTART_WAIT')
  const haltedCond: ConditionInput = stalled
    ? {
        type: NetworkCondition.ConsensusHalted,
        status: 'True',
        reason: restartWait ? 'WaitingForSupermajority' : quorumLost ? 'QuorumLost' : 'NotFinalizing',
        message: `${noFinality}${halted.length > 0 ? `; halted: ${haltList(halted)}` : ''}`,
      }
    : {
        type: NetworkCondition.ConsensusHalted,
        status: 'False',
        reason: 'Finalizing',
        message:
          halted.length > 0
            ? `blocks are being finalized; lagging nodes report halted: ${haltList(halted)}`
            : 'blocks are being finalized',
      }
  // A rollout restarts pods one by one: it explains the pods not ready while it runs.
  const progressingNodes: ConditionInput =
    rollout !== undefined
      ? {
          type: NetworkCondition.Progressing,
          status: 'True',
          reason: 'RollingUpdate',
          message: `rolling out a pod-template change: ${rollout.updated} of ${rollout.total} pods updated${rollout.waitingFor !== undefined ? `; waiting for ${rollout.waitingFor}` : ''}`,
        }
      : inputs.waiting.length > 0
        ? {
            type: NetworkCondition.Progressing,
            status: 'True',
            reason: 'Waiting',
            message: inputs.waiting.join('; '),
          }
        : missingPods > 0 || notReady.length > 0
          ? {
              type: NetworkCondition.Progressing,
              status: 'True',
              reason: 'NodesStarting',
              message: `${nodes.length - notReady.length} of ${inputs.desiredNodes} nodes ready`,
            }
          : {
              type: NetworkCondition.Progressing,
              status: 'False',
              reason: 'ReconcileComplete',
              message: `all ${inputs.desiredNodes} nodes exist and are ready`,
            }
  const decls = (inputs.declarations ?? []).filter((d) => !d.dryRun)
  // A NetworkAttack declaration holding its defences acts on the nodes' admission only: the
  // network is working (and may be Ready) while they are in force.
  const holding = (d: ActiveDeclaration): boolean => d.scenario === 'NetworkAttack' && d.phase === 'Verifying'
  const defending = decls.filter(holding)
  const recovering = decls.filter((d) => RECOVERING.has(d.phase) && !holding(d))
  const failed = decls.filter((d) => d.phase === 'Failed')
  // A Pending declaration is not work the operator is doing (it may never be signed): it shows in
  // status.activeDeclarations only.
  const progressing: ConditionInput =
    recovering.length > 0
      ? {
          type: NetworkCondition.Progressing,
          status: 'True',
          reason: 'Recovering',
          message: recovering.map(describe).join('; '),
        }
      : progressingNodes.status === 'False' && defending.length > 0
        ? {
            type: NetworkCondition.Progressing,
            status: 'True',
            reason: 'Defending',
            message: `defences in force: ${defending.map(describe).join('; ')}`,
          }
        : progressingNodes
  const degradedReasons: string[] = []
  if (failed.length > 0) degradedReasons.push(`recovery failed: ${failed.map(describe).join('; ')}`)
  if (quorum.status === 'False') degradedReasons.push(quorumLost ? 'quorum lost' : 'not finalizing')
  if (halted.length > 0) degradedReasons.push(`${halted.length} node(s) halted`)
  if (unreachable.length > 0) degradedReasons.push(`admin API unreachable on ${unreachable.join(', ')}`)
  const degraded: ConditionInput =
    degradedReasons.length > 0
      ? {
          type: NetworkCondition.Degraded,
          status: 'True',
          reason:
            failed.length > 0
              ? 'RecoveryFailed'
              : quorum.status === 'False'
                ? quorum.reason
                : halted.length > 0
                  ? 'NodesHalted'
                  : 'NodesUnreachable',
          message: degradedReasons.join('; '),
        }
      : { type: NetworkCondition.Degraded, status: 'False', reason: 'AsExpected', message: 'no degradation seen' }
  const readyCond: ConditionInput =
    quorum.status !== 'True'
      ? { type: NetworkCondition.Ready, status: 'False', reason: quorum.reason, message: quorum.message }
      : progressing.status === 'True' && progressing.reason !== 'Defending'
        ? {
            type: NetworkCondition.Ready,
            status: 'False',
            reason:
              progressing.reason === 'NodesStarting' || progressing.reason === 'Waiting'
                ? 'NotAllNodesReady'
                : progressing.reason,
            message: progressing.message,
          }
        : {
            type: NetworkCondition.Ready,
            status: 'True',
            reason: 'NetworkReady',
            message: `quorum available, ${inputs.desiredNodes} nodes ready${defending.length > 0 ? `; ${progressing.message}` : ''}`,
          }

  const seedsWanted = inputs.desiredSeeds ?? 0
  const seedsReady = out.seedsReady
  const dht: ConditionInput =
    seedsWanted > 0 && seedsReady === 0
      ? {
          type: NetworkCondition.DHTDegraded,
          status: 'True',
          reason: 'NoSeedsReady',
          message: `none of ${seedsWanted} DHT seeds is ready: new nodes cannot bootstrap`,
        }
      : seedsReady < seedsWanted
        ? {
            type: NetworkCondition.DHTDegraded,
            status: 'True',
            reason: 'SeedsNotReady',
            message: `${seedsReady} of ${seedsWanted} DHT seeds ready`,
          }
        : {
            type: NetworkCondition.DHTDegraded,
            status: 'False',
            reason: 'SeedsReady',
            message: `${seedsReady} of ${seedsWanted} DHT seeds ready`,
          }
  const ssnsWanted = inputs.desiredSsns ?? 0
  const ssnsReady = out.ssnsReady
  const under = out.underReplicatedContent ?? 0
  const storage: ConditionInput =
    ssnsReady < ssnsWanted || under > 0
      ? {
          type: NetworkCondition.StorageDegraded,
          status: 'True',
          reason: ssnsReady < ssnsWanted ? 'SsnsNotReady' : 'UnderReplicated',
          message: `${ssnsReady} of ${ssnsWanted} storage nodes ready; ${under} content bodies under-replicated`,
        }
      : {
          type: NetworkCondition.StorageDegraded,
          status: 'False',
          reason: 'FullRedundancy',
          message: `${ssnsReady} of ${ssnsWanted} storage nodes ready; no content under-replicated`,
        }

  let conditions: Condition[] | undefined = prev.conditions
  const emergency = emergencyCondition(referenceVoter(nodes))
  for (const c of [readyCond, quorum, haltedCond, progressing, degraded, storage, dht, emergency]) {
    conditions = setCondition(conditions, c, generation, now)
  }
  out.conditions = conditions ?? []
  return out
}

function haltList(nodes: readonly NodeObservation[]): string {
  return nodes.map((n) => `${n.node} (${n.status?.haltCode ?? 'halted'})`).join(', ')
}

/** Status fields that move with every block: live values, not state changes. */
const HEIGHT_FIELDS = ['finalizedHeight', 'certifiedHeight', 'certifiedBlockHash', 'certifiedStateRoot'] as const

/**
 * Whether to write `next` over `prev` (ADR 0005). A chain makes a block every second, so heights
 * alone would mean a status write per poll; they are written when anything else changes, or when
 * `refreshMs` passed since the last write. Conditions, counts and power are written at once.
 */
export function statusWriteNeeded(
  prev: EchoNetNetworkStatus | undefined,
  next: EchoNetNetworkStatus,
  lastWriteMs: number | undefined,
  nowMs: number,
  refreshMs: number,
): boolean {
  const strip = (s: EchoNetNetworkStatus | undefined): Record<string, unknown> =>
    Object.fromEntries(Object.entries(s ?? {}).filter(([k]) => !(HEIGHT_FIELDS as readonly string[]).includes(k)))
  if (stableJson(prev ?? {}) === stableJson(next)) return false
  if (stableJson(strip(prev)) !== stableJson(strip(next))) return true
  return lastWriteMs === undefined || nowMs - lastWriteMs >= refreshMs
}
