/** DisasterDeclaration: spec and status schemas, actions, phases. */
import type { AnySchema, ValidationRule } from './openapi.ts'
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
import { MODULE_NAMES } from '@echonet/node/governance'
import {
  API_VERSION,
  MAX_AMOUNT,
  SHA256_DIGEST,
  HEX_HASH,
  did,
  objectName,
  durationSeconds,
  parameterSchema,
  anyParameterSet,
} from './schema-common.ts'
import { networkRef } from './schema-pool.ts'
import { disasterDeclarationStatusSchema } from './schema-declaration-status.ts'

// ---------------------------------------------------------------------------------------------
// DisasterDeclaration

/**
 * Base64 checked by pattern rather than `format: byte`: the API server's CEL decodes byte-format
 * strings with another alphabet than its schema validation accepts, so comparing a signature in a
 * transition rule (spec immutability) failed on a '/' that validation had let through.
 */
const BASE64 = '^[A-Za-z0-9+/]*={0,2}$'

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
          description:
            'Certified height the edits apply on top of (the restart height). The declaration stops the chain right after it (no node executes height + 1), so it must be ahead of the chain when the declaration reaches the ledger.',
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
                  pattern: BASE64,
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
        resultingStateRoot: optional(
          string({
            description:
              'State root the edits must give (64 lowercase hex), when the council knows it ahead: the runbook refuses a preview that gives another. Unset, the root is in the manifest the council signs, and every node refuses the restart on a mismatch.',
            pattern: HEX_HASH,
          }),
        ),
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
      pattern: BASE64,
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
    networkId: optional(
      string({
        description:
          "The network id (the EchoNetNetwork's spec.networkId) the signatures were made for; kubectl echonet declare sets it. A declaration for another network is refused.",
        pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
        maxLength: 63,
      }),
    ),
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
            pattern: BASE64,
            maxLength: 256,
          }),
        },
        {
          description:
            "Set by the operator when it declares under the network's standing recovery policy instead of council signatures.",
        },
      ),
    ),
    manifestSignatures: optional(
      array(signatureSchema, {
        description:
          'Council signatures over the RestartManifest the runbook planned (status.runbook.manifestHash), added with `kubectl echonet council sign` while the declaration waits for them; nodes verify them (M of N). The only spec field that may change after authorization.',
        maxItems: 64,
        listType: 'map',
        listMapKeys: ['did'],
      }),
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

export * from './schema-declaration-status.ts'

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
        rule: "!has(oldSelf.status) || !has(oldSelf.status.phase) || oldSelf.status.phase == 'Pending' || (self.spec.networkRef == oldSelf.spec.networkRef && self.spec.scenario == oldSelf.spec.scenario && self.spec.actions == oldSelf.spec.actions && self.spec.dryRun == oldSelf.spec.dryRun && has(self.spec.networkId) == has(oldSelf.spec.networkId) && (!has(self.spec.networkId) || self.spec.networkId == oldSelf.spec.networkId) && has(self.spec.summary) == has(oldSelf.spec.summary) && (!has(self.spec.summary) || self.spec.summary == oldSelf.spec.summary) && has(self.spec.nonce) == has(oldSelf.spec.nonce) && (!has(self.spec.nonce) || self.spec.nonce == oldSelf.spec.nonce) && has(self.spec.expiresAt) == has(oldSelf.spec.expiresAt) && (!has(self.spec.expiresAt) || self.spec.expiresAt == oldSelf.spec.expiresAt) && has(self.spec.councilSignatures) == has(oldSelf.spec.councilSignatures) && (!has(self.spec.councilSignatures) || self.spec.councilSignatures == oldSelf.spec.councilSignatures) && has(self.spec.standingPolicy) == has(oldSelf.spec.standingPolicy) && (!has(self.spec.standingPolicy) || self.spec.standingPolicy == oldSelf.spec.standingPolicy))",
        message:
          'spec is immutable once the declaration is Authorized (only manifestSignatures may be added); create a new DisasterDeclaration',
        fieldPath: '.spec',
      },
    ],
  },
)
