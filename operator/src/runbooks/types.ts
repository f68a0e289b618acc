/**
 * The runbook engine's vocabulary (DESIGN §6). A runbook is a pure state machine per scenario:
 * `step(state, observation) → { next, effects }`. Its state lives in the declaration's status
 * (phase, steps with attempts and times, a timeline, what it recorded), so a new leader resumes
 * at the recorded step. The reconcile only carries out effects and feeds their outcomes back
 * through the runbook's pure `record(state, effect, outcome)`; nothing in here does I/O.
 */
import type {
  AdminStatus,
  BlocklistRequestEntry,
  DhtPeerInfo,
  RateLimits,
  RepairPriority,
  StateEditInput,
} from '@echonet/node/admin'
import type { CouncilSpec } from '@echonet/node/governance'
import type { DeclarationPhase } from '../api/v1alpha1/schema.ts'
import type { DisasterAction, DisasterDeclarationStatus } from '../api/v1alpha1/types.ts'
import type { NodeRoleLabel } from '../api/v1alpha1/labels.ts'
import type { CommitteeView } from '../controllers/shared/committee.ts'

export type StepStatus = NonNullable<DisasterDeclarationStatus['steps']>[number]
export type TimelineEntry = NonNullable<DisasterDeclarationStatus['timeline']>[number]
export type RunbookRecord = NonNullable<DisasterDeclarationStatus['runbook']>
export type WitnessSetMember = NonNullable<RunbookRecord['witnessSet']>[number]
export type SurveyEntry = NonNullable<RunbookRecord['survey']>[number]
export type AuditRecord = NonNullable<RunbookRecord['audit']>
export type DefencesRecord = NonNullable<RunbookRecord['defences']>
export type StorageRecord = NonNullable<RunbookRecord['storage']>

/** What a runbook owns of the declaration's status. */
export interface RunbookState {
  readonly phase: DeclarationPhase
  readonly steps: readonly StepStatus[]
  readonly timeline: readonly TimelineEntry[]
  readonly runbook: RunbookRecord
  readonly rtoSeconds?: number
  readonly finalizedEventsLost?: number
  readonly postMortem?: string
}

/** One node as the runbook sees it: its place in the network, its pod, and what it reports. */
export interface NodeView {
  readonly node: string
  readonly role: NodeRoleLabel
  readonly pool?: string
  readonly poolMode?: 'Active' | 'Standby'
  readonly promotionPriority?: number
  /** From the node's key Secret. */
  readonly did?: string
  readonly podExists: boolean
  readonly podReady: boolean
  readonly ip?: string
  /** The node's admin status from the poller, when it answered. */
  readonly status?: AdminStatus
}

export interface PoolView {
  readonly name: string
  readonly mode: 'Active' | 'Standby'
  readonly replicas: number
  readonly promotionPriority: number
}

/** The standing policy's bounds, when the declaration runs under it. */
export interface PolicyBounds {
  readonly agent: string
  readonly maxPromotions: number
  readonly standbys: readonly string[]
  readonly quorumLossSeconds: number
}

/** Everything a step may look at: live observations, read from caches by the reconcile. */
export interface Observation {
  readonly nowMs: number
  readonly dryRun: boolean
  readonly actions: readonly DisasterAction[]
  readonly nodes: readonly NodeView[]
  readonly pools: readonly PoolView[]
  /** How long the network has not finalized, by the observer (shared/node-poller.ts). */
  readonly stalledMs: number
  readonly committee: CommitteeView | undefined
  readonly council: CouncilSpec | undefined
  /** Registered standbys as the most advanced ledger holds them. */
  readonly registeredStandbys: readonly string[]
  readonly committeeSize: number | undefined
  readonly auth: { readonly mode: 'council' } | { readonly mode: 'policy'; readonly policy: PolicyBounds }
  /** Council signatures over the pending manifest (spec.manifestSignatures), as written. */
  readonly manifestSignatures: readonly { readonly did: string; readonly signature: string }[]
  /** People asked to close the declaration (annotation echonet.io/resolve=true). */
  readonly resolveRequested: boolean
  /** spec.nonce: the ledger names what a declaration put in force `d<nonce>`. */
  readonly nonce?: number
}

