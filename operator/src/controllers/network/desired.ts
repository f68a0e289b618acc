/**
 * EchoNetNetwork controller, pure part: spec + observed state → the Kubernetes objects that should
 * exist (DESIGN §6). No I/O and no clock: equal inputs give deep-equal outputs, so an unchanged
 * network applies byte-identical objects and server-side apply writes nothing.
 *
 * Objects (all owned by the network, controller + blockOwnerDeletion):
 * - ConfigMap `<network>-genesis` (unless spec.genesisRef): the genesis JSON;
 * - ConfigMap `<network>-peers`: the peers file the nodes poll (pod IPs and PeerIds);
 * - Services `<network>-<role>` (headless, one per role) and `<network>-api` (ClusterIP);
 * - PodDisruptionBudgets per role; NetworkPolicy `<network>-nodes`;
 * - per node: PVC `<network>-<node>-data` and Pod `<network>-<node>`.
 * Node key Secrets are created by the reconcile (see keys.ts), not here: they hold generated keys.
 */
import { createHash } from 'node:crypto'
import { DEFAULT_PARAMS } from '@echonet/node/governance'
import { Annotations, LabelValues, Labels, networkLabels } from '../../api/v1alpha1/labels.ts'
import type { NodeRoleLabel } from '../../api/v1alpha1/labels.ts'
import type { EchoNetNetwork, WitnessPool } from '../../api/v1alpha1/types.ts'
import { controllerRef, metaName, stableJson } from '../objects.ts'
import type { ConfigMapObject, DesiredMeta, JsonObject, KubeObject, PodObject } from '../objects.ts'
import { adminTokenSecret, NODE_KEY_SECRET_KEY } from './keys.ts'
import { NODE_LABEL, duplicateNodeNames, networkNodes } from '../shared/nodes.ts'
import type { NodePlan, NodeResources } from '../shared/nodes.ts'
import { ADMIN_PORT, API_PORT, P2P_PORT } from '../shared/ports.ts'
import { GENESIS_KEY, genesisConfigMapName } from '../shared/network-objects.ts'

export { ADMIN_PORT, API_PORT, P2P_PORT }
export const NODE_UID = 65532
export { GENESIS_KEY, genesisConfigMapName }
export const PEERS_KEY = 'peers.json'
export const OPERATOR_NAME_LABEL_VALUE = 'echonet-operator'
/** Genesis balance of each node's own account, for the fees of its protocol events. */
export const NODE_OPERATING_BALANCE = 1_000_000
const MAX_LABEL_VALUE = 63

export interface NodeKey {
  readonly did: string
  readonly peerId: string
}

export interface ObservedPod {
  readonly name: string
  readonly podIP?: string
  readonly ready: boolean
}

export interface NetworkObserved {
  /** DID and PeerId of every node whose key Secret exists, by node name. */
  readonly nodeKeys: ReadonlyMap<string, NodeKey>
  readonly pods: readonly ObservedPod[]
  readonly pools: readonly WitnessPool[]
  /**
   * The reconcile's node plan (with the runbooks' retire/promote marks applied); computed from the
   * pools when absent.
   */
  readonly plan?: readonly NodePlan[]
  /**
   * `data["genesis.json"]` of the existing genesis ConfigMap, if any. The genesis is frozen once
   * written (its hash is the chain's identity): later pool or SSN changes go through the ledger.
   */
  readonly genesisData?: string
}

export interface NetworkOptions {
  /** Default node image (the operator's); spec.image overrides it. */
  readonly nodeImage: string
  /** Namespace of the operator, allowed to reach the admin port; unset = the network's namespace. */
  readonly operatorNamespace?: string
}

export interface NetworkDesired {
  readonly objects: KubeObject[]
  /** Why some objects are not produced yet (e.g. keys missing), one line each. */
  readonly waiting: string[]
}

/** The genesis document as `echonet-node` reads it (node-image `ledger/genesis.ts`). */
export interface GenesisDocument {
  chainId: string
  genesisTimeMs: number
  council: { members: string[]; threshold: number }
  witnesses: { did: string; stake: number }[]
  standbys: { did: string; stake: number }[]
  ssns: { did: string; stake: number }[]
  accounts: { did: string; balance: number }[]
  treasury: number
  params: Record<string, number>
}

