/**
 * Rolling a pod-template change out (pure; DESIGN §6 "Upgrades", ADR 0020). A node's pod whose
 * `echonet.io/spec-hash` differs from the desired one is outdated; replacing it (delete, then
 * create once the old process is gone: key-pods.ts) takes the node down for a while, so outdated
 * pods are replaced one step at a time, within the budgets the network's PDBs state:
 *
 * - a step starts only when the network finalizes, every other pod exists, is Ready and not
 *   terminating, and every node already on the new template has caught up: it answered since its
 *   pod became Ready, is `running` at the network's height, and — if it votes — another voter has
 *   heard it over its own connection since then;
 * - non-voters first (standbys, then seeds, then SSNs), one node per step, SSNs up to the erasure
 *   budget (`ssnMaxUnavailable(m)`) per step; then committee members one per step, only if the
 *   committee power still online without it stays > 2/3 (the committee view's power, not pods);
 * - an outdated pod that is down already (not Ready for DOWN_AFTER_MS or crash-looping, and not
 *   heard voting) is replaced at once, whatever else is down: it adds no unavailability, and this
 *   is how a template that broke the pods gets fixed.
 *
 * Missing, finished and duplicated pods are not the rollout's business: keyPodAction handles them
 * as before (creation is never rate-limited).
 */
import type { AdminStatus } from '@echonet/node/admin'
import type { NodeRoleLabel } from '../../api/v1alpha1/labels.ts'
import { committeeView } from '../shared/committee.ts'
import type { CommitteeView } from '../shared/committee.ts'
import type { NodeObservation } from '../shared/node-poller.ts'

/** A Ready node this many blocks behind the network still counts as caught up (polls are not simultaneous). */
export const CAUGHT_UP_LAG_BLOCKS = 3
/**
 * A node counts a member online when it heard from it within this window (node-image node.ts
 * ONLINE_WINDOW_MS): evidence that a replaced witness votes again must be this much younger than its pod.
 */
export const ONLINE_WINDOW_MS = 5_000
/** An outdated pod not Ready for this long is down already: it is replaced without waiting for the others. */
export const DOWN_AFTER_MS = 30_000

/** One pod object of the network, as the rollout sees it. */
export interface RolloutPod {
  readonly name: string
  readonly specHash?: string
  readonly ready: boolean
  /** Its deletion started (it may still run until its grace period ends). */
  readonly terminating: boolean
  /** Succeeded or Failed (keyPodAction replaces it anyway). */
  readonly finished: boolean
  readonly crashLooping: boolean
  /** Annotated echonet.io/rollout-hold=true: people keep it on its template (never replaced by a rollout). */
  readonly held?: boolean
  /** When the pod last became Ready (ms): answers of its node count from then on. */
  readonly readySinceMs?: number
  /** How long it has not been Ready (ms), when it is not. */
  readonly notReadyForMs?: number
}

/** One planned node. */
export interface RolloutNode {
  readonly node: string
  readonly role: NodeRoleLabel
  readonly podName: string
  /** The node's DID (its key Secret): how it is found in the committee. */
  readonly did?: string
  /** Spec hash of the desired pod; undefined while no pod is desired (key or genesis missing, re-keying). */
  readonly desiredHash?: string
}

export interface RolloutInput {
  readonly nodes: readonly RolloutNode[]
  /** Every pod object of the network, planned or not. */
  readonly pods: readonly RolloutPod[]
  /** The NodePoller's last observations. */
  readonly observations: readonly NodeObservation[]
  /** The network finalized within the halt window (shared/node-poller.ts notFinalizing). */
  readonly finalizing: boolean
  /** SSNs that may be unavailable at once (desired.ts ssnMaxUnavailable, the SSN PDB's rule). */
  readonly ssnBudget: number
}

export interface RolloutReplacement {
  readonly node: string
  readonly role: NodeRoleLabel
  readonly podName: string
  /** Why now, for the Event. */
  readonly reason: string
}

export interface RolloutProgress {
  /** Planned nodes whose pod runs the desired template. */
  readonly updated: number
  /** Planned nodes with a desired pod. */
  readonly total: number
  /** What the next step waits for ("witnesses-1 to be heard voting"), if anything. */
  readonly waitingFor?: string
}