/** I/O the reconcile carries out for a step; outcomes come back through `record`. */
export type Effect =
  | {
      readonly kind: 'plan'
      readonly node: string
      readonly ip: string
      readonly witnesses: readonly string[]
      readonly expiresAtMs: number
      /** A dry run on a live network plans from whatever block is final by then. */
      readonly dryRun: boolean
    }
  | { readonly kind: 'agentSign'; readonly manifest: string }
  | { readonly kind: 'deliver'; readonly node: string; readonly ip: string; readonly record: DeliveryAuth }
  | {
      readonly kind: 'audit'
      readonly nodes: readonly { readonly node: string; readonly ip: string }[]
      readonly fromHeight: number
      readonly toHeight: number
      readonly expect: { readonly height: number; readonly hash: string }
    }
  | { readonly kind: 'restoreResilience'; readonly plan: ResiliencePlan }
  | { readonly kind: 'applyDefences'; readonly node: string; readonly ip: string; readonly defences: NodeDefences }
  | { readonly kind: 'readDefences'; readonly nodes: readonly { readonly node: string; readonly ip: string }[] }
  | { readonly kind: 'liftDefences'; readonly node: string; readonly ip: string; readonly defences: NodeDefences }
  /** Scenario C: carry the council-signed declaration onto the ledger (the agent pays the fee). */
  | { readonly kind: 'submitDeclaration'; readonly node: string; readonly ip: string; readonly fee: number }
  /** Scenario C: a node computes a hard fork's edits on its frozen block (changes nothing). */
  | {
      readonly kind: 'previewFork'
      readonly node: string
      readonly ip: string
      readonly edits: readonly StateEditInput[]
      /** The root the declaration says the edits give, when it says one. */
      readonly resultingStateRoot?: string
      /** The manifest built from the preview expires then. */
      readonly expiresAtMs: number
    }
  /** Scenario B: new DHT bootstrap peers for a node (it re-provides what it holds). */
  | {
      readonly kind: 'dhtRebootstrap'
      readonly node: string
      readonly ip: string
      readonly seeds: readonly DhtPeerInfo[]
    }
  /** Scenario B: content an SSN repairs first (higher first among the same margin). */
  | {
      readonly kind: 'setRepairPriorities'
      readonly node: string
      readonly ip: string
      readonly priorities: readonly RepairPriority[]
    }
  /** Scenario B: one repair run on an SSN (it rebuilds the content it leads). */
  | { readonly kind: 'storageRepair'; readonly node: string; readonly ip: string }
  /** Scenario C: the network's node image (the network controller rolls pods one at a time). */
  | { readonly kind: 'setNetworkImage'; readonly image: string }
  | {
      readonly kind: 'event'
      readonly type: 'Normal' | 'Warning'
      readonly reason: string
      readonly note: string
    }

/** What a NetworkAttack declaration pushes to each node (DESIGN §4 "Attack defenses"). */
export interface NodeDefences {
  readonly limits?: { readonly set: Partial<RateLimits>; readonly expiresAtMs: number }
  readonly blocklist: readonly BlocklistRequestEntry[]
  readonly reason: string
}

/** How the restart record is authorized when it is sent. */
export type DeliveryAuth =
  | { readonly mode: 'policy'; readonly manifest: string; readonly agentSignature: string }
  | {
      readonly mode: 'council'
      readonly manifest: string
      readonly signatures: readonly { readonly did: string; readonly signature: string }[]
    }

/** What restoring resilience changes (the network controller carries it out: pods, keys, funds). */
export interface ResiliencePlan {
  /** Lost members of Active pools given a fresh key and volume, to bond as witnesses. */
  readonly rekey: readonly string[]
  /** Lost members of Active pools retired: their seats went to promoted standbys. */
  readonly retire: readonly string[]
  /** Standby-pool members promoted into the committee (the pool grows new standbys for them). */
  readonly promoted: readonly string[]
}

export type EffectOutcome =
  | { readonly ok: true; readonly value?: unknown }
  | { readonly ok: false; readonly code: string; readonly message: string }

export interface StepResult {
  readonly next: RunbookState
  readonly effects: readonly Effect[]
  /** Reconcile again after this long (observations are polled; nothing here blocks). */
  readonly requeueAfterMs: number
}

export interface Runbook {
  /** Step names in order (status.steps). */
  readonly steps: readonly string[]
  /** Actions this runbook can carry out; a declaration with any other is refused before it runs. */
  readonly supports: readonly DisasterAction['type'][]
  initial(nowMs: number): RunbookState
  step(state: RunbookState, obs: Observation): StepResult
  record(state: RunbookState, effect: Effect, outcome: EffectOutcome, nowMs: number): RunbookState
}
