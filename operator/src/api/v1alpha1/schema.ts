/**
 * The `echonet.io/v1alpha1` API: the single source of truth for the three CRDs (`crds/*.yaml` are
 * generated from here by `operator/scripts/gen-crds.ts`), for the TypeScript types (`types.ts`
 * infers them from these objects) and for the runtime type guard (`validate.ts` walks them and
 * evaluates the same CEL rules). Edit this file, then run `node operator/scripts/gen-crds.ts`.
 *
 * Conventions: every field has a description (`kubectl explain`); every list and string that a
 * CEL rule touches has a bound (CEL cost estimation); rules carry a message a person can act on.
 */
import { MODULE_NAMES, PARAM_SPECS } from '@echonet/node/governance'
import type { ParamName } from '@echonet/node/governance'
import type { AnySchema, Schema, ValidationRule } from './openapi.ts'
import {
  array,
  boolean,
  int32,
  integer,
  literal,
  map,
  number,
  object,
  opaqueObject,
  optional,
  quantity,
  resource,
  string,
  stringEnum,
} from './openapi.ts'
import type { ObjectMeta } from './meta.ts'

export const GROUP = 'echonet.io'
export const VERSION = 'v1alpha1'
export const API_VERSION = `${GROUP}/${VERSION}` as const

/** `did:key` with a base58btc multibase value (DESIGN §4: every node and council member). */
export const DID_PATTERN = '^did:key:z[1-9A-HJ-NP-Za-km-z]+$'
export const DID_MESSAGE = "must be a did:key: 'did:key:z' followed by base58btc characters (no 0, O, I or l)"

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
/** The ledger's largest amount (2^51): amounts are safe integers in base units. */
const MAX_AMOUNT = 2 ** 51
const SHA256_DIGEST = '^sha256:[a-f0-9]{64}$'
const HEX_HASH = '^[a-f0-9]{64}$'
const MAX_DURATION_SECONDS = 30 * 24 * 3600

// ---------------------------------------------------------------------------------------------
// Shared building blocks

const did = (description: string) =>
  string({ description, maxLength: 64, rules: [{ rule: `self.matches('${DID_PATTERN}')`, message: DID_MESSAGE }] })

const amount = (description: string) =>
  integer({ description: `${description} In base units (at most 2^51).`, minimum: 0, maximum: MAX_AMOUNT })

const objectName = (description: string) => string({ description, pattern: DNS_LABEL, minLength: 1, maxLength: 63 })

const durationSeconds = (description: string) =>
  int32({ description: `${description} In seconds, at most 30 days.`, minimum: 1, maximum: MAX_DURATION_SECONDS })

const secretKeyRef = (description: string, defaultKey: string) =>
  object(
    {
      name: string({ description: 'Name of the Secret in the same namespace.', minLength: 1, maxLength: 253 }),
      key: string({ description: 'Key within the Secret.', default: defaultKey, minLength: 1, maxLength: 253 }),
    },
    { description },
  )

const resources = () =>
  object(
    {
      requests: optional(
        map(quantity({ description: 'A resource quantity.' }), {
          description: 'Minimum resources (cpu, memory, ephemeral-storage) the scheduler reserves.',
          maxProperties: 16,
        }),
      ),
      limits: optional(
        map(quantity({ description: 'A resource quantity.' }), {
          description: 'Maximum resources the container may use.',
          maxProperties: 16,
        }),
      ),
    },
    { description: 'Compute resources of the node container (as in a Pod container).' },
  )

const volume = (defaultSize: string, what: string) =>
  object(
    {
      size: quantity({ description: `Requested size of each PersistentVolumeClaim (${what}).`, default: defaultSize }),
      storageClassName: optional(
        string({
          description:
            'StorageClass of the PersistentVolumeClaims; unset uses the cluster default, "" disables dynamic provisioning.',
          maxLength: 253,
        }),
      ),
    },
    { description: `Persistent volume of each pod (${what}).`, default: {} },
  )

