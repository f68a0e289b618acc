/** EchoNetNetwork: spec and status schemas. */
import {
  array,
  boolean,
  int32,
  integer,
  literal,
  object,
  optional,
  resource,
  string,
  stringEnum,
  opaqueObject,
} from './openapi.ts'
import type { ObjectMeta } from './meta.ts'
import {
  API_VERSION,
  DNS_LABEL,
  did,
  amount,
  objectName,
  secretKeyRef,
  resources,
  volume,
  replicas,
  nodeSelector,
  conditions,
  observedGeneration,
  genesisParameterSchema,
} from './schema-common.ts'

// ---------------------------------------------------------------------------------------------
// EchoNetNetwork

const councilSchema = object(
  {
    members: array(did('DID of a council member.'), {
      description: 'DIDs (did:key) of the council members, M of N of whom sign council actions.',
      minItems: 1,
      maxItems: 64,
      listType: 'set',
    }),
    threshold: int32({ description: 'Signatures needed for a council action (M of N).' }),
  },
  {
    description: 'The governance council named in the genesis (DESIGN §5).',
    rules: [
      { rule: 'self.threshold >= 1', message: 'council threshold must be at least 1', fieldPath: '.threshold' },
      {
        rule: 'self.threshold <= size(self.members)',
        message: 'council threshold must not exceed the number of council members',
        fieldPath: '.threshold',
      },
    ],
  },
)

const genesisSchema = object(
  {
    council: councilSchema,
    params: optional(genesisParameterSchema),
    accounts: optional(
      array(
        object(
          {
            did: did('Account owner.'),
            balance: amount('Initial balance.'),
          },
          { description: 'An account funded at genesis.' },
        ),
        { description: 'Accounts funded at genesis.', maxItems: 256, listType: 'map', listMapKeys: ['did'] },
      ),
    ),
    treasury: optional(amount('Initial treasury balance (funds compensations, DESIGN §4 governance).')),
  },
  {
    description:
      'The genesis of the network: council, parameters, initial accounts. Immutable once set; the council changes itself by council action.',
    rules: [{ rule: 'self == oldSelf', message: 'genesis is immutable; the council changes itself by council action' }],
  },
)

const erasureSchema = object(
  {
    k: int32({ description: 'Data shards per content body (k of k+m are needed to decode).', default: 4 }),
    m: int32({ description: 'Parity shards per content body (up to m shards may be lost).', default: 2 }),
  },
  {
    description: 'Reed-Solomon erasure coding over GF(2^8) of new content.',
    default: {},
    rules: [
      { rule: 'self.k >= 1', message: 'erasure k (data shards) must be at least 1', fieldPath: '.k' },
      { rule: 'self.m >= 1', message: 'erasure m (parity shards) must be at least 1', fieldPath: '.m' },
      {
        rule: 'self.k + self.m <= 256',
        message: 'erasure k + m must be at most 256 (Reed-Solomon over GF(2^8) has 256 shard positions)',
      },
    ],
  },
)

const recoverySchema = object(
  {
    autoDeclare: boolean({
      description:
        'Create a DisasterDeclaration automatically when a disaster is detected (e.g. quorum lost for quorumLossSeconds). It still needs council signatures or a standingPolicy to be authorized.',
      default: false,
    }),
    quorumLossSeconds: int32({
      description: 'How long the committee may lack > 2/3 of its power online before quorum loss is declared.',
      default: 15,
      minimum: 1,
      maximum: 86_400,
    }),
    storageIncidentSeconds: int32({
      description:
        'With autoDeclare: how long StorageDegraded or DHTDegraded may hold before the operator declares a DataUnavailability disaster (unsigned: it waits for council signatures).',
      default: 900,
      minimum: 10,
      maximum: 604_800,
    }),
    standingPolicy: optional(
      object(
        {
          payload: string({
            description:
              'The canonical standing recovery policy payload (DESIGN §5), base64. Nodes check every agent-signed RestartManifest against its bounds.',
            format: 'byte',
            maxLength: 65_536,
          }),
          signatures: array(
            object(
              {
                did: did('Council member who signed.'),
                signature: string({
                  description: 'Ed25519 signature over the payload, base64.',
                  format: 'byte',
                  maxLength: 256,
                }),
              },
              { description: 'One council signature.' },
            ),
            {
              description: 'Council signatures over the payload (at least the council threshold).',
              minItems: 1,
              maxItems: 64,
              listType: 'map',
              listMapKeys: ['did'],
            },
          ),
        },
        { description: 'A council-signed standing recovery policy that lets the operator recover without a human.' },
      ),
    ),
    agentKeySecretRef: optional(
      secretKeyRef('Secret holding the recovery agent Ed25519 key named by the standing policy.', 'agent.key'),
    ),
  },
  {
    description: 'Automatic disaster detection and recovery.',
    default: {},
    rules: [
      {
        rule: '!has(self.standingPolicy) || has(self.agentKeySecretRef)',
        message: 'recovery.standingPolicy needs agentKeySecretRef: the agent key signs the RestartManifests it allows',
      },
    ],
  },
)