export function peersConfigMapName(network: string): string {
  return `${network}-peers`
}
export function roleServiceName(network: string, role: NodeRoleLabel): string {
  return `${network}-${role}`
}
export function apiServiceName(network: string): string {
  return `${network}-api`
}

/**
 * Builds the genesis from spec.genesis and the nodes' DIDs: Active pool members are the
 * witnesses, Standby pool members the standbys, SSNs the storage nodes, each with its stake.
 * genesisTimeMs is the network's creationTimestamp (never the clock). Returns a reason instead
 * when it cannot be built yet.
 */
export function buildGenesis(
  network: EchoNetNetwork,
  nodes: readonly NodePlan[],
  nodeKeys: ReadonlyMap<string, NodeKey>,
): { genesis: GenesisDocument } | { waiting: string } {
  const spec = network.spec
  if (spec.genesis === undefined) return { waiting: 'genesis: spec.genesis is not set' }
  const created = network.metadata.creationTimestamp
  const genesisTimeMs = created === undefined ? Number.NaN : Date.parse(created)
  if (Number.isNaN(genesisTimeMs)) return { waiting: 'genesis: the network has no creationTimestamp yet' }
  const staked = nodes.filter((n) => n.role !== 'seed')
  const missing = staked.filter((n) => !nodeKeys.has(n.node)).map((n) => n.node)
  if (missing.length > 0) return { waiting: `genesis: waiting for the keys of ${missing.join(', ')}` }
  if (!nodes.some((n) => n.role === 'witness')) {
    return { waiting: 'genesis: no Active WitnessPool members yet (the genesis needs at least one witness)' }
  }
  const minWitnessStake = spec.genesis.params?.minWitnessStake ?? DEFAULT_PARAMS.minWitnessStake
  const low = nodes.filter((n) => (n.role === 'witness' || n.role === 'standby') && n.stake < minWitnessStake)
  if (low.length > 0) {
    return {
      waiting: `genesis: stake ${low[0]!.stake} of ${low.map((n) => n.node).join(', ')} is below minWitnessStake ${minWitnessStake} (set the WitnessPool's spec.stake)`,
    }
  }
  const stakes = (role: NodeRoleLabel): { did: string; stake: number }[] =>
    staked.filter((n) => n.role === role).map((n) => ({ did: nodeKeys.get(n.node)!.did, stake: n.stake }))
  const params: Record<string, number> = {}
  for (const [k, v] of Object.entries(spec.genesis.params ?? {})) if (typeof v === 'number') params[k] = v
  params.checkpointInterval = spec.checkpointInterval
  params.erasureK = spec.storage.erasure.k
  params.erasureM = spec.storage.erasure.m
  return {
    genesis: {
      chainId: spec.networkId,
      genesisTimeMs,
      council: { members: [...spec.genesis.council.members], threshold: spec.genesis.council.threshold },
      witnesses: stakes('witness'),
      standbys: stakes('standby'),
      ssns: stakes('ssn'),
      accounts: [
        ...(spec.genesis.accounts ?? []).map((a) => ({ did: a.did, balance: a.balance })),
        // Every node pays fees for the events it submits for the protocol (PoSR results, content
        // registration): it starts with an operating balance.
        ...nodes
          .filter((n) => nodeKeys.has(n.node))
          .map((n) => ({ did: nodeKeys.get(n.node)!.did, balance: NODE_OPERATING_BALANCE })),
      ],
      treasury: spec.genesis.treasury ?? 0,
      params,
    },
  }
}

export interface PeerFileEntry {
  peerId: string
  did: string
  role: NodeRoleLabel
  addrs: string[]
}

/**
 * The peers file (node-image `p2p/peers-file.ts`): every node pod that has an IP and a known key,
 * sorted by PeerId. Readiness is not required: a node may only become ready once it has peers.
 */
