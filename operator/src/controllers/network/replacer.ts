/**
 * The I/O shell of replacement.ts: replaces failed storage nodes (within the erasure budget) and
 * DHT seeds with fresh pods and volumes, force-deletes their pods stuck Terminating on a lost
 * machine, and asks the SSNs to repair once all are back after a replacement.
 */
import type { Logger } from 'pino'
import type { EchoNetNetwork } from '../../api/v1alpha1/types.ts'
import type { EventRecorder, K8sClient, ObjectCache } from '../../k8s/index.ts'
import { crashLooping, podReady } from '../shared/pods.ts'
import type { ConfigMapView, PodView } from '../shared/pods.ts'
import type { NodeAdmin } from '../shared/node-admin.ts'
import type { NodePlan } from '../shared/nodes.ts'
import { ssnMaxUnavailable } from './desired.ts'
import { forceDeletePod } from './force-delete.ts'
import { planReplacements, stuckTerminating } from './replacement.ts'
import type { NodeHealth, ReplacementPlan } from './replacement.ts'

export interface ReplacerOptions {
  readonly client: K8sClient
  readonly pods: ObjectCache<PodView>
  readonly claims: ObjectCache<ConfigMapView> | undefined
  readonly recorder: EventRecorder
  readonly admin: NodeAdmin
  /** A seed or SSN pod not ready for this long is replaced. */
  readonly notReadyAfterMs: number
  /** A seed or SSN pod Terminating this long past its grace period, not ready, is force-deleted. */
  readonly forceDeleteAfterMs: number
  readonly now: () => number
}

/** Roles whose pods may be replaced and force-deleted (never witnesses: see replacement.ts). */
const REPLACEABLE = ['seed', 'ssn'] as const

export class NodeReplacer {
  readonly #o: ReplacerOptions
  /** Networks with an SSN replaced whose repair has not been asked for yet. */
  readonly #repairPending = new Set<string>()
  /** When each pod was first seen not ready (ms), by pod uid. */
  readonly #notReadySince = new Map<string, number>()

  constructor(opts: ReplacerOptions) {
    this.#o = opts
  }