export const echoNetNetworkSpecSchema = object(
  {
    networkId: string({
      description:
        'Network (chain) id that every signature and block commits to. Immutable. A DNS label, at most 63 characters.',
      pattern: DNS_LABEL,
      minLength: 1,
      maxLength: 63,
      rules: [{ rule: 'self == oldSelf', message: 'networkId is immutable: every block and signature commits to it' }],
    }),
    image: optional(
      string({
        description: "Container image of echonet-node for every role; unset uses the operator's default node image.",
        minLength: 1,
        maxLength: 512,
      }),
    ),
    imagePullPolicy: optional(
      stringEnum(['Always', 'IfNotPresent', 'Never'] as const, { description: 'Pull policy of the node image.' }),
    ),
    genesis: optional(genesisSchema),
    genesisRef: optional(
      object(
        {
          name: objectName('Name of the ConfigMap.'),
          key: string({ description: 'Key holding the genesis JSON.', default: 'genesis.json', maxLength: 253 }),
        },
        {
          description: 'A ConfigMap in the same namespace holding the genesis JSON (instead of genesis).',
          rules: [{ rule: 'self == oldSelf', message: 'genesisRef is immutable' }],
        },
      ),
    ),
    seeds: object(
      {
        replicas: replicas('DHT seed (bootstrap) nodes.', 2),
        resources: optional(resources()),
        volume: volume('1Gi', 'routing table'),
        nodeSelector: nodeSelector("Labels a machine must carry to run a seed's pod (the pod's nodeSelector)."),
      },
      { description: 'DHT seed nodes: the bootstrap peers of the network.', default: {} },
    ),
    storage: object(
      {
        replicas: replicas('Storage nodes (SSNs); at least k+m so that the shards of a body land on distinct SSNs.', 6),
        erasure: erasureSchema,
        volume: volume('10Gi', 'shards'),
        resources: optional(resources()),
        nodeSelector: nodeSelector("Labels a machine must carry to run a storage node's pod (the pod's nodeSelector)."),
      },
      {
        description: 'Storage nodes (SSNs) holding erasure-coded content.',
        default: {},
        rules: [
          {
            rule: 'self.replicas == 0 || self.replicas >= self.erasure.k + self.erasure.m',
            message:
              'storage.replicas must be 0 or at least erasure k + m, so every shard of a body lands on a different SSN',
            fieldPath: '.replicas',
          },
        ],
      },
    ),
    checkpointInterval: integer({
      description: 'Blocks between state snapshots (checkpoints).',
      default: 100,
      minimum: 1,
      maximum: 1_000_000,
    }),
    recovery: recoverySchema,
    voteLog: boolean({
      description:
        'Every node appends each vote it sees to votes.jsonl in its data volume, so that drills can check that no witness ever signed two different votes for one slot. Costs disk: for testnets and drills.',
      default: false,
    }),
    paused: boolean({
      description:
        'Pause reconciliation: the operator changes nothing for this network (pods, volumes, recovery) until unset. Status is still reported.',
      default: false,
    }),
    adminTokenSecretRef: optional(
      secretKeyRef(
        'Secret with the bearer token of the nodes\' admin API; unset makes the operator generate one ("<name>-admin-token").',
        'token',
      ),
    ),
  },
  {
    description: 'Desired state of an EchoNet network.',
    rules: [
      {
        rule: 'has(self.genesis) != has(self.genesisRef)',
        message: 'exactly one of genesis or genesisRef must be set',
      },
      {
        rule: 'has(self.genesis) == has(oldSelf.genesis)',
        message: 'cannot switch between genesis and genesisRef: the genesis is immutable',
      },
      {
        rule: '!has(self.recovery.standingPolicy) || !has(self.genesis) || size(self.recovery.standingPolicy.signatures) >= self.genesis.council.threshold',
        message: 'recovery.standingPolicy needs at least genesis.council.threshold signatures',
        fieldPath: '.recovery.standingPolicy.signatures',
      },
      {
        rule: '!has(self.recovery.standingPolicy) || !has(self.genesis) || self.recovery.standingPolicy.signatures.all(s, s.did in self.genesis.council.members)',
        message: 'every recovery.standingPolicy signature must come from a council member',
        fieldPath: '.recovery.standingPolicy.signatures',
      },
    ],
  },
)

