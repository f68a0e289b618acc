/**
 * EchoNetNetwork reconcile (the I/O shell around desired.ts, keys.ts and status.ts): generate
 * missing key Secrets, apply what changed, create/delete node pods by the one-pod-per-key rule and
 * roll template changes out pod by pod (node-pods.ts), replace failed seeds and SSNs (replacer.ts), carry out a runbook's re-key marks, fund new keys,
 * declare a disaster when quorum stays lost, and write status only when it changed (ADR 0005). Reads come from the informer
 * caches; every write is followed by an Event.
 */
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { Annotations, Finalizers, Labels } from '../../api/v1alpha1/labels.ts'
import type { DisasterDeclaration, EchoNetNetwork, WitnessPool } from '../../api/v1alpha1/types.ts'
import { signedTransfer } from '@echonet/node/events'
import type { EventRecorder, K8sClient, ObjectCache } from '../../k8s/index.ts'
import { apply, isAlreadyExists, isConflict, isNotFound, MERGE_PATCH, patchStatus } from '../../k8s/index.ts'
import { splitKey } from '../../runtime/index.ts'
import type { ReconcileResult } from '../../runtime/index.ts'
import { appliedUpToDate, mergePatchFrom, withAppliedHash } from '../objects.ts'
import type { KubeObject } from '../objects.ts'
import { podReady } from '../shared/pods.ts'
import type { ConfigMapView, PodView, SecretView } from '../shared/pods.ts'
import type { NodeAdmin } from '../shared/node-admin.ts'
import { notFinalizing, stalledMs } from '../shared/node-poller.ts'
import type { NodePoller, PollTarget } from '../shared/node-poller.ts'
import {
  GENESIS_KEY,
  NODE_OPERATING_BALANCE,
  desiredNetworkObjects,
  genesisConfigMapName,
  ssnMaxUnavailable,
} from './desired.ts'
import type { NodeKey, ObservedPod } from './desired.ts'
import { adminTokenSecret, missingNodeKeys, NODE_KEY_SECRET_KEY } from './keys.ts'
import { NODE_LABEL, networkNodes, nodeMarks, podName } from '../shared/nodes.ts'
import type { NodeMarks, NodePlan } from '../shared/nodes.ts'
import { referenceVoter } from '../shared/committee.ts'
import type { AgentKeys } from '../shared/agent-key.ts'
import { AutoDeclarer } from './auto-declarer.ts'
import { needsFunding, parseFunded } from './funding.ts'
import { markActions, markedNodes } from './rekey.ts'
import { adminTokenSecretObject, nodeKeySecret, nodeKeysFromSecrets } from './secrets.ts'
import type { GeneratedKey } from './secrets.ts'
import { forceDeletePod } from './force-delete.ts'
import { NodeReplacer } from './replacer.ts'
import { NodePods } from './node-pods.ts'
import type { RolloutProgress } from './rollout.ts'
import { aggregateNetworkStatus, statusWriteNeeded } from './status.ts'
import type { NodeObservation } from './status.ts'
import type { NetworkMetrics } from './metrics.ts'

export interface NetworkCaches {
  readonly networks: ObjectCache<EchoNetNetwork>
  readonly pools: ObjectCache<WitnessPool>
  readonly pods: ObjectCache<PodView>
  readonly secrets: ObjectCache<SecretView>
  /** Every other kind the network owns, by kind (ConfigMap, Service, PersistentVolumeClaim, …). */
  readonly owned: ReadonlyMap<string, ObjectCache<ConfigMapView>>
}

export interface NetworkReconcilerOptions {
  readonly client: K8sClient
  readonly caches: NetworkCaches
  readonly recorder: EventRecorder
  readonly log: Logger
  readonly nodeImage: string
  readonly operatorNamespace?: string
  readonly statusPollMs: number
  readonly heightRefreshMs: number
  /** Seed and SSN pods not ready for this long are replaced (default 5 min). */
  readonly replaceNotReadyAfterMs?: number
  /** Seed and SSN pods Terminating this long past their grace period are force-deleted (default 2 min). */
  readonly forceDeleteAfterMs?: number
  readonly generateKey: () => GeneratedKey
  readonly metrics?: NetworkMetrics
  /** The nodes' admin API (repair requests). */
  readonly admin: NodeAdmin
  /** Node status, polled outside the reconciles (DESIGN §6). */
  readonly poller: NodePoller
  /** The network's declarations: listed in status, and never declared twice (auto-declare). */
  readonly declarations: ObjectCache<DisasterDeclaration>
  /** The recovery agent's key: signs automatic declarations under the standing policy, funds new keys. */
  readonly agentKeys: AgentKeys
  readonly now?: () => number
}

