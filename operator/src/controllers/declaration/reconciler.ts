/**
 * DisasterDeclaration reconcile (DESIGN §6), the I/O shell around authorize.ts and the runbooks:
 *
 *   Pending    verify the authorization (council signatures, or the standing policy and its
 *              agent); refused → a condition and an Event saying why, nothing executed
 *   Authorized claim the nonce, then run the scenario's runbook step by step
 *
 * Each reconcile reads the runbook state from status, asks the pure `step` for the next state and
 * effects, writes the state (conditional on the resourceVersion it read, so a deposed leader can
 * write nothing), carries out the effects, records their outcomes, and requeues. A new leader
 * resumes at the recorded step: plans are recorded before they are signed, deliveries after each
 * node adopted, so nothing non-idempotent is repeated.
 */
import type { Logger } from 'pino'
import type { CouncilSpec } from '@echonet/node/governance'
import { isDisasterDeclaration } from '../../api/v1alpha1/validate.ts'
import { Annotations } from '../../api/v1alpha1/labels.ts'
import type { DisasterDeclaration, EchoNetNetwork, WitnessPool } from '../../api/v1alpha1/types.ts'
import type { EventRecorder, K8sClient, ObjectCache } from '../../k8s/index.ts'
import { MERGE_PATCH } from '../../k8s/index.ts'
import { objectKey, splitKey } from '../../runtime/index.ts'
import type { ReconcileResult } from '../../runtime/index.ts'
import { runbookFor } from '../../runbooks/index.ts'
import type { Effect, RunbookState } from '../../runbooks/types.ts'
import { fail, setPhase, skipRest } from '../../runbooks/engine.ts'
import { referenceVoter } from '../shared/committee.ts'
import { adminTokenSecret, genesisConfigMapName, GENESIS_KEY } from '../shared/network-objects.ts'
import type { AgentKeys } from '../shared/agent-key.ts'
import type { NodeAdmin } from '../shared/node-admin.ts'
import type { NodePoller } from '../shared/node-poller.ts'
import type { ConfigMapView, PodView, SecretView } from '../shared/pods.ts'
import { authorize, standingPolicy } from './authorize.ts'
import type { Authorization, StandingPolicy } from './authorize.ts'
import { execute } from './effects.ts'
import type { EffectContext, PolicyAuthorization } from './effects.ts'
import { claimNonce, NonceTaken, noncesConfigMapName, usedNonces } from './nonces.ts'
import { observe } from './observe.ts'
import { declarationStatus, stateOf, transitions } from './status.ts'
import type { AuthorizationView } from './status.ts'

export interface DeclarationCaches {
  readonly declarations: ObjectCache<DisasterDeclaration>
  readonly networks: ObjectCache<EchoNetNetwork>
  readonly pools: ObjectCache<WitnessPool>
  readonly pods: ObjectCache<PodView>
  readonly secrets: ObjectCache<SecretView>
  readonly configMaps: ObjectCache<ConfigMapView>
}

export interface DeclarationReconcilerOptions {
  readonly client: K8sClient
  readonly caches: DeclarationCaches
  readonly recorder: EventRecorder
  readonly log: Logger
  readonly admin: NodeAdmin
  readonly poller: NodePoller
  readonly agentKeys: AgentKeys
  readonly now?: () => number
}

const TERMINAL: readonly string[] = ['Resolved', 'Failed']
/** While waiting for signatures, look again this often (a spec change also enqueues at once). */
const WAIT_SIGNATURES_MS = 15_000

export class DeclarationReconciler {
  readonly #o: DeclarationReconcilerOptions

  constructor(opts: DeclarationReconcilerOptions) {
    this.#o = opts
  }

  #now(): number {
    return (this.#o.now ?? Date.now)()
  }

  readonly reconcile = async (key: string, signal: AbortSignal): Promise<ReconcileResult | undefined> => {
    const { namespace, name } = splitKey(key)
    const cached = this.#o.caches.declarations.get(name, namespace)
    if (cached === undefined || cached.metadata.deletionTimestamp !== undefined) return undefined
    if (!isDisasterDeclaration(cached)) return undefined
    let decl: DisasterDeclaration = cached
    const phase = decl.status?.phase ?? 'Pending'
    const log = this.#o.log.child({ disasterdeclaration: key })
    const now = this.#now()
    if ((phase === 'Failed' || phase === 'Recovered') && decl.metadata.annotations?.[Annotations.resolve] === 'true') {
      // People closed it (kubectl annotate ... echonet.io/resolve=true).
      const prev = stateOf(decl, () => emptyState())
      const closed = setPhase(prev, 'Resolved', now, `resolved by people from ${phase}`)
      await this.#writeStatus(
        decl,
        prev,
        { ...closed, postMortem: closed.postMortem ?? `Resolved by people from phase ${phase}.` },
        undefined,
        {},
        log,
      )
      return undefined
    }
    if (TERMINAL.includes(phase)) return undefined
    const net = this.#o.caches.networks.get(decl.spec.networkRef.name, namespace)
    const runbook = runbookFor(decl.spec.scenario)
    const initial = (): RunbookState => (runbook ?? { initial: () => emptyState() }).initial(now)
    let state = stateOf(decl, initial)
    const write = async (
      next: RunbookState,
      auth?: AuthorizationView,
      extra: Parameters<typeof declarationStatus>[3] = {},
    ) => {
      decl = await this.#writeStatus(decl, state, next, auth, extra, log)
      state = next
    }