export interface RolloutPlan {
  /** Outdated pods to delete now (they are re-created from the new template by keyPodAction). */
  readonly replace: readonly RolloutReplacement[]
  /** Undefined when no pod is outdated: nothing is being rolled out. */
  readonly progress?: RolloutProgress
}

/** Standbys prove a template on a node that follows consensus before any voter runs it. */
const ROLE_ORDER: Readonly<Record<NodeRoleLabel, number>> = { standby: 0, seed: 1, ssn: 2, witness: 3 }

interface Entry {
  readonly n: RolloutNode
  readonly pod: RolloutPod | undefined
}

export function planRollout(input: RolloutInput): RolloutPlan {
  const byName = new Map<string, RolloutPod>()
  for (const p of input.pods) if (!p.terminating) byName.set(p.name, p)
  const entries: Entry[] = input.nodes
    .filter((n) => n.desiredHash !== undefined)
    .map((n) => ({ n, pod: byName.get(n.podName) }))
  const isOutdated = (e: Entry): boolean => e.pod !== undefined && !e.pod.finished && e.pod.specHash !== e.n.desiredHash
  const stale = entries.filter(isOutdated)
  if (stale.length === 0) return { replace: [] }
  const updatedEntries = entries.filter((e) => e.pod !== undefined && e.pod.specHash === e.n.desiredHash)
  const base = { updated: updatedEntries.length, total: entries.length }
  const held = stale.filter((e) => e.pod?.held === true)
  const outdated = stale.filter((e) => e.pod?.held !== true)
  if (outdated.length === 0) {
    return {
      replace: [],
      progress: { ...base, waitingFor: `${names(held)} held on the old template (echonet.io/rollout-hold)` },
    }
  }
  const view = committeeView(input.observations)
  const member = (n: RolloutNode): CommitteeView['members'][number] | undefined =>
    n.did === undefined ? undefined : view?.members.find((m) => m.did === n.did)
  const voter = (n: RolloutNode): boolean => (view === undefined ? n.role === 'witness' : member(n) !== undefined)

  // Down already: replaced at once (the way out of a broken template).
  const down = outdated.filter(
    (e) =>
      e.pod !== undefined &&
      !e.pod.ready &&
      (e.pod.crashLooping || (e.pod.notReadyForMs ?? 0) >= DOWN_AFTER_MS) &&
      member(e.n)?.online !== true,
  )
  if (down.length > 0) {
    return {
      replace: sortEntries(down, voter).map((e) => ({
        ...replacement(e.n),
        reason: `${e.n.node} is down already (${e.pod?.crashLooping === true ? 'crash-looping' : 'not ready'}): replacing it costs no availability`,
      })),
      progress: { ...base, waitingFor: `${names(down)} to be replaced` },
    }
  }

  const blocker = blockedBy(input, entries, updatedEntries, view)
  if (blocker !== undefined) return { replace: [], progress: { ...base, waitingFor: blocker } }
  if (view === undefined) return { replace: [], progress: { ...base, waitingFor: 'a voter to report the committee' } }

  const order = sortEntries(outdated, voter)
  const first = order[0]
  if (first === undefined) return { replace: [] }
  if (voter(first.n)) {
    // Committee members one at a time: the first whose absence keeps > 2/3 of the power online
    // (with unequal stakes a strong member may have to wait for people to add power).
    const left = (e: Entry): number => {
      const m = member(e.n)
      return view.powerOnline - (m?.online === true ? m.power : 0)
    }
    const next = order.find((e) => left(e) >= view.powerNeeded)
    if (next === undefined) {
      return {
        replace: [],
        progress: {
          ...base,
          waitingFor: `committee power: without ${first.n.node} ${left(first)} of ${view.totalPower} would be online, ${view.powerNeeded} needed`,
        },
      }
    }
    return {
      replace: [
        {
          ...replacement(next.n),
          reason: `committee power online without it: ${left(next)} of ${view.totalPower}, ${view.powerNeeded} needed`,
        },
      ],
      progress: { ...base, waitingFor: `${next.n.node} to be replaced` },
    }
  }
  let batch: Entry[] = [first]
  let reason = 'one node at a time'
  if (first.n.role === 'ssn') {
    // Every other pod is Ready (blockedBy), so the whole SSN budget is free.
    if (input.ssnBudget < 1) {
      return { replace: [], progress: { ...base, waitingFor: 'an erasure budget of at least one SSN' } }
    }
    batch = order.filter((e) => e.n.role === 'ssn' && !voter(e.n)).slice(0, input.ssnBudget)
    reason = `at most ${input.ssnBudget} SSN(s) at once (erasure budget)`
  } else if (first.n.role === 'seed') {
    reason = 'one seed at a time, the others stay up'
  }
  return {
    replace: batch.map((e) => ({ ...replacement(e.n), reason })),
    progress: { ...base, waitingFor: `${names(batch)} to be replaced` },
  }
}

