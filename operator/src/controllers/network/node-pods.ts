/**
 * Node pods, the I/O shell of key-pods.ts and rollout.ts: creates each node's pod when no pod of
 * its key exists, deletes duplicate, misnamed and finished pods and pods of nodes no longer
 * planned at once, and replaces pods that run an outdated template only as the rollout plan
 * allows (ADR 0020), with an Event (ReplacingPod) for each replacement.
 */
import type { Logger } from 'pino'
import { Annotations } from '../../api/v1alpha1/labels.ts'
import type { EchoNetNetwork } from '../../api/v1alpha1/types.ts'
import type { EventRecorder, K8sClient } from '../../k8s/index.ts'
import { isAlreadyExists } from '../../k8s/index.ts'
import type { KubeObject } from '../objects.ts'
import { keyPodAction } from '../shared/key-pods.ts'
import type { ObservedKeyPod } from '../shared/key-pods.ts'
import type { NodeObservation } from '../shared/node-poller.ts'
import type { NodePlan } from '../shared/nodes.ts'
import { crashLooping, podReady } from '../shared/pods.ts'
import type { PodView } from '../shared/pods.ts'
import { planRollout } from './rollout.ts'
import type { RolloutInput, RolloutPlan, RolloutPod, RolloutProgress } from './rollout.ts'

export interface NodePodsOptions {
  readonly client: K8sClient
  readonly recorder: EventRecorder
  readonly now: () => number
}

export interface NodePodsInput {
  readonly net: EchoNetNetwork
  readonly plan: readonly NodePlan[]
  /** The pods that should exist (desired.ts), for the nodes that may have one now. */
  readonly desired: readonly KubeObject[]
  /** Every pod object of the network (informer cache). */
  readonly pods: readonly PodView[]
  /** The NodePoller's last observations of the network. */
  readonly observations: readonly NodeObservation[]
  /** The network finalized within the halt window. */
  readonly finalizing: boolean
  /** SSNs that may be unavailable at once (desired.ts ssnMaxUnavailable). */
  readonly ssnBudget: number
}

function ms(t: string | undefined): number | undefined {
  const v = t === undefined ? Number.NaN : Date.parse(t)
  return Number.isFinite(v) ? v : undefined
}

/** What the rollout needs of a pod (pure). */
export function rolloutPod(p: PodView, nowMs: number): RolloutPod {
  const ready = podReady(p)
  const phase = p.status?.phase
  const created = ms(p.metadata?.creationTimestamp)
  const changed = ms(p.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime)
  // The new process started after the pod object was created (one pod per key): never earlier.
  const since = Math.max(changed ?? 0, created ?? 0)
  const specHash = p.metadata?.annotations?.[Annotations.specHash]
  return {
    name: p.metadata?.name ?? '',
    ...(specHash !== undefined ? { specHash } : {}),
    ready,
    terminating: p.metadata?.deletionTimestamp !== undefined,
    finished: phase === 'Succeeded' || phase === 'Failed',
    crashLooping: crashLooping(p),
    ...(p.metadata?.annotations?.[Annotations.rolloutHold] === 'true' ? { held: true } : {}),
    ...(ready ? { readySinceMs: since } : { notReadyForMs: Math.max(0, nowMs - since) }),
  }
}

/** The rollout's input from the reconcile's plan, desired pods, cache and observations (pure). */
export function rolloutInput(input: NodePodsInput, nowMs: number): RolloutInput {
  const desired = new Map(input.desired.map((d) => [d.metadata.name, d]))
  return {
    nodes: input.plan.map((n) => {
      const d = desired.get(n.podName)
      const hash = d?.metadata.annotations?.[Annotations.specHash]
      const did = d?.metadata.annotations?.[Annotations.did]
      return {
        node: n.node,
        role: n.role,
        podName: n.podName,
        ...(did !== undefined ? { did } : {}),
        ...(hash !== undefined ? { desiredHash: hash } : {}),
      }
    }),
    pods: input.pods.map((p) => rolloutPod(p, nowMs)),
    observations: input.observations,
    finalizing: input.finalizing,
    ssnBudget: input.ssnBudget,
  }
}

