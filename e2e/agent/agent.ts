// The agent: registers the Node, watches the Pods bound to it and runs one PodWorker per pod
// name (never two processes for the same pod name: a re-created pod waits until the old one's
// processes are gone), keeps Secret/ConfigMap volumes fresh, provisions local volumes, and
// adopts or kills the processes an earlier agent left behind.
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { ImageMapFile } from './images.ts'
import { OciImageStore } from './oci.ts'
import { IpAllocator, parsePodCidr, type PodNetworkMode } from './ip.ts'
import { kubernetesServiceEnv } from './env.ts'
import type { KubeClient } from './kube/client.ts'
import { Informer } from './kube/informer.ts'
import type { ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret } from './kube/types.ts'
import type { Logger } from './log.ts'
import { NodeHeartbeat } from './node.ts'
import { Layout } from './paths.ts'
import { PodNetwork } from './pod-network.ts'
import { PodWorker, type WorkerDeps } from './pod-worker.ts'
import { isSameProcess, scanPidFiles, signalGroup, type PidFileEntry } from './process.ts'
import { LocalProvisioner } from './provisioner.ts'
import { startLogServer } from './log-server.ts'

export interface AgentConfig {
  nodeName: string
  stateDir: string
  imagesFile: string
  /** Image mode: directory of OCI archives (`make images`' dist/images); unset: host processes only. */
  imageDir?: string
  repoRoot: string
  podCIDR: string
  /** Pod network mode (default loopback); netns: own namespaces on the bridge (pod-network.ts). */
  podNetwork?: PodNetworkMode
  capacity: Record<string, string>
  /** What pods use as KUBERNETES_SERVICE_HOST/PORT (the apiserver, reachable from the host). */
  apiHost: string
  apiPort: number
  provisioner: boolean
  /** Port for `kubectl logs` (0: any free port). */
  kubeletPort: number
  leaseEveryMs?: number
  statusEveryMs?: number
  /** Extra labels of the Node. */
  nodeLabels?: Record<string, string>
}

const HOST_IP = '127.0.0.1'

function passThroughEnv(): Record<string, string> {
  const out: Record<string, string> = {}
  // Never the agent's own credentials (KUBECONFIG): pods use their service-account token.
  for (const k of ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'NODE_EXTRA_CA_CERTS']) {
    const v = process.env[k]
    if (v !== undefined) out[k] = v
  }
  return out
}

export class Agent {
  readonly #client: KubeClient
  readonly #cfg: AgentConfig
  readonly #log: Logger
  readonly #layout: Layout
  readonly #ips: IpAllocator
  readonly #workers = new Map<string, PodWorker>()
  /** Pods waiting for the previous pod of the same name to finish. */
  readonly #pending = new Set<string>()
  readonly #orphans = new Map<string, PidFileEntry[]>()
  readonly #pods: Informer<Pod>
  readonly #secrets: Informer<Secret>
  readonly #configMaps: Informer<ConfigMap>
  readonly #claims: Informer<PersistentVolumeClaim>
  readonly #volumes: Informer<PersistentVolume> | undefined
  readonly #provisioner: LocalProvisioner | undefined
  readonly #net: PodNetwork | undefined
  #heartbeat: NodeHeartbeat | undefined
  #logServer: { port: number; close(): void } | undefined
  #started = false
  #deps: WorkerDeps | undefined

