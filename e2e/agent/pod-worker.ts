// One pod's lifecycle on this node: volumes, init containers, containers as host processes,
// probes, restarts with CrashLoopBackOff, status writes (only on change), and graceful
// termination followed by the final delete with grace 0, as the kubelet does.
//
// All work for a pod is serialized: events (informer updates, process exits, probe results,
// timers) only `kick()` the worker, which then runs `#syncOnce()` until nothing is dirty.
import { execFile } from 'node:child_process'
import { mkdir, rm, symlink } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import type {
  Condition,
  ConfigMap,
  Container,
  ContainerStatus,
  PersistentVolume,
  PersistentVolumeClaim,
  Pod,
  PodStatus,
  Probe,
  Secret,
} from './kube/types.ts'
import { writeAtomic } from './atomic-writer.ts'
import { nextBackoff, type Backoff } from './backoff.ts'
import { envReferences, resolveEnv, type EnvSources, type PodRuntimeInfo } from './env.ts'
import { lookupImage, type ImageMapFile } from './images.ts'
import { isConflict, isNotFound, STRATEGIC_MERGE_PATCH, type KubeClient } from './kube/client.ts'
import { mountMappings, planImageLaunch, planLaunch } from './launch.ts'
import type { OciImageStore } from './oci.ts'
import { inPodNetwork } from './pod-net.ts'
import type { PodNetwork } from './pod-network.ts'
import type { Logger } from './log.ts'
import { podRef, rewritePaths, type Layout, type MountMapping, type PodRef } from './paths.ts'
import { initialProbeState, probeTiming, recordProbe, type ProbeKind } from './probe.ts'
import { runProbe } from './probe-runner.ts'
import { ContainerProcess, type Exit, type PidFileEntry } from './process.ts'
import { backoffMessage, decideStart, type RestartPolicy } from './restart.ts'
import {
  agentConditionTypes,
  computePodStatus,
  statusFingerprint,
  type ContainerView,
  type Termination,
} from './status.ts'
import { planVolume, tokenKeys, tokenKeyString, volumeReferences, type TokenKey } from './volumes.ts'

export interface WorkerDeps {
  client: KubeClient
  layout: Layout
  images: ImageMapFile
  log: Logger
  nodeName: string
  hostIP: string
  nodeAllocatable: Record<string, string>
  serviceEnv: Record<string, string>
  baseEnv: Record<string, string>
  getSecret(namespace: string, name: string): Promise<Secret | undefined>
  getConfigMap(namespace: string, name: string): Promise<ConfigMap | undefined>
  getClaim(namespace: string, name: string): Promise<PersistentVolumeClaim | undefined>
  /**
   * Image mode (--image-dir): images found among these archives run chrooted in their unpacked
   * root filesystem (`runner`, container-run.sh); others fall back to the images.json mapping.
   */
  ociImages?: OciImageStore
  runner?: string
  /** Netns mode: each pod (hostNetwork ones excepted) runs in its own network namespace. */
  podNetwork?: PodNetwork
  /** Called once, when the pod's processes are gone and it is deleted (or was deleted). */
  onDone(w: PodWorker): void
}

interface ContainerRt {
  spec: Container
  init: boolean
  restartCount: number
  proc?: ContainerProcess
  running?: { startedAt: number; containerID: string }
  waiting?: { reason: string; message?: string }
  last?: Termination
  prev?: Termination
  backoff?: Backoff
  started: boolean
  ready: boolean
  /** Incremented per started process, so late probe results of an old one are ignored. */
  instance: number
  probeTimers: Map<ProbeKind, NodeJS.Timeout>
  /** Environment, cwd and mounts of the running process (for exec probes). */
  exec?: { env: Record<string, string>; cwd: string; mounts: MountMapping[] }
  /** `docker.io/echonet/echonet-node@sha256:…` when it runs from an image archive. */
  imageID?: string
}

const execFileP = promisify(execFile)

const RESYNC_MS = 30_000
const RETRY_MS = 10_000
const VOLUME_RETRY_MS = 2_000

function parseTime(t: string | undefined, fallback: number): number {
  const ms = t === undefined ? NaN : Date.parse(t)
  return Number.isNaN(ms) ? fallback : ms
}

function terminationFrom(s: ContainerStatus['state']['terminated'], now: number): Termination | undefined {
  if (s === undefined) return undefined
  return {
    exitCode: s.exitCode,
    reason: s.reason ?? (s.exitCode === 0 ? 'Completed' : 'Error'),
    ...(s.message === undefined ? {} : { message: s.message }),
    startedAt: parseTime(s.startedAt, now),
    finishedAt: parseTime(s.finishedAt, now),
    containerID: s.containerID ?? '',
  }
}

/**
 * A strategic merge patch merges conditions by type: a condition that became True must say
 * explicitly that its reason and message are gone (null), or the old ones would stay.
 */