export class NodePods {
  readonly #o: NodePodsOptions

  constructor(opts: NodePodsOptions) {
    this.#o = opts
  }

  /** One pass over the network's pods; returns the rollout's progress (undefined when none runs). */
  async sync(input: NodePodsInput, log: Logger): Promise<RolloutProgress | undefined> {
    const { net, pods } = input
    const rollout = planRollout(rolloutInput(input, this.#o.now()))
    for (const pod of input.desired) await this.#syncPod(net, pod, pods, rollout, log)
    // Pods of nodes that are no longer wanted (pool scaled down): their keys and volumes stay.
    const planned = new Set(input.plan.map((n) => n.podName))
    for (const p of pods) {
      const pn = p.metadata?.name ?? ''
      if (planned.has(pn) || p.metadata?.deletionTimestamp !== undefined) continue
      await this.#delete(net, pn, 'NodeRemoved', `deleted pod ${pn}: its node is no longer in the spec`, log)
    }
    return rollout.progress
  }

  /** One pod per node key: create only when no pod object of that name exists (key-pods.ts). */
  async #syncPod(
    net: EchoNetNetwork,
    pod: KubeObject,
    pods: readonly PodView[],
    rollout: RolloutPlan,
    log: Logger,
  ): Promise<void> {
    const name = pod.metadata.name
    const observed: ObservedKeyPod[] = pods
      .filter((p) => p.metadata?.name === name)
      .map((p) => ({
        name,
        ...(p.metadata?.deletionTimestamp !== undefined ? { deletionTimestamp: p.metadata.deletionTimestamp } : {}),
        ...(p.status?.phase !== undefined ? { phase: p.status.phase } : {}),
        ...(p.metadata?.annotations?.[Annotations.specHash] !== undefined
          ? { specHash: p.metadata.annotations[Annotations.specHash] }
          : {}),
      }))
    const action = keyPodAction(name, observed, pod.metadata.annotations?.[Annotations.specHash])
    if (action.action === 'create') {
      await this.#create(net, pod, log)
    } else if (action.action === 'delete' && action.cause !== 'outdated') {
      for (const n of action.names) await this.#delete(net, n, 'PodReplaced', action.reason, log)
    } else if (action.action === 'delete') {
      // An outdated template: replaced only when the rollout's budgets allow it now.
      const r = rollout.replace.find((x) => x.podName === name)
      if (r === undefined) return
      const p = rollout.progress
      const note = `rolling update: replacing pod ${name} (${r.role} ${r.node}) with the current pod template; ${r.reason}${p !== undefined ? ` (${p.updated} of ${p.total} pods updated)` : ''}`
      // Its own reason: the conditions' Events already use RollingUpdate (Progressing, Ready).
      for (const n of action.names) await this.#delete(net, n, 'ReplacingPod', note, log)
    }
  }

  async #create(net: EchoNetNetwork, pod: KubeObject, log: Logger): Promise<void> {
    try {
      await this.#o.client.create(pod)
    } catch (e) {
      if (isAlreadyExists(e)) return // the cache was behind
      throw e
    }
    const note = `created pod ${pod.metadata.name}`
    log.info({ kind: 'Pod', name: pod.metadata.name }, note)
    void this.#o.recorder.record({ regarding: net, reason: 'PodCreated', action: 'Create', note })
  }

  async #delete(net: EchoNetNetwork, pod: string, reason: string, note: string, log: Logger): Promise<void> {
    await this.#o.client.delete('v1', 'Pod', pod, net.metadata.namespace)
    log.info({ pod, reason }, note)
    void this.#o.recorder.record({ regarding: net, reason, action: 'Delete', note })
  }
}