  /** One pass: force-delete stuck pods, replace failed nodes, then maybe trigger SSN repair. */
  async run(
    net: EchoNetNetwork,
    nodes: readonly NodePlan[],
    adminToken: () => Promise<string | undefined>,
    log: Logger,
  ): Promise<void> {
    await this.#forceDeleteStuck(net, nodes, log)
    const now = this.#o.now()
    for (const role of REPLACEABLE) {
      const obs = nodes.filter((n) => n.role === role).map((n) => this.#observe(n, net.metadata.namespace, now))
      const plan = planReplacements(obs, now, {
        // A seed holds nothing that is not elsewhere: replacing one never costs availability.
        budget: role === 'ssn' ? ssnMaxUnavailable(net.spec.storage.erasure.m) : obs.length,
        notReadyThresholdMs: this.#o.notReadyAfterMs,
      })
      await this.#replace(net, role, plan, log)
    }
    await this.#triggerRepair(net, nodes, adminToken, log)
  }

  forget(key: string): void {
    this.#repairPending.delete(key)
  }

  async #forceDeleteStuck(net: EchoNetNetwork, nodes: readonly NodePlan[], log: Logger): Promise<void> {
    const ns = net.metadata.namespace
    const now = this.#o.now()
    for (const n of nodes) {
      if (!(REPLACEABLE as readonly string[]).includes(n.role)) continue
      const pod = this.#o.pods.get(n.podName, ns)
      const deletionTimestamp = pod?.metadata?.deletionTimestamp
      if (pod === undefined || deletionTimestamp === undefined) continue
      if (!stuckTerminating({ deletionTimestamp, ready: podReady(pod) }, now, this.#o.forceDeleteAfterMs)) continue
      await forceDeletePod(this.#o.client, ns, n.podName)
      const machine = pod.spec?.nodeName ?? 'its machine'
      const note = `force-deleted pod ${n.podName} of ${n.node}: ${machine} has not confirmed its deletion for ${Math.round((now - Date.parse(deletionTimestamp)) / 1000)} s past its grace period`
      log.warn({ node: n.node, machine }, note)
      void this.#o.recorder.record({
        regarding: net,
        type: 'Warning',
        reason: 'PodForceDeleted',
        action: 'Delete',
        note,
      })
    }
  }

  async #replace(
    net: EchoNetNetwork,
    role: (typeof REPLACEABLE)[number],
    plan: ReplacementPlan,
    log: Logger,
  ): Promise<void> {
    const ns = net.metadata.namespace
    if (role === 'ssn' && plan.replace.length > 0) this.#repairPending.add(`${ns ?? ''}/${net.metadata.name ?? ''}`)
    const what = role === 'ssn' ? 'repair will restore its shards' : 'it rebuilds its routing table from its peers'
    const reason = role === 'ssn' ? 'SsnReplacing' : 'SeedReplacing'
    for (const r of plan.replace) {
      const note = `replacing ${r.node} with a fresh pod and volume: ${r.message}; ${what}`
      log.warn({ node: r.node, reason: r.reason }, note)
      void this.#o.recorder.record({ regarding: net, type: 'Warning', reason, action: 'Replace', note })
      // The claim goes first (it stays Terminating while the pod uses it), then the pod; both
      // are created afresh by a later reconcile once gone.
      await this.#o.client.delete('v1', 'PersistentVolumeClaim', r.pvcName, ns)
      await this.#o.client.delete('v1', 'Pod', r.podName, ns)
    }
    for (const d of plan.deferred) {
      void this.#o.recorder.record({
        regarding: net,
        type: 'Warning',
        reason: 'SsnReplacementDeferred',
        action: 'Replace',
        note: `${d.node} failed (${d.message}) but the erasure budget allows no more replacements now`,
      })
    }
  }

  #observe(n: NodePlan, ns: string | undefined, now: number): NodeHealth {
    const pod = this.#o.pods.get(n.podName, ns)
    const pvc = this.#o.claims?.get(n.pvcName, ns)
    const live = pod !== undefined && pod.metadata?.deletionTimestamp === undefined
    const ready = live && podReady(pod)
    const uid = pod?.metadata?.uid ?? n.podName
    if (ready || !live) this.#notReadySince.delete(uid)
    else if (!this.#notReadySince.has(uid)) this.#notReadySince.set(uid, now)
    const since = this.#notReadySince.get(uid)
    return {
      node: n.node,
      podName: n.podName,
      pvcName: n.pvcName,
      podExists: live,
      ready,
      ...(since !== undefined ? { notReadySinceMs: since } : {}),
      crashLooping: live && crashLooping(pod),
      // A claim that disappeared while its pod runs, or is Terminating: someone deleted it.
      volumeLost: (live && pvc === undefined) || pvc?.metadata?.deletionTimestamp !== undefined,
      volumeCorrupt: false,
    }
  }

  /**
   * Once every SSN is back after a replacement, asks each to scan and repair now (they also scan
   * on their own schedule; this only shortens the time at reduced redundancy). Not awaited: a
   * repair run can take minutes, and its progress shows in status.underReplicatedContent.
   */
  async #triggerRepair(
    net: EchoNetNetwork,
    nodes: readonly NodePlan[],
    adminToken: () => Promise<string | undefined>,
    log: Logger,
  ): Promise<void> {
    const ns = net.metadata.namespace
    const key = `${ns ?? ''}/${net.metadata.name ?? ''}`
    if (!this.#repairPending.has(key)) return
    const ssns = nodes.filter((n) => n.role === 'ssn').map((n) => this.#o.pods.get(n.podName, ns))
    if (!ssns.every((p) => p !== undefined && p.metadata?.deletionTimestamp === undefined && podReady(p))) return
    const token = await adminToken()
    if (token === undefined) return
    this.#repairPending.delete(key)
    const ips = ssns.flatMap((p) => (p?.status?.podIP !== undefined ? [p.status.podIP] : []))
    const note = `all ${ips.length} storage nodes ready after a replacement: asked each to scan and repair now`
    log.info({ ssns: ips.length }, note)
    void this.#o.recorder.record({ regarding: net, reason: 'RepairTriggered', action: 'Repair', note })
    for (const ip of ips)
      void this.#o.admin
        .storageRepair({ ip, token })
        .catch((e: unknown) =>
          log.warn(
            { ssn: ip, err: (e as Error).message },
            'repair request failed (the SSN repairs on its own schedule)',
          ),
        )
  }
}