/** The step a declaration's runbook is at (the first one running). */
function stepOf(d: DisasterDeclaration): { step?: string } {
  const step = d.status?.steps?.find((x) => x.phase === 'Running')?.name
  return step !== undefined ? { step } : {}
}

function decode(b64: string | undefined): string | undefined {
  return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8').trim()
}

export class NetworkReconciler {
  readonly #o: NetworkReconcilerOptions
  /** Last status write per network (ms), for the height refresh rule. */
  readonly #lastStatusWrite = new Map<string, number>()
  /** The recovery agent's last nonce sent, by network: transfers pending in a mempool count too. */
  readonly #agentNonce = new Map<string, number>()
  readonly #replacer: NodeReplacer
  readonly #pods: NodePods
  readonly #autoDeclarer: AutoDeclarer

  constructor(opts: NetworkReconcilerOptions) {
    this.#o = opts
    this.#pods = new NodePods({ client: opts.client, recorder: opts.recorder, now: () => this.#now() })
    this.#autoDeclarer = new AutoDeclarer({
      client: opts.client,
      recorder: opts.recorder,
      poller: opts.poller,
      agentKeys: opts.agentKeys,
      now: () => this.#now(),
    })
    this.#replacer = new NodeReplacer({
      client: opts.client,
      pods: opts.caches.pods,
      claims: opts.caches.owned.get('PersistentVolumeClaim'),
      recorder: opts.recorder,
      admin: opts.admin,
      notReadyAfterMs: opts.replaceNotReadyAfterMs ?? 300_000,
      forceDeleteAfterMs: opts.forceDeleteAfterMs ?? 120_000,
      now: () => this.#now(),
    })
  }

  #now(): number {
    return (this.#o.now ?? Date.now)()
  }

  readonly reconcile = async (key: string): Promise<ReconcileResult | undefined> => {
    const { namespace, name } = splitKey(key)
    const net = this.#o.caches.networks.get(name, namespace)
    if (net === undefined || net.metadata.deletionTimestamp !== undefined) {
      await this.#releaseKeys(name, namespace)
      this.#lastStatusWrite.delete(key)
      this.#o.poller.untrack(key)
      this.#o.metrics?.forget(namespace ?? '', name)
      return undefined
    }
    const log = this.#o.log.child({ echonetnetwork: key })
    const paused = net.spec.paused || net.metadata.annotations?.[Annotations.reconcilePaused] === 'true'
    const pools = this.#o.caches.pools.list(namespace)
    const pods = this.#podsOf(name, namespace)

    // The node plan of this reconcile: every step below works from the same one.
    const marks = nodeMarks(this.#secretsOf(name, namespace))
    const plan = networkNodes(net, pools, marks)
    let waiting: string[] = []
    let rollout: RolloutProgress | undefined
    if (!paused) {
      const nodeKeys = await this.#ensureSecrets(net, pools, plan, log)
      ;({ waiting, rollout } = await this.#applyDesired(net, pools, plan, nodeKeys, pods, marks, log))
      await this.#carryOutMarks(net, pools, plan, marks, log)
      await this.#replacer.run(net, plan, () => this.#adminToken(net), log)
      await this.#fundNewKeys(net, plan, log)
    }
    await this.#writeStatus(net, plan, this.#podsOf(name, namespace), waiting, paused, rollout, log)
    if (!paused) await this.#autoDeclarer.run(net, key, this.#activeDeclarations(net), log)
    await this.#releaseKeys(name, namespace)
    // A rollout step waits for heights, which do not wake the network up (node-poller.ts).
    return { requeueAfterMs: rollout !== undefined ? Math.min(this.#o.statusPollMs, 2_000) : this.#o.statusPollMs }
  }

  #podsOf(network: string, namespace: string | undefined): PodView[] {
    return this.#o.caches.pods.list(namespace).filter((p) => p.metadata?.labels?.[Labels.network] === network)
  }

  #secretsOf(network: string, namespace: string | undefined): SecretView[] {
    return this.#o.caches.secrets.list(namespace).filter((s) => s.metadata?.labels?.[Labels.network] === network)
  }

  /** Creates missing node key Secrets (and the admin token); returns every node's DID and PeerId. */
  async #ensureSecrets(
    net: EchoNetNetwork,
    pools: WitnessPool[],
    plan: readonly NodePlan[],
    log: Logger,
  ): Promise<Map<string, NodeKey>> {
    const ns = net.metadata.namespace
    const existing = this.#secretsOf(net.metadata.name ?? '', ns)
    const names = new Set(existing.map((s) => s.metadata?.name ?? ''))
    const keys = nodeKeysFromSecrets(existing)
    const admin = adminTokenSecret(net)
    if (
      admin.generate &&
      !names.has(admin.secretName) &&
      this.#o.caches.secrets.get(admin.secretName, ns) === undefined
    ) {
      await this.#create(adminTokenSecretObject(net, admin, randomBytes(32).toString('hex')), net, log, {
        reason: 'AdminTokenGenerated',
        note: `generated the admin API token in Secret ${admin.secretName}`,
      })
    }
    for (const m of missingNodeKeys(net, pools, names, plan)) {
      const k = this.#o.generateKey()
      const created = await this.#create(nodeKeySecret(net, m, k), net, log, {
        reason: 'KeyGenerated',
        note: `generated the key of ${m.node} (${m.role}) in Secret ${m.secretName}: ${k.did}`,
      })
      if (created) keys.set(m.node, { did: k.did, peerId: k.peerId })
    }
    return keys
  }

  async #applyDesired(
    net: EchoNetNetwork,
    pools: WitnessPool[],
    plan: readonly NodePlan[],
    nodeKeys: Map<string, NodeKey>,
    pods: PodView[],
    marks: ReadonlyMap<string, NodeMarks>,
    log: Logger,
  ): Promise<{ waiting: string[]; rollout: RolloutProgress | undefined }> {
    const ns = net.metadata.namespace
    const name = net.metadata.name ?? ''
    const observedPods: ObservedPod[] = pods.map((p) => ({
      name: p.metadata?.name ?? '',
      ...(p.status?.podIP !== undefined ? { podIP: p.status.podIP } : {}),
      ready: podReady(p),
    }))
    const genesis = this.#cached('ConfigMap', genesisConfigMapName(name), ns)
    const genesisData = genesis?.data?.[GENESIS_KEY]
    const desired = desiredNetworkObjects(
      net,
      { nodeKeys, pods: observedPods, pools, plan, ...(genesisData !== undefined ? { genesisData } : {}) },
      {
        nodeImage: this.#o.nodeImage,
        ...(this.#o.operatorNamespace !== undefined ? { operatorNamespace: this.#o.operatorNamespace } : {}),
      },
    )
    const wantPods: KubeObject[] = []
    // A node waiting for a fresh key gets no pod or volume until its key was rotated (rekey.ts).
    const rekeying = new Set(
      plan.filter((n) => marks.get(n.node)?.rekey !== undefined).flatMap((n) => [n.podName, n.pvcName]),
    )
    for (const obj of desired.objects) {
      if (rekeying.has(obj.metadata.name) && (obj.kind === 'Pod' || obj.kind === 'PersistentVolumeClaim')) continue
      if (obj.kind === 'Pod') {
        wantPods.push(obj)
      } else if (obj.kind === 'PersistentVolumeClaim') {
        // Claims are created once: their spec is immutable apart from resizing.
        const have = this.#cached(obj.kind, obj.metadata.name, ns)
        if (have === undefined)
          await this.#create(obj, net, log, {
            reason: 'VolumeCreated',
            note: `created PersistentVolumeClaim ${obj.metadata.name}`,
          })
      } else {
        const withHash = withAppliedHash(obj)
        if (appliedUpToDate(withHash, this.#cached(obj.kind, obj.metadata.name, ns))) continue
        await apply(this.#o.client, withHash)
        log.info({ kind: obj.kind, name: obj.metadata.name }, 'applied')
        void this.#o.recorder.record({
          regarding: net,
          reason: 'Applied',
          action: 'Apply',
          note: `applied ${obj.kind} ${obj.metadata.name}`,
        })
      }
    }
    const key = `${ns ?? ''}/${name}`
    const rollout = await this.#pods.sync(
      {
        net,
        plan,
        desired: wantPods,
        pods,
        observations: this.#o.poller.observations(key),
        finalizing: !notFinalizing(this.#o.poller.progress(key), this.#now()),
        ssnBudget: ssnMaxUnavailable(net.spec.storage.erasure.m),
      },
      log,
    )
    return { waiting: desired.waiting, rollout }
  }

  /** Creates `obj`; false (and nothing else) when it already exists (the cache was behind). */
  async #create(
    obj: KubeObject,
    net: EchoNetNetwork,
    log: Logger,
    ev: { reason: string; note: string },
  ): Promise<boolean> {
    try {
      await this.#o.client.create(obj)
    } catch (e) {
      if (isAlreadyExists(e)) return false
      throw e
    }
    log.info({ kind: obj.kind, name: obj.metadata.name }, ev.note)
    void this.#o.recorder.record({ regarding: net, reason: ev.reason, action: 'Create', note: ev.note })
    return true
  }

  #cached(kind: string, name: string, ns: string | undefined): ConfigMapView | undefined {
    return this.#o.caches.owned.get(kind)?.get(name, ns)
  }

  async #adminToken(net: EchoNetNetwork): Promise<string | undefined> {
    const ref = adminTokenSecret(net)
    const ns = net.metadata.namespace
    let s: SecretView | undefined = this.#o.caches.secrets.get(ref.secretName, ns)
    if (s === undefined && !ref.generate) {
      // A user's Secret is not labelled for the operator's cache: read it directly.
      s = await this.#o.client.getOrUndefined<SecretView>('v1', 'Secret', ref.secretName, ns)
    }
    return decode(s?.data?.[ref.key])
  }

  /** Tells the poller what to watch (cheap), and returns what it saw last. */
  async #observeNodes(
    key: string,
    net: EchoNetNetwork,
    nodes: readonly NodePlan[],
    pods: PodView[],
  ): Promise<NodeObservation[]> {
    const token = await this.#adminToken(net)
    const byName = new Map(pods.map((p) => [p.metadata?.name ?? '', p]))
    const targets: PollTarget[] = nodes
      .filter((n) => byName.has(n.podName))
      .map((n) => {
        const pod = byName.get(n.podName)
        const ip = pod?.status?.podIP
        return { node: n.node, role: n.role, ready: podReady(pod), ...(ip !== undefined && ip !== '' ? { ip } : {}) }
      })
    this.#o.poller.track(key, targets, token)
    return this.#o.poller.observations(key)
  }

  async #writeStatus(
    net: EchoNetNetwork,
    plan: readonly NodePlan[],
    pods: PodView[],
    waiting: string[],
    paused: boolean,
    rollout: RolloutProgress | undefined,
    log: Logger,
  ): Promise<void> {
    const key = `${net.metadata.namespace ?? ''}/${net.metadata.name ?? ''}`
    const nodes = await this.#observeNodes(key, net, plan, pods)
    const next = aggregateNetworkStatus(net, {
      nodes,
      stalledMs: stalledMs(this.#o.poller.progress(key), this.#now()),
      declarations: this.#activeDeclarations(net).map((d) => ({
        name: d.metadata.name ?? '',
        scenario: d.spec.scenario,
        phase: d.status?.phase ?? 'Pending',
        dryRun: d.spec.dryRun,
        ...stepOf(d),
      })),
      desiredSeeds: plan.filter((n) => n.role === 'seed').length,
      desiredSsns: plan.filter((n) => n.role === 'ssn').length,
      waiting: paused ? ['reconciliation is paused (spec.paused or the reconcile-paused annotation)'] : waiting,
      desiredNodes: plan.length,
      ...(rollout !== undefined ? { rollout } : {}),
      now: new Date(this.#now()),
    })
    const active = this.#activeDeclarations(net)
      .map((d) => d.metadata.name ?? '')
      .sort()
    if (active.length > 0) next.activeDeclarations = active
    else delete next.activeDeclarations
    this.#o.metrics?.observe(net.metadata.namespace ?? '', net.metadata.name ?? '', next)
    const now = this.#now()
    if (!statusWriteNeeded(net.status, next, this.#lastStatusWrite.get(key), now, this.#o.heightRefreshMs)) return
    // Fields that went away (a finished rollout, the last declaration resolved) are removed.
    await patchStatus(this.#o.client, net, mergePatchFrom(net.status ?? {}, next), { mode: 'merge' })
    this.#lastStatusWrite.set(key, now)
    const before = new Map((net.status?.conditions ?? []).map((c) => [c.type, c.status]))
    for (const c of next.conditions ?? []) {
      if (before.get(c.type) === c.status) continue
      log.info({ condition: c.type, status: c.status, reason: c.reason }, c.message)
      void this.#o.recorder.record({
        regarding: net,
        type: (c.type === 'Ready' || c.type === 'QuorumAvailable') && c.status === 'False' ? 'Warning' : 'Normal',
        reason: c.reason,
        action: 'UpdateStatus',
        note: `${c.type}=${c.status}: ${c.message}`,
      })
    }
  }

  /** Retired and re-keyed nodes (marks left by a WitnessLoss runbook): one step each per reconcile. */
  async #carryOutMarks(
    net: EchoNetNetwork,
    pools: WitnessPool[],
    plan: readonly NodePlan[],
    marks: ReadonlyMap<string, NodeMarks>,
    log: Logger,
  ): Promise<void> {
    const ns = net.metadata.namespace
    const netName = net.metadata.name ?? ''
    const all = networkNodes(net, pools)
    const inPlan = new Set(plan.map((n) => n.node))
    const retired = [...marks].flatMap(([node, m]) => {
      if (m.retired === undefined || inPlan.has(node)) return []
      return all.filter((n) => n.node === node)
    })
    const actions = markActions(
      markedNodes(plan, retired, marks, {
        pod: (p) => this.#o.caches.pods.get(p, ns) !== undefined,
        pvc: (c) => this.#cached('PersistentVolumeClaim', c, ns) !== undefined,
      }),
    )
    for (const a of actions) {
      if (a.kind === 'forceDeletePod') {
        // No kubelet will confirm the end of a pod on a lost machine; its key no longer votes.
        await forceDeletePod(this.#o.client, ns, a.pod)
        const note = `force-deleted pod ${a.pod} (${a.why})`
        log.warn({ node: a.node }, note)
        void this.#o.recorder.record({
          regarding: net,
          type: 'Warning',
          reason: 'PodForceDeleted',
          action: 'Delete',
          note,
        })
      } else if (a.kind === 'deleteVolume') {
        await this.#o.client.delete('v1', 'PersistentVolumeClaim', a.pvc, ns)
        void this.#o.recorder.record({
          regarding: net,
          reason: 'VolumeDeleted',
          action: 'Delete',
          note: `deleted PersistentVolumeClaim ${a.pvc} of ${a.node} before its key is rotated`,
        })
      } else {
        const k = this.#o.generateKey()
        const path = await this.#o.client.path('v1', 'Secret', ns, a.secret)
        // Conditional on the version read: a key is rotated once, never twice by racing reconciles.
        const rv = this.#o.caches.secrets.get(a.secret, ns)?.metadata?.resourceVersion
        try {
          await this.#o.client.request('PATCH', path, {
            body: {
              metadata: {
                ...(rv !== undefined ? { resourceVersion: rv } : {}),
                annotations: {
                  [Annotations.did]: k.did,
                  [Annotations.peerId]: k.peerId,
                  [Annotations.rekey]: null,
                  [Annotations.funded]: null,
                },
              },
              data: { [NODE_KEY_SECRET_KEY]: Buffer.from(k.keyFile).toString('base64') },
            },
            contentType: MERGE_PATCH,
          })
        } catch (e) {
          if (isConflict(e)) return // the cache was behind: the next reconcile sees the rotation
          throw e
        }
        const note = `gave ${a.node} a fresh key ${k.did} (asked by ${a.declaration}); it registers once funded`
        log.info({ node: a.node, network: netName }, note)
        void this.#o.recorder.record({ regarding: net, reason: 'KeyRotated', action: 'Rotate', note })
      }
    }
  }

  /**
   * Witness and standby keys that are not registered on the ledger (added after genesis) get their
   * stake and an operating balance from the recovery agent's account; the node then bonds itself.
   */
  async #fundNewKeys(net: EchoNetNetwork, plan: readonly NodePlan[], log: Logger): Promise<void> {
    if (net.spec.recovery.agentKeySecretRef === undefined) return
    const key = `${net.metadata.namespace ?? ''}/${net.metadata.name ?? ''}`
    const ns = net.metadata.namespace
    const obs = new Map(this.#o.poller.observations(key).map((o) => [o.node, o]))
    const ref = referenceVoter([...obs.values()])
    const fee = ref?.governance?.eventFee
    if (ref === undefined || fee === undefined) return
    const now = this.#now()
    const candidates = plan
      .filter((n) => n.role === 'witness' || n.role === 'standby')
      .flatMap((n) => {
        const st = obs.get(n.node)?.status
        const secret = this.#o.caches.secrets.get(n.keySecretName, ns)
        const did = secret?.metadata?.annotations?.[Annotations.did]
        if (st === undefined || did === undefined || st.did !== did || st.self === undefined) return []
        const funded = parseFunded(secret?.metadata?.annotations?.[Annotations.funded])
        const c = { node: n.node, did, stake: n.stake, self: st.self, ...(funded !== undefined ? { funded } : {}) }
        return needsFunding(c, fee, now) ? [{ ...c, secret: n.keySecretName }] : []
      })
    if (candidates.length === 0) return
    const agent = (await this.#o.agentKeys.get(net)).id
    // The most advanced voter: a lagging node's ledger would give a stale nonce for the agent.
    const witness = [...obs.values()].find((o) => o.status === ref)
    const ip =
      witness === undefined
        ? undefined
        : this.#o.caches.pods.get(podName(net.metadata.name ?? '', witness.node), ns)?.status?.podIP
    if (agent === undefined || ip === undefined) return
    const onLedger = (await this.#o.admin.account(ip, agent.did))?.nonce ?? 0
    let nonce = Math.max(onLedger, this.#agentNonce.get(key) ?? 0)
    for (const c of candidates) {
      nonce++
      const amount = c.stake + NODE_OPERATING_BALANCE
      const ev = signedTransfer(agent.signer, agent.did, {
        chainId: ref.chainId,
        nonce,
        fee,
        to: c.did,
        amount,
        memo: `stake of ${c.node}`,
      })
      // Recorded before it is sent: a new leader sees the pending transfer and does not send twice.
      const path = await this.#o.client.path('v1', 'Secret', ns, c.secret)
      await this.#o.client.request('PATCH', path, {
        body: { metadata: { annotations: { [Annotations.funded]: `${nonce}:${ev.id}:${now}` } } },
        contentType: MERGE_PATCH,
      })
      const [verdict] = await this.#o.admin.submitEvents(ip, [ev.bytes])
      // Pending transfers hold their nonces; a refused one frees it (start again from the ledger).
      if (verdict?.ok === true) this.#agentNonce.set(key, nonce)
      else {
        this.#agentNonce.delete(key)
        // Refused, so never pending: the record goes, and the next reconcile funds it again.
        await this.#o.client.request('PATCH', path, {
          body: { metadata: { annotations: { [Annotations.funded]: null } } },
          contentType: MERGE_PATCH,
        })
      }
      const note =
        verdict?.ok === true
          ? `funded ${c.node} (${c.did}) with ${amount} from the recovery agent ${agent.did} so that it can bond its stake`
          : `could not fund ${c.node}: ${verdict?.code ?? 'no verdict'}`
      log.info({ node: c.node, nonce }, note)
      void this.#o.recorder.record({
        regarding: net,
        type: verdict?.ok === true ? 'Normal' : 'Warning',
        reason: 'NodeFunded',
        action: 'Fund',
        note,
      })
      if (verdict?.ok !== true) return
    }
  }

  /** Declarations of `net` that are not Resolved. */
  #activeDeclarations(net: EchoNetNetwork): DisasterDeclaration[] {
    return this.#o.declarations
      .list(net.metadata.namespace)
      .filter((d) => d.spec.networkRef.name === net.metadata.name && d.status?.phase !== 'Resolved')
  }

  /**
   * Removes the witness-key finalizer from key Secrets being deleted once no pod of that node
   * exists any more (not even a terminating one): the key can no longer sign anywhere.
   */
  async #releaseKeys(network: string, namespace: string | undefined): Promise<void> {
    const pods = new Set(this.#podsOf(network, namespace).map((p) => p.metadata?.labels?.[NODE_LABEL]))
    for (const s of this.#secretsOf(network, namespace)) {
      const fin = s.metadata?.finalizers ?? []
      if (s.metadata?.deletionTimestamp === undefined || !fin.includes(Finalizers.witnessKey)) continue
      const node = s.metadata.labels?.[NODE_LABEL]
      if (pods.has(node)) continue
      try {
        await this.#o.client.request('PATCH', await this.#o.client.path('v1', 'Secret', namespace, s.metadata.name), {
          body: {
            metadata: {
              finalizers: fin.filter((f) => f !== Finalizers.witnessKey),
              resourceVersion: s.metadata.resourceVersion,
            },
          },
          contentType: MERGE_PATCH,
        })
      } catch (e) {
        if (!isNotFound(e)) throw e
      }
    }
  }
}