const replicas = (description: string, defaultValue: number) =>
  int32({
    description,
    default: defaultValue,
    maximum: 1000,
    rules: [{ rule: 'self >= 0', message: 'replicas must be 0 or more' }],
  })

/** The standard `metav1.Condition`, with the same bounds and patterns as Kubernetes' own. */
export const conditionSchema = object(
  {
    type: string({
      description: 'Type of condition in CamelCase, e.g. Ready.',
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
      maxLength: 316,
    }),
    status: stringEnum(['True', 'False', 'Unknown'] as const, { description: 'Status of the condition.' }),
    observedGeneration: optional(
      integer({
        description: 'The .metadata.generation the condition was set for; older than metadata.generation means stale.',
        minimum: 0,
      }),
    ),
    lastTransitionTime: string({
      description: 'Last time the condition changed from one status to another.',
      format: 'date-time',
    }),
    reason: string({
      description: 'Machine-readable CamelCase reason for the last transition.',
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      minLength: 1,
      maxLength: 1024,
    }),
    message: string({ description: 'Human-readable details about the transition.', maxLength: 32768 }),
  },
  { description: 'A standard Kubernetes condition (metav1.Condition).' },
)

const conditions = (types: string) =>
  optional(
    array(conditionSchema, {
      description: `Current state as standard conditions: ${types}.`,
      maxItems: 32,
      listType: 'map',
      listMapKeys: ['type'],
    }),
  )

const observedGeneration = () =>
  optional(integer({ description: 'The .metadata.generation the operator last acted on.', minimum: 0 }))

// ---------------------------------------------------------------------------------------------
// Ledger parameters (genesis and SetParameters)

const sentence = (doc: string): string => `${doc.charAt(0).toUpperCase()}${doc.slice(1)}.`

/**
 * Ledger parameters, generated from the node's own table (`PARAM_SPECS` of
 * `@echonet/node/governance`: names, bounds, docs), so the CRD accepts exactly what nodes accept.
 */
function parameters<K extends ParamName>(
  names: readonly K[],
  description: string,
): Schema<{ [P in K]?: number }, { [P in K]?: number }, 'required'> {
  const props: Record<string, AnySchema> = {}
  for (const n of names) {
    const spec = PARAM_SPECS[n]
    props[n] = optional(
      integer({
        description: `${sentence(spec.doc)} Default ${spec.default}.`,
        minimum: spec.min,
        maximum: spec.max,
      }),
    )
  }
  return object(props, { description }) as Schema<{ [P in K]?: number }, { [P in K]?: number }, 'required'>
}

export const PARAMETER_NAMES = (Object.keys(PARAM_SPECS) as ParamName[]).sort()

/** Set by the spec itself (checkpointInterval, storage.erasure), not by genesis.params. */
const SPEC_PARAMS: readonly ParamName[] = ['checkpointInterval', 'erasureK', 'erasureM']

export const parameterSchema = parameters(
  PARAMETER_NAMES,
  'Ledger parameters (integers; fractions in basis points, 10000 = 100 %). An unset field keeps its current value.',
)

const genesisParameterSchema = parameters(
  PARAMETER_NAMES.filter((n) => !SPEC_PARAMS.includes(n)),
  'Genesis ledger parameters; unset ones take the node defaults. checkpointInterval and erasure k/m come from the spec.',
)

