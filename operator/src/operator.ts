/**
 * Builds the operator from its configuration: caches (one informer per kind, per watched
 * namespace), the EchoNetNetwork and WitnessPool controllers with their watches, the Event
 * recorder, and the manager (leader election, metrics and health servers, graceful shutdown).
 */
import type { Logger } from 'pino'
import { NodeIdentity, keyFileContent } from '@echonet/node/identity'
import { API_VERSION } from './api/v1alpha1/schema.ts'
import { LabelValues, Labels } from './api/v1alpha1/labels.ts'
import type { DisasterDeclaration, EchoNetNetwork, WitnessPool } from './api/v1alpha1/types.ts'
import type { OperatorConfig } from './config.ts'
import { NetworkMetrics } from './controllers/network/metrics.ts'
import { NetworkReconciler } from './controllers/network/reconciler.ts'
import type { PodView, SecretView } from './controllers/shared/pods.ts'
import { poolReconciler } from './controllers/witnesspool/reconciler.ts'
import { HttpNodeAdmin } from './controllers/shared/node-admin.ts'
import type { NodeAdmin } from './controllers/shared/node-admin.ts'
import { NodePoller } from './controllers/shared/node-poller.ts'
import { AgentKeys } from './controllers/shared/agent-key.ts'
import type { ConfigMapView } from './controllers/shared/pods.ts'
import { DeclarationReconciler } from './controllers/declaration/reconciler.ts'
import { EventRecorder, K8sClient, MultiInformer } from './k8s/index.ts'
import type { KubeObject, ObjectCache } from './k8s/index.ts'
import {
  Controller,
  Manager,
  defaultRegistry,
  forObject,
  forOwner,
  objectKey,
  splitKey,
  watch,
} from './runtime/index.ts'
import type { HandlerTarget } from './runtime/index.ts'

export interface OperatorParts {
  readonly manager: Manager
  readonly networkController: Controller
  readonly poolController: Controller
  readonly declarationController: Controller
}

/** Kinds the network owns, watched by the label every operator-made object carries. */
const OWNED_KINDS: readonly { apiVersion: string; kind: string }[] = [
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
]

export function generateNodeKey(): { did: string; peerId: string; keyFile: string } {
  const id = NodeIdentity.generate()
  return { did: id.did, peerId: id.peerId().toString(), keyFile: keyFileContent(id) }
}

export interface BuildOptions {
  readonly client?: K8sClient
  /** The nodes' APIs (tests inject a fake); default HTTP to the pod IPs. */
  readonly nodeAdmin?: NodeAdmin
  readonly onLeadershipLost?: () => void
}