export function peersFile(
  nodes: readonly NodePlan[],
  nodeKeys: ReadonlyMap<string, NodeKey>,
  pods: readonly ObservedPod[],
): { peers: PeerFileEntry[] } {
  const byPod = new Map(nodes.map((n) => [n.podName, n]))
  const peers: PeerFileEntry[] = []
  for (const pod of pods) {
    const n = byPod.get(pod.name)
    const key = n === undefined ? undefined : nodeKeys.get(n.node)
    if (n === undefined || key === undefined || pod.podIP === undefined || pod.podIP === '') continue
    peers.push({ peerId: key.peerId, did: key.did, role: n.role, addrs: [multiaddr(pod.podIP)] })
  }
  peers.sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : a.addrs[0]! < b.addrs[0]! ? -1 : 1))
  return { peers }
}

function multiaddr(ip: string): string {
  return ip.includes(':') ? `/ip6/${ip}/tcp/${P2P_PORT}` : `/ip4/${ip}/tcp/${P2P_PORT}`
}

/**
 * Witness pods that voluntary disruptions (drains, evictions) may take at once: the most
 * committee members whose combined power stays below 1/3 of the committee's, removing the
 * strongest first (worst case), so that > 2/3 of the power stays online. With equal stakes this is
 * f = floor((n-1)/3): n=4 → 1, n=7 → 2; n ≤ 3 → 0 (no fault tolerance, drains must wait).
 */
export function witnessMaxUnavailable(stakes: readonly number[], committeeSize?: number, powerUnit = 1): number {
  const powers = stakes
    .map((s) => Math.floor(s / powerUnit))
    .filter((p) => p > 0)
    .sort((a, b) => b - a)
    .slice(0, committeeSize ?? stakes.length)
  const total = powers.reduce((a, b) => a + b, 0)
  let removed = 0
  let count = 0
  for (const p of powers) {
    if (3 * (removed + p) >= total) break
    removed += p
    count++
  }
  return count
}

/**
 * SSN pods that voluntary disruptions may take at once. Every body has k+m shards on distinct
 * SSNs and stays retrievable while at most m of them are missing; in the worst case every
 * disrupted SSN holds a shard of the same body. Voluntary disruption keeps one shard of margin for
 * an involuntary failure during it: m-1, but at least 1 so that drains never block forever (with
 * m=1 a body then has exactly k shards: still retrievable, no margin). Never more than m.
 */
export function ssnMaxUnavailable(m: number): number {
  return Math.min(m, Math.max(1, m - 1))
}

/** DHT seeds: one at a time (the others keep bootstrapping). */
export const SEED_MAX_UNAVAILABLE = 1