    if (net === undefined) {
      await write(state, {
        ok: false,
        reason: 'NetworkNotFound',
        message: `EchoNetNetwork ${decl.spec.networkRef.name} does not exist in this namespace`,
      })
      return { requeueAfterMs: 30_000 }
    }
    if (runbook === undefined) {
      const msg = `no runbook for scenario ${decl.spec.scenario} in this operator version (WitnessLoss, DataUnavailability, CriticalFlaw and NetworkAttack are automated; see README "What runs today")`
      await write(setPhase(skipRest(state, now, msg), 'Failed', now, msg), {
        ok: false,
        reason: 'UnsupportedScenario',
        message: msg,
      })
      return undefined
    }
    const unsupported = decl.spec.actions.filter((a) => !runbook.supports.includes(a.type)).map((a) => a.type)
    if (unsupported.length > 0) {
      const msg = `the ${decl.spec.scenario} runbook cannot carry out ${unsupported.join(', ')}; nothing was executed`
      await write(setPhase(skipRest(state, now, msg), 'Failed', now, msg), {
        ok: false,
        reason: 'UnsupportedAction',
        message: msg,
      })
      return undefined
    }

    const netKey = objectKey({ namespace: net.metadata.namespace, name: net.metadata.name })
    const council: CouncilSpec | undefined = referenceVoter(this.#o.poller.observations(netKey))?.governance?.council

    if (phase === 'Pending') {
      const nonces = usedNonces(
        this.#o.caches.configMaps.get(noncesConfigMapName(net.metadata.name ?? ''), namespace),
        now,
      )
      // Refusals first (a replay stays a replay), then one runbook per network and scenario.
      const checked = authorize(net, decl, { council, nowMs: now, usedNonces: nonces })
      const running = decl.spec.dryRun || !checked.ok ? undefined : this.#runningTwin(decl)
      const auth: Authorization =
        running !== undefined
          ? {
              ok: false,
              reason: 'AnotherDeclarationActive',
              message: `declaration ${running} of this network and scenario is running; one runbook at a time (this one waits)`,
              retryable: true,
            }
          : checked
      if (!auth.ok) {
        if (!decl.spec.dryRun) {
          const view = { ok: false, reason: auth.reason, message: auth.message }
          const next = auth.retryable
            ? state
            : setPhase(skipRest(state, now, auth.message), 'Failed', now, auth.message)
          const changed = decl.status?.conditions?.find((c) => c.type === 'Authorized')?.message !== auth.message
          await write(next, view)
          if (changed) {
            log.warn({ reason: auth.reason }, auth.message)
            void this.#o.recorder.record({
              regarding: decl,
              related: net,
              type: 'Warning',
              reason: 'AuthorizationRefused',
              action: 'Authorize',
              note: `${auth.reason}: ${auth.message}; nothing was executed`,
            })
          }
          return auth.retryable ? { requeueAfterMs: WAIT_SIGNATURES_MS } : undefined
        }
        // A dry run plans without authority: it changes nothing.
        await write(state, { ok: false, reason: auth.reason, message: `${auth.message} (dry run: planning only)` })
      } else {
        if (!decl.spec.dryRun) {
          try {
            await claimNonce(
              this.#o.client,
              net,
              auth.payload.nonce,
              decl.metadata.name ?? '',
              auth.payload.expiresAtMs,
              now,
            )
          } catch (err) {
            if (!(err instanceof NonceTaken)) throw err
            const next = setPhase(skipRest(state, now, err.message), 'Failed', now, err.message)
            await write(next, { ok: false, reason: 'Replayed', message: err.message })
            return undefined
          }
        }
        const how =
          auth.mode === 'policy'
            ? `the standing recovery policy and its agent ${auth.signers.join(', ')}`
            : `council members ${auth.signers.join(', ')}`
        await write(
          { ...state, phase: 'Authorized' },
          {
            ok: true,
            reason: auth.mode === 'policy' ? 'StandingPolicy' : 'CouncilSignatures',
            message: `authorized by ${how}`,
          },
          { authorizedAt: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'), verifiedSigners: auth.signers },
        )
        log.info({ mode: auth.mode, signers: auth.signers }, 'declaration authorized')
      }
    }