export const NETWORK_CONDITION_TYPES = [
  'Ready',
  'Progressing',
  'Degraded',
  'QuorumAvailable',
  'ConsensusHalted',
  'StorageDegraded',
  'DHTDegraded',
] as const

export const height = (description: string) => optional(integer({ description, minimum: 0 }))
export const count = (description: string) => optional(integer({ description, minimum: 0 }))

export const echoNetNetworkStatusSchema = object(
  {
    observedGeneration: observedGeneration(),
    conditions: conditions(NETWORK_CONDITION_TYPES.join(', ')),
    epoch: count('Consensus epoch; a coordinated restart starts a new one.'),
    finalizedHeight: height('Highest finalized block height reported by a majority of witnesses.'),
    certifiedHeight: height('Highest block with a commit certificate held by any node (the restart point).'),
    certifiedBlockHash: optional(
      string({ description: 'Hash of the block at certifiedHeight (hex).', maxLength: 128 }),
    ),
    certifiedStateRoot: optional(string({ description: 'State root at certifiedHeight (hex).', maxLength: 128 })),
    powerOnline: count('Voting power of committee members seen online.'),
    powerNeeded: count('Voting power needed for finality (> 2/3 of the total).'),
    powerTotal: count('Total voting power of the committee.'),
    seedsReady: count('Ready DHT seed nodes.'),
    ssnsReady: count('Ready storage nodes.'),
    underReplicatedContent: count('Content bodies with fewer than k+m healthy shards (being repaired).'),
    unavailableContent: count('Content bodies with fewer than k healthy shards (not retrievable now).'),
    rollout: optional(
      object(
        {
          updated: integer({ description: 'Nodes whose pod runs the current pod template.', minimum: 0 }),
          total: integer({ description: 'Nodes that have a desired pod.', minimum: 0 }),
          waitingFor: optional(
            string({
              description:
                'What the next replacement waits for, e.g. "witnesses-1 to be heard voting" or "witnesses-2 to be replaced".',
              maxLength: 1024,
            }),
          ),
        },
        {
          description:
            'A pod-template change (image, resources, …) being rolled out pod by pod within the BFT and erasure budgets; absent when every pod runs the current template.',
        },
      ),
    ),
    activeDeclarations: optional(
      array(string({ description: 'Name of a DisasterDeclaration.', maxLength: 253 }), {
        description: 'DisasterDeclarations of this network that are not Resolved.',
        maxItems: 64,
        listType: 'set',
      }),
    ),
  },
  { description: 'Observed state of the network, written by the operator.' },
)

export const echoNetNetworkSchema = resource(
  {
    apiVersion: literal(API_VERSION, 'APIVersion of this object: echonet.io/v1alpha1.'),
    kind: literal('EchoNetNetwork', 'Kind of this object: EchoNetNetwork.'),
    metadata: opaqueObject<ObjectMeta>(),
    spec: echoNetNetworkSpecSchema,
    status: optional(echoNetNetworkStatusSchema),
  },
  {
    description:
      'EchoNetNetwork runs one EchoNet network — witnesses (WitnessPools), DHT seeds and storage nodes — and drives its disaster recovery.',
  },
)