export function desiredNetworkObjects(
  network: EchoNetNetwork,
  observed: NetworkObserved,
  opts: NetworkOptions,
): NetworkDesired {
  const net = metaName(network.metadata)
  const ns = network.metadata.namespace
  const owner = controllerRef(network)
  const spec = network.spec
  const nodes = observed.plan ?? networkNodes(network, observed.pools)
  const waiting: string[] = []
  const objects: KubeObject[] = []

  const meta = (name: string, labels: Record<string, string>, annotations?: Record<string, string>): DesiredMeta => ({
    name,
    ...(ns !== undefined ? { namespace: ns } : {}),
    labels,
    ...(annotations !== undefined ? { annotations } : {}),
    ownerReferences: [{ ...owner }],
  })
  const sharedLabels = (component: string): Record<string, string> => ({
    ...networkLabels(net),
    [Labels.component]: component,
  })

  const dups = duplicateNodeNames(nodes)
  if (dups.length > 0) waiting.push(`nodes: node names claimed twice (rename the WitnessPool): ${dups.join(', ')}`)
  for (const n of nodes) {
    if (n.node.length > MAX_LABEL_VALUE) {
      dups.push(n.node)
      waiting.push(
        `node ${n.node}: name longer than ${MAX_LABEL_VALUE} characters (a label value); use a shorter pool name`,
      )
    }
  }

  // Genesis.
  let genesisVolume: JsonObject | undefined
  if (spec.genesisRef !== undefined) {
    genesisVolume = {
      name: spec.genesisRef.name,
      items: [{ key: spec.genesisRef.key, path: GENESIS_KEY }],
    }
  } else {
    let data = observed.genesisData
    if (data === undefined) {
      const g =
        dups.length > 0
          ? { waiting: 'genesis: waiting until every node name is valid and unique' }
          : buildGenesis(network, nodes, observed.nodeKeys)
      if ('waiting' in g) waiting.push(g.waiting)
      else data = stableJson(g.genesis)
    }
    if (data !== undefined) {
      const cm: ConfigMapObject = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: meta(genesisConfigMapName(net), sharedLabels('genesis')),
        data: { [GENESIS_KEY]: data },
      }
      objects.push(cm)
      genesisVolume = { name: genesisConfigMapName(net), items: [{ key: GENESIS_KEY, path: GENESIS_KEY }] }
    }
  }

  // Peers.
  const peers: ConfigMapObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(peersConfigMapName(net), sharedLabels('peers')),
    data: { [PEERS_KEY]: stableJson(peersFile(nodes, observed.nodeKeys, observed.pods)) },
  }
  objects.push(peers)

  // Services.
  const roles: NodeRoleLabel[] = ['seed', 'ssn', 'witness', 'standby']
  for (const role of roles) {
    objects.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(roleServiceName(net, role), networkLabels(net, role)),
      spec: {
        clusterIP: 'None',
        publishNotReadyAddresses: true,
        selector: roleSelector(net, role),
        ports: [
          { name: 'p2p', port: P2P_PORT, targetPort: P2P_PORT, protocol: 'TCP' },
          { name: 'api', port: API_PORT, targetPort: API_PORT, protocol: 'TCP' },
        ],
      },
    })
  }
  objects.push({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(apiServiceName(net), sharedLabels('api')),
    spec: {
      type: 'ClusterIP',
      selector: { [Labels.network]: net, [Labels.name]: LabelValues.name },
      ports: [{ name: 'api', port: API_PORT, targetPort: API_PORT, protocol: 'TCP' }],
    },
  })

  // PodDisruptionBudgets. The pods are owned by the network (no scale subresource), so the
  // budgets use an integer minAvailable (= count − maxUnavailable), the only form Kubernetes
  // supports for such pods; the maxUnavailable rule is kept in an annotation.
  const params = spec.genesis?.params ?? {}
  const activeStakes = nodes.filter((n) => n.role === 'witness').map((n) => n.stake)
  const budgets: { role: NodeRoleLabel; count: number; maxUnavailable: number; rule: string }[] = [
    { role: 'seed', count: spec.seeds.replicas, maxUnavailable: SEED_MAX_UNAVAILABLE, rule: 'one seed at a time' },
    {
      role: 'ssn',
      count: spec.storage.replicas,
      maxUnavailable: ssnMaxUnavailable(spec.storage.erasure.m),
      rule: `erasure m=${spec.storage.erasure.m}: at most max(1, m-1) shard holders`,
    },
    {
      role: 'witness',
      count: activeStakes.length,
      maxUnavailable: witnessMaxUnavailable(
        activeStakes,
        params.committeeSize ?? DEFAULT_PARAMS.committeeSize,
        params.powerUnit ?? DEFAULT_PARAMS.powerUnit,
      ),
      rule: 'less than 1/3 of committee power (f = floor((n-1)/3) with equal stakes)',
    },
  ]
  for (const b of budgets) {
    if (b.count === 0) continue
    const maxUnavailable = Math.min(b.count, b.maxUnavailable)
    objects.push({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: meta(`${net}-${b.role}`, networkLabels(net, b.role), {
        'echonet.io/max-unavailable': String(maxUnavailable),
        'echonet.io/disruption-rule': b.rule,
      }),
      spec: { minAvailable: b.count - maxUnavailable, selector: { matchLabels: roleSelector(net, b.role) } },
    })
  }

  // NetworkPolicy: p2p among the network's pods, API open, admin only from the operator.
  const operatorPods: JsonObject = { matchLabels: { [Labels.name]: OPERATOR_NAME_LABEL_VALUE } }
  const operatorPeer: JsonObject =
    opts.operatorNamespace === undefined
      ? { podSelector: operatorPods }
      : {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': opts.operatorNamespace } },
          podSelector: operatorPods,
        }
  objects.push({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(`${net}-nodes`, sharedLabels('network-policy')),
    spec: {
      podSelector: { matchLabels: { [Labels.network]: net, [Labels.name]: LabelValues.name } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ podSelector: { matchLabels: { [Labels.network]: net } } }],
          ports: [{ protocol: 'TCP', port: P2P_PORT }],
        },
        { ports: [{ protocol: 'TCP', port: API_PORT }] },
        { from: [operatorPeer], ports: [{ protocol: 'TCP', port: ADMIN_PORT }] },
      ],
    },
  })

  // Per node: PVC, then Pod (once the genesis and the node's key exist).
  const admin = adminTokenSecret(network)
  const image = spec.image ?? opts.nodeImage
  for (const n of nodes) {
    if (dups.includes(n.node)) continue // not created: see waiting
    objects.push({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: meta(n.pvcName, nodeLabels(net, n)),
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: n.volume.size } },
        ...(n.volume.storageClassName !== undefined ? { storageClassName: n.volume.storageClassName } : {}),
      },
    })
    const key = observed.nodeKeys.get(n.node)
    if (key === undefined) {
      waiting.push(`pod ${n.podName}: waiting for key Secret ${n.keySecretName}`)
      continue
    }
    if (genesisVolume === undefined) {
      waiting.push(`pod ${n.podName}: waiting for the genesis`)
      continue
    }
    const podSpec = nodePodSpec(n, {
      image,
      ...(spec.imagePullPolicy !== undefined ? { imagePullPolicy: spec.imagePullPolicy } : {}),
      genesisVolume,
      peersConfigMap: peersConfigMapName(net),
      adminSecret: admin.secretName,
      adminKey: admin.key,
      voteLog: spec.voteLog,
    })
    const pod: PodObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: meta(n.podName, nodeLabels(net, n), {
        [Annotations.did]: key.did,
        [Annotations.peerId]: key.peerId,
        [Annotations.specHash]: specHash(podSpec),
      }),
      spec: podSpec,
    }
    objects.push(pod)
  }
  return { objects, waiting }
}