export function patchableStatus(status: PodStatus): unknown {
  return {
    ...status,
    conditions: status.conditions?.map((c) =>
      (agentConditionTypes as readonly string[]).includes(c.type)
        ? { ...c, reason: c.reason ?? null, message: c.message ?? null }
        : c,
    ),
  }
}

export class PodWorker {
  readonly key: string
  readonly uid: string
  readonly ref: PodRef
  readonly #deps: WorkerDeps
  readonly #log: Logger
  readonly #podIP: string
  readonly #startTime: number
  readonly #init: ContainerRt[]
  readonly #app: ContainerRt[]
  #pod: Pod
  #apiGone = false
  #terminating = false
  #termSent = false
  #killAt: number | undefined
  #killTimer: NodeJS.Timeout | undefined
  #finished = false
  #dirty = false
  #looping = false
  #loopDone: Promise<void> = Promise.resolve()
  #wakeTimer: NodeJS.Timeout | undefined
  #wakeAt = Infinity
  readonly #resync: NodeJS.Timeout
  #writtenFp: string
  #writtenConditions: Condition[] | undefined
  #terminalPhase: boolean
  readonly #volumePaths = new Map<string, string>()
  /** Kind of each volume (image mode gives emptyDir/PVC/file volumes to the pod's fsGroup). */
  readonly #volumeKinds = new Map<string, 'emptyDir' | 'files' | 'pvc' | 'hostPath'>()
  readonly #claimPaths = new Map<string, string>()
  readonly #tokens = new Map<string, { token: string; refreshAt: number }>()
  #tokenError: string | undefined