export function buildOperator(config: OperatorConfig, log: Logger, opts: BuildOptions = {}): OperatorParts {
  const client = opts.client ?? new K8sClient()
  const ns = config.watchNamespaces
  const informer = <T extends KubeObject>(apiVersion: string, kind: string, labelSelector?: string) =>
    new MultiInformer<T>(
      {
        client,
        apiVersion,
        kind,
        ...(labelSelector !== undefined ? { labelSelector } : {}),
        onError: (err) => log.warn({ kind, err: (err as Error).message }, 'informer error; restarting'),
      },
      ns,
    )
  const managed = `${Labels.managedBy}=${LabelValues.managedBy}`
  const networks = informer<EchoNetNetwork>(API_VERSION, 'EchoNetNetwork')
  const pools = informer<WitnessPool>(API_VERSION, 'WitnessPool')
  const declarations = informer<DisasterDeclaration>(API_VERSION, 'DisasterDeclaration')
  const pods = informer<PodView>('v1', 'Pod', managed)
  const secrets = informer<SecretView>('v1', 'Secret', managed)
  const owned = new Map(OWNED_KINDS.map((k) => [k.kind, informer<KubeObject>(k.apiVersion, k.kind, managed)]))

  const recorder = new EventRecorder({
    client,
    reportingInstance: config.podName,
    onError: (err) => log.debug({ err: (err as Error).message }, 'event not recorded'),
  })
  const admin = opts.nodeAdmin ?? new HttpNodeAdmin()
  // Filled in below: a change the poller sees enqueues the network (and, later, its declarations).
  let onNodesChanged: (key: string) => void = () => undefined
  const poller = new NodePoller({
    admin,
    intervalMs: config.nodePollMs,
    onChange: (key) => {
      onNodesChanged(key)
    },
  })
  const agentKeys = new AgentKeys(client)
  const network = new NetworkReconciler({
    client,
    caches: { networks, pools, pods, secrets, owned },
    recorder,
    log,
    nodeImage: config.nodeImage,
    operatorNamespace: config.namespace,
    statusPollMs: config.statusPollMs,
    heightRefreshMs: config.heightRefreshMs,
    generateKey: generateNodeKey,
    metrics: new NetworkMetrics(defaultRegistry),
    admin,
    poller,
    declarations,
    agentKeys,
  })
  const declaration = new DeclarationReconciler({
    client,
    caches: {
      declarations,
      networks,
      pools,
      pods,
      secrets,
      configMaps: owned.get('ConfigMap') as ObjectCache<ConfigMapView>,
    },
    recorder,
    log,
    admin,
    poller,
    agentKeys,
  })
  const onError = (name: string) => (key: string, err: unknown) =>
    log.warn({ controller: name, key, err: (err as Error).message }, 'reconcile failed; retrying with backoff')
  const networkController = new Controller({
    name: 'echonetnetwork',
    reconcile: network.reconcile,
    concurrency: config.workers,
    onError: onError('echonetnetwork'),
  })
  const declarationController = new Controller({
    name: 'disasterdeclaration',
    reconcile: declaration.reconcile,
    // One declaration at a time per worker; a runbook step never blocks on a node for long.
    concurrency: 2,
    onError: onError('disasterdeclaration'),
  })
  const poolController = new Controller({
    name: 'witnesspool',
    reconcile: poolReconciler({ client, pools, networks, pods, secrets, poller, log }),
    concurrency: 1,
    onError: onError('witnesspool'),
  })

  const netQ: HandlerTarget = networkController
  // Declarations of a network, for the events of the network and of its nodes.
  const declarationsOf = (networkKey: string): string[] => {
    const { namespace, name } = splitKey(networkKey)
    return declarations
      .list(namespace)
      .filter((d) => d.spec.networkRef.name === name)
      .map((d) => objectKey({ namespace: d.metadata.namespace, name: d.metadata.name }))
  }
  onNodesChanged = (key) => {
    networkController.enqueue(key)
    for (const d of declarationsOf(key)) declarationController.enqueue(d)
    const { namespace, name } = splitKey(key)
    for (const p of pools.list(namespace)) {
      if (p.spec.networkRef.name === name) poolController.enqueue(objectKey({ namespace, name: p.metadata.name }))
    }
  }
  watch(declarations, declarationController, forObject)
  watch(networks, declarationController, (n: EchoNetNetwork) =>
    declarationsOf(objectKey({ namespace: n.metadata.namespace, name: n.metadata.name })),
  )
  // The network lists its active declarations and must not declare twice.
  watch(declarations, netQ, (d: DisasterDeclaration) => [
    objectKey({ namespace: d.metadata.namespace, name: d.spec.networkRef.name }),
  ])
  watch(networks, netQ, forObject)
  watch(pools, netQ, (p: WitnessPool) => [objectKey({ namespace: p.metadata.namespace, name: p.spec.networkRef.name })])
  watch(pools, poolController, forObject)
  const ownedByNetwork = forOwner<KubeObject>('EchoNetNetwork', API_VERSION)
  watch(pods, netQ, ownedByNetwork)
  watch(secrets, netQ, ownedByNetwork)
  for (const c of owned.values()) watch(c, netQ, ownedByNetwork)
  // A pod's readiness is part of its pool's status.
  watch(pods, poolController, (p: PodView) => {
    const pool = p.metadata?.labels?.[Labels.pool]
    return pool === undefined ? [] : [objectKey({ namespace: p.metadata?.namespace, name: pool })]
  })

  const manager = new Manager({
    controllers: [poller, networkController, poolController, declarationController],
    caches: [networks, pools, declarations, pods, secrets, ...owned.values()],
    ...(config.leaderElection !== undefined
      ? {
          leaderElection: {
            client,
            namespace: config.leaderElection.namespace,
            name: config.leaderElection.name,
            identity: config.leaderElection.identity,
            leaseDurationMs: config.leaderElection.leaseDurationMs,
            renewDeadlineMs: config.leaderElection.renewDeadlineMs,
            retryPeriodMs: config.leaderElection.retryPeriodMs,
            onError: (err: unknown) => log.warn({ err: (err as Error).message }, 'leader election round failed'),
          },
        }
      : {}),
    registry: defaultRegistry,
    port: config.metricsPort,
    healthPort: config.healthPort,
    host: config.bindAddress,
    log: (msg, fields) => log.info(fields ?? {}, msg),
    ...(opts.onLeadershipLost !== undefined ? { onLeadershipLost: opts.onLeadershipLost } : {}),
  })
  return { manager, networkController, poolController, declarationController }
}