export function roleSelector(network: string, role: NodeRoleLabel): Record<string, string> {
  return { [Labels.network]: network, [Labels.role]: role }
}

export function nodeLabels(network: string, n: NodePlan): Record<string, string> {
  return {
    ...networkLabels(network, n.role),
    [NODE_LABEL]: n.node,
    [Labels.ordinal]: String(n.ordinal),
    ...(n.pool !== undefined ? { [Labels.pool]: n.pool } : {}),
  }
}

/** sha256 (hex, first 16 bytes) of the canonical JSON of a pod spec. */
export function specHash(spec: JsonObject): string {
  return createHash('sha256').update(stableJson(spec, 0)).digest('hex').slice(0, 32)
}

interface PodInputs {
  image: string
  imagePullPolicy?: string
  genesisVolume: JsonObject
  peersConfigMap: string
  adminSecret: string
  adminKey: string
  voteLog: boolean
}

const RESTRICTED_CONTAINER: JsonObject = {
  runAsNonRoot: true,
  runAsUser: NODE_UID,
  runAsGroup: NODE_UID,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
}

/** The node args of `echonet-node run` for a role (node-image `cli/main.ts`). */
export function nodeArgs(role: NodeRoleLabel, voteLog = false): string[] {
  return [
    ...base(role),
    // The drill's double-signing check reads it from the data volume (spec.voteLog).
    ...(voteLog ? ['--vote-log', '/data/votes.jsonl'] : []),
  ]
}

function base(role: NodeRoleLabel): string[] {
  return [
    'run',
    '--role',
    role,
    '--data-dir',
    '/data',
    '--key',
    `/keys/${NODE_KEY_SECRET_KEY}`,
    '--genesis',
    `/config/${GENESIS_KEY}`,
    '--peers',
    `/peers/${PEERS_KEY}`,
    '--p2p',
    `/ip4/$(POD_IP)/tcp/${P2P_PORT}`,
    '--api-host',
    '$(POD_IP)',
    '--api-port',
    String(API_PORT),
    '--admin-port',
    String(ADMIN_PORT),
    '--admin-token-file',
    '/admin/token',
  ]
}