  constructor(pod: Pod, podIP: string, deps: WorkerDeps, adopt: PidFileEntry[] = []) {
    this.#pod = pod
    this.ref = podRef(pod)
    this.key = `${this.ref.namespace}/${this.ref.name}`
    this.uid = pod.metadata.uid
    this.#deps = deps
    this.#log = deps.log.child({ pod: this.key })
    this.#podIP = podIP
    const now = Date.now()
    this.#startTime = parseTime(pod.status?.startTime, now)
    this.#writtenFp = statusFingerprint(pod.status)
    this.#writtenConditions = pod.status?.conditions
    this.#terminalPhase = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed'
    const mk = (spec: Container, init: boolean): ContainerRt => ({
      spec,
      init,
      restartCount: 0,
      started: false,
      ready: false,
      instance: 0,
      probeTimers: new Map(),
    })
    this.#init = (pod.spec.initContainers ?? []).map((c) => mk(c, true))
    this.#app = pod.spec.containers.map((c) => mk(c, false))
    this.#restore(adopt, now)
    this.#resync = setInterval(() => {
      this.kick()
    }, RESYNC_MS)
  }

  get pod(): Pod {
    return this.#pod
  }

  /** The pod's network namespace (netns mode, not hostNetwork), else undefined. */
  get #net(): PodNetwork | undefined {
    return this.#podIP === this.#deps.hostIP ? undefined : this.#deps.podNetwork
  }

  /** The argv as run: in the pod's network namespace in netns mode. */
  #inNetwork(argv: string[]): string[] {
    return this.#net === undefined ? argv : inPodNetwork(this.#podIP, argv)
  }

  get finished(): boolean {
    return this.#finished
  }

  /** Secrets/ConfigMaps/claims this pod refers to (to kick it when they change). */
  references(): { secrets: Set<string>; configMaps: Set<string>; claims: Set<string> } {
    const secrets = new Set<string>()
    const configMaps = new Set<string>()
    const v = volumeReferences(this.#pod)
    v.secrets.forEach((s) => secrets.add(s))
    v.configMaps.forEach((c) => configMaps.add(c))
    for (const c of [...this.#init, ...this.#app]) {
      const e = envReferences(c.spec)
      e.secrets.forEach((s) => secrets.add(s))
      e.configMaps.forEach((x) => configMaps.add(x))
    }
    const claims = new Set(
      (this.#pod.spec.volumes ?? []).flatMap((x) =>
        x.persistentVolumeClaim === undefined ? [] : [x.persistentVolumeClaim.claimName],
      ),
    )
    return { secrets, configMaps, claims }
  }

  /** A newer version of the pod from the API (same uid). */
  update(pod: Pod): void {
    this.#pod = pod
    this.kick()
  }

  /** The pod is gone from the API (deleted, possibly forcibly). */
  gone(last?: Pod): void {
    if (last !== undefined) this.#pod = last
    this.#apiGone = true
    this.kick()
  }

  kick(): void {
    if (this.#finished) return
    this.#dirty = true
    if (!this.#looping) this.#loopDone = this.#loop()
  }

  async #loop(): Promise<void> {
    this.#looping = true
    try {
      while (this.#dirty && !this.#finished) {
        this.#dirty = false
        try {
          await this.#syncOnce()
        } catch (err) {
          this.#log.warn('sync failed; retrying', { err })
          this.#wake(Date.now() + 5000)
        }
      }
    } finally {
      this.#looping = false
    }
  }

  #wake(at: number): void {
    if (at >= this.#wakeAt && this.#wakeTimer !== undefined) return
    clearTimeout(this.#wakeTimer)
    this.#wakeAt = at
    this.#wakeTimer = setTimeout(
      () => {
        this.#wakeTimer = undefined
        this.#wakeAt = Infinity
        this.kick()
      },
      Math.max(0, at - Date.now()),
    )
  }

  // ------------------------------------------------------------------ restore / adopt

  #restore(adopt: PidFileEntry[], now: number): void {
    const statuses = [
      ...(this.#pod.status?.initContainerStatuses ?? []),
      ...(this.#pod.status?.containerStatuses ?? []),
    ]
    for (const rt of [...this.#init, ...this.#app]) {
      const cs = statuses.find((s) => s.name === rt.spec.name)
      const entry = adopt.find((a) => a.record.container === rt.spec.name && a.record.init === rt.init)
      if (cs !== undefined) {
        rt.restartCount = cs.restartCount
        const current = terminationFrom(cs.state.terminated, now)
        const previous = terminationFrom(cs.lastState.terminated, now)
        rt.last = current ?? previous
        rt.prev = current === undefined ? undefined : previous
        if (cs.state.running !== undefined && entry === undefined) {
          // It ran when the previous agent stopped, and its process is gone.
          rt.prev = rt.last
          rt.last = {
            exitCode: 137,
            reason: 'ContainerStatusUnknown',
            message: 'The container could not be located when the agent restarted',
            startedAt: parseTime(cs.state.running.startedAt, now),
            finishedAt: now,
            containerID: cs.containerID ?? '',
          }
        }
      }
      if (entry !== undefined) {
        const proc = ContainerProcess.adopt(entry.record, entry.file)
        rt.restartCount = entry.record.restartCount
        rt.instance++
        rt.proc = proc
        rt.running = { startedAt: entry.record.startedAt, containerID: `local-agent://${entry.record.pid}` }
        // Keep the readiness the API shows until probes say otherwise (no flapping on restart).
        rt.started = cs?.started ?? rt.spec.startupProbe === undefined
        rt.ready = cs?.ready ?? false
        const instance = rt.instance
        void proc.exited.then((exit) => {
          this.#onExit(rt, instance, exit)
        })
        this.#log.info('adopted process', { container: rt.spec.name, pid: entry.record.pid })
      }
    }
  }

  // ------------------------------------------------------------------ sync

  get #policy(): RestartPolicy {
    return (this.#pod.spec.restartPolicy ?? 'Always') as RestartPolicy
  }

  #runtimeInfo(): PodRuntimeInfo {
    return {
      podIP: this.#podIP,
      hostIP: this.#deps.hostIP,
      nodeName: this.#deps.nodeName,
      nodeAllocatable: this.#deps.nodeAllocatable,
    }
  }

  async #syncOnce(): Promise<void> {
    if (this.#apiGone || this.#pod.metadata.deletionTimestamp !== undefined) {
      this.#terminating = true
      await this.#terminate()
      return
    }
    for (const rt of [...this.#init, ...this.#app]) {
      // Adopted processes get probes on the first sync (they need the launch environment).
      if (rt.running !== undefined && rt.exec === undefined && rt.proc !== undefined) await this.#prepareAdopted(rt)
    }
    if (this.#terminalPhase) {
      await this.#writeStatus(true)
      return
    }
    await mkdir(this.#deps.layout.podDir(this.ref), { recursive: true, mode: 0o700 })
    const sources = await this.#fetchSources()
    await this.#refreshTokens()
    const volumeError = await this.#prepareVolumes(sources)
    if (volumeError !== undefined) {
      for (const rt of [...this.#init, ...this.#app]) {
        if (rt.running === undefined) rt.waiting = { reason: 'ContainerCreating', message: volumeError }
      }
      this.#wake(Date.now() + VOLUME_RETRY_MS)
      await this.#writeStatus(false)
      return
    }

    const now = Date.now()
    let initDone = true
    for (const rt of this.#init) {
      if (rt.running !== undefined) {
        initDone = false
        break
      }
      const d = decideStart(this.#policy, true, rt.last, rt.backoff, now)
      if (d.action === 'done') {
        rt.waiting = undefined
        if (rt.last?.exitCode === 0) continue
        initDone = false // failed for good: the pod is Failed
        break
      }
      initDone = false
      if (d.action === 'wait') this.#backoffWait(rt, d.until)
      else await this.#start(rt, sources)
      break
    }
    for (const rt of this.#app) {
      if (rt.running !== undefined) continue
      if (!initDone) {
        if (rt.last === undefined) rt.waiting = { reason: 'PodInitializing' }
        continue
      }
      const d = decideStart(this.#policy, false, rt.last, rt.backoff, now)
      if (d.action === 'done') rt.waiting = undefined
      else if (d.action === 'wait') this.#backoffWait(rt, d.until)
      else await this.#start(rt, sources)
    }
    for (const rt of this.#init) {
      if (rt.running === undefined && rt.last === undefined && rt.waiting === undefined)
        rt.waiting = { reason: 'PodInitializing' }
    }
    await this.#writeStatus(false)
  }

  #backoffWait(rt: ContainerRt, until: number): void {
    rt.waiting = {
      reason: 'CrashLoopBackOff',
      message: backoffMessage(rt.backoff?.delayMs ?? 0, rt.spec.name, this.ref),
    }
    this.#wake(until)
  }

  async #fetchSources(): Promise<EnvSources> {
    const refs = this.references()
    const ns = this.ref.namespace
    const secrets = new Map<string, Secret | undefined>()
    const configMaps = new Map<string, ConfigMap | undefined>()
    for (const name of refs.secrets) secrets.set(name, await this.#deps.getSecret(ns, name))
    for (const name of refs.configMaps) configMaps.set(name, await this.#deps.getConfigMap(ns, name))
    return { secret: (n) => secrets.get(n), configMap: (n) => configMaps.get(n) }
  }

  async #refreshTokens(): Promise<void> {
    const now = Date.now()
    this.#tokenError = undefined
    for (const key of tokenKeys(this.#pod)) {
      const k = tokenKeyString(key)
      const have = this.#tokens.get(k)
      if (have !== undefined && now < have.refreshAt) continue
      try {
        this.#tokens.set(k, { token: await this.#requestToken(key), refreshAt: now + key.expirationSeconds * 800 })
      } catch (err) {
        this.#tokenError = err instanceof Error ? err.message : String(err)
        this.#log.warn('token request failed', { err })
      }
    }
  }

  async #requestToken(key: TokenKey): Promise<string> {
    const sa = this.#pod.spec.serviceAccountName ?? 'default'
    const res = await this.#deps.client.request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${this.ref.namespace}/serviceaccounts/${sa}/token`,
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            ...(key.audience === '' ? {} : { audiences: [key.audience] }),
            expirationSeconds: key.expirationSeconds,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: this.ref.name, uid: this.uid },
          },
        },
      },
    )
    return res.status.token
  }

  async #prepareVolumes(sources: EnvSources): Promise<string | undefined> {
    const errors: string[] = []
    const rt = this.#runtimeInfo()
    const src = {
      ...sources,
      token: (k: TokenKey) => this.#tokens.get(tokenKeyString(k))?.token,
    }
    for (const v of this.#pod.spec.volumes ?? []) {
      const plan = planVolume(v, this.#pod, rt, src)
      const dir = this.#deps.layout.volumeDir(this.ref, v.name)
      switch (plan.kind) {
        case 'emptyDir':
          await mkdir(dir, { recursive: true })
          this.#volumePaths.set(v.name, dir)
          this.#volumeKinds.set(v.name, 'emptyDir')
          break
        case 'files': {
          // Image mode: the pod's fsGroup owns the files from the start (no window in which a
          // non-root container meets a file it cannot read).
          const fsGroup = this.#deps.ociImages === undefined ? undefined : this.#pod.spec.securityContext?.fsGroup
          const changed = await writeAtomic(dir, plan.files, new Date(), fsGroup)
          if (changed && this.#volumePaths.has(v.name)) {
            this.#log.info('volume updated', { volume: v.name })
          }
          this.#volumePaths.set(v.name, dir)
          this.#volumeKinds.set(v.name, 'files')
          if (changed && this.#deps.ociImages !== undefined) await this.#giveToFsGroup(v.name)
          break
        }
        case 'pvc': {
          const p = await this.#claimPath(plan.claimName)
          if (typeof p === 'string') {
            this.#volumePaths.set(v.name, p)
            this.#volumeKinds.set(v.name, 'pvc')
          } else errors.push(`volume ${v.name}: ${p.error}`)
          break
        }
        case 'hostPath':
          if (v.hostPath?.type === 'DirectoryOrCreate') await mkdir(plan.path, { recursive: true })
          this.#volumePaths.set(v.name, plan.path)
          this.#volumeKinds.set(v.name, 'hostPath')
          break
        case 'error':
          errors.push(
            `volume ${v.name}: ${plan.message}${plan.message.includes('token') && this.#tokenError !== undefined ? ` (${this.#tokenError})` : ''}`,
          )
          break
      }
    }
    return errors.length === 0 ? undefined : errors.join('; ')
  }

  /**
   * Image mode runs containers as their user (65532), not as the agent: like the kubelet with
   * `fsGroup`, emptyDir and PVC directories become group-owned and group-writable (setgid), and
   * Secret/ConfigMap/projected files group-readable (the agent writes them owner-only). Without
   * an fsGroup they stay root's. hostPath volumes are left alone, as by the kubelet.
   */
  async #giveToFsGroup(volume: string): Promise<void> {
    const fsGroup = this.#pod.spec.securityContext?.fsGroup
    const dir = this.#volumePaths.get(volume)
    const kind = this.#volumeKinds.get(volume)
    if (fsGroup === undefined || dir === undefined || kind === undefined || kind === 'hostPath') return
    try {
      await execFileP('chgrp', ['-R', String(fsGroup), dir])
      await execFileP('chmod', ['-R', kind === 'files' ? 'g+rX' : 'g+rwX', dir])
      if (kind !== 'files') await execFileP('find', [dir, '-type', 'd', '-exec', 'chmod', 'g+s', '{}', '+'])
    } catch (err) {
      this.#log.warn('fsGroup ownership failed', { volume, err })
    }
  }

  async #claimPath(claimName: string): Promise<string | { error: string }> {
    const known = this.#claimPaths.get(claimName)
    if (known !== undefined) return known
    const pvc = await this.#deps.getClaim(this.ref.namespace, claimName)
    if (pvc === undefined) return { error: `persistentvolumeclaim "${claimName}" not found` }
    const pvName = pvc.spec.volumeName
    if (pvc.status?.phase !== 'Bound' || pvName === undefined || pvName === '') {
      return { error: `persistentvolumeclaim "${claimName}" is not bound` }
    }
    const pv = await this.#deps.client.getOptional<PersistentVolume>(`/api/v1/persistentvolumes/${pvName}`)
    const p = pv?.spec.hostPath?.path ?? pv?.spec.local?.path
    if (p === undefined)
      return { error: `persistentvolume "${pvName}" has no hostPath or local path the agent can use` }
    await mkdir(p, { recursive: true })
    this.#claimPaths.set(claimName, p)
    return p
  }

  // ------------------------------------------------------------------ containers

  async #containerLaunch(
    rt: ContainerRt,
    sources: EnvSources,
  ): Promise<
    | { ok: true; plan: ReturnType<typeof planLaunch>; mounts: MountMapping[]; imageID?: string }
    | { ok: false; reason: string; message: string }
  > {
    const image = rt.spec.image ?? ''
    const oci = this.#deps.ociImages
    if (oci !== undefined && this.#deps.runner !== undefined) {
      let img
      try {
        img = oci.lookup(image)
      } catch (err) {
        return {
          ok: false,
          reason: 'ErrImagePull',
          message: `${oci.dir}: ${err instanceof Error ? err.message : String(err)}`,
        }
      }
      if (img !== undefined) {
        let runtime
        try {
          runtime = await oci.runtime(img)
        } catch (err) {
          return {
            ok: false,
            reason: 'ErrImagePull',
            message: `unpacking ${img.archive}: ${err instanceof Error ? err.message : String(err)}`,
          }
        }
        const env = resolveEnv(rt.spec, this.#pod, this.#runtimeInfo(), sources, this.#deps.serviceEnv)
        if (!env.ok) return { ok: false, reason: env.reason, message: env.message }
        for (const w of env.warnings) this.#log.warn('env', { container: rt.spec.name, warning: w })
        const { mounts, errors } = mountMappings(rt.spec, this.#volumePaths, env.env)
        if (errors.length > 0) return { ok: false, reason: 'CreateContainerConfigError', message: errors.join('; ') }
        const plan = planImageLaunch({
          container: rt.spec,
          pod: this.#pod,
          image: runtime,
          env: env.env,
          mounts,
          state: this.#deps.layout.containerRoot(this.ref, rt.spec.name),
          runner: this.#deps.runner,
          baseEnv: this.#deps.baseEnv,
          hostname: this.#pod.spec.hostname ?? this.ref.name,
        })
        const repo = img.ref.replace(/:[^:/]*$/, '')
        return { ok: true, plan, mounts, imageID: `${repo}@${img.digest}` }
      }
    }
    let images
    try {
      images = this.#deps.images.get()
    } catch (err) {
      return {
        ok: false,
        reason: 'ImageMapError',
        message: `${this.#deps.images.path}: ${err instanceof Error ? err.message : String(err)}`,
      }
    }
    const entry = lookupImage(images, image)
    if (entry === undefined) {
      return {
        ok: false,
        reason: 'ImageNotMapped',
        message: `image "${image}" is not mapped to a program in ${this.#deps.images.path} (the local agent runs no images; see e2e/agent/README.md)`,
      }
    }
    const env = resolveEnv(rt.spec, this.#pod, this.#runtimeInfo(), sources, this.#deps.serviceEnv)
    if (!env.ok) return { ok: false, reason: env.reason, message: env.message }
    for (const w of env.warnings) this.#log.warn('env', { container: rt.spec.name, warning: w })
    const { mounts, errors } = mountMappings(rt.spec, this.#volumePaths, env.env)
    if (errors.length > 0) return { ok: false, reason: 'CreateContainerConfigError', message: errors.join('; ') }
    const root = this.#deps.layout.containerRoot(this.ref, rt.spec.name)
    const plan = planLaunch({
      container: rt.spec,
      entry,
      env: env.env,
      mounts,
      root,
      baseEnv: this.#deps.baseEnv,
      hostname: this.#pod.spec.hostname ?? this.ref.name,
    })
    return { ok: true, plan, mounts }
  }

  /** Fresh root: only symlinks for the mounts (plus what the process creates there). */
  async #makeRoot(root: string, mounts: MountMapping[], cwd: string): Promise<void> {
    await rm(root, { recursive: true, force: true })
    await mkdir(root, { recursive: true })
    for (const m of mounts) {
      const link = path.join(root, m.mountPath)
      await mkdir(path.dirname(link), { recursive: true })
      await rm(link, { recursive: true, force: true })
      await symlink(m.hostPath, link)
    }
    await mkdir(cwd, { recursive: true })
  }

  async #start(rt: ContainerRt, sources: EnvSources): Promise<void> {
    const launch = await this.#containerLaunch(rt, sources)
    if (!launch.ok) {
      if (rt.waiting?.reason !== launch.reason)
        this.#log.warn('cannot start container', {
          container: rt.spec.name,
          reason: launch.reason,
          message: launch.message,
        })
      rt.waiting = { reason: launch.reason, message: launch.message }
      this.#wake(Date.now() + RETRY_MS)
      return
    }
    const { plan, mounts } = launch
    const root = this.#deps.layout.containerRoot(this.ref, rt.spec.name)
    if (launch.imageID === undefined) await this.#makeRoot(root, mounts, plan.cwd)
    else {
      // container-run.sh makes its overlay there; the volumes go to the pod's fsGroup.
      await mkdir(root, { recursive: true })
      for (const name of this.#volumePaths.keys()) await this.#giveToFsGroup(name)
    }
    const now = Date.now()
    if (rt.last !== undefined) {
      rt.restartCount++
      rt.backoff = nextBackoff(rt.backoff, now)
    }
    rt.waiting = undefined
    rt.instance++
    const instance = rt.instance
    let proc: ContainerProcess
    try {
      await this.#net?.ensure(this.#podIP)
      proc = await ContainerProcess.spawn({
        argv: this.#inNetwork(plan.argv),
        env: plan.env,
        cwd: plan.cwd,
        logFile: this.#deps.layout.logFile(this.ref, rt.spec.name, rt.restartCount),
        pidFile: this.#deps.layout.pidFile(this.ref, rt.spec.name),
        podUid: this.uid,
        node: this.#deps.nodeName,
        container: rt.spec.name,
        init: rt.init,
        restartCount: rt.restartCount,
      })
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      this.#log.warn('start failed', { container: rt.spec.name, err: message })
      rt.prev = rt.last
      rt.last = { exitCode: 128, reason: 'StartError', message, startedAt: now, finishedAt: now, containerID: '' }
      this.kick()
      return
    }
    rt.proc = proc
    rt.running = { startedAt: proc.record.startedAt, containerID: `local-agent://${proc.pid}` }
    rt.started = rt.spec.startupProbe === undefined
    rt.ready = rt.started && rt.spec.readinessProbe === undefined
    rt.exec = { env: plan.env, cwd: plan.cwd, mounts }
    rt.imageID = launch.imageID
    this.#log.info('started container', {
      container: rt.spec.name,
      pid: proc.pid,
      restartCount: rt.restartCount,
      argv: plan.argv.join(' '),
    })
    void proc.exited.then((exit) => {
      this.#onExit(rt, instance, exit)
    })
    this.#startProbes(rt, instance)
  }

  async #prepareAdopted(rt: ContainerRt): Promise<void> {
    const sources = await this.#fetchSources()
    await this.#prepareVolumes(sources)
    const launch = await this.#containerLaunch(rt, sources)
    if (launch.ok) rt.imageID = launch.imageID
    rt.exec = launch.ok
      ? { env: launch.plan.env, cwd: launch.plan.cwd, mounts: launch.mounts }
      : { env: {}, cwd: '/', mounts: [] }
    this.#startProbes(rt, rt.instance)
  }

  #onExit(rt: ContainerRt, instance: number, exit: Exit): void {
    if (rt.instance !== instance) return
    for (const t of rt.probeTimers.values()) clearTimeout(t)
    rt.probeTimers.clear()
    const startedAt = rt.running?.startedAt ?? exit.finishedAt
    const containerID = rt.running?.containerID ?? ''
    rt.prev = rt.last
    rt.last = exit.known
      ? {
          exitCode: exit.exitCode,
          reason: exit.exitCode === 0 ? 'Completed' : 'Error',
          startedAt,
          finishedAt: exit.finishedAt,
          containerID,
        }
      : {
          exitCode: exit.exitCode,
          reason: 'ContainerStatusUnknown',
          message: 'exit status unknown: the process was started by an earlier agent',
          startedAt,
          finishedAt: exit.finishedAt,
          containerID,
        }
    rt.running = undefined
    rt.proc = undefined
    rt.exec = undefined
    rt.ready = false
    rt.started = false
    this.#log.info('container exited', { container: rt.spec.name, exitCode: exit.exitCode, signal: exit.signal })
    this.kick()
  }

  // ------------------------------------------------------------------ probes

  #startProbes(rt: ContainerRt, instance: number): void {
    const probes: [ProbeKind, Probe | undefined][] = [
      ['startup', rt.spec.startupProbe],
      ['liveness', rt.spec.livenessProbe],
      ['readiness', rt.spec.readinessProbe],
    ]
    for (const [kind, probe] of probes) {
      if (probe === undefined) continue
      const timing = probeTiming(probe)
      let state = initialProbeState(kind)
      const schedule = (ms: number): void => {
        rt.probeTimers.set(
          kind,
          setTimeout(() => {
            void tick()
          }, ms),
        )
      }
      const alive = (): boolean => rt.instance === instance && rt.running !== undefined && !this.#terminating
      const tick = async (): Promise<void> => {
        if (!alive()) return
        if (kind !== 'startup' && !rt.started) {
          schedule(timing.periodMs)
          return
        }
        const exec = rt.exec ?? { env: {}, cwd: '/', mounts: [] }
        const outcome = await runProbe(probe, {
          podIP: this.#podIP,
          container: rt.spec,
          env: exec.env,
          cwd: exec.cwd,
          argv: (cmd) => this.#inNetwork(cmd.map((a) => rewritePaths(a, exec.mounts))),
        })
        if (!alive()) return
        const before = state.result
        state = recordProbe(state, outcome.ok, timing)
        if (state.result !== before) this.#onProbeResult(rt, kind, probe, state.result, outcome.message)
        if (alive()) schedule(timing.periodMs)
      }
      schedule(timing.initialDelayMs)
    }
  }

  #onProbeResult(
    rt: ContainerRt,
    kind: ProbeKind,
    probe: Probe,
    ok: boolean | undefined,
    message: string | undefined,
  ): void {
    const container = rt.spec.name
    if (kind === 'readiness') {
      rt.ready = ok === true
      this.#log.info(ok === true ? 'readiness probe passed' : 'readiness probe failed', { container, message })
    } else if (kind === 'startup' && ok === true) {
      rt.started = true
      if (rt.spec.readinessProbe === undefined) rt.ready = true
      this.#log.info('startup probe passed', { container })
    } else if (ok === false) {
      const grace = probe.terminationGracePeriodSeconds ?? this.#pod.spec.terminationGracePeriodSeconds ?? 30
      this.#log.warn(`${kind} probe failed; restarting container`, { container, message })
      void rt.proc?.stop(grace * 1000)
    }
    this.kick()
  }

  // ------------------------------------------------------------------ status

  async #writeStatus(podIsTerminal: boolean): Promise<void> {
    if (this.#apiGone) return
    const view = (rt: ContainerRt): ContainerView => ({
      name: rt.spec.name,
      image: rt.spec.image ?? '',
      imageID: rt.imageID ?? `local-agent://${rt.spec.image ?? ''}`,
      restartCount: rt.restartCount,
      ...(rt.running === undefined ? {} : { running: rt.running }),
      ...(rt.waiting === undefined || rt.running !== undefined ? {} : { waiting: rt.waiting }),
      ...(rt.last === undefined ? {} : { last: rt.last }),
      ...(rt.prev === undefined ? {} : { prev: rt.prev }),
      started: rt.started,
      ready: rt.ready,
    })
    // Our own conditions as last written (the informer's copy may lag behind our writes).
    const others = (this.#pod.status?.conditions ?? []).filter(
      (c) => !(agentConditionTypes as readonly string[]).includes(c.type),
    )
    const ours = (this.#writtenConditions ?? []).filter((c) =>
      (agentConditionTypes as readonly string[]).includes(c.type),
    )
    const pod: Pod = { ...this.#pod, status: { ...this.#pod.status, conditions: [...ours, ...others] } }
    const status = computePodStatus({
      pod,
      podIP: this.#podIP,
      hostIP: this.#deps.hostIP,
      startTime: this.#startTime,
      init: this.#init.map(view),
      app: this.#app.map(view),
      podIsTerminal,
      now: Date.now(),
    })
    if (status.phase === 'Succeeded' || status.phase === 'Failed') this.#terminalPhase = true
    const fp = statusFingerprint(status)
    if (fp === this.#writtenFp) return
    try {
      const updated = await this.#deps.client.request<Pod>(
        'PATCH',
        `/api/v1/namespaces/${this.ref.namespace}/pods/${this.ref.name}/status`,
        {
          body: { metadata: { uid: this.uid }, status: patchableStatus(status) },
          contentType: STRATEGIC_MERGE_PATCH,
        },
      )
      this.#writtenFp = fp
      this.#writtenConditions = status.conditions
      if (updated.metadata.uid === this.uid) this.#pod = updated
      this.#log.debug('status written', { phase: status.phase })
    } catch (err) {
      if (isNotFound(err) || isConflict(err)) return // deleted or replaced: the informer will tell
      this.#log.warn('status write failed', { err })
      this.#wake(Date.now() + 5000)
    }
  }

  // ------------------------------------------------------------------ termination

  #graceMs(): number {
    const g = this.#pod.metadata.deletionGracePeriodSeconds ?? this.#pod.spec.terminationGracePeriodSeconds ?? 30
    // The kubelet's minimum (a forced delete still gets SIGTERM and 2 s).
    return Math.max(g, 2) * 1000
  }

  async #terminate(): Promise<void> {
    clearTimeout(this.#wakeTimer)
    const running = [...this.#init, ...this.#app].filter((rt) => rt.proc !== undefined)
    if (running.length > 0) {
      const deadline = Date.now() + this.#graceMs()
      if (this.#killAt === undefined || deadline < this.#killAt) {
        this.#killAt = deadline
        clearTimeout(this.#killTimer)
        this.#killTimer = setTimeout(
          () => {
            for (const rt of [...this.#init, ...this.#app]) {
              if (rt.proc !== undefined) {
                this.#log.warn('grace period over; killing', { container: rt.spec.name })
                rt.proc.signal('SIGKILL')
              }
            }
          },
          Math.max(0, deadline - Date.now()),
        )
      }
      if (!this.#termSent) {
        this.#termSent = true
        for (const rt of running) {
          for (const t of rt.probeTimers.values()) clearTimeout(t)
          rt.probeTimers.clear()
          this.#log.info('stopping container', { container: rt.spec.name, graceSeconds: this.#graceMs() / 1000 })
          rt.proc?.signal('SIGTERM')
        }
      }
      return // each exit kicks us again
    }
    clearTimeout(this.#killTimer)
    if (!this.#apiGone) {
      for (const rt of [...this.#init, ...this.#app]) if (rt.last !== undefined) rt.waiting = undefined
      await this.#writeStatus(true)
      try {
        await this.#deps.client.request('DELETE', `/api/v1/namespaces/${this.ref.namespace}/pods/${this.ref.name}`, {
          body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: this.uid } },
        })
        this.#log.info('pod deleted')
      } catch (err) {
        if (!isNotFound(err) && !isConflict(err)) throw err
      }
    }
    await this.#cleanup()
    this.#finish()
  }

  async #cleanup(): Promise<void> {
    const dir = this.#deps.layout.podDir(this.ref)
    // Logs stay (for post-mortems); secret material, roots and pid files go.
    for (const sub of ['volumes', 'containers', 'run']) await rm(path.join(dir, sub), { recursive: true, force: true })
    try {
      await this.#net?.remove(this.#podIP)
    } catch (err) {
      this.#log.warn('removing the pod network failed (the next agent start sweeps it)', { err })
    }
  }

  #finish(): void {
    if (this.#finished) return
    this.#finished = true
    clearInterval(this.#resync)
    clearTimeout(this.#wakeTimer)
    clearTimeout(this.#killTimer)
    this.#deps.onDone(this)
  }

  /** Agent shutdown: stop every process (SIGTERM, SIGKILL after `graceMs`), leave the API alone. */
  async shutdown(graceMs: number): Promise<void> {
    this.#finished = true
    clearInterval(this.#resync)
    clearTimeout(this.#wakeTimer)
    clearTimeout(this.#killTimer)
    await this.#loopDone // a sync in flight may be starting a process
    const all = [...this.#init, ...this.#app]
    for (const rt of all) {
      for (const t of rt.probeTimers.values()) clearTimeout(t)
    }
    await Promise.all(all.map((rt) => rt.proc?.stop(graceMs) ?? Promise.resolve()))
  }

  /** Agent exit that leaves processes running for the next agent to adopt. */
  detach(): void {
    this.#finished = true
    clearInterval(this.#resync)
    clearTimeout(this.#wakeTimer)
    clearTimeout(this.#killTimer)
    for (const rt of [...this.#init, ...this.#app]) for (const t of rt.probeTimers.values()) clearTimeout(t)
  }
}