function replacement(n: RolloutNode): Omit<RolloutReplacement, 'reason'> {
  return { node: n.node, role: n.role, podName: n.podName }
}

function names(es: readonly Entry[]): string {
  return es.map((e) => e.n.node).join(', ')
}

/** Non-voters before voters; standbys, seeds, SSNs, witnesses; then by node name. */
function sortEntries(es: readonly Entry[], voter: (n: RolloutNode) => boolean): Entry[] {
  const key = (e: Entry): [number, number, string] => [voter(e.n) ? 1 : 0, ROLE_ORDER[e.n.role], e.n.node]
  return [...es].sort((a, b) => {
    const ka = key(a)
    const kb = key(b)
    return ka[0] - kb[0] || ka[1] - kb[1] || (ka[2] < kb[2] ? -1 : ka[2] > kb[2] ? 1 : 0)
  })
}

/** Why no outdated pod may be replaced now (the first reason found), or undefined. */
function blockedBy(
  input: RolloutInput,
  entries: readonly Entry[],
  updated: readonly Entry[],
  view: CommitteeView | undefined,
): string | undefined {
  if (!input.finalizing) return 'the network to finalize blocks again'
  const terminating = input.pods.filter((p) => p.terminating).map((p) => p.name)
  if (terminating.length > 0) return `pod ${terminating.sort().join(', ')} to terminate`
  for (const e of entries) if (e.pod === undefined) return `${e.n.node} to get its pod`
  for (const e of entries) if (e.pod?.ready !== true) return `${e.n.node} to become ready`
  if (view === undefined) return undefined
  for (const e of updated) {
    const why = notCaughtUp(e, input.observations, view)
    if (why !== undefined) return why
  }
  return undefined
}

/**
 * Whether a node on the new template has caught up: it answered since its pod became Ready, is
 * running at the network's height (epoch and finalized height), and, if it is a committee member,
 * another voter of the epoch heard it over its own connection since it started.
 */
function notCaughtUp(e: Entry, observations: readonly NodeObservation[], view: CommitteeView): string | undefined {
  const node = e.n.node
  const since = e.pod?.readySinceMs ?? 0
  const o = observations.find((x) => x.node === node)
  const s: AdminStatus | undefined = o?.status
  if (o === undefined || s === undefined || (o.atMs ?? 0) < since) {
    return `${node} to report its status${o?.error !== undefined ? ` (${o.error})` : ''}`
  }
  // A council halt stops the ledger, not the node: it still follows every block (and a fix is
  // often rolled out while the ledger is halted).
  if (s.mode !== 'running' && s.haltCode !== 'COUNCIL_HALT')
    return `${node} to sync (${s.mode}${s.haltCode !== undefined ? ` ${s.haltCode}` : ''})`
  // No heights in the text: it lands in status, which must not change with every block (ADR 0005).
  if (s.epoch < view.epoch || s.finalizedHeight < view.height - CAUGHT_UP_LAG_BLOCKS) {
    return `${node} to catch up with the network's height`
  }
  const did = e.n.did ?? s.did
  if (!view.members.some((m) => m.did === did)) return undefined
  const heard = observations.some(
    (x) =>
      x.node !== node &&
      (x.role === 'witness' || x.role === 'standby') &&
      x.status !== undefined &&
      x.status.epoch === view.epoch &&
      (x.atMs ?? 0) >= since + ONLINE_WINDOW_MS &&
      x.status.committee.members.some((m) => m.did === did && m.online),
  )
  return heard ? undefined : `${node} to be heard voting`
}