  constructor(client: KubeClient, cfg: AgentConfig, log: Logger) {
    this.#client = client
    this.#cfg = cfg
    this.#log = log
    this.#layout = new Layout(cfg.stateDir)
    const mode = cfg.podNetwork ?? 'loopback'
    this.#ips = new IpAllocator(cfg.podCIDR, mode)
    this.#net = mode === 'netns' ? new PodNetwork(parsePodCidr(cfg.podCIDR, mode), log) : undefined
    this.#pods = new Informer<Pod>(
      client,
      { path: '/api/v1/pods', fieldSelector: `spec.nodeName=${cfg.nodeName}` },
      {
        upsert: (p) => {
          this.#onPod(p)
        },
        delete: (p) => {
          this.#onPodDeleted(p)
        },
      },
      log.child({ informer: 'pods' }),
    )
    const kickRefs = (kind: 'secrets' | 'configMaps' | 'claims') => (o: Secret | ConfigMap | PersistentVolumeClaim) => {
      for (const w of this.#workers.values()) {
        if (w.ref.namespace === o.metadata.namespace && w.references()[kind].has(o.metadata.name)) w.kick()
      }
    }
    this.#secrets = new Informer<Secret>(
      client,
      { path: '/api/v1/secrets' },
      { upsert: kickRefs('secrets'), delete: kickRefs('secrets') },
      log.child({ informer: 'secrets' }),
    )
    this.#configMaps = new Informer<ConfigMap>(
      client,
      { path: '/api/v1/configmaps' },
      { upsert: kickRefs('configMaps'), delete: kickRefs('configMaps') },
      log.child({ informer: 'configmaps' }),
    )
    this.#provisioner = cfg.provisioner ? new LocalProvisioner(client, this.#layout, log) : undefined
    const kickClaims = kickRefs('claims')
    this.#claims = new Informer<PersistentVolumeClaim>(
      client,
      { path: '/api/v1/persistentvolumeclaims' },
      {
        upsert: (c) => {
          this.#provisioner?.onClaim(c)
          kickClaims(c)
        },
      },
      log.child({ informer: 'pvcs' }),
    )
    this.#volumes =
      this.#provisioner === undefined
        ? undefined
        : new Informer<PersistentVolume>(
            client,
            { path: '/api/v1/persistentvolumes', labelSelector: 'echonet.io/local-agent=true' },
            { upsert: (pv) => this.#provisioner?.onVolume(pv) },
            log.child({ informer: 'pvs' }),
          )
  }

  async start(): Promise<void> {
    const version = await this.#client.get<{ gitVersion?: string }>('/version')
    this.#logServer = await startLogServer({
      layout: this.#layout,
      clientCA: this.#client.caData,
      port: this.#cfg.kubeletPort,
      log: this.#log,
      podUid: (ns, name) => this.#pods.cache.get(`${ns}/${name}`)?.metadata.uid,
    })
    this.#heartbeat = new NodeHeartbeat(
      this.#client,
      {
        name: this.#cfg.nodeName,
        podCIDR: this.#cfg.podCIDR,
        capacity: this.#cfg.capacity,
        hostIP: HOST_IP,
        kubeletPort: this.#logServer.port,
        kubeletVersion: version.gitVersion ?? 'v0.0.0',
        ...(this.#cfg.nodeLabels !== undefined ? { labels: this.#cfg.nodeLabels } : {}),
      },
      this.#log,
      { leaseEveryMs: this.#cfg.leaseEveryMs, statusEveryMs: this.#cfg.statusEveryMs },
    )
    await this.#heartbeat.register()
    this.#heartbeat.start()
    if (this.#provisioner !== undefined) await this.#provisioner.ensureStorageClass()
    // Pods in their own namespaces cannot reach the host's loopback: the apiserver is forwarded
    // to the bridge address.
    let api = { host: this.#cfg.apiHost, port: this.#cfg.apiPort }
    if (this.#net !== undefined) {
      await this.#net.setUp()
      api = await this.#net.forwardApiserver(this.#cfg.apiHost, this.#cfg.apiPort)
    }

    this.#deps = {
      client: this.#client,
      layout: this.#layout,
      images: new ImageMapFile(this.#cfg.imagesFile, this.#cfg.repoRoot, process.execPath),
      log: this.#log,
      nodeName: this.#cfg.nodeName,
      hostIP: HOST_IP,
      nodeAllocatable: this.#cfg.capacity,
      serviceEnv: kubernetesServiceEnv(api.host, api.port),
      ...(this.#net === undefined ? {} : { podNetwork: this.#net }),
      baseEnv: passThroughEnv(),
      getSecret: (ns, name) => this.#lookup(this.#secrets, ns, name, 'secrets'),
      getConfigMap: (ns, name) => this.#lookup(this.#configMaps, ns, name, 'configmaps'),
      getClaim: (ns, name) => this.#lookup(this.#claims, ns, name, 'persistentvolumeclaims'),
      ...(this.#cfg.imageDir === undefined
        ? {}
        : {
            ociImages: new OciImageStore(this.#cfg.imageDir, path.join(this.#cfg.stateDir, 'images')),
            runner: path.join(this.#cfg.repoRoot, 'e2e/agent/container-run.sh'),
          }),
      onDone: (w) => {
        this.#onWorkerDone(w)
      },
    }

    // Processes left by an earlier agent on this node: adopt those whose pod still exists.
    for (const e of await scanPidFiles(this.#layout.podsDir)) {
      if (e.record.node !== this.#cfg.nodeName) continue
      if (!isSameProcess(e.record)) {
        await rm(e.file, { force: true })
        continue
      }
      const list = this.#orphans.get(e.record.podUid) ?? []
      list.push(e)
      this.#orphans.set(e.record.podUid, list)
    }

    for (const inf of [this.#secrets, this.#configMaps, this.#claims, this.#volumes]) inf?.start()
    await Promise.race([
      Promise.all([this.#secrets.synced, this.#configMaps.synced, this.#claims.synced]),
      new Promise((r) => setTimeout(r, 10_000)),
    ])
    this.#pods.start()
    await this.#pods.synced
    await this.#killUnclaimedOrphans()
    if (this.#net !== undefined) {
      // Namespaces of this pool left by an earlier agent: kept for the pods it adopts.
      const keep = new Set(
        [...this.#pods.cache.values()].flatMap((p) =>
          this.#orphans.has(p.metadata.uid) && p.status?.podIP !== undefined ? [p.status.podIP] : [],
        ),
      )
      const removed = await this.#net.sweep(keep)
      if (removed > 0) this.#log.info('removed stale pod network namespaces', { removed })
    }
    this.#started = true
    for (const pod of this.#pods.cache.values()) this.#onPod(pod)
    this.#log.info('agent started', {
      node: this.#cfg.nodeName,
      pods: this.#pods.cache.size,
      podCIDR: this.#cfg.podCIDR,
      podNetwork: this.#cfg.podNetwork ?? 'loopback',
    })
  }

  async #lookup<T extends Secret | ConfigMap | PersistentVolumeClaim>(
    inf: Informer<T>,
    ns: string,
    name: string,
    resource: string,
  ): Promise<T | undefined> {
    // The cache may lag behind an object created just before the pod: fall back to a GET.
    return (
      inf.cache.get(`${ns}/${name}`) ??
      (await this.#client.getOptional<T>(`/api/v1/namespaces/${ns}/${resource}/${name}`))
    )
  }

  async #killUnclaimedOrphans(): Promise<void> {
    const uids = new Set([...this.#pods.cache.values()].map((p) => p.metadata.uid))
    const kill: PidFileEntry[] = []
    for (const [uid, entries] of this.#orphans) {
      if (uids.has(uid)) continue
      kill.push(...entries)
      this.#orphans.delete(uid)
    }
    if (kill.length === 0) return
    for (const e of kill) {
      this.#log.info('killing orphaned process (its pod is gone)', { pid: e.record.pid, container: e.record.container })
      signalGroup(e.record.pid, 'SIGTERM')
    }
    const deadline = Date.now() + 10_000
    while (kill.some((e) => isSameProcess(e.record)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200))
    for (const e of kill) {
      if (isSameProcess(e.record)) signalGroup(e.record.pid, 'SIGKILL')
      await rm(e.file, { force: true })
    }
  }

  #onPod(pod: Pod): void {
    if (!this.#started || pod.spec.nodeName !== this.#cfg.nodeName) return
    const key = `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`
    const w = this.#workers.get(key)
    if (w === undefined) {
      this.#startWorker(pod)
    } else if (w.uid === pod.metadata.uid) {
      w.update(pod)
    } else {
      // Same name, new pod: the old one is gone from the API; start after its processes are.
      w.gone()
      this.#pending.add(key)
    }
  }

  #onPodDeleted(pod: Pod): void {
    const key = `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`
    const w = this.#workers.get(key)
    if (w?.uid === pod.metadata.uid) w.gone(pod)
  }

  #startWorker(pod: Pod): void {
    const deps = this.#deps
    if (deps === undefined) return
    const key = `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`
    const podIP = pod.spec.hostNetwork === true ? HOST_IP : this.#ips.allocate(key, pod.status?.podIP)
    const adopt = this.#orphans.get(pod.metadata.uid) ?? []
    this.#orphans.delete(pod.metadata.uid)
    const w = new PodWorker(pod, podIP, deps, adopt)
    this.#workers.set(key, w)
    this.#log.info('pod assigned', { pod: key, uid: pod.metadata.uid, podIP })
    w.kick()
  }

  #onWorkerDone(w: PodWorker): void {
    if (this.#workers.get(w.key) !== w) return
    this.#workers.delete(w.key)
    this.#ips.release(w.key)
    this.#log.info('pod finished', { pod: w.key, uid: w.uid })
    if (this.#pending.delete(w.key)) {
      const next = this.#pods.cache.get(w.key)
      if (next !== undefined) this.#startWorker(next)
    }
  }

  /** Stops the agent. `keepPods`: leave the processes running for the next agent to adopt. */
  async stop(keepPods: boolean, graceMs = 10_000): Promise<void> {
    this.#started = false
    this.#heartbeat?.stop()
    this.#logServer?.close()
    await Promise.all(
      [this.#pods, this.#secrets, this.#configMaps, this.#claims, this.#volumes].map(
        (i) => i?.stop() ?? Promise.resolve(),
      ),
    )
    const workers = [...this.#workers.values()]
    if (keepPods)
      workers.forEach((w) => {
        w.detach()
      })
    else await Promise.all(workers.map((w) => w.shutdown(graceMs)))
    this.#net?.close()
    // The pods' namespaces go with their processes; adopted ones stay for the next agent.
    if (!keepPods) await this.#net?.sweep(new Set())
    this.#client.close()
  }
}