function resourcesJson(r: NodeResources | undefined): JsonObject | undefined {
  if (r === undefined) return undefined
  const out: JsonObject = {}
  if (r.requests !== undefined) out.requests = { ...r.requests }
  if (r.limits !== undefined) out.limits = { ...r.limits }
  return out
}

/**
 * Witness and standby keys that are not in the genesis (a re-keyed node, a standby added after a
 * promotion or a scale-up) register themselves once the recovery agent funded them; for keys the
 * genesis registered this does nothing.
 */
function bondEnv(n: NodePlan): JsonObject[] {
  if (n.role !== 'witness' && n.role !== 'standby') return []
  return [
    { name: 'ECHONET_BOND_ROLE', value: n.role },
    { name: 'ECHONET_BOND_STAKE', value: String(n.stake) },
  ]
}

/** Keeps a pod off the machines where its node was lost (they may look Ready for a while). */
function avoidMachinesAffinity(machines: readonly string[]): JsonObject {
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'NotIn', values: [...machines] }] },
        ],
      },
    },
  }
}

function nodePodSpec(n: NodePlan, p: PodInputs): JsonObject {
  const resources = resourcesJson(n.resources)
  return {
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    ...(n.nodeSelector !== undefined ? { nodeSelector: { ...n.nodeSelector } } : {}),
    ...(n.avoidMachines !== undefined ? { affinity: avoidMachinesAffinity(n.avoidMachines) } : {}),
    enableServiceLinks: false,
    automountServiceAccountToken: false,
    // fsGroup makes the 0400 key file group-readable (0440, group 65532) for the node user.
    securityContext: {
      runAsNonRoot: true,
      runAsUser: NODE_UID,
      runAsGroup: NODE_UID,
      fsGroup: NODE_UID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers: [
      {
        name: 'echonet-node',
        image: p.image,
        ...(p.imagePullPolicy !== undefined ? { imagePullPolicy: p.imagePullPolicy } : {}),
        args: nodeArgs(n.role, p.voteLog),
        env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }, ...bondEnv(n)],
        ports: [
          { name: 'p2p', containerPort: P2P_PORT, protocol: 'TCP' },
          { name: 'api', containerPort: API_PORT, protocol: 'TCP' },
          { name: 'admin', containerPort: ADMIN_PORT, protocol: 'TCP' },
        ],
        readinessProbe: { httpGet: { path: '/readyz', port: API_PORT }, periodSeconds: 5, failureThreshold: 3 },
        livenessProbe: {
          httpGet: { path: '/healthz', port: API_PORT },
          initialDelaySeconds: 10,
          periodSeconds: 10,
          failureThreshold: 6,
        },
        ...(resources !== undefined ? { resources } : {}),
        securityContext: RESTRICTED_CONTAINER,
        volumeMounts: [
          { name: 'data', mountPath: '/data' },
          { name: 'key', mountPath: '/keys', readOnly: true },
          { name: 'genesis', mountPath: '/config', readOnly: true },
          { name: 'peers', mountPath: '/peers', readOnly: true },
          { name: 'admin-token', mountPath: '/admin', readOnly: true },
          { name: 'tmp', mountPath: '/tmp' },
        ],
      },
    ],
    volumes: [
      { name: 'data', persistentVolumeClaim: { claimName: n.pvcName } },
      {
        name: 'key',
        secret: {
          secretName: n.keySecretName,
          defaultMode: 0o400,
          items: [{ key: NODE_KEY_SECRET_KEY, path: NODE_KEY_SECRET_KEY }],
        },
      },
      { name: 'genesis', configMap: p.genesisVolume },
      { name: 'peers', configMap: { name: p.peersConfigMap, items: [{ key: PEERS_KEY, path: PEERS_KEY }] } },
      {
        name: 'admin-token',
        secret: { secretName: p.adminSecret, defaultMode: 0o400, items: [{ key: p.adminKey, path: 'token' }] },
      },
      { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
    ],
  }
}