const anyParameterSet = PARAMETER_NAMES.map((k) => `has(self.parameters.${k})`).join(' || ')

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
      },
      { description: 'DHT seed nodes: the bootstrap peers of the network.', default: {} },
    ),
    storage: object(
      {
        replicas: replicas('Storage nodes (SSNs); at least k+m so that the shards of a body land on distinct SSNs.', 6),
        erasure: erasureSchema,
        volume: volume('10Gi', 'shards'),
        resources: optional(resources()),
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

const height = (description: string) => optional(integer({ description, minimum: 0 }))
const count = (description: string) => optional(integer({ description, minimum: 0 }))

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

// ---------------------------------------------------------------------------------------------
// WitnessPool

export const WITNESS_POOL_MODES = ['Active', 'Standby'] as const

const networkRef = () =>
  object(
    { name: objectName('Name of the EchoNetNetwork in the same namespace.') },
    {
      description: 'The EchoNetNetwork this object belongs to (same namespace). Immutable.',
      rules: [{ rule: 'self == oldSelf', message: 'networkRef is immutable' }],
    },
  )

export const witnessPoolSpecSchema = object(
  {
    networkRef: networkRef(),
    replicas: replicas(
      'Witness nodes in this pool, each with its own key, volume and pod. Scalable with kubectl scale.',
      1,
    ),
    mode: stringEnum(WITNESS_POOL_MODES, {
      description:
        'Active witnesses vote in the committee; Standby witnesses follow the chain (verify certificates, keep snapshots) without voting and are promoted in a disaster.',
      default: 'Active',
    }),
    stake: optional(amount('Stake registered on the ledger for each witness of the pool.')),
    resources: optional(resources()),
    volume: volume('10Gi', 'blocks, snapshots and signing record'),
    promotionPriority: int32({
      description: 'Order in which Standby pools are promoted: higher first.',
      default: 0,
      minimum: -1000,
      maximum: 1000,
    }),
  },
  { description: 'Desired state of a pool of witness nodes.' },
)

export const witnessPoolStatusSchema = object(
  {
    observedGeneration: observedGeneration(),
    conditions: conditions('Ready, Progressing, Degraded'),
    replicas: optional(int32({ description: 'Witness pods that exist.', minimum: 0 })),
    readyReplicas: optional(int32({ description: 'Witness pods that are ready.', minimum: 0 })),
    syncedHeight: height('Lowest finalized height among the ready witnesses of the pool.'),
    promoted: optional(
      int32({ description: 'Standby witnesses of this pool promoted into the committee.', minimum: 0 }),
    ),
    selector: optional(
      string({ description: "Label selector of the pool's pods (for the scale subresource).", maxLength: 1024 }),
    ),
  },
  { description: 'Observed state of the pool, written by the operator.' },
)

export const witnessPoolSchema = resource(
  {
    apiVersion: literal(API_VERSION, 'APIVersion of this object: echonet.io/v1alpha1.'),
    kind: literal('WitnessPool', 'Kind of this object: WitnessPool.'),
    metadata: opaqueObject<ObjectMeta>(),
    spec: witnessPoolSpecSchema,
    status: optional(witnessPoolStatusSchema),
  },
  {
    description:
      'WitnessPool is a set of witness nodes of an EchoNetNetwork: Active (voting) or Standby (kept warm, promoted in a disaster).',
  },
)

// ---------------------------------------------------------------------------------------------
// DisasterDeclaration

export const SCENARIOS = ['WitnessLoss', 'DataUnavailability', 'CriticalFlaw', 'NetworkAttack'] as const

export const ACTION_TYPES = [
  'PromoteStandbys',
  'CoordinatedRestart',
  'PauseModules',
  'PausePoSRSlashing',
  'RebootstrapDHT',
  'ReplaceFailedSSNs',
  'RepairPriority',
  'AcceptCommunityShards',
  'ScheduledUpgrade',
  'SetParameters',
  'Compensate',
  'StateEdit',
  'RateLimits',
  'Blocklist',
] as const
export type ActionType = (typeof ACTION_TYPES)[number]

/** Actions allowed only in some scenarios; any other action fits every scenario. */
export const ACTION_SCENARIOS: Partial<Record<ActionType, readonly (typeof SCENARIOS)[number][]>> = {
  PromoteStandbys: ['WitnessLoss', 'NetworkAttack'],
  PauseModules: ['CriticalFlaw', 'NetworkAttack'],
  Compensate: ['CriticalFlaw'],
  StateEdit: ['CriticalFlaw'],
  ReplaceFailedSSNs: ['DataUnavailability'],
  RepairPriority: ['DataUnavailability'],
  AcceptCommunityShards: ['DataUnavailability'],
}

/** Actions a council-signed standing recovery policy may authorize (DESIGN §5: never state edits). */
export const STANDING_POLICY_ACTIONS: readonly ActionType[] = [
  'PromoteStandbys',
  'CoordinatedRestart',
  'PausePoSRSlashing',
  'RebootstrapDHT',
  'ReplaceFailedSSNs',
  'RepairPriority',
]

/** Ledger modules the council can pause (the node's `MODULE_NAMES`). */
export const PAUSABLE_MODULES = MODULE_NAMES

const tokenBucket = (what: string) =>
  object(
    {
      ratePerSecond: int32({ description: 'Sustained requests per second.', minimum: 1, maximum: 1_000_000 }),
      burst: int32({ description: 'Bucket size (requests allowed in a burst).', minimum: 1, maximum: 1_000_000 }),
    },
    { description: `Token bucket ${what}.` },
  )

/** The member field name of each action type (the Kubernetes discriminated-union convention). */
export const ACTION_MEMBER: Record<ActionType, string> = {
  PromoteStandbys: 'promoteStandbys',
  CoordinatedRestart: 'coordinatedRestart',
  PauseModules: 'pauseModules',
  PausePoSRSlashing: 'pausePoSRSlashing',
  RebootstrapDHT: 'rebootstrapDHT',
  ReplaceFailedSSNs: 'replaceFailedSSNs',
  RepairPriority: 'repairPriority',
  AcceptCommunityShards: 'acceptCommunityShards',
  ScheduledUpgrade: 'scheduledUpgrade',
  SetParameters: 'setParameters',
  Compensate: 'compensate',
  StateEdit: 'stateEdit',
  RateLimits: 'rateLimits',
  Blocklist: 'blocklist',
}

/** Action types whose member must be set (the others have usable defaults). */
const MEMBER_REQUIRED: readonly ActionType[] = [
  'PauseModules',
  'ScheduledUpgrade',
  'SetParameters',
  'Compensate',
  'StateEdit',
  'RateLimits',
  'Blocklist',
]

const actionMembers = {
  promoteStandbys: optional(
    object(
      {
        pools: optional(
          array(objectName('Name of a Standby WitnessPool.'), {
            description: 'Standby pools to promote from; unset takes every Standby pool by promotionPriority.',
            maxItems: 32,
            listType: 'set',
          }),
        ),
        count: optional(
          int32({
            description: 'Standbys to promote; unset promotes as many as needed to restore > 2/3 of power.',
            minimum: 1,
            maximum: 1000,
          }),
        ),
      },
      { description: 'Promote pre-vetted standby witnesses into the committee.' },
    ),
  ),
  coordinatedRestart: optional(
    object(
      {
        height: optional(
          integer({
            description: 'Restart height; unset uses the highest certified height any node holds (RPO = 0).',
            minimum: 1,
          }),
        ),
        minVersion: optional(string({ description: 'Minimum echonet-node version to take part.', maxLength: 64 })),
        timeoutSeconds: int32({
          description: 'How long to wait for > 2/3 of the new set to be ready before the step fails.',
          default: 300,
          minimum: 10,
          maximum: 86_400,
        }),
      },
      { description: 'Halt, then restart consensus from certified state with a new epoch (a RestartManifest).' },
    ),
  ),
  pauseModules: optional(
    object(
      {
        modules: array(stringEnum(PAUSABLE_MODULES, { description: 'A ledger module.' }), {
          description: 'Ledger modules whose events are rejected while paused.',
          minItems: 1,
          maxItems: PAUSABLE_MODULES.length,
          listType: 'set',
        }),
        durationSeconds: durationSeconds('How long the pause lasts (time-boxed; it expires on its own).'),
      },
      { description: 'Pause ledger modules for a bounded time.' },
    ),
  ),
  pausePoSRSlashing: optional(
    object(
      {
        durationSeconds: optional(
          durationSeconds('How long slashing stays paused; unset lasts until the declaration is Resolved.'),
        ),
      },
      { description: 'Pause PoSR slashing so that honest SSNs are not slashed during the incident.' },
    ),
  ),
  rebootstrapDHT: optional(
    object(
      {
        seeds: optional(
          array(string({ description: 'A libp2p multiaddr including /p2p/<PeerId>.', maxLength: 512 }), {
            description: "Bootstrap peers; unset uses the network's seed pods.",
            maxItems: 64,
            listType: 'set',
          }),
        ),
      },
      { description: 'Give every node new DHT bootstrap peers and make nodes re-advertise their holdings.' },
    ),
  ),
  replaceFailedSSNs: optional(
    object(
      {
        nodes: optional(
          array(string({ description: 'Name of an SSN pod.', maxLength: 253 }), {
            description: 'SSN pods to replace; unset replaces every SSN found failed (unreachable or corrupt).',
            maxItems: 256,
            listType: 'set',
          }),
        ),
        maxConcurrent: int32({ description: 'SSNs replaced at the same time.', default: 1, minimum: 1, maximum: 256 }),
      },
      { description: 'Replace failed storage nodes (new pod and volume); repair refills their shards.' },
    ),
  ),
  repairPriority: optional(
    object(
      {
        order: array(stringEnum(['CriticalMetadata', 'Recent', 'HighDemand'] as const, { description: 'A class.' }), {
          description: 'Order in which content classes are repaired.',
          default: ['CriticalMetadata', 'Recent', 'HighDemand'],
          minItems: 1,
          maxItems: 3,
          listType: 'set',
        }),
        contentIds: optional(
          array(string({ description: 'A ContentID (CIDv1).', maxLength: 128 }), {
            description: 'ContentIDs to repair before anything else.',
            maxItems: 1024,
            listType: 'set',
          }),
        ),
      },
      { description: 'Reorder the repair queue.' },
    ),
  ),
  acceptCommunityShards: optional(
    object(
      {
        durationSeconds: optional(
          durationSeconds('How long submissions are accepted; unset lasts until the declaration is Resolved.'),
        ),
        matchReuploads: boolean({
          description: 'Match creator re-uploads to existing ContentIDs by bodyHash.',
          default: true,
        }),
      },
      { description: 'Accept shards from anyone, each verified against its manifest before it is stored.' },
    ),
  ),
  scheduledUpgrade: optional(
    object(
      {
        image: string({ description: 'The patched echonet-node image.', minLength: 1, maxLength: 512 }),
        height: integer({ description: 'Flag height at which the new logic activates.', minimum: 1 }),
        binaryDigest: string({
          description: 'OCI digest (sha256:<64 hex>) of the node image; nodes refuse to upgrade to anything else.',
          pattern: SHA256_DIGEST,
        }),
        minVersion: string({
          description: 'Lowest echonet-node version allowed to take part after the flag height.',
          minLength: 1,
          maxLength: 64,
        }),
        minUpgradedPowerPercent: int32({
          description: 'Share of witness power that must run the new image before the flag height.',
          default: 67,
          minimum: 1,
          maximum: 100,
        }),
      },
      { description: 'Coordinated upgrade at a flag height (image rollout, digest check).' },
    ),
  ),
  setParameters: optional(
    object(
      {
        parameters: parameterSchema,
        durationSeconds: durationSeconds('How long the values apply before the previous ones return.'),
      },
      {
        description: 'Temporary ledger parameter changes with an expiry.',
        rules: [{ rule: anyParameterSet, message: 'setParameters.parameters must set at least one parameter' }],
      },
    ),
  ),
  compensate: optional(
    object(
      {
        transfers: array(
          object(
            {
              to: did('Receiving account.'),
              amount: integer({
                description: 'Amount paid from the treasury, in base units (at most 2^51).',
                minimum: 1,
                maximum: MAX_AMOUNT,
              }),
              memo: optional(string({ description: 'Why (shown on the ledger).', maxLength: 256 })),
            },
            { description: 'One compensatory transfer.' },
          ),
          { description: 'Transfers from the treasury.', minItems: 1, maxItems: 64 },
        ),
      },
      { description: 'Compensatory transactions from the treasury.' },
    ),
  ),
  stateEdit: optional(
    object(
      {
        height: integer({
          description: 'Certified height the edits apply on top of (the restart height).',
          minimum: 1,
        }),
        edits: array(
          object(
            {
              op: stringEnum(['put', 'delete'] as const, { description: 'Set the key (put) or remove it (delete).' }),
              key: string({
                description: 'State key (module-prefixed, as the ledger stores it).',
                minLength: 1,
                maxLength: 1024,
              }),
              value: optional(
                string({
                  description: 'New value of a put (canonical encoding), base64.',
                  format: 'byte',
                  maxLength: 65_536,
                }),
              ),
            },
            {
              description: 'One state edit.',
              rules: [
                {
                  rule: "(self.op == 'put') == has(self.value)",
                  message: 'a put edit needs a value and a delete edit has none',
                },
              ],
            },
          ),
          { description: 'The edits, applied in order.', minItems: 1, maxItems: 64 },
        ),
        resultingStateRoot: string({
          description: 'State root after the edits (64 lowercase hex); every node refuses the restart on a mismatch.',
          pattern: HEX_HASH,
        }),
      },
      { description: 'Hard fork: edit state at a certified height (last resort; full council only).' },
    ),
  ),
  rateLimits: optional(
    object(
      {
        perIp: optional(tokenBucket('per client IP')),
        perPeer: optional(tokenBucket('per libp2p peer')),
        perDid: optional(tokenBucket('per sender DID')),
        maxConnectionsPerIp: optional(
          int32({ description: 'Concurrent connections from one IP.', minimum: 1, maximum: 100_000 }),
        ),
        durationSeconds: optional(durationSeconds('How long the limits apply; unset until Resolved.')),
      },
      {
        description: 'Adaptive rate limits pushed to every node.',
        rules: [
          {
            rule: 'has(self.perIp) || has(self.perPeer) || has(self.perDid) || has(self.maxConnectionsPerIp)',
            message: 'rateLimits must set at least one limit',
          },
        ],
      },
    ),
  ),
  blocklist: optional(
    object(
      {
        cidrs: optional(
          array(string({ description: 'An IPv4 or IPv6 address or CIDR.', maxLength: 64 }), {
            description: 'Addresses to refuse.',
            maxItems: 1024,
            listType: 'set',
          }),
        ),
        peerIds: optional(
          array(string({ description: 'A libp2p PeerId.', maxLength: 128 }), {
            description: 'Peers to refuse.',
            maxItems: 1024,
            listType: 'set',
          }),
        ),
        dids: optional(
          array(did('A DID whose events are refused.'), {
            description: 'DIDs whose events are refused.',
            maxItems: 1024,
            listType: 'set',
          }),
        ),
        durationSeconds: optional(durationSeconds('How long the entries stay; unset until Resolved.')),
      },
      {
        description: 'A blocklist pushed to every node.',
        rules: [
          {
            rule: '(has(self.cidrs) && size(self.cidrs) > 0) || (has(self.peerIds) && size(self.peerIds) > 0) || (has(self.dids) && size(self.dids) > 0)',
            message: 'blocklist must list at least one cidr, peerId or did',
          },
        ],
      },
    ),
  ),
} satisfies Record<string, AnySchema>

function memberRules(): ValidationRule[] {
  return ACTION_TYPES.map((t) => {
    const m = ACTION_MEMBER[t]
    return MEMBER_REQUIRED.includes(t)
      ? {
          rule: `(self.type == '${t}') == has(self.${m})`,
          message: `${m} must be set when type is ${t}, and only then`,
        }
      : { rule: `self.type == '${t}' || !has(self.${m})`, message: `${m} may be set only when type is ${t}` }
  })
}

export const actionSchema = object(
  {
    type: stringEnum(ACTION_TYPES, {
      description: 'What to do; set the member field of the same name when it has one.',
    }),
    ...actionMembers,
  },
  { description: 'One emergency action (a discriminated union on type).', rules: memberRules() },
)

const quoted = (xs: readonly string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`

function scenarioRules(): ValidationRule[] {
  return Object.entries(ACTION_SCENARIOS).map(([t, scenarios]) => ({
    rule: `self.actions.all(a, a.type != '${t}' || self.scenario in ${quoted(scenarios)})`,
    message: `${t} is allowed only for scenario ${scenarios.join(' or ')}`,
    fieldPath: '.actions',
  }))
}

const signatureSchema = object(
  {
    did: did('Council member who signed.'),
    signature: string({
      description: 'Ed25519 signature over the canonical declaration payload, base64.',
      format: 'byte',
      maxLength: 256,
    }),
  },
  { description: 'One council signature.' },
)

export const disasterDeclarationSpecSchema = object(
  {
    networkRef: networkRef(),
    scenario: stringEnum(SCENARIOS, {
      description:
        'The disaster: WitnessLoss (A), DataUnavailability (B), CriticalFlaw (C), NetworkAttack (D). Immutable.',
      rules: [{ rule: 'self == oldSelf', message: 'scenario is immutable' }],
    }),
    summary: optional(string({ description: 'What happened, for people.', maxLength: 4096 })),
    actions: array(actionSchema, {
      description: 'Emergency actions, executed in order.',
      minItems: 1,
      maxItems: 32,
      listType: 'atomic',
    }),
    dryRun: boolean({
      description: 'Plan and report every step without changing the network.',
      default: false,
    }),
    nonce: optional(
      integer({ description: 'Council action nonce (part of the signed payload, DESIGN §5).', minimum: 0 }),
    ),
    expiresAt: optional(
      string({ description: 'The signed payload expires at this time (RFC 3339).', format: 'date-time' }),
    ),
    councilSignatures: optional(
      array(signatureSchema, {
        description: 'Council signatures over the canonical declaration payload; nodes verify them (M of N).',
        maxItems: 64,
        listType: 'map',
        listMapKeys: ['did'],
      }),
    ),
    standingPolicy: optional(
      object(
        {
          agentDid: did('DID of the recovery agent key named by the standing policy.'),
          signature: string({
            description: 'Agent signature over the declaration payload, base64.',
            format: 'byte',
            maxLength: 256,
          }),
        },
        {
          description:
            "Set by the operator when it declares under the network's standing recovery policy instead of council signatures.",
        },
      ),
    ),
  },
  {
    description: 'Desired state of a disaster declaration.',
    rules: [
      {
        rule: '!(has(self.councilSignatures) && has(self.standingPolicy))',
        message: 'set councilSignatures or standingPolicy, not both',
      },
      {
        rule: `!has(self.standingPolicy) || self.actions.all(a, a.type in ${quoted(STANDING_POLICY_ACTIONS)})`,
        message: `a standing recovery policy can only authorize ${STANDING_POLICY_ACTIONS.join(', ')}; other actions need councilSignatures`,
        fieldPath: '.actions',
      },
      ...scenarioRules(),
      {
        rule: "!self.actions.exists(a, a.type == 'StateEdit') || self.actions.exists(a, a.type == 'CoordinatedRestart')",
        message: 'StateEdit is applied by a coordinated restart: add a CoordinatedRestart action',
        fieldPath: '.actions',
      },
      {
        rule: "self.actions.filter(a, a.type == 'CoordinatedRestart').size() <= 1",
        message: 'at most one CoordinatedRestart action',
        fieldPath: '.actions',
      },
    ],
  },
)

export const DECLARATION_PHASES = [
  'Pending',
  'Authorized',
  'Executing',
  'Verifying',
  'Recovered',
  'Failed',
  'Resolved',
] as const
export type DeclarationPhase = (typeof DECLARATION_PHASES)[number]

/** Allowed phase changes (besides staying put), enforced by a CEL transition rule. */
export const PHASE_TRANSITIONS: Record<DeclarationPhase, readonly DeclarationPhase[]> = {
  Pending: ['Authorized', 'Failed', 'Resolved'],
  Authorized: ['Executing', 'Failed', 'Resolved'],
  Executing: ['Verifying', 'Failed'],
  Verifying: ['Recovered', 'Failed'],
  Recovered: ['Resolved'],
  Failed: ['Resolved'],
  Resolved: [],
}

const phaseTransitionRule = Object.entries(PHASE_TRANSITIONS)
  .filter(([, to]) => to.length > 0)
  .map(([from, to]) => `(oldSelf == '${from}' && self in ${quoted(to)})`)
  .join(' || ')

export const STEP_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Skipped'] as const

export const disasterDeclarationStatusSchema = object(
  {
    observedGeneration: observedGeneration(),
    conditions: conditions('Authorized, Progressing, Recovered, Failed'),
    phase: optional(
      stringEnum(DECLARATION_PHASES, {
        description: 'Pending → Authorized → Executing → Verifying → Recovered or Failed → Resolved.',
        rules: [
          {
            rule: `self == oldSelf || ${phaseTransitionRule}`,
            message:
              'invalid phase transition (Pending → Authorized → Executing → Verifying → Recovered/Failed → Resolved)',
            messageExpression: "'phase cannot change from ' + oldSelf + ' to ' + self",
          },
        ],
      }),
    ),
    authorizedAt: optional(string({ description: 'When the authorization was verified.', format: 'date-time' })),
    verifiedSigners: optional(
      array(did('A signer whose signature verified.'), {
        description: 'Council members (or the agent) whose signatures the operator verified.',
        maxItems: 64,
        listType: 'set',
      }),
    ),
    steps: optional(
      array(
        object(
          {
            name: string({ description: 'Step name (the action type, or a runbook step).', maxLength: 128 }),
            phase: stringEnum(STEP_PHASES, { description: 'Step phase.' }),
            message: optional(string({ description: 'What the step did or why it failed.', maxLength: 4096 })),
            startedAt: optional(string({ description: 'When the step started.', format: 'date-time' })),
            finishedAt: optional(string({ description: 'When the step finished.', format: 'date-time' })),
          },
          { description: 'Status of one step.' },
        ),
        { description: 'Per-step status, in execution order.', maxItems: 128, listType: 'atomic' },
      ),
    ),
    timeline: optional(
      array(
        object(
          {
            time: string({ description: 'When.', format: 'date-time' }),
            event: string({ description: 'What happened.', maxLength: 1024 }),
          },
          { description: 'One timeline entry.' },
        ),
        {
          description: 'What happened when (fault, detection, each action, recovery).',
          maxItems: 512,
          listType: 'atomic',
        },
      ),
    ),
    rtoSeconds: optional(
      number({ description: 'Measured recovery time: fault to finality resumed / redundancy restored.', minimum: 0 }),
    ),
    finalizedEventsLost: count('Finalized events lost (0 is the target: RPO = 0).'),
    postMortem: optional(string({ description: 'Post-mortem summary.', maxLength: 32_768 })),
  },
  { description: 'Observed state of the declaration, written by the operator.' },
)

export const disasterDeclarationSchema = resource(
  {
    apiVersion: literal(API_VERSION, 'APIVersion of this object: echonet.io/v1alpha1.'),
    kind: literal('DisasterDeclaration', 'Kind of this object: DisasterDeclaration.'),
    metadata: opaqueObject<ObjectMeta>(),
    spec: disasterDeclarationSpecSchema,
    status: optional(disasterDeclarationStatusSchema),
  },
  {
    description:
      'DisasterDeclaration declares a network emergency and the ordered emergency actions to take, authorized by council signatures or the standing recovery policy.',
    rules: [
      {
        rule: "!has(oldSelf.status) || !has(oldSelf.status.phase) || oldSelf.status.phase == 'Pending' || self.spec == oldSelf.spec",
        message: 'spec is immutable once the declaration is Authorized; create a new DisasterDeclaration',
        fieldPath: '.spec',
      },
    ],
  },
)