    // The standing policy's bounds apply to every step (and the nodes check them again).
    let policy: StandingPolicy | undefined
    if (decl.spec.standingPolicy !== undefined && council !== undefined) {
      const found = standingPolicy(net, council, now)
      if (found !== undefined && 'policy' in found) policy = found.policy
      else if (state.phase === 'Authorized' || state.phase === 'Executing') {
        const msg = `the network's standing recovery policy is no longer usable: ${found === undefined ? 'removed' : found.problem}`
        await write(fail(state, state.runbook.step ?? 'Assess', now, msg))
        return undefined
      }
    }
    const obs = observe({
      network: net,
      declaration: decl,
      pools: this.#o.caches.pools,
      pods: this.#o.caches.pods,
      secrets: this.#o.caches.secrets,
      poller: this.#o.poller,
      networkKey: netKey,
      policy:
        policy === undefined
          ? undefined
          : {
              agent: policy.agent,
              maxPromotions: policy.maxPromotions,
              standbys: policy.standbys,
              quorumLossSeconds: policy.quorumLossSeconds,
            },
      nowMs: now,
    })
    const r = runbook.step(state, obs)
    await write(r.next)
    if (r.effects.length > 0) {
      const ctx = await this.#effectContext(net, decl, signal)
      const policyAuth: PolicyAuthorization | undefined =
        policy === undefined ? undefined : { action: policy.action, signatures: policy.signatures, agent: policy.agent }
      for (const e of r.effects) {
        if (signal.aborted) break
        const outcome = await execute(e, { ...ctx, declaration: decl }, policyAuth)
        const next = runbook.record(state, e, outcome, this.#now())
        // Deliveries are recorded one by one: a new leader must know exactly who has the manifest.
        if (e.kind === 'deliver' || next.phase !== state.phase || e === r.effects[r.effects.length - 1])
          await write(next)
        else state = next
        if (!outcome.ok) log.info({ effect: e.kind, code: outcome.code }, outcome.message)
      }
    }
    if (TERMINAL.includes(state.phase)) return undefined
    return { requeueAfterMs: Math.max(50, r.requeueAfterMs) }
  }

  /** Another declaration of the same network and scenario that is past authorization and not done. */
  #runningTwin(decl: DisasterDeclaration): string | undefined {
    return this.#o.caches.declarations
      .list(decl.metadata.namespace)
      .find(
        (d) =>
          d.metadata.name !== decl.metadata.name &&
          d.spec.networkRef.name === decl.spec.networkRef.name &&
          d.spec.scenario === decl.spec.scenario &&
          !d.spec.dryRun &&
          ['Authorized', 'Executing', 'Verifying'].includes(d.status?.phase ?? 'Pending'),
      )?.metadata.name
  }

  async #effectContext(net: EchoNetNetwork, decl: DisasterDeclaration, signal: AbortSignal): Promise<EffectContext> {
    const ns = net.metadata.namespace
    const ref = adminTokenSecret(net)
    let tokenSecret = this.#o.caches.secrets.get(ref.secretName, ns)
    if (tokenSecret === undefined && !ref.generate) {
      tokenSecret = await this.#o.client.getOrUndefined<SecretView>('v1', 'Secret', ref.secretName, ns)
    }
    const b64 = tokenSecret?.data?.[ref.key]
    const token = b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8').trim()
    const agent = (await this.#o.agentKeys.get(net)).id
    const genesisText = this.#o.caches.configMaps.get(genesisConfigMapName(net.metadata.name ?? ''), ns)?.data?.[
      GENESIS_KEY
    ]
    const survey = decl.status?.runbook?.survey ?? []
    return {
      client: this.#o.client,
      admin: this.#o.admin,
      recorder: this.#o.recorder,
      network: net,
      declaration: decl,
      token,
      agent,
      genesis: genesisText === undefined ? undefined : (JSON.parse(genesisText) as unknown),
      expectBlocks: survey.flatMap((x) =>
        x.height !== undefined && x.hash !== undefined && x.height > 0 ? [{ height: x.height, hash: x.hash }] : [],
      ),
      signal,
    }
  }

  /** Writes status when it changed, conditional on the resourceVersion read; Events for each change. */
  async #writeStatus(
    decl: DisasterDeclaration,
    before: RunbookState,
    after: RunbookState,
    auth: AuthorizationView | undefined,
    extra: Parameters<typeof declarationStatus>[3],
    log: Logger,
  ): Promise<DisasterDeclaration> {
    const prevAuth = decl.status?.conditions?.find((c) => c.type === 'Authorized')
    const authView =
      auth ??
      (prevAuth !== undefined
        ? { ok: prevAuth.status === 'True', reason: prevAuth.reason, message: prevAuth.message }
        : undefined)
    const status = declarationStatus(decl, after, authView, extra, new Date(this.#now()))
    if (JSON.stringify(status) === JSON.stringify(decl.status ?? {})) return decl
    const ns = decl.metadata.namespace
    const path = await this.#o.client.path(decl.apiVersion, decl.kind, ns, decl.metadata.name, 'status')
    const updated = await this.#o.client.request<DisasterDeclaration>('PATCH', path, {
      body: { metadata: { resourceVersion: decl.metadata.resourceVersion }, status },
      contentType: MERGE_PATCH,
    })
    for (const t of transitions(before, after)) {
      log.info({ reason: t.reason }, t.note)
      void this.#o.recorder.record({ regarding: decl, type: t.type, reason: t.reason, action: 'Runbook', note: t.note })
    }
    return updated
  }
}

function emptyState(): RunbookState {
  return { phase: 'Pending', steps: [], timeline: [], runbook: {} }
}

export type { Effect }
